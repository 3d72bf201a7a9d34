"""Builders of the native nets: contract input (RGB [b, H, W, 3] in [-1, 1]) -> softmax `final_result`.

Every net has the same frame, so training, export and the embedding search treat them alike:

    input -> DrawingInput (gray ink in [0, 1]) -> body -> "embedding" (global avg or GeM pooling)
          -> head (FC + dropout where the design has one) -> "logits" -> "final_result" softmax

The layer named "embedding" is the pooled feature vector similar-drawing search reads
(`keras.Model(model.input, model.get_layer("embedding").output)`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from retrain.model_folder import native_layers as layers
from retrain.families.native.native_config import DEFAULT_DROPOUT, NativeConfig
from retrain.families.native.registry import ENTRIES, NativeEntry
from common.tfcompat import keras, tf

POOLINGS = ("avg", "gem")
INPUT_NAME = "input"
OUTPUT_NAME = "final_result"
EMBEDDING_NAME = "embedding"
# BatchNorm's moving statistics start at mean 0 / variance 1 while a 28-px ink image's first-block
# variance is ~5e-4; with Keras' default momentum 0.99 they need ~500 steps to forget the start, so a
# short run (small data, a few epochs) tested far below its training accuracy. 0.9 forgets in ~50.
BN_MOMENTUM = 0.9


def _pool(x, pooling: str):
    if pooling == "gem":
        return layers.GeMPooling(name=EMBEDDING_NAME)(x)
    if pooling == "avg":
        return keras.layers.GlobalAveragePooling2D(name=EMBEDDING_NAME)(x)
    raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, not {pooling!r}")


def _conv_bn(x, filters: int, kernel: int, name: str, activation="relu", strides: int = 1):
    x = keras.layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False,
                            name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    if activation == "hard_swish":
        return layers.HardSwish(name=f"{name}_hswish")(x)
    if activation == "leaky":
        return keras.layers.LeakyReLU(0.1, name=f"{name}_leaky")(x)  # Darknet's activation
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def _cnn_body(widths: tuple, convs: int = 1, se: bool = False):
    """VGG-style blocks: `convs` 3x3 conv+BN+ReLU at each width (then squeeze-excitation if `se`:
    measured slower for no gain at 69 classes, kept for bench/bench_step_time.py), then a 2x2 max-pool."""
    def body(x):
        for i, width in enumerate(widths):
            for j in range(convs):
                x = _conv_bn(x, width, 3, f"block{i + 1}" + (f"_{j + 1}" if j else ""))
            if se:
                x = _squeeze_excite(x, width, f"block{i + 1}")
            x = keras.layers.MaxPooling2D(2, name=f"block{i + 1}_pool")(x)
        return x
    return body


def _tiny_darknet_body(x):
    """Darknet's tiny reference net (16 conv layers, 1x1 squeeze / 3x3 expand), three max-pools for
    28 px. Its last 1x1 conv to the classes followed by global average pooling equals global average
    pooling followed by a linear layer, which is what the frame does: no FC layer of its own."""
    plan = [(16, 3), "pool", (32, 3), "pool", (16, 1), (128, 3), (16, 1), (128, 3), "pool",
            (32, 1), (256, 3), (32, 1), (256, 3), (64, 1), (512, 3), (64, 1), (512, 3), (128, 1)]
    conv = 0
    for step in plan:
        if step == "pool":
            x = keras.layers.MaxPooling2D(2, name=f"pool{conv}")(x)
        else:
            conv += 1
            x = _conv_bn(x, step[0], step[1], f"conv{conv}", activation="leaky")
    return x


def _squeeze_excite(x, channels: int, name: str):
    s = keras.layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_se_pool")(x)
    s = keras.layers.Conv2D(max(8, channels // 4), 1, activation="relu", name=f"{name}_se_reduce")(s)
    s = keras.layers.Conv2D(channels, 1, activation="hard_sigmoid", name=f"{name}_se_expand")(s)
    return keras.layers.Multiply(name=f"{name}_se")([x, s])


def _inverted_residual(x, expand: int, out: int, kernel: int, se: bool, activation: str, stride: int,
                       name: str):
    shortcut = x
    in_channels = x.shape[-1]
    if expand != in_channels:
        x = _conv_bn(x, expand, 1, f"{name}_expand", activation)
    x = keras.layers.DepthwiseConv2D(kernel, strides=stride, padding="same", use_bias=False,
                                     name=f"{name}_dw")(x)
    x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_dw_bn")(x)
    x = layers.HardSwish(name=f"{name}_dw_hswish")(x) if activation == "hard_swish" else \
        keras.layers.ReLU(name=f"{name}_dw_relu")(x)
    if se:
        x = _squeeze_excite(x, expand, name)
    x = keras.layers.Conv2D(out, 1, use_bias=False, name=f"{name}_project")(x)
    x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_project_bn")(x)
    if stride == 1 and in_channels == out:
        x = keras.layers.Add(name=f"{name}_add")([shortcut, x])
    return x


def _mobilenet_v3_doodle_body(x):
    """MobileNetV3-Small's block list, strided for 28-96 px (three stride-2 stages, not five: a
    28 px doodle would be 1 pixel wide after five)."""
    x = _conv_bn(x, 16, 3, "stem", "hard_swish")
    blocks = [(16, 16, 3, True, "relu", 2), (72, 24, 3, False, "relu", 2), (88, 24, 3, False, "relu", 1),
              (96, 40, 5, True, "hard_swish", 2), (240, 40, 5, True, "hard_swish", 1),
              (120, 48, 5, True, "hard_swish", 1), (144, 48, 5, True, "hard_swish", 1)]
    for i, block in enumerate(blocks):
        x = _inverted_residual(x, *block, name=f"bneck{i + 1}")
    return _conv_bn(x, 288, 1, "last", "hard_swish")


@dataclass(frozen=True)
class Design:
    """A net's body and head; `frame` puts them between the input and the softmax.

    Attributes:
      body: keras tensor -> keras tensor, the feature extractor.
      fc: width of the fully connected layer after the embedding (0: none).
      fc_activation: "relu" or "hard_swish" for that layer.
    """
    body: Callable
    fc: int = 0
    fc_activation: str = "relu"


# builder name -> its design
_DESIGNS: dict[str, Design] = {
    # Two convs a block at half the widths: the same multiply-adds and step time as one conv a block at
    # 64/128/256, 3/4 of the weights, and +3.9 points of macro top-1 at 69 classes (docs/benchmarks.md).
    "quickdraw_cnn": Design(_cnn_body((32, 64, 128), convs=2), 256),
    # The same two-convs-a-block shape at 16/32/64 with an FC of 64: int8 97-98 KB at 69 classes (the cap is 100), and at
    # equal training time +1.7 points of macro top-1 over one conv a block at 24/48/96 (benchmarks.md).
    "quickdraw_cnn_small": Design(_cnn_body((16, 32, 64), convs=2), 64),
    "tiny_darknet": Design(_tiny_darknet_body),
    "mobilenet_v3_doodle": Design(_mobilenet_v3_doodle_body, 256, "hard_swish"),
}


def entry(name: str) -> NativeEntry:
    for candidate in ENTRIES:
        if candidate.name == name:
            return candidate
    raise KeyError(f"{name} is not a native architecture; choose from "
                   f"{', '.join(e.name for e in ENTRIES)}.")


def build(name: str, num_classes: int, pooling: str = NativeConfig.pooling, dropout: float = DEFAULT_DROPOUT, seed: int = 0,
          input_size: int = 0) -> keras.Model:
    """Builds a native net from random initialisation.

    Args:
      name: a registry name (retrain/families/native/registry.py).
      num_classes: outputs of the softmax.
      pooling: "avg" or "gem" for the "embedding" layer.
      dropout: rate before the logits (0 disables).
      seed: initialiser seed (set globally too by the caller, for reproducible runs).
      input_size: input side in pixels; 0 takes the entry's.

    Returns:
      An uncompiled keras.Model `input` [b, H, W, 3] -> `final_result` [b, num_classes].
    """
    spec = entry(name)
    return frame(_DESIGNS[spec.builder], num_classes, input_size or spec.input_size, spec.channels, pooling,
                 dropout, seed, f"qdretrain_{name}")


def frame(design: Design, num_classes: int, size: int, channels: int = 1, pooling: str = NativeConfig.pooling,
          dropout: float = DEFAULT_DROPOUT, seed: int = 0, name: str = "qdretrain_net") -> keras.Model:
    """`design` in the frame every native net shares (the module docstring): the one place the input,
    embedding, head and softmax layers are made, for the registered nets and for designs under trial
    (bench/bench_step_time.py)."""
    image = keras.Input(shape=(size, size, 3), name=INPUT_NAME, dtype=tf.float32)
    x = layers.DrawingInput(channels, name="to_ink")(image)
    x = _pool(design.body(x), pooling)
    if design.fc:
        x = keras.layers.Dense(design.fc, name="fc")(x)
        x = layers.HardSwish(name="fc_hswish")(x) if design.fc_activation == "hard_swish" else \
            keras.layers.ReLU(name="fc_relu")(x)
    if dropout > 0:
        x = keras.layers.Dropout(dropout, seed=seed, name="dropout")(x)
    logits = keras.layers.Dense(num_classes, name="logits")(x)
    # float32 softmax also under mixed precision (float16 probabilities underflow).
    probabilities = keras.layers.Softmax(name=OUTPUT_NAME, dtype="float32")(logits)
    return keras.Model(image, probabilities, name=name)
