"""Building the classifier: the module as backbone, a new softmax head on top.

Two views of one set of weights:
  * the *head* (features -> logits) trains alone on cached bottlenecks, fast;
  * the *classifier* (image -> probabilities) wraps backbone + the same head object, and is what is
    fine-tuned and exported. Its input is named `input` and its output `final_result`, as the
    TensorFlow-for-Poets Android app expects, and the [-1, 1] -> [0, 1] rescale is inside it.
"""

from __future__ import annotations

from retrain.model_folder import input_preprocessing
from retrain.families.architectures import INPUT_MEAN, INPUT_STD, ArchitectureSpec
from retrain.families.hub_head.hub_modules import ResolvedModule, load_feature_layer
from common.tfcompat import keras, tf

INPUT_NAME = "input"
OUTPUT_NAME = "final_result"
HEAD_LAYER_NAME = "final_training_ops"  # retrain.py's name scope for the new layer


def build_head(feature_size: int, num_classes: int, dropout: float = 0.0, seed: int = 0) -> keras.Model:
    """The new layer: [b, feature_size] bottlenecks -> [b, num_classes] logits.

    Args:
      feature_size: the backbone's feature length.
      num_classes: number of labels.
      dropout: dropout rate on the bottleneck during training (0 disables).
      seed: initializer seed, so a run is reproducible.
    """
    features = keras.Input(shape=(feature_size,), name="bottleneck", dtype=tf.float32)
    x = features
    if dropout > 0:
        x = keras.layers.Dropout(dropout, seed=seed, name="dropout")(x)
    # retrain.py initialised the new weights with a truncated normal, stddev 0.001.
    logits = keras.layers.Dense(
        num_classes, name="logits",
        kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.001, seed=seed))(x)
    return keras.Model(features, logits, name=HEAD_LAYER_NAME)


def build_classifier(spec: ArchitectureSpec, module: ResolvedModule, head: keras.Model,
                     trainable_backbone: bool = False) -> keras.Model:
    """The full model: `input` float32 [b, H, W, 3] in [-1, 1] -> `final_result` softmax [b, classes].

    Args:
      spec: architecture (gives the input size).
      module: the resolved TF-Hub module.
      head: the trained (or to-be-trained) head from `build_head`; shared, not copied.
      trainable_backbone: True for --fine_tune.
    """
    size = spec.input_size
    image = keras.Input(shape=(size, size, 3), name=INPUT_NAME, dtype=tf.float32)
    x = image
    rescale = input_preprocessing.layer(input_preprocessing.get(spec.input_preprocessing))
    if rescale is not None:  # drawings: any input brought to the scale the model learned from
        x = rescale(x)
    # (pixel - mean) / std in [-1, 1] -> [0, 1], the range every TF-Hub image module takes.
    unit = keras.layers.Rescaling(INPUT_STD / 255.0, offset=INPUT_MEAN / 255.0, name="to_unit_range")(x)
    features = load_feature_layer(module, trainable=trainable_backbone)(unit)
    logits = head(features)
    probabilities = keras.layers.Softmax(name=OUTPUT_NAME)(logits)
    return keras.Model(image, probabilities, name="qdretrain_classifier")
