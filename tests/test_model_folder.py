"""The model-folder contract (issue 16): one generation per folder, one evaluation path, nothing
machine-specific in what ships."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from click.testing import CliRunner

from retrain.cli.main import cli
from tests.test_native import _bars
from tests.test_native_images import _drawing_folder
from tests.test_pipeline import _quickdraw_files


def _train(args, tmp_path, out="model"):
    result = CliRunner().invoke(cli, [*args, "--output_dir", str(tmp_path / out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return tmp_path / out, result.output


def _hub_args(tmp_path, standin_module, data_flag, data):
    return [data_flag, str(data), "--tfhub_module", standin_module, "--input_size", "32",
            "--bottleneck_dir", str(tmp_path / "b"), "--how_many_training_steps", "30",
            "--eval_step_interval", "10", "--train_batch_size", "8", "--checkpoint_dir", str(tmp_path / "ck"),
            "--summaries_dir", str(tmp_path / "s"), "--renderings", "1"]


def _native_args(tmp_path, data_flag, data):
    return [data_flag, str(data), "--architecture", "quickdraw_cnn_small", "--how_many_training_steps", "20",
            "--train_batch_size", "8", "--checkpoint_dir", str(tmp_path / "ck"),
            "--summaries_dir", str(tmp_path / "s")]


def _three_accuracies(model_dir):
    """(training's final top-1, the panel's training row, export's trained-model accuracy)."""
    from android_export.exporter import export_model_dir
    evaluation = json.loads((model_dir / "evaluation.json").read_text())
    report = export_model_dir(str(model_dir), formats=("tflite",))
    return evaluation["top1"], evaluation["panel"]["rows"]["training"]["top1"], report.reference_accuracy


@pytest.mark.parametrize("family,source", [("hub", "image_dir"), ("hub", "quickdraw_dir"),
                                           ("native", "image_dir"), ("native", "quickdraw_dir")])
def test_training_panel_and_export_print_the_same_top1(tmp_path, standin_module, family, source):
    if source == "image_dir":
        data = _drawing_folder(tmp_path, rows=30) if family == "native" else \
            _drawing_folder(tmp_path, rows=30, size=32)
    else:
        data = _bars(str(tmp_path / "npy"), rows=60) if family == "native" else _quickdraw_files(tmp_path / "qd", 60)
    args = _hub_args(tmp_path, standin_module, f"--{source}", data) if family == "hub" else \
        _native_args(tmp_path, f"--{source}", data)
    model_dir, _ = _train(args, tmp_path)
    final, panel, export = _three_accuracies(model_dir)
    assert final is not None and panel is not None and export is not None
    assert final == pytest.approx(panel, abs=1e-9) and final == pytest.approx(export, abs=1e-9), \
        (final, panel, export)


def test_retraining_retires_the_previous_exports_and_stale_files_are_refused(tmp_path, standin_module,
                                                                              image_folder):
    from android_export.exporter import export_model_dir
    from common.errors import QdretrainError
    from serve.model import ServedModel
    args = _hub_args(tmp_path, standin_module, "--image_dir", image_folder)
    model_dir, _ = _train(args, tmp_path)
    export_model_dir(str(model_dir), formats=("tflite",))
    old = tmp_path / "old.tflite"
    shutil.copyfile(model_dir / "model.tflite", old)
    first_id = json.loads((model_dir / "model_info.json").read_text())["run_id"]

    _, output = _train(args + ["--learning_rate", "0.05"], tmp_path)
    info = json.loads((model_dir / "model_info.json").read_text())
    assert info["run_id"] != first_id
    assert not (model_dir / "model.tflite").exists() and "Removed what the previous run" in output
    # A copy of the old export put back is not used: serve leaves it out, label_image refuses it.
    shutil.copyfile(old, model_dir / "model.tflite")
    served = ServedModel(str(model_dir))
    assert "model.tflite" not in served.artifacts and "model.tflite" in served.refused
    with pytest.raises(QdretrainError, match="not an export of this model"):
        ServedModel(str(model_dir), "model.tflite")
    result = CliRunner().invoke(cli, ["label_image", "--graph", str(model_dir / "model.tflite"),
                                      "--image", str(next((image_folder / "cat").iterdir()))])
    assert result.exit_code != 0 and "export" in result.output
    # Exported again, it belongs to this run and is used; a damaged copy is refused again.
    export_model_dir(str(model_dir), formats=("tflite",))
    assert "model.tflite" in ServedModel(str(model_dir)).artifacts
    data = (model_dir / "model.tflite").read_bytes()
    (model_dir / "model.tflite").write_bytes(data[:-10] + b"0123456789")
    assert "changed since" in ServedModel(str(model_dir)).refused["model.tflite"]


def test_the_app_bundle_and_model_contract_carry_no_machine_path(tmp_path, standin_module, image_folder):
    from android_export.android import write_android_assets
    model_dir, _ = _train(_hub_args(tmp_path, standin_module, "--image_dir", image_folder), tmp_path)
    out = tmp_path / "assets"
    write_android_assets(str(model_dir), str(out))
    roots = {str(tmp_path), os.path.expanduser("~"), os.path.dirname(standin_module)}
    for folder, _, files in os.walk(out):
        for name in files:
            text = open(os.path.join(folder, name), "rb").read().decode("utf-8", "replace")
            for root in roots:
                assert root not in text, (name, root)
    info = json.loads((out / "model_info.json").read_text())
    assert info["module_handle"] == "module" and "run_id" in info
