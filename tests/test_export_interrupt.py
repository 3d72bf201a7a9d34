"""Export: converter temp files stay in the output folder, and Ctrl-C is not swallowed (issue 8, item 10)."""

from __future__ import annotations

import os
import signal
import tempfile

import numpy as np
import pytest

from tests.test_export_modeldir import trained_model_dir  # noqa: F401 (fixture)


@pytest.fixture
def keras_model(trained_model_dir):  # noqa: F811
    from retrain.model_folder.saved_model import load_keras_model
    return load_keras_model(os.path.join(trained_model_dir, "saved_model"))


def test_converter_temp_files_go_inside_the_output_folder_and_are_removed(keras_model, tmp_path, monkeypatch):
    from android_export import tflite_convert
    made = []
    real_mkdtemp = tempfile.mkdtemp

    def recording_mkdtemp(*args, **kwargs):
        path = real_mkdtemp(*args, **kwargs)
        made.append(path)
        return path

    monkeypatch.setattr(tempfile, "mkdtemp", recording_mkdtemp)
    out = tmp_path / "out"
    data = tflite_convert.convert(keras_model, "float32", work_dir=str(out))
    assert data[4:8] == b"TFL3"
    assert made and all(os.path.realpath(p).startswith(os.path.realpath(out)) for p in made), made
    assert not [n for n in os.listdir(out) if n.startswith(tflite_convert.WORK_DIR_PREFIX)]


def test_stale_work_folders_of_a_killed_export_are_cleaned(tmp_path):
    from android_export.tflite_convert import WORK_DIR_PREFIX, clean_stale_work_dirs
    dead = tmp_path / f"{WORK_DIR_PREFIX}999999999-abc"
    dead.mkdir()
    (dead / "junk").write_bytes(b"x" * 100)
    alive = tmp_path / f"{WORK_DIR_PREFIX}1-abc"  # pid 1 is running: another export's, left alone
    alive.mkdir()
    assert clean_stale_work_dirs(str(tmp_path)) == [str(dead)]
    assert not dead.exists() and alive.exists()


def test_ctrl_c_during_int8_calibration_stops_the_conversion(keras_model, tmp_path):
    # Before: the KeyboardInterrupt raised inside the calibration generator (run from C++) was printed
    # as "Exception ignored" and the conversion went on through every image.
    from android_export import tflite_convert
    size = int(keras_model.inputs[0].shape[1])
    served = []

    def calibration():
        for i in range(400):
            served.append(i)
            if len(served) == 5:
                os.kill(os.getpid(), signal.SIGINT)
            yield np.zeros((size, size, 3), np.float32)

    with pytest.raises(KeyboardInterrupt):
        tflite_convert.convert(keras_model, "int8", calibration, work_dir=str(tmp_path / "out"))
    assert len(served) < 50
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_int8_conversion_keeps_the_converters_lines_off_the_screen(keras_model, tmp_path, capfd, monkeypatch):
    # The converter printed "fully_quantize: 0, inference_type: 6, ..." from C++ into the progress bar.
    from android_export import tflite_convert
    monkeypatch.delenv("QDRETRAIN_VERBOSE", raising=False)
    size = int(keras_model.inputs[0].shape[1])
    images = lambda: (np.zeros((size, size, 3), np.float32) for _ in range(4))  # noqa: E731
    tflite_convert.convert(keras_model, "int8", images, work_dir=str(tmp_path))
    err = capfd.readouterr().err
    assert "fully_quantize" not in err and "inference_type" not in err, err[-2000:]
