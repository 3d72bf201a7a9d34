"""Refuses model folders whose Keras config would run Python code stored in the folder.

A tf_keras SavedModel keeps each layer's config in `keras_metadata.pb`. Reloading it as a Keras object
(what export does, to have the trained model as the reference) rebuilds every layer from that config;
for a `Lambda` layer the config holds marshalled Python bytecode, which runs on load and on every call.
A model folder from someone else could so run any code on the machine that exports it. qdretrain never
writes Lambda layers, so any found here is refused before anything is deserialised. Layers of other
classes can only be ones registered in this process (qdretrain's own and TF-Hub's KerasLayer): an
unknown class name fails to load rather than running code. The plain SavedModel signature (what
`label_image` and the TFLite/ONNX converters load) holds TensorFlow graphs only, no Python.
"""

from __future__ import annotations

import json
import os

from common.errors import ConfigError

# Keras classes whose config can carry Python bytecode or a pickled function.
UNSAFE_CLASSES = frozenset({"Lambda", "TFOpLambda_with_function", "LambdaCallback"})


def layer_class_names(saved_model_dir: str) -> list[str]:
    """Every `class_name` in a tf_keras SavedModel's keras_metadata.pb (nested configs included).

    Args:
      saved_model_dir: the SavedModel folder.

    Returns:
      The class names, in file order; [] when the folder has no keras_metadata.pb.
    """
    path = os.path.join(saved_model_dir, "keras_metadata.pb")
    if not os.path.exists(path):
        return []
    import common.tfcompat  # noqa: F401 (TensorFlow imported with its start-up lines captured)
    from tf_keras.protobuf import saved_metadata_pb2
    metadata = saved_metadata_pb2.SavedMetadata()
    with open(path, "rb") as handle:
        metadata.ParseFromString(handle.read())
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

    for node in metadata.nodes:
        try:
            walk(json.loads(node.metadata))
        except ValueError:
            continue  # not JSON: holds no layer config
    return names


def check_no_python_code(saved_model_dir: str) -> None:
    """Raises ConfigError when the SavedModel's Keras config holds layers that run stored Python.

    Raises:
      ConfigError: naming the layer classes found and what to do.
    """
    unsafe = sorted(set(layer_class_names(saved_model_dir)) & UNSAFE_CLASSES)
    if unsafe:
        raise ConfigError(
            f"{saved_model_dir} holds {', '.join(unsafe)} layer(s), whose config is Python code that would "
            "run on this machine when the model is loaded. qdretrain never writes such layers, so this "
            "folder was not made by qdretrain (or was changed). Export only model folders you trust; "
            "`qdretrain label_image` runs its serving signature without Python code.")
