"""The architecture registry: every name `--architecture` accepts, and the facts that travel with it.

Names are retrain.py's (`mobilenet_<1.0|0.75|0.50|0.25>_<224|192|160|128>[_quantized]`, `inception_v3`)
plus MobileNet v2 and v3. Each entry is explicit: no name parsing at lookup time, so a typo is an error
listing the valid names, and every entry is tested one by one (tests/test_architectures.py).

The input contract of every model qdretrain exports is the same for all entries: float32 RGB
`[batch, size, size, 3]` normalised as `(pixel - 127.5) / 127.5`, i.e. in [-1, 1] — the MobileNet
convention the TensorFlow-for-Poets Android app (IMAGE_MEAN = IMAGE_STD = 128) already uses. The model
maps that to the [0, 1] range TF-Hub image modules take, so the app never needs to know the module's own
convention.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

# The exported models' input normalisation: (pixel - MEAN) / STD (defined with the decoder that applies it).
from retrain.data.images import INPUT_MEAN, INPUT_STD  # noqa: F401

TFHUB = "https://tfhub.dev/google/imagenet"

# The model families: how an entry trains (see ArchitectureSpec.trainer).
FAMILIES = ("tfhub_head", "native")


@dataclasses.dataclass(frozen=True)
class ArchitectureSpec:
    """One registry entry.

    Attributes:
      name: what users type after --architecture.
      handle: TF-Hub feature-vector handle (URL); `--tfhub_module` overrides it.
      input_size: square input side in pixels.
      feature_size: length of the feature vector the module returns (the bottleneck).
      module_range: value range the module expects its float32 input in.
      quantized: retrain.py's `_quantized` names. TF2 TF-Hub has no quantization-aware feature vectors,
        so these use the float module and default the TFLite export to full-integer int8.
      embedded_module: folder name under retrain/modules/ of a copy shipped with the package, used
        (offline) when no --tfhub_module is given.
      family: "mobilenet_v1" | "mobilenet_v2" | "mobilenet_v3" | "inception_v3" | "native".
      trainer: the model family's way of training, one of FAMILIES: "tfhub_head" (cached bottlenecks
        of a TF-Hub module + a softmax head) or "native" (a net trained end to end from random
        initialisation on streamed drawings, retrain/families/native/). `pipeline.run` branches on it once.
      channels: channels the network itself sees (native gray nets: 1). The exported input is RGB
        whatever this is; a single-channel net converts to gray inside the model.
      input_preprocessing: what the model does to its input before the backbone
        (retrain/model_folder/input_preprocessing.py); set per run from --input_preprocessing and the data.
    """

    name: str
    handle: str
    input_size: int
    feature_size: int
    family: str
    module_range: tuple = (0.0, 1.0)
    quantized: bool = False
    embedded_module: Optional[str] = None
    trainer: str = "tfhub_head"
    channels: int = 3
    input_preprocessing: str = "none"

    @property
    def is_native(self) -> bool:
        return self.trainer == "native"

    @property
    def input_mean(self) -> float:
        return INPUT_MEAN

    @property
    def input_std(self) -> float:
        return INPUT_STD


def _mobilenet_v1_entries() -> list[ArchitectureSpec]:
    entries = []
    for width, width_tag in (("1.0", "100"), ("0.75", "075"), ("0.50", "050"), ("0.25", "025")):
        feature_size = int(1024 * float(width))
        for size in (224, 192, 160, 128):
            handle = f"{TFHUB}/mobilenet_v1_{width_tag}_{size}/feature_vector/5"
            embedded = "mobilenet_v1_025_224" if (width_tag, size) == ("025", 224) else None
            for quantized in (False, True):
                suffix = "_quantized" if quantized else ""
                entries.append(ArchitectureSpec(
                    name=f"mobilenet_{width}_{size}{suffix}", handle=handle, input_size=size,
                    feature_size=feature_size, family="mobilenet_v1", quantized=quantized,
                    embedded_module=embedded))
    return entries


def _mobilenet_v2_entries() -> list[ArchitectureSpec]:
    # Widths above 1.0 widen the last layer too (TF-Hub model cards): 1.3 -> 1664, 1.4 -> 1792.
    widths = (("1.4", "140", 1792), ("1.3", "130", 1664), ("1.0", "100", 1280), ("0.75", "075", 1280),
              ("0.50", "050", 1280), ("0.35", "035", 1280))
    entries = []
    for width, tag, features in widths:
        sizes = (224,) if width in ("1.4", "1.3") else (224, 192, 160, 128, 96)
        for size in sizes:
            entries.append(ArchitectureSpec(
                name=f"mobilenet_v2_{width}_{size}",
                handle=f"{TFHUB}/mobilenet_v2_{tag}_{size}/feature_vector/5",
                input_size=size, feature_size=features, family="mobilenet_v2"))
    return entries


def _mobilenet_v3_entries() -> list[ArchitectureSpec]:
    # v3 feature vectors: small -> 1024, large -> 1280 (the head's pre-logits 1x1 conv).
    entries = []
    for variant, features in (("small", 1024), ("large", 1280)):
        for width, tag in (("1.0", "100"), ("0.75", "075")):
            entries.append(ArchitectureSpec(
                name=f"mobilenet_v3_{variant}_{width}_224",
                handle=f"{TFHUB}/mobilenet_v3_{variant}_{tag}_224/feature_vector/5",
                input_size=224, feature_size=features, family="mobilenet_v3"))
    return entries


def _native_entries() -> list[ArchitectureSpec]:
    from retrain.families.native.registry import ENTRIES
    return [ArchitectureSpec(name=e.name, handle="", input_size=e.input_size, feature_size=e.embedding_size,
                             family="native", trainer="native", channels=e.channels) for e in ENTRIES]


def _build_registry() -> dict[str, ArchitectureSpec]:
    entries = [ArchitectureSpec(name="inception_v3", handle=f"{TFHUB}/inception_v3/feature_vector/5",
                                input_size=299, feature_size=2048, family="inception_v3")]
    entries += _mobilenet_v1_entries() + _mobilenet_v2_entries() + _mobilenet_v3_entries()
    entries += _native_entries()
    registry = {}
    for entry in entries:
        if entry.name in registry:
            raise AssertionError(f"duplicate architecture name {entry.name}")
        registry[entry.name] = entry
    return registry


REGISTRY: dict[str, ArchitectureSpec] = _build_registry()

# Works offline on a fresh machine: the package ships this module (retrain/modules/).
DEFAULT_ARCHITECTURE = "mobilenet_0.25_224"


def names() -> list[str]:
    """All registered names, sorted (for --help and error messages)."""
    return sorted(REGISTRY)


def get(name: str) -> ArchitectureSpec:
    """Looks up an architecture.

    Raises:
      KeyError: unknown name; the message lists close matches and how to see them all.
    """
    try:
        return REGISTRY[name]
    except KeyError:
        import difflib
        close = difflib.get_close_matches(name, REGISTRY, n=4, cutoff=0.6)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise KeyError(
            f"Unknown architecture '{name}'.{hint} Run `qdretrain architectures` for the full list, or "
            f"pass any TF-Hub feature-vector module with --tfhub_module.") from None


def with_overrides(spec: ArchitectureSpec, input_size: Optional[int] = None,
                   feature_size: Optional[int] = None,
                   input_preprocessing: Optional[str] = None) -> ArchitectureSpec:
    """A copy of `spec` for a custom --tfhub_module whose sizes differ, or this run's preprocessing."""
    changes = {}
    if input_preprocessing is not None:
        changes["input_preprocessing"] = input_preprocessing
    if input_size is not None:
        changes["input_size"] = input_size
    if feature_size is not None:
        changes["feature_size"] = feature_size
    return dataclasses.replace(spec, **changes) if changes else spec
