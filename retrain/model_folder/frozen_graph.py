"""The frozen graph: one GraphDef with the weights as constants, as the old TensorFlow Android app loads.

`retrained_graph.pb` is what retrain.py wrote and what `TensorFlowInferenceInterface` (and
`tf.compat.v1.import_graph_def`) run: feed the placeholder `input` (float32 [b, H, W, 3] in [-1, 1]),
fetch `final_result` (softmax). Only the inference path is kept: the model is traced with
`training=False` (no dropout, batch norm in inference mode), functions are inlined, and everything the
output does not depend on (save/restore ops, training identities) is dropped.
"""

from __future__ import annotations

from retrain.model_folder.contract import atomic_write_bytes

INPUT_NODE_NAME = "input"


def serving_function(model, batch_size=None):
    """A `tf.function` that maps `input` to the model's probabilities, traced for inference.

    Args:
      model: the tf_keras classifier (input [b, H, W, 3]).
      batch_size: fixed batch dimension (1 for TFLite, where the Android Task Library needs it), or
        None for any batch.

    Returns:
      The concrete function: argument `input`, output dict {"final_result": probabilities}.
    """
    from common.tfcompat import tf
    height, width, channels = (int(d) for d in model.input_shape[1:])
    spec = tf.TensorSpec([batch_size, height, width, channels], tf.float32, name=INPUT_NODE_NAME)

    @tf.function(input_signature=[spec])
    def serve(input):  # noqa: A002  (the argument's name becomes the graph input's name)
        return {"final_result": model(input, training=False)}

    return serve.get_concrete_function()


def freeze_model(model, output_node_name: str = "final_result"):
    """Freezes a tf_keras classifier into a self-contained inference GraphDef.

    Args:
      model: the tf_keras classifier from `retrain.families.hub_head.model.build_classifier`.
      output_node_name: name of the output node (retrain.py's --final_tensor_name).

    Returns:
      A `tf.compat.v1.GraphDef` whose placeholder is `input` and whose node `output_node_name` is an
      Identity of the softmax probabilities.

    Raises:
      ValueError: `output_node_name` clashes with a node already in the graph, or is `input`.
    """
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    from common.tfcompat import tf

    if output_node_name == INPUT_NODE_NAME:
        raise ValueError(f"The output node cannot be named '{INPUT_NODE_NAME}': that is the input's name.")
    concrete = serving_function(model)
    frozen = convert_variables_to_constants_v2(concrete)
    graph_def = frozen.graph.as_graph_def()
    placeholders = [n.name for n in graph_def.node if n.op == "Placeholder"]
    if placeholders != [INPUT_NODE_NAME]:  # the trace names the placeholder after the argument
        raise AssertionError(f"expected one placeholder named '{INPUT_NODE_NAME}', found {placeholders}")
    output_tensor = frozen.outputs[0].name  # e.g. "Identity:0"
    existing = {node.name for node in graph_def.node}
    if output_node_name in existing:
        raise ValueError(f"The output node name '{output_node_name}' is already used by a node of the "
                         f"graph; choose another --final_tensor_name.")
    output = graph_def.node.add()
    output.name = output_node_name
    output.op = "Identity"
    output.input.append(output_tensor[:-2] if output_tensor.endswith(":0") else output_tensor)
    output.attr["T"].type = tf.float32.as_datatype_enum
    return _strip_for_inference(graph_def, output_node_name)


def _strip_for_inference(graph_def, output_node_name: str):
    """Drops everything but the pure data path from `input` to the output node.

    After freezing there are no variables and no stateful ops left, so the control edges (`^node`)
    are only ordering leftovers of inlined function calls; without them the Identity/NoOp chains they
    held in place can go, which leaves a graph any TF1-era runtime reads.
    """
    from tensorflow.python.util import deprecation

    from common.tfcompat import tf
    stripped = tf.compat.v1.GraphDef()
    stripped.CopyFrom(graph_def)
    for node in stripped.node:
        data_inputs = [name for name in node.input if not name.startswith("^")]
        del node.input[:]
        node.input.extend(data_inputs)
    with deprecation.silence():  # the graph_util helpers are "TF1" APIs; this is exactly their use
        stripped = tf.compat.v1.graph_util.remove_training_nodes(
            stripped, protected_nodes=[INPUT_NODE_NAME, output_node_name])
        stripped = tf.compat.v1.graph_util.extract_sub_graph(stripped, [output_node_name])
    return stripped


def write_frozen_graph(model, path: str, output_node_name: str = "final_result") -> None:
    """Freezes `model` (see `freeze_model`) and writes the binary GraphDef to `path` atomically.

    Args:
      model: the tf_keras classifier.
      path: destination, e.g. <output_dir>/retrained_graph.pb.
      output_node_name: name of the output node.
    """
    graph_def = freeze_model(model, output_node_name)
    atomic_write_bytes(path, graph_def.SerializeToString())


def load_frozen_graph(path: str):
    """Reads a binary GraphDef (.pb) from disk.

    Raises:
      ValueError: the file is not a binary GraphDef.
    """
    from common.tfcompat import tf
    graph_def = tf.compat.v1.GraphDef()
    with open(path, "rb") as handle:
        data = handle.read()
    try:
        graph_def.ParseFromString(data)
    except Exception as error:
        raise ValueError(f"{path} is not a binary TensorFlow GraphDef ({type(error).__name__}).") from None
    return graph_def
