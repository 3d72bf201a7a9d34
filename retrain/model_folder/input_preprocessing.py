"""Preprocessing inside the exported model: what the model does to any input before its backbone sees it.

The app hands the model whatever it has: the 28x28 bitmap blown up by nearest neighbour, a phone canvas
with 6-px strokes scaled down, a JPEG. A TF-Hub backbone at 224 px sees all of these as different
images, and a head trained on one of them fails on the others (issue 9: 62% vs 93% for the same
drawings). A model trained on QuickDraw drawings learned from 28-px bitmaps, so the model itself can
bring every input down to that scale first — area-average to 28x28, which turns an 8x nearest-neighbour
upscale back into the exact bitmap and a bilinear or lanczos one nearly so — and, optionally, stretch
the ink to full black (thin canvas strokes average to pale gray at 28 px), then scale back up to the
backbone's input. It is a layer of the model, so the cached bottlenecks, the exported TFLite / frozen
graph / ONNX / SavedModel and every app get it, and the app's input contract does not change.

Registry (`--input_preprocessing`):
  none          the backbone sees the input as it comes (photos; the behaviour before this module)
  bitmap28      area-average to 28 px, then bilinear back up
  bitmap28_ink  the same, with each image's darkest pixel stretched to black and lightest to white
  auto          bitmap28_ink for drawings (retrain/renderings.looks_like_drawings), none for photos

The default for drawings was chosen by measurement (bench/bench_robustness.py; README, "Rendering
robustness"). Every op is a TFLite builtin (MEAN, RESIZE_BILINEAR, AVERAGE_POOL_2D, MIN/MAX, RSQRT, MUL)
with an int8 kernel in every runtime apps link (docs/runtimes.md).
"""

from __future__ import annotations

import dataclasses

from common.errors import ConfigError

AUTO = "auto"
NONE = "none"


@dataclasses.dataclass(frozen=True)
class InputPreprocessing:
    """One registry entry.

    Attributes:
      name: what `--input_preprocessing` takes.
      side: the scale the input is brought down to (0: left alone).
      stretch_ink: stretch each image's darkest pixel to full black after the downscale.
      summary: one line for --help and the run's log.
    """

    name: str
    side: int
    stretch_ink: bool
    summary: str


REGISTRY = {p.name: p for p in (
    InputPreprocessing(NONE, 0, False, "the backbone sees the input as it comes"),
    InputPreprocessing("bitmap28", 28, False, "area-average to 28 px (QuickDraw's bitmap scale), back up"),
    InputPreprocessing("bitmap28_ink", 28, True,
                       "area-average to 28 px, ink stretched to black and paper to white, back up"),
)}
CHOICES = (AUTO, *REGISTRY)
DRAWINGS_DEFAULT = "bitmap28_ink"  # what `auto` picks for drawings (see the module docstring)


def get(name: str) -> InputPreprocessing:
    """The entry called `name` (not `auto`: resolve it first with `resolve`).

    Raises:
      ConfigError: an unknown name, listing the known ones.
    """
    if name not in REGISTRY:
        raise ConfigError(f"Unknown --input_preprocessing {name!r}: choose one of {', '.join(CHOICES)}.")
    return REGISTRY[name]


def resolve(name: str, drawings: bool) -> InputPreprocessing:
    """`auto` -> the drawings default or `none` for photos; any other name -> its entry."""
    if name == AUTO:
        return REGISTRY[DRAWINGS_DEFAULT if drawings else NONE]
    return get(name)


def layer(preprocessing: InputPreprocessing):
    """The Keras layer for `preprocessing` (retrain/model_folder/drawing_rescale.py), or None for `none`."""
    if not preprocessing.side:
        return None
    from retrain.model_folder.drawing_rescale import DrawingRescale
    return DrawingRescale(side=preprocessing.side, stretch_ink=preprocessing.stretch_ink,
                          name=f"input_{preprocessing.name}")
