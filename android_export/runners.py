"""Running each artifact with its own runtime, behind one interface.

Every runner takes the *normalised* float32 batch [n, H, W, 3] (what the float models take) and returns
float32 scores [n, classes]; a quantized TFLite runner quantizes the input and dequantizes the output with
the model's own parameters, exactly as an app would. Runtimes:
  .tflite       LiteRT interpreter (ai_edge_litert), the runtime Android ships;
  .pb           a TF1 Session on the imported GraphDef (the old TensorFlow Android app's path);
  .onnx         onnxruntime (CPU);
  SavedModel    its serving_default signature, loaded with tf.saved_model.load;
  reference     the SavedModel reloaded as the tf_keras model (the trained model itself).
"""

from __future__ import annotations

import os
from typing import Optional

import numpy as np


class Runner:
    """Base: `predict(batch) -> scores`, plus what is known of the expected input."""

    kind = "?"
    input_height: Optional[int] = None
    input_width: Optional[int] = None

    def predict(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def predict_in_batches(self, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
        """`predict` over consecutive chunks of `images` (keeps memory flat on big sets)."""
        parts = [self.predict(images[i:i + batch_size]) for i in range(0, len(images), batch_size)]
        return np.concatenate(parts, axis=0) if parts else np.zeros((0, 0), np.float32)


class KerasRunner(Runner):
    """The trained model: the SavedModel reloaded as tf_keras (the reference every artifact is held to)."""

    kind = "keras"

    def __init__(self, saved_model_dir: str):
        from retrain.model_folder.saved_model import load_keras_model
        self.model = load_keras_model(saved_model_dir)
        _, self.input_height, self.input_width, _ = self.model.input_shape

    def predict(self, batch):
        return np.asarray(self.model(np.asarray(batch, np.float32), training=False), np.float32)


class SavedModelRunner(Runner):
    """The SavedModel's serving_default signature, through plain TensorFlow."""

    kind = "saved_model"

    def __init__(self, saved_model_dir: str):
        from retrain.model_folder.saved_model import load_predictor
        self.predictor = load_predictor(saved_model_dir)
        self.input_height, self.input_width = self.predictor.input_shape[1:3]

    def predict(self, batch):
        return self.predictor(batch)


class FrozenGraphRunner(Runner):
    """A frozen GraphDef in a TF1 Session: feed `input_layer`, fetch `output_layer` (retrain.py's way)."""

    kind = "frozen_graph"

    def __init__(self, path: str, input_layer: str = "input", output_layer: str = "final_result",
                 num_threads: Optional[int] = None):
        from retrain.model_folder.frozen_graph import load_frozen_graph
        from common.tfcompat import tf
        graph_def = load_frozen_graph(path)
        self.graph = tf.Graph()
        with self.graph.as_default():
            tf.compat.v1.import_graph_def(graph_def, name="")
        names = {node.name for node in graph_def.node}
        for role, name in (("--input_layer", input_layer), ("--output_layer", output_layer)):
            if name not in names:
                placeholders = [n.name for n in graph_def.node if n.op == "Placeholder"]
                raise ValueError(f"{path} has no node '{name}' ({role}). Its placeholders: "
                                 f"{', '.join(placeholders) or 'none'}; its last node: {graph_def.node[-1].name}.")
        self.input = self.graph.get_tensor_by_name(f"{input_layer}:0")
        self.output = self.graph.get_tensor_by_name(f"{output_layer}:0")
        shape = self.input.shape
        if shape.rank == 4:
            self.input_height, self.input_width = shape[1], shape[2]
        config = None
        if num_threads:
            config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=num_threads,
                                              inter_op_parallelism_threads=1)
        self.session = tf.compat.v1.Session(graph=self.graph, config=config)

    def predict(self, batch):
        return np.asarray(self.session.run(self.output, {self.input: np.asarray(batch, np.float32)}), np.float32)


class TFLiteRunner(Runner):
    """The LiteRT interpreter; quantized inputs/outputs are (de)quantized with the model's parameters."""

    kind = "tflite"

    def __init__(self, path_or_bytes, num_threads: Optional[int] = None):
        from ai_edge_litert.interpreter import Interpreter

        from common.tfcompat import captured_stderr
        # LiteRT's C++ prints "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." to fd 2 when the
        # tensors are allocated, on every artifact opened; no flag or env var turns it off, so it is
        # captured like TensorFlow's other start-up lines (shown with --verbose, replayed on an error).
        with captured_stderr():
            if isinstance(path_or_bytes, (bytes, bytearray)):
                self.interpreter = Interpreter(model_content=bytes(path_or_bytes), num_threads=num_threads)
            else:
                self.interpreter = Interpreter(model_path=str(path_or_bytes), num_threads=num_threads)
            self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self.batch = int(self.input["shape"][0])
        self.input_height, self.input_width = int(self.input["shape"][1]), int(self.input["shape"][2])
        self.quantized_input = self.input["dtype"] != np.float32

    def predict(self, batch):
        batch = np.asarray(batch, np.float32)
        if self.quantized_input and self.input["dtype"] == np.uint8:
            # What an app feeds the uint8 model: the raw 0-255 pixels (undo the [-1, 1] normalisation),
            # not values re-quantized with the model's own scale, so verification tests the contract.
            batch = np.clip(np.round(batch * 127.5 + 127.5), 0, 255).astype(np.uint8)
        elif self.quantized_input:
            scale, zero_point = self.input["quantization"]
            info = np.iinfo(self.input["dtype"])
            batch = np.clip(np.round(batch / scale + zero_point), info.min, info.max).astype(self.input["dtype"])
        results = []
        # The Android-facing models have a fixed batch of 1: run image by image, as a phone does.
        for i in range(0, len(batch), self.batch):
            self.interpreter.set_tensor(self.input["index"], batch[i:i + self.batch])
            self.interpreter.invoke()
            results.append(self.interpreter.get_tensor(self.output["index"]).copy())
        scores = np.concatenate(results, axis=0)
        if self.output["dtype"] != np.float32:
            scale, zero_point = self.output["quantization"]
            scores = (scores.astype(np.float32) - zero_point) * scale
        return scores.astype(np.float32)


class OnnxRunner(Runner):
    """onnxruntime on CPU."""

    kind = "onnx"

    def __init__(self, path_or_bytes, num_threads: Optional[int] = None):
        from android_export.onnx_export import require_onnx
        ort = require_onnx("onnxruntime")
        options = ort.SessionOptions()
        if num_threads:
            options.intra_op_num_threads = num_threads
            options.inter_op_num_threads = 1
        model = bytes(path_or_bytes) if isinstance(path_or_bytes, (bytes, bytearray)) else str(path_or_bytes)
        self.session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0]
        shape = self.input.shape
        if len(shape) == 4 and isinstance(shape[1], int):
            self.input_height, self.input_width = shape[1], shape[2]

    def predict(self, batch):
        return np.asarray(self.session.run(None, {self.input.name: np.asarray(batch, np.float32)})[0], np.float32)


def artifact_kind(path: str) -> str:
    """"tflite" | "frozen_graph" | "onnx" | "saved_model", from the path.

    Raises:
      ValueError: not one of the four.
    """
    if os.path.isdir(path):
        if os.path.exists(os.path.join(path, "saved_model.pb")):
            return "saved_model"
        raise ValueError(f"{path} is a folder but not a SavedModel (no saved_model.pb in it).")
    extension = os.path.splitext(path)[1].lower()
    kinds = {".tflite": "tflite", ".pb": "frozen_graph", ".onnx": "onnx"}
    if extension not in kinds:
        raise ValueError(f"Cannot tell what {path} is: expected a .tflite, .pb or .onnx file or a "
                         f"SavedModel folder.")
    return kinds[extension]


def open_artifact(path: str, input_layer: str = "input", output_layer: str = "final_result",
                  num_threads: Optional[int] = None) -> Runner:
    """A runner for any artifact, chosen by `artifact_kind`.

    Args:
      path: .tflite / .pb / .onnx file or SavedModel folder.
      input_layer / output_layer: node names, for frozen graphs only.
      num_threads: CPU threads (None: the runtime's default).

    Raises:
      ValueError: unknown kind, or a graph without the named nodes.
      OnnxUnavailableError: an .onnx file without onnxruntime installed.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} does not exist.")
    kind = artifact_kind(path)
    if kind == "tflite":
        return TFLiteRunner(path, num_threads)
    if kind == "onnx":
        return OnnxRunner(path, num_threads)
    if kind == "frozen_graph":
        return FrozenGraphRunner(path, input_layer, output_layer, num_threads)
    return SavedModelRunner(path)
