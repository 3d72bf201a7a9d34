"""Which runtimes an exported .tflite runs in: the ones apps link, not only the LiteRT qdretrain installs.

An op can load in an older runtime and still fail in Invoke(): the converter labels an int8 DIV
version 1, the same as a float DIV, so a runtime whose DIV kernel predates int8 accepts the model and
then stops with "Div only supports FLOAT32, INT32 and quantized UINT8" (issue 18). Op versions alone
do not tell, so this module keeps the gaps found by running the real clients (tests/test_real_clients.py
runs every client named here on the default model of each family, and on a model with each gap, and
fails when this table and the clients disagree), and checks each exported model's ops against it.

LiteRT is the one runtime the export runs itself (android_export/verify.py); the others are checked
against the table, for the versions in RUNTIMES.
"""

from __future__ import annotations

import dataclasses
from typing import Optional


@dataclasses.dataclass(frozen=True)
class Runtime:
    """One runtime apps link.

    Attributes:
      key: model_info.json's name for it.
      name: what it is called in messages.
      package: its Python package (how the tests install and check it).
      checked: the versions checked, oldest first.
    """

    key: str
    name: str
    package: str
    checked: tuple


RUNTIMES = (
    Runtime("litert", "LiteRT", "ai-edge-litert", ("2.3.0",)),
    Runtime("mediapipe", "MediaPipe Tasks", "mediapipe", ("0.10.21", "1.2.3")),
    Runtime("tflite_support", "TFLite Task Library", "tflite-support", ("0.4.4",)),
)


@dataclasses.dataclass(frozen=True)
class Gap:
    """An op some checked runtime versions have no kernel for.

    Attributes:
      op: the TFLite builtin op name.
      input_type: the type of its first input ("INT8", ...).
      lacking: {runtime key: versions (of its `checked`) that fail on it}.
      error: what those runtimes print.
    """

    op: str
    input_type: str
    lacking: dict
    error: str

    @property
    def label(self) -> str:
        return f"{self.input_type.lower()} {self.op}"


GAPS = (
    Gap("DIV", "INT8", {"mediapipe": ("0.10.21",), "tflite_support": ("0.4.4",)},
        "Div only supports FLOAT32, INT32 and quantized UINT8"),
)


def op_signatures(model_bytes: bytes) -> set:
    """{(builtin op name, type of its first input)} of every operator in the model's subgraphs."""
    from ai_edge_litert import schema_py_generated as schema_fb
    model = schema_fb.ModelT.InitFromObj(schema_fb.Model.GetRootAsModel(model_bytes, 0))
    op_names = {v: k for k, v in vars(schema_fb.BuiltinOperator).items() if not k.startswith("_")}
    type_names = {v: k for k, v in vars(schema_fb.TensorType).items() if not k.startswith("_")}
    signatures = set()
    for subgraph in model.subgraphs or []:
        for operator in subgraph.operators or []:
            code = model.operatorCodes[operator.opcodeIndex]
            # Builtin codes above 127 live in builtinCode; deprecatedBuiltinCode holds the rest.
            name = op_names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "CUSTOM")
            inputs = [i for i in (operator.inputs if operator.inputs is not None else []) if i >= 0]
            input_type = type_names.get(subgraph.tensors[inputs[0]].type, "?") if inputs else "NONE"
            signatures.add((name, input_type))
    return signatures


def gaps_in(model_bytes: bytes) -> list:
    """The GAPS this model has an op of."""
    signatures = op_signatures(model_bytes)
    return [gap for gap in GAPS if (gap.op, gap.input_type) in signatures]


def runs_in(model_bytes: bytes, runtime_key: str, version: str) -> bool:
    """False when the model has an op `version` of the runtime is known to lack (see GAPS)."""
    return not any(version in gap.lacking.get(runtime_key, ()) for gap in gaps_in(model_bytes))


def min_versions(model_bytes: bytes) -> dict:
    """{runtime key: the oldest checked version it runs in, or None where no checked version runs it}."""
    gaps = gaps_in(model_bytes)
    result = {}
    for runtime in RUNTIMES:
        lacking = {v for gap in gaps for v in gap.lacking.get(runtime.key, ())}
        result[runtime.key] = next((v for v in runtime.checked if v not in lacking), None)
    return result


def cannot_run_line(file_name: str, model_bytes: bytes) -> Optional[str]:
    """One line saying which checked runtimes cannot run the model and why, or None if all can."""
    gaps = gaps_in(model_bytes)
    failing = [f"{runtime.name} {version}" for runtime in RUNTIMES for version in runtime.checked
               if any(version in gap.lacking.get(runtime.key, ()) for gap in gaps)]
    if not failing:
        return None
    working = [f"{runtime.name} {version}" for runtime, version in
               ((r, min_versions(model_bytes)[r.key]) for r in RUNTIMES) if version]
    reasons = "; ".join(f"{gap.label}: {gap.error}" for gap in gaps)
    return (f"WARNING: {file_name} cannot run in {', '.join(failing)} ({reasons}); it runs in "
            f"{', '.join(working) or 'none of the runtimes checked'} and newer. Apps that link the older "
            f"runtimes need model.tflite or another precision.")
