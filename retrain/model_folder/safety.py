"""Refuses model folders whose Keras config would build anything qdretrain does not write itself.

A model folder is untrusted input: it may come from someone else. Loading it back as a Keras object
(what export does, to have the trained model as the reference; what `predict`, `similar` and `audit` do
for the native nets) rebuilds every layer from the config stored in the folder, and that config can
name Python: a `Lambda` layer carries marshalled bytecode, and a `.keras` config can reference any
importable function by module and name (`{"class_name": "function", "module": "pydoc", "config":
"pipepager"}` runs a shell command, `safe_mode` or not). Deny-listing the known carriers misses the
next one, so this is an allow-list: every object a config names must be one of the Keras classes
qdretrain's own models are made of (or a plain built-in layer of the same kind), from a Keras module or
qdretrain's own; anything else refuses the folder before anything is deserialised.

The config lives in three places, all checked: `saved_model/keras_metadata.pb` (TF >= 2.5),
`saved_model/saved_model.pb`'s object-graph metadata (the older layout, which tf_keras falls back to
when keras_metadata.pb is missing) and a `.keras` file's `config.json`.

What this does not cover: the SavedModel's TensorFlow graphs themselves (no Python, but ops that read
and write files exist), which `label_image`, serve and export verification run; see docs/faults.md.
"""

from __future__ import annotations

import functools
import json
import os
import zipfile
from typing import Iterator, Optional

from common.errors import ConfigError

# What qdretrain's own models hold (the TF-Hub head, the input preprocessing, every native net; the
# compiled metrics), and a few plain built-in layers of the same kind a hand-made head might use. None of
# these runs Python taken from its config.
ALLOWED_CLASSES = frozenset({
    # structure
    "Functional", "Sequential", "Model", "InputLayer", "InputSpec", "TensorShape", "TypeSpec", "__tuple__",
    # layers
    "Dense", "Conv2D", "DepthwiseConv2D", "SeparableConv2D", "BatchNormalization", "LayerNormalization",
    "Dropout", "SpatialDropout2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D", "MaxPooling2D",
    "AveragePooling2D", "ReLU", "LeakyReLU", "Softmax", "Activation", "Add", "Multiply", "Concatenate",
    "Flatten", "Reshape", "ZeroPadding2D", "Rescaling",
    # weights' initialisers and regularisers
    "GlorotUniform", "GlorotNormal", "HeNormal", "HeUniform", "TruncatedNormal", "RandomNormal",
    "RandomUniform", "VarianceScaling", "Zeros", "Ones", "Constant", "L1", "L2", "L1L2",
    # metrics a compiled model tracks
    "Mean", "MeanMetricWrapper", "SparseCategoricalAccuracy", "CategoricalAccuracy", "Sum",
    # a .keras file's compile config (never built: models are loaded with compile=False)
    "Adam", "AdamW", "SGD", "RMSprop", "SparseCategoricalCrossentropy", "CategoricalCrossentropy",
    # TF-Hub's layer: loads its module with tf.saved_model.load (TensorFlow graphs, no Python)
    "KerasLayer",
    # qdretrain's own layers (retrain/model_folder/drawing_rescale.py, native_layers.py)
    "DrawingRescale", "qdretrain>DrawingRescale",
    "GeMPooling", "HardSwish", "DrawingInput",
    "qdretrain_native>GeMPooling", "qdretrain_native>HardSwish", "qdretrain_native>DrawingInput",
})

# Where a `.keras` config may say a class comes from (tf_keras writes "keras.layers", "tf_keras.src...").
ALLOWED_MODULE_PREFIXES = ("keras.", "tf_keras.", "tensorflow_hub.")
ALLOWED_MODULES = frozenset({"keras", "tf_keras", "retrain.model_folder.native_layers",
                             "retrain.model_folder.drawing_rescale"})

# Activations a layer may name as a string (tf_keras resolves them in its own activations module).
ALLOWED_ACTIVATIONS = frozenset({
    "linear", "relu", "relu6", "sigmoid", "hard_sigmoid", "softmax", "tanh", "swish", "silu", "elu",
    "selu", "gelu", "softplus", "softsign", "exponential", "hard_swish", "leaky_relu", "mish",
})

# Kept for callers that name the classes known to carry Python (messages, older tests).
UNSAFE_CLASSES = frozenset({"Lambda", "TFOpLambda", "SlicingOpLambda", "LambdaCallback", "function",
                            "__lambda__"})


@functools.lru_cache(maxsize=1)
def _training_classes() -> frozenset:
    """tf_keras's own optimizer, metric and loss classes (a compiled model's metadata names them, e.g.
    "Custom>SGD", "TopKCategoricalAccuracy"). They hold numbers and names resolved inside tf_keras, no
    Python from the config; and models are loaded with compile=False, so none of them is built anyway."""
    import inspect

    import tf_keras
    names = set()
    for namespace in (tf_keras.optimizers, tf_keras.optimizers.legacy, tf_keras.metrics, tf_keras.losses):
        for name, value in vars(namespace).items():
            if inspect.isclass(value) and not name.startswith("_") and "Lambda" not in name:
                names.add(name)
                if namespace in (tf_keras.optimizers, tf_keras.optimizers.legacy):
                    names.add(f"Custom>{name}")  # how tf_keras registers its optimizers
    return frozenset(names)


def _configs_in_saved_model(saved_model_dir: str) -> Iterator[object]:
    """The JSON of every Keras config a SavedModel folder holds (keras_metadata.pb and saved_model.pb)."""
    import common.tfcompat  # noqa: F401 (TensorFlow imported with its start-up lines captured)
    path = os.path.join(saved_model_dir, "keras_metadata.pb")
    if os.path.exists(path):
        from tf_keras.protobuf import saved_metadata_pb2
        metadata = saved_metadata_pb2.SavedMetadata()
        with open(path, "rb") as handle:
            metadata.ParseFromString(handle.read())
        for node in metadata.nodes:
            yield node.metadata
    for name in ("saved_model.pb", "saved_model.pbtxt"):
        path = os.path.join(saved_model_dir, name)
        if not os.path.exists(path):
            continue
        from tensorflow.core.protobuf import saved_model_pb2
        proto = saved_model_pb2.SavedModel()
        with open(path, "rb") as handle:
            data = handle.read()
        if name.endswith(".pbtxt"):
            from google.protobuf import text_format
            text_format.Parse(data.decode("utf-8"), proto)
        else:
            proto.ParseFromString(data)
        for meta_graph in proto.meta_graphs:
            for node in meta_graph.object_graph_def.nodes:
                if node.WhichOneof("kind") == "user_object" and node.user_object.metadata:
                    yield node.user_object.metadata


def _configs_in_keras_file(path: str) -> Iterator[object]:
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if name.endswith(".json"):  # config.json, metadata.json
                yield archive.read(name).decode("utf-8", "replace")


def _parsed(text) -> Optional[object]:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _module_allowed(module) -> bool:
    return module is None or (isinstance(module, str) and (
        module in ALLOWED_MODULES or module.startswith(ALLOWED_MODULE_PREFIXES)))


def config_problems(value) -> list[str]:
    """What in one parsed Keras config is not on the allow-list (a readable phrase per object)."""
    import common.tfcompat  # noqa: F401 (TensorFlow imported with its start-up lines captured)
    allowed = ALLOWED_CLASSES | _training_classes()
    problems: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
            continue
        if not isinstance(item, dict):
            continue
        stack.extend(item.values())
        if "class_name" in item:
            name, module = item.get("class_name"), item.get("module")
            registered = item.get("registered_name")
            if not isinstance(name, str) or name not in allowed:
                where = f" from module {module}" if isinstance(module, str) else ""
                problems.append(f"{str(name)[:60]}{where}")
            elif not _module_allowed(module):
                problems.append(f"{name} from module {str(module)[:60]}")
            elif registered is not None and registered not in allowed:
                problems.append(f"{name} registered as {str(registered)[:60]}")
        activation = item.get("activation")
        if isinstance(activation, str) and activation not in ALLOWED_ACTIVATIONS:
            problems.append(f"activation {activation[:60]}")
    return problems


def unsafe_objects(path: str) -> list[str]:
    """Everything the Keras config at `path` (a SavedModel folder or a .keras file) names that is not
    on the allow-list, sorted and de-duplicated; [] for a folder qdretrain wrote."""
    if os.path.isdir(path):
        texts = _configs_in_saved_model(path)
    else:
        try:
            texts = list(_configs_in_keras_file(path))
        except (OSError, zipfile.BadZipFile, KeyError) as error:
            raise ConfigError(f"{path} is not a readable .keras file ({error}). Re-run training to write it "
                              f"again.") from None
    found: set[str] = set()
    for text in texts:
        parsed = _parsed(text)
        if parsed is not None:
            found.update(config_problems(parsed))
    return sorted(found)


def layer_class_names(saved_model_dir: str) -> list[str]:
    """Every `class_name` in a SavedModel folder's Keras configs (both places; nested ones included)."""
    names: list[str] = []

    def walk(value):
        if isinstance(value, dict):
            if isinstance(value.get("class_name"), str):
                names.append(value["class_name"])
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for text in _configs_in_saved_model(saved_model_dir):
        parsed = _parsed(text)
        if parsed is not None:
            walk(parsed)
    return names


def check_no_python_code(path: str) -> None:
    """Raises ConfigError, before anything is deserialised, when the Keras config of `path` (a SavedModel
    folder or a .keras file) names anything qdretrain does not write (see the module docstring).

    Raises:
      ConfigError: one line naming what was found and what to do.
    """
    unsafe = unsafe_objects(path)
    if unsafe:
        shown = ", ".join(unsafe[:5]) + (f" and {len(unsafe) - 5} more" if len(unsafe) > 5 else "")
        raise ConfigError(
            f"{path} is refused: its Keras config names {shown}, which qdretrain never writes and which could "
            "run Python code on this machine when loaded. Use only model folders you made or trust; to "
            "classify with it anyway, run its exported .tflite/.onnx with `qdretrain label_image`.")
