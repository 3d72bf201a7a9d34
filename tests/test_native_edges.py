"""Issue 17 items 4, 5, 13, 15-16 for native nets: a backup is resumed only by its own run, a truncated
one is set aside, polarity is checked per class, NaN stops at once, empty splits work, and predict's
--output is checked before any work."""

from __future__ import annotations

import glob
import os

import numpy as np
import pytest
from click.testing import CliRunner

from tests.test_native import _bars
from tests.test_native_images import _drawing_folder


def _train(data, out, *extra):
    from retrain.cli.main import cli
    return CliRunner().invoke(cli, ["train", "--architecture", "quickdraw_cnn_small", "--quickdraw_dir", data,
                                    "--train_batch_size", "8", "--output_dir", out, *extra])


class _Interrupted(Exception):
    pass


def _interrupt_after_first_epoch(monkeypatch):
    """Stands in for Ctrl-C after epoch 1: BackupAndRestore (earlier in the callback list) has saved."""
    from common.tfcompat import keras
    from retrain.families.native import train

    class Stop(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise _Interrupted("interrupted")
    monkeypatch.setattr(train, "_StopOnNaN", Stop)


def test_a_backup_is_resumed_only_by_its_own_run_and_a_truncated_one_is_set_aside(tmp_path, monkeypatch):
    data = _bars(str(tmp_path / "d"), rows=30)
    out = str(tmp_path / "model")
    with monkeypatch.context() as patch:
        _interrupt_after_first_epoch(patch)
        result = _train(data, out, "--epochs", "2")
        assert isinstance(result.exception, _Interrupted)
    backup = os.path.join(out, "checkpoints", "backup")
    assert os.listdir(os.path.join(backup, "chief"))

    # 4: other classes into the same --output_dir: refused with advice, nothing trained.
    other = tmp_path / "other"
    other.mkdir()
    for name in ("horizontal", "corner"):
        os.symlink(os.path.join(data, f"{name}.npy"), other / f"{name}.npy")
    np.save(other / "rainbow.npy", np.load(os.path.join(data, "vertical.npy"))[:, ::-1])
    result = _train(str(other), out, "--epochs", "2")
    assert result.exit_code != 0
    assert "backup of an interrupted run" in result.output and "delete" in result.output
    assert "Traceback" not in result.output

    # 5: the same run again with its backup truncated: set aside, trained from the start, finished.
    for path in glob.glob(os.path.join(backup, "chief", "*.data-*")):
        with open(path, "r+b") as handle:
            handle.truncate(max(1, os.path.getsize(path) // 3))
    result = _train(data, out, "--epochs", "2")
    assert result.exit_code == 0, result.output
    assert "damaged" in result.output and "Moved it to" in result.output
    assert glob.glob(backup + ".damaged-*")
    assert os.path.exists(os.path.join(out, "model_info.json"))


def test_a_backup_without_a_signature_is_refused(tmp_path):
    data = _bars(str(tmp_path / "d"), rows=30)
    out = tmp_path / "model"
    chief = out / "checkpoints" / "backup" / "chief"
    chief.mkdir(parents=True)
    (chief / "checkpoint").write_text('model_checkpoint_path: "ckpt-1"\n')
    result = _train(data, str(out), "--how_many_training_steps", "2")
    assert result.exit_code != 0 and "backup of an interrupted run" in result.output


def test_a_diverging_native_run_stops_at_once_with_advice(tmp_path):
    data = _bars(str(tmp_path / "d"), rows=30)
    result = _train(data, str(tmp_path / "model"), "--epochs", "3", "--optimizer", "sgd",
                    "--learning_rate", "1e30")
    assert result.exit_code != 0
    assert "diverged" in result.output and "--learning_rate" in result.output
    assert "Epoch 2/" not in result.output  # stopped in the first epoch, not after every one
    assert not os.path.exists(tmp_path / "model" / "checkpoints" / "backup" / "chief")


def test_native_training_into_an_unwritable_output_dir_is_one_line(tmp_path):
    data = _bars(str(tmp_path / "d"), rows=30)
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder is needed")
    result = _train(data, str(blocker / "model"), "--how_many_training_steps", "2")
    assert result.exit_code != 0
    assert "Cannot write to" in result.output and "--output_dir" in result.output
    assert "Traceback" not in result.output


def test_native_image_dir_with_empty_validation_and_test_splits(tmp_path):
    from retrain.cli.main import cli
    folder = _drawing_folder(tmp_path, rows=6)
    result = CliRunner().invoke(cli, ["train", "--architecture", "quickdraw_cnn_small", "--image_dir", str(folder),
                                      "--validation_percentage", "0", "--testing_percentage", "0",
                                      "--how_many_training_steps", "2", "--train_batch_size", "4",
                                      "--output_dir", str(tmp_path / "model")])
    assert "ReadFile" not in result.output and "Traceback" not in result.output
    assert result.exit_code == 0, result.output
    assert "No test images" in result.output  # says why there is no evaluation


# --- 13: polarity per class, photos ----------------------------------------------------------------

def test_one_white_on_black_class_among_three_is_refused_by_name(tmp_path):
    from PIL import Image

    from common.errors import DatasetError
    from retrain.data.dataset import scan_image_dir
    from retrain.families.native import image_stream
    folder = _drawing_folder(tmp_path, rows=4)
    for path in (folder / "corner").iterdir():
        with Image.open(path) as image:
            inverted = Image.eval(image.convert("L"), lambda v: 255 - v)
        inverted.save(path)
    index = scan_image_dir(str(folder))
    with pytest.raises(DatasetError, match="'corner'.*white_on_black"):
        image_stream.check_polarity(str(folder), index.records)


def test_a_folder_of_photos_is_refused_with_advice(tmp_path):
    from common.errors import DatasetError
    from retrain.data.dataset import scan_image_dir
    from retrain.families.native import image_stream
    from tests.conftest import make_image_folder
    rng = np.random.default_rng(0)
    from PIL import Image
    root = tmp_path / "photos"
    for label in ("beach", "forest"):
        (root / label).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(rng.integers(90, 230, (32, 32, 3), dtype=np.uint8)).save(root / label / f"{i}.png")
    index = scan_image_dir(str(root))
    with pytest.raises(DatasetError, match="TF-Hub architecture"):
        image_stream.check_polarity(str(root), index.records)
    assert make_image_folder  # the same helper other tests use for image folders


# --- 15: predict --output, checked before any work -------------------------------------------------

@pytest.mark.parametrize("where", ["missing_dir", "existing_dir", "same_as_input"])
def test_predict_output_is_checked_up_front(tmp_path, where):
    from retrain.cli.main import cli
    test = tmp_path / "test_simplified.csv"
    test.write_text('key_id,countrycode,drawing\n1,US,"[[[0,5],[0,5]]]"\n')
    model = tmp_path / "model"
    model.mkdir()
    output = {"missing_dir": tmp_path / "nope" / "sub.csv", "existing_dir": tmp_path,
              "same_as_input": test}[where]
    before = test.read_bytes()
    result = CliRunner().invoke(cli, ["predict", "--model_dir", str(model), "--input", str(test),
                                      "--output", str(output)])
    # Refused for the --output itself, before the model is even read.
    assert result.exit_code != 0 and f"--output {output}" in result.output and "Traceback" not in result.output
    assert test.read_bytes() == before
    assert not glob.glob(str(tmp_path / "**" / "*.tmp"), recursive=True)
