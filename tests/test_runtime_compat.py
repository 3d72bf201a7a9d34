"""The runtime table the export reports from (android_export/runtime_compat.py), without the clients.

tests/test_real_clients.py holds the table to what the real clients do; these run everywhere, so a
change that brings back an op older runtimes lack fails here even where the client venvs are absent.
"""

from __future__ import annotations

import numpy as np

from android_export import runtime_compat
from tests.test_real_clients import _int8_div_model


def _int8(model) -> bytes:
    from android_export import tflite_convert
    rng = np.random.default_rng(0)
    calibration = [np.where(rng.random((32, 32, 3)) < 0.2, -1.0, 1.0).astype(np.float32) for _ in range(8)]
    return tflite_convert.convert(model, "int8", lambda: iter(calibration))


def test_an_int8_div_is_found_and_said_in_one_line(tmp_path, standin_module):
    path = tmp_path / "div.tflite"
    _int8_div_model(str(path), standin_module)
    data = path.read_bytes()
    assert ("DIV", "INT8") in runtime_compat.op_signatures(data)
    assert runtime_compat.min_versions(data) == {"litert": "2.3.0", "mediapipe": "1.2.3", "tflite_support": None}
    assert not runtime_compat.runs_in(data, "mediapipe", "0.10.21")
    assert runtime_compat.runs_in(data, "mediapipe", "1.2.3")
    line = runtime_compat.cannot_run_line("div.tflite", data)
    assert "\n" not in line
    assert "MediaPipe Tasks 0.10.21" in line and "TFLite Task Library 0.4.4" in line and "int8 DIV" in line


def test_the_drawing_preprocessing_quantizes_to_ops_every_runtime_has():
    """The default drawing preprocessing (bitmap28_ink) in int8: no op any checked runtime lacks."""
    from retrain.model_folder import input_preprocessing
    from common.tfcompat import keras
    keras.utils.set_random_seed(0)
    image = keras.Input((32, 32, 3), name="input")
    x = input_preprocessing.layer(input_preprocessing.get(input_preprocessing.DRAWINGS_DEFAULT))(image)
    x = keras.layers.Conv2D(4, 4, strides=4, activation="relu")(x)
    scores = keras.layers.Softmax(name="final_result")(keras.layers.Dense(3)(keras.layers.Flatten()(x)))
    data = _int8(keras.Model(image, scores))
    assert runtime_compat.gaps_in(data) == []
    assert runtime_compat.cannot_run_line("model_int8.tflite", data) is None
    assert all(runtime_compat.min_versions(data).values())


def test_export_says_it_in_one_line_and_records_the_minimum_versions(tmp_path, standin_module, capsys):
    from android_export import exporter
    path = tmp_path / "model_int8.tflite"
    _int8_div_model(str(path), standin_module)
    exporter._say_runtime_gaps({"tflite_int8": str(path), "onnx": str(tmp_path / "model.onnx")})
    lines = [line for line in capsys.readouterr().out.splitlines() if line]
    assert len(lines) == 1 and lines[0].startswith("WARNING: model_int8.tflite cannot run in")
    assert exporter._min_runtime_versions(str(path))["tflite_support"] is None
