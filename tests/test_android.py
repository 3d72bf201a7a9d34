"""`qdretrain android`: the assets folder an app copies, with the right model and instructions."""

from __future__ import annotations

import os

from tests.test_export_modeldir import export_report, exported_model_dir, trained_model_dir  # noqa: F401


def test_android_assets_int8(exported_model_dir, tmp_path):
    from click.testing import CliRunner

    from android_export.tflite_metadata import read_metadata
    from retrain.model_folder import contract as outputs
    from retrain.cli.main import cli
    out = tmp_path / "app_assets"
    result = CliRunner().invoke(cli, ["android", "--model_dir", exported_model_dir, "--output", str(out),
                                      "--precision", "int8"])
    assert result.exit_code == 0, result.output
    assert sorted(os.listdir(out)) == ["DrawingRenderer.kt", "README.md", "golden", "labels.txt", "model.tflite",
                                      "model_info.json", "retrained_graph.pb"]
    with open(out / "model.tflite", "rb") as handle, open(os.path.join(exported_model_dir, "model_int8.tflite"),
                                                          "rb") as original:
        data = handle.read()
        assert data == original.read()
    labels = outputs.read_labels(str(out / "labels.txt"))
    assert read_metadata(data)["labels"] == labels == outputs.read_labels(
        os.path.join(exported_model_dir, "retrained_labels.txt"))
    info = outputs.read_json(str(out / "model_info.json"))
    assert info["android"]["precision"] == "int8" and info["android"]["input_dtype"] == "uint8"
    assert info["labels_file"] == "labels.txt"
    readme = (out / "README.md").read_text()
    assert "[1, 32, 32, 3] uint8" in readme and f"ByteArray({len(labels)})" in readme
    assert "ImageClassifier" in readme and "R = G = B" in readme


def test_android_float_readme_has_normalisation(exported_model_dir, tmp_path):
    from android_export.android import write_android_assets
    out = tmp_path / "assets"
    write_android_assets(exported_model_dir, str(out), "float32")
    readme = (out / "README.md").read_text()
    assert "(pixel - 127.5) / 127.5" in readme and "FloatArray(3)" in readme and "- 127.5f) / 127.5f" in readme


def test_android_exports_missing_precision_first(trained_model_dir, tmp_path):
    import shutil

    from android_export.android import write_android_assets
    from retrain.model_folder import contract as outputs
    copy = str(tmp_path / "model")
    shutil.copytree(trained_model_dir, copy)
    for name in ("model_fp16.tflite", "export_report.json"):
        if os.path.exists(os.path.join(copy, name)):
            os.remove(os.path.join(copy, name))
    info = outputs.read_json(os.path.join(copy, "model_info.json"))
    info.pop("exports", None)
    outputs.write_json(info, os.path.join(copy, "model_info.json"))
    write_android_assets(copy, str(tmp_path / "assets"), "float16")
    assert os.path.exists(os.path.join(copy, "model_fp16.tflite"))
    assert os.path.getsize(tmp_path / "assets" / "model.tflite") == os.path.getsize(
        os.path.join(copy, "model_fp16.tflite"))


def test_android_bundle_ships_the_drawing_renderer_and_golden_files(exported_model_dir, tmp_path):
    from android_export.android import write_android_assets
    from convert.make_golden import GOLDEN_DIR
    out = tmp_path / "assets"
    write_android_assets(exported_model_dir, str(out), "float32")
    kotlin = (out / "DrawingRenderer.kt").read_text()
    assert "fun render(" in kotlin and "isAntiAlias = true" in kotlin
    for name in os.listdir(GOLDEN_DIR):
        assert (out / "golden" / name).read_bytes() == open(os.path.join(GOLDEN_DIR, name), "rb").read()
    assert "DrawingRenderer.render" in (out / "README.md").read_text()


def test_the_bundle_readme_says_when_the_model_preprocesses_its_input():
    from android_export.android import android_readme
    info = {"input_height": 224, "input_width": 224, "input_mean": 127.5, "input_std": 127.5, "label_count": 3}
    assert "input_preprocessing" not in android_readme(info, "float32", {})
    text = android_readme({**info, "input_preprocessing": "bitmap28_ink"}, "float32", {})
    assert "bitmap28_ink" in text and "down to 28 px itself" in text
