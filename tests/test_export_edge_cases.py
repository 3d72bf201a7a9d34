"""Export edge cases found in review: the int8 raw-pixel contract, label lookup, bad inputs."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from retrain.cli.main import cli
from tests.test_export_modeldir import exported_model_dir, trained_model_dir  # noqa: F401


def test_int8_input_takes_raw_pixels(exported_model_dir):
    """Calibration pins the input range, so an app feeding raw 0-255 bytes feeds what the model expects."""
    from ai_edge_litert.interpreter import Interpreter
    interpreter = Interpreter(model_path=os.path.join(exported_model_dir, "model_int8.tflite"))
    details = interpreter.get_input_details()[0]
    scale, zero_point = details["quantization"]
    assert details["dtype"] == np.uint8
    assert abs(scale - 2 / 255) < 0.01 * 2 / 255 and zero_point in (127, 128)


def test_labels_beside_the_artifact_beat_the_parent_folder(exported_model_dir, tmp_path):
    from android_export.label_image import resolve_labels
    app = tmp_path / "app"
    app.mkdir()
    shutil.copy(os.path.join(exported_model_dir, "model.tflite"), app / "model.tflite")
    (tmp_path / "retrained_labels.txt").write_text("wrong\nlabels\nhere\n")
    (app / "labels.txt").write_text("x\ny\nz\n")
    assert resolve_labels(str(app / "model.tflite"), None) == ["x", "y", "z"]
    os.remove(app / "labels.txt")
    # Next: the labels embedded in the TFLite metadata, still before the parent folder's file.
    embedded = resolve_labels(str(app / "model.tflite"), None)
    assert embedded != ["wrong", "labels", "here"]


def test_transparent_png_is_composited_on_white(tmp_path):
    from retrain.evaluation.test_images import load_pixels
    canvas = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    canvas.paste((0, 0, 0, 255), (10, 18, 30, 22))  # a black stroke on a transparent background
    canvas.save(tmp_path / "doodle.png")
    pixels = load_pixels(str(tmp_path / "doodle.png"), 40, 40)
    assert pixels[0, 0].tolist() == [255.0, 255.0, 255.0]
    assert pixels[20, 20].max() < 10


def test_label_image_skips_a_bad_file_in_a_folder(exported_model_dir, tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.new("RGB", (32, 32), (200, 30, 30)).save(folder / "good.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff not really")
    (folder / "._hidden.jpg").write_bytes(b"junk")
    result = CliRunner().invoke(cli, ["label_image", "--graph", os.path.join(exported_model_dir, "model.tflite"),
                                      "--image_dir", str(folder)])
    assert result.exit_code == 0, result.output
    assert "good.png" in result.output and "skipped" in result.output and "_hidden" not in result.output


def test_bad_opset_is_a_usage_error(trained_model_dir):
    result = CliRunner().invoke(cli, ["export", "--model_dir", trained_model_dir, "--formats", "onnx",
                                      "--opset", "19"])
    assert result.exit_code == 2 and "19" in result.output


def test_android_output_must_not_be_the_model_dir(trained_model_dir):
    result = CliRunner().invoke(cli, ["android", "--model_dir", trained_model_dir, "--output", trained_model_dir])
    assert result.exit_code != 0 and "folder of its own" in result.output
    assert "Traceback" not in result.output


def test_fortran_ordered_3d_bitmaps_are_refused(tmp_path):
    from convert.sources import SourceError, open_bitmaps
    drawings = np.asfortranarray(np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28))
    np.save(tmp_path / "cat.npy", drawings)
    with pytest.raises(SourceError, match="Fortran"):
        open_bitmaps(tmp_path / "cat.npy")


def test_an_artifact_its_runtime_cannot_load_fails_its_check(exported_model_dir, tmp_path):
    from android_export import exporter
    from retrain.evaluation import test_images as images
    from retrain.model_folder import contract as outputs
    broken = tmp_path / "model.tflite"
    broken.write_bytes(b"TFL3 but not really a model")
    data = images.LabelledImages(("a",), np.zeros((1, 32, 32, 3), np.float32), np.array([0]))
    checks = exporter.verify_artifacts({"tflite": str(broken)}, np.full((1, 3), 1 / 3, np.float32), data, 1e-3)
    assert len(checks) == 1 and not checks[0].passed and checks[0].max_abs_diff == float("inf")
    # A re-export first forgets the old "verified" claims for the formats it redoes.
    info_path = tmp_path / "model_info.json"
    outputs.write_json({"exports": {"tflite": {"file": "model.tflite"}, "onnx": {"file": "model.onnx"}}},
                       str(info_path))
    exporter.forget_exports(str(tmp_path), ("tflite",))
    assert outputs.read_json(str(info_path))["exports"] == {"onnx": {"file": "model.onnx"}}
