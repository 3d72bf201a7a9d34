"""Issue 8 (reliability): training outputs land where the user pointed, and run faults (damaged
backups, unwritable folders, non-finite options, divergence, module files) end in one clear line."""

from __future__ import annotations

import errno
import glob
import json
import os

import pytest
from click.testing import CliRunner

from retrain.cli.main import cli
from tests.conftest import make_image_folder


def _args(tmp_path, images, module, *extra, steps=40):
    return ["--image_dir", str(images), "--tfhub_module", module, "--input_size", "32",
            "--bottleneck_dir", str(tmp_path / "bottlenecks"), "--how_many_training_steps", str(steps),
            "--eval_step_interval", "20", "--optimizer", "adam", "--learning_rate", "0.05",
            "--train_batch_size", "8", "--testing_percentage", "20", "--validation_percentage", "20", *extra]


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    return make_image_folder(tmp_path_factory.mktemp("img") / "images", {"cat": 10, "apple": 10})


def _invoke(args):
    return CliRunner().invoke(cli, args, catch_exceptions=False)


# --- 1. retrain.py's flags make a usable model folder, never CWD clutter -----------------------

def test_retrain_py_flags_put_the_model_folder_beside_them(tmp_path, images, standin_module, monkeypatch):
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    out = tmp_path / "out"
    result = _invoke(_args(tmp_path, images, standin_module, "--output_graph", str(out / "retrained_graph.pb"),
                           "--output_labels", str(out / "retrained_labels.txt"),
                           "--saved_model_dir", str(out / "model")))
    assert result.exit_code == 0, result.output
    assert os.listdir(work) == []  # nothing written into the current directory
    for name in ("model_info.json", "splits.json", "retrained_graph.pb", "training_curves.png"):
        assert (out / name).exists(), name
    assert (out / "model" / "saved_model.pb").exists()
    last = result.output.strip().splitlines()[-1]
    assert str(out) in last and "export --model_dir" in last
    from android_export.exporter import read_model_dir
    for given in (out, out / "model"):  # the output dir, or the --saved_model_dir copy
        assert os.path.abspath(read_model_dir(str(given)).path) == os.path.abspath(out)


def test_graph_elsewhere_gets_a_model_info_pointing_home(tmp_path, images, standin_module):
    graphs = tmp_path / "graphs"
    result = _invoke(_args(tmp_path, images, standin_module, "--output_dir", str(tmp_path / "m"),
                           "--output_graph", str(graphs / "g.pb")))
    assert result.exit_code == 0, result.output
    info = json.loads((graphs / "model_info.json").read_text())
    assert info["model_dir"] == str(tmp_path / "m")
    from android_export.exporter import read_model_dir
    assert read_model_dir(str(graphs)).path == str(tmp_path / "m")


def test_no_output_option_at_all_uses_retrain_output(tmp_path, images, standin_module, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = _invoke(_args(tmp_path, images, standin_module, steps=20))
    assert result.exit_code == 0, result.output
    assert "Model folder: retrain_output (no --output_dir given" in result.output
    assert (tmp_path / "retrain_output" / "model_info.json").exists()


def test_export_refuses_a_folder_without_model_info(tmp_path):
    from android_export.exporter import read_model_dir
    from common.errors import QdretrainError
    (tmp_path / "saved_model").mkdir()
    (tmp_path / "saved_model" / "saved_model.pb").write_bytes(b"x")
    (tmp_path / "retrained_labels.txt").write_text("a\nb\n")
    with pytest.raises(QdretrainError, match="did not finish"):
        read_model_dir(str(tmp_path))


# --- 2. a damaged backup is moved aside ------------------------------------------------------

def test_truncated_backup_is_moved_aside_and_the_rerun_works(tmp_path, images, standin_module):
    from retrain.families.hub_head import train as train_lib
    checkpoints = tmp_path / "ck"
    backup = train_lib.backup_dir_for(str(checkpoints))
    args = _args(tmp_path, images, standin_module, "--output_dir", str(tmp_path / "m"),
                 "--checkpoint_dir", str(checkpoints), steps=400)
    # A real backup: BackupAndRestore writes it at the first epoch's end, then the run is "killed"
    # (a finished run deletes its backup).
    from common.tfcompat import keras
    class Kill(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise KeyboardInterrupt
    original = train_lib.fit
    def fit_killed(*a, **k):
        return original(*a, **{**k, "extra_callbacks": [*k["extra_callbacks"], Kill()]})
    train_lib.fit = fit_killed
    try:
        first = CliRunner().invoke(cli, args)
    finally:
        train_lib.fit = original
    assert first.exit_code == 130, first.output
    data = glob.glob(os.path.join(backup, "chief", "*.data-*"))
    assert data, os.listdir(backup)
    with open(data[0], "r+b") as handle:
        handle.truncate(os.path.getsize(data[0]) // 2)
    second = _invoke(args)
    assert second.exit_code == 0, second.output
    assert "is damaged" in second.output and "starting training afresh" in second.output
    assert glob.glob(backup + ".damaged-*")
    assert (tmp_path / "m" / "model_info.json").exists()


# --- 3. unwritable folders -----------------------------------------------------------------

def test_output_dir_under_a_file_fails_before_training(tmp_path, images, standin_module):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    result = _invoke(_args(tmp_path, images, standin_module, "--output_dir", str(blocker / "model")))
    assert result.exit_code == 1
    assert "Cannot write to" in result.output and "--output_dir" in result.output
    assert "Bottlenecks:" not in result.output  # before the long work
    assert "Traceback" not in result.output


def test_bottleneck_dir_under_a_file(tmp_path, images, standin_module):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    args = _args(tmp_path, images, standin_module, "--output_dir", str(tmp_path / "m"))
    args[args.index("--bottleneck_dir") + 1] = str(blocker / "b")
    result = _invoke(args)
    assert result.exit_code == 1 and "--bottleneck_dir" in result.output


def test_disk_full_while_writing_outputs_leaves_no_complete_looking_folder(tmp_path, images, standin_module,
                                                                         monkeypatch):
    out = tmp_path / "m"
    assert _invoke(_args(tmp_path, images, standin_module, "--output_dir", str(out), steps=20)).exit_code == 0
    assert (out / "model_info.json").exists()  # an earlier, complete run
    from common import atomic as outputs
    real = outputs.atomic_write_bytes

    def full_disk(path, data):
        if path.endswith("splits.json"):
            raise OSError(errno.ENOSPC, "No space left on device", path)
        return real(path, data)
    monkeypatch.setattr(outputs, "atomic_write_bytes", full_disk)
    result = _invoke(_args(tmp_path, images, standin_module, "--output_dir", str(out), steps=20))
    assert result.exit_code == 1, result.output
    assert "Cannot write to" in result.output and "disk is full" in result.output
    assert not (out / "model_info.json").exists()
    from android_export.exporter import read_model_dir
    from common.errors import QdretrainError
    with pytest.raises(QdretrainError, match="not a qdretrain model dir"):
        read_model_dir(str(out))


def test_check_writable_reports_enospc(tmp_path, monkeypatch):
    from common import writable
    from common.errors import OutputError

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr("builtins.open", no_space)
    with pytest.raises(OutputError, match=r"Cannot write to .*--output_dir.*disk is full"):
        writable.check_writable(str(tmp_path / "x"), "--output_dir")


# --- 4. non-finite floats, divergence ----------------------------------------------------------

@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_non_finite_learning_rate_is_a_usage_error(tmp_path, images, value):
    result = CliRunner().invoke(cli, ["--image_dir", str(images), "--learning_rate", value])
    assert result.exit_code == 2 and "not a finite number" in result.output


def test_non_finite_export_tolerance_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(cli, ["export", "--model_dir", str(tmp_path), "--tolerance", "nan"])
    assert result.exit_code == 2 and "not a finite number" in result.output


def test_divergence_stops_with_advice_and_writes_no_model(tmp_path, images, standin_module, monkeypatch):
    from retrain.families.hub_head import train as train_lib
    real = train_lib.feature_datasets

    def nan_features(x_train, *rest):  # a diverged run: the loss is NaN from the first step
        return real(x_train * float("nan"), *rest)
    monkeypatch.setattr(train_lib, "feature_datasets", nan_features)
    out = tmp_path / "m"
    args = _args(tmp_path, images, standin_module, "--output_dir", str(out), "--checkpoint_dir",
                 str(tmp_path / "ck"))
    result = _invoke(args)
    assert result.exit_code == 1, result.output
    assert "Training diverged" in result.output and "--learning_rate" in result.output
    assert not (out / "model_info.json").exists() and not (out / "retrained_graph.pb").exists()
    assert not os.path.exists(tmp_path / "ck" / "backup.run.json")  # the rerun is not blocked


# --- 5. a module file instead of a folder ---------------------------------------------------------

def test_h5_module_file_says_what_was_expected(tmp_path):
    from retrain.families import architectures
    from retrain.families.hub_head import hub_modules
    from common.errors import ModuleUnavailableError
    model = tmp_path / "model.h5"
    model.write_bytes(b"\x89HDF")
    with pytest.raises(ModuleUnavailableError) as caught:
        hub_modules.resolve_module(architectures.get("mobilenet_0.25_224"), str(model))
    message = str(caught.value)
    assert "is a file" in message and "SavedModel folder" in message and "Keras" in message
    assert "does not exist" not in message
