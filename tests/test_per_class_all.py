"""`--quickdraw_per_class 0` means every drawing, for `train` (both families) as for `convert`."""

from __future__ import annotations

import os

import numpy as np
import pytest

from common.errors import ConfigError


def _npy(folder, rows=(7, 30)):
    os.makedirs(folder, exist_ok=True)
    for c, n in enumerate(rows):
        np.save(os.path.join(folder, f"class{c}.npy"), np.full((n, 784), c + 1, np.uint8))
    return str(folder)


def test_train_config_takes_zero_and_refuses_negative_with_advice():
    from retrain.families.config import TrainConfig
    assert TrainConfig(quickdraw_dir=".", quickdraw_per_class=0).quickdraw_per_class == 0
    with pytest.raises(ConfigError, match=r"0 \(every drawing\)"):
        TrainConfig(quickdraw_dir=".", quickdraw_per_class=-1)


def test_tfhub_family_scan_with_zero_takes_every_drawing(tmp_path):
    from retrain.data.dataset import scan_quickdraw_dir
    folder = _npy(tmp_path / "qd")
    index = scan_quickdraw_dir(folder, per_class=0)
    assert len(index.records) == 37
    assert len(scan_quickdraw_dir(folder, per_class=5).records) == 10


def test_native_family_with_zero_streams_every_drawing(tmp_path):
    from retrain.families.config import TrainConfig
    from retrain.families.native import data
    folder = _npy(tmp_path / "qd")
    config = TrainConfig(quickdraw_dir=folder, quickdraw_per_class=0, architecture="quickdraw_cnn_small",
                         testing_percentage=0, validation_percentage=0)
    lines = []
    native = data.drawing_data(config, 0, (0, 1), lines.append)
    assert native.train_count == 37 and dict(native.train_counts) == {"class0": 7, "class1": 30}
    assert any("every drawing" in line for line in lines)  # the default is said on screen
    assert data.drawing_data(config, 5, (0, 1), lines.append).train_count == 10


def test_workers_count_a_pass_over_every_worker_s_drawings(tmp_path):
    """Each worker reads its share (which differ), but all count a pass the same: the data-scaled run
    length (8 passes) must agree across workers, or one stops first and the others hang."""
    from retrain.families.config import TrainConfig
    from retrain.families.native import data
    folder = _npy(tmp_path / "qd")
    config = TrainConfig(quickdraw_dir=folder, quickdraw_per_class=0, architecture="quickdraw_cnn_small",
                         testing_percentage=0, validation_percentage=0)
    shares = [data.drawing_data(config, 0, (i, 2), lambda line: None) for i in range(2)]
    assert shares[0].train_count != shares[1].train_count  # 37 drawings: 19 and 18
    assert shares[0].train_count + shares[1].train_count == 37
    assert shares[0].all_train_count == shares[1].all_train_count == 37
    assert data.drawing_data(config, 0, (0, 1), lambda line: None).all_train_count == 37


def test_cli_passes_zero_to_the_native_family(tmp_path):
    # The CLI and the Python API build the config through the one option table (retrain/families/options.py).
    from retrain.families.options import build_config
    config, _ = build_config({"architecture": "quickdraw_cnn", "quickdraw_per_class": 0, "output_dir": "m", "quickdraw_dir": str(tmp_path)},
                             given={"architecture", "quickdraw_per_class", "output_dir", "quickdraw_dir"})
    assert config.native.max_per_class == 0 and config.quickdraw_per_class == 0
    # Given explicitly, a count caps the native family too; not given, it reads every drawing.
    config, _ = build_config({"architecture": "quickdraw_cnn", "quickdraw_per_class": 7, "output_dir": "m", "quickdraw_dir": str(tmp_path)},
                             given={"architecture", "quickdraw_per_class", "output_dir", "quickdraw_dir"})
    assert config.native.max_per_class == 7
    config, _ = build_config({"architecture": "quickdraw_cnn", "output_dir": "m", "quickdraw_dir": str(tmp_path)},
                             given={"architecture", "output_dir", "quickdraw_dir"})
    assert config.native.max_per_class == 0
