"""ONNX export through tf2onnx, from the frozen graph (the same inference graph the .pb ships).

tf2onnx, onnx and onnxruntime are an optional extra (`pip install qdretrain[onnx]`); they are imported
only here and in the ONNX runner, and a missing one is reported with the install command.
"""

from __future__ import annotations

from retrain.model_folder.frozen_graph import INPUT_NODE_NAME
from common.errors import QdretrainError

DEFAULT_OPSET = 15
ONNX_INSTALL_HINT = "pip install 'qdretrain[onnx]' (tf2onnx, onnx, onnxruntime)"


class OnnxUnavailableError(QdretrainError):
    """The optional ONNX packages are not installed."""


def require_onnx(module: str):
    """Imports one of the optional ONNX packages, or raises OnnxUnavailableError saying how to get it."""
    import importlib

    import common.tfcompat  # noqa: F401 (TensorFlow first: tf2onnx imports it, with its start-up lines)
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise OnnxUnavailableError(
            f"ONNX export/checks need the optional package '{module.split('.')[0]}' ({error}). Install "
            f"them with: {ONNX_INSTALL_HINT}; or leave 'onnx' out of --formats.") from None


def graph_def_to_onnx(graph_def, output_node_name: str = "final_result", opset: int = DEFAULT_OPSET) -> bytes:
    """Converts a frozen classifier GraphDef to an ONNX model.

    Args:
      graph_def: from `retrain.model_folder.frozen_graph.freeze_model` (placeholder `input`).
      output_node_name: the graph's output node; also the ONNX output's name.
      opset: ONNX opset (tf2onnx supports roughly 9 to 18).

    Returns:
      Serialized ONNX model with input `input` (float32 [batch, H, W, 3], batch dynamic) and output
      `output_node_name`.

    Raises:
      OnnxUnavailableError: tf2onnx/onnx not installed.
      ValueError: tf2onnx could not convert the graph at this opset.
    """
    tf2onnx = require_onnx("tf2onnx")
    from common.tfcompat import captured_stderr, quiet_tf_warnings
    try:
        # tf2onnx logs TF1 deprecation warnings and grappler's C++ session lines: not the user's concern.
        with captured_stderr(), quiet_tf_warnings():
            model_proto, _ = tf2onnx.convert.from_graph_def(
                graph_def, input_names=[f"{INPUT_NODE_NAME}:0"], output_names=[f"{output_node_name}:0"],
                opset=opset)
    except Exception as error:  # tf2onnx raises bare Exceptions/ValueErrors for unsupported ops/opsets
        raise ValueError(f"tf2onnx could not convert the graph at opset {opset} "
                         f"({type(error).__name__}: {error}). Try another --opset.") from None
    _rename_tensor(model_proto.graph, f"{INPUT_NODE_NAME}:0", INPUT_NODE_NAME)
    _rename_tensor(model_proto.graph, f"{output_node_name}:0", output_node_name)
    # A readable name for the dynamic batch dimension instead of tf2onnx's "unk__N".
    for value in list(model_proto.graph.input) + list(model_proto.graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].dim_param = "batch"
    return model_proto.SerializeToString()


def _rename_tensor(graph, old: str, new: str) -> None:
    """Renames a tensor everywhere it appears: graph inputs/outputs and node inputs/outputs."""
    for value in list(graph.input) + list(graph.output) + list(graph.value_info):
        if value.name == old:
            value.name = new
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name == old:
                node.input[i] = new
        for i, name in enumerate(node.output):
            if name == old:
                node.output[i] = new
