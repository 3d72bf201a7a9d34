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


def test_cli_passes_zero_to_the_native_family():
    import click
    from retrain.cli.native_options import NAMES, native_config

    class Context:
        def get_parameter_source(self, name):
            return click.core.ParameterSource.COMMANDLINE if name == "quickdraw_per_class" else \
                click.core.ParameterSource.DEFAULT
    options = {name: None for name in NAMES}
    options.update(epochs=0, lr_schedule="cosine", warmup_steps=0, decay_steps=1000, decay_rate=0.1,
                   eta_min=0.0, weight_decay=0.0, mixed_precision=False, pooling="avg", shuffle_buffer=10,
                   class_balanced=False, class_weighting="data", architecture="quickdraw_cnn",
                   quickdraw_per_class=0, optimizer="sgd", learning_rate=0.01, teacher=None,
                   teacher_weight=0.7, teacher_temperature=1.0)
    assert native_config(Context(), options, True).max_per_class == 0
