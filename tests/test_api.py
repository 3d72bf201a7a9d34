"""The Python API (qdretrain/): `import qdretrain` trains, evaluates, predicts and exports the embedded
sample, through the same code and the same option table as the CLI."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

import qdretrain
from convert.sample import sample_dir
from retrain.cli.main import cli
from retrain.families.options import build_config, defaults, parse_export_formats

CLASSES = ("apple", "cat", "fish")


def _train_params() -> dict:
    command = cli.commands["train"]
    return {p.name: p for p in command.params if not p.hidden}


def test_cli_and_api_share_one_option_table():
    """Every `qdretrain train` flag is an API option with the same default, and the other way round."""
    params = _train_params()
    table = defaults()
    assert set(params) == set(table), set(params) ^ set(table)
    for name, param in params.items():
        default = param.default
        if name == "export_formats":
            default = parse_export_formats(default)
        assert default == table[name], name
    assert set(qdretrain.train_options()) == set(table)


def test_api_refuses_an_unknown_option_naming_the_known_ones():
    from common.errors import ConfigError
    with pytest.raises(ConfigError, match="Unknown option.*how_many_training_step.*qdretrain train --help"):
        build_config({"image_dir": "x", "how_many_training_step": 10}, given={"how_many_training_step"})


def test_native_defaults_apply_alike(tmp_path):
    """The native family's own defaults (adam, 0.001) come from the shared builder, not from the CLI."""
    config, note = build_config({"quickdraw_dir": str(tmp_path), "architecture": "quickdraw_cnn_small"},
                                given={"quickdraw_dir", "architecture"})
    assert (config.optimizer, config.learning_rate) == ("adam", 0.001)
    assert config.native is not None and note.startswith("Model folder: retrain_output")
    assert config.dropout == 0.3


@pytest.mark.parametrize("family_options", [
    {"architecture": "quickdraw_cnn_small", "quickdraw_dir": "."},
    {"architecture": "mobilenet_0.25_224", "image_dir": "."}])
def test_a_given_dropout_of_0_is_kept_for_both_families(family_options):
    """--dropout 0 means no dropout, also where the family's default is not 0 (it once became 0.3)."""
    options = {**family_options, "dropout": 0.0}
    config, _ = build_config(options, given=set(options))
    assert config.dropout == 0.0


def test_api_values_are_checked_and_kept_in_their_option_types(tmp_path):
    """The API takes Python values: None means the default; a string for a rate or a flag is refused
    with the option's name (a non-empty "no" would have been true); NumPy numbers become Python ones
    (else run_config.json stores them as strings); paths are accepted where a folder is named."""
    from common.errors import ConfigError
    base = {"quickdraw_dir": str(tmp_path), "architecture": "quickdraw_cnn_small"}

    def config(**options):
        options = {**base, **options}
        return build_config(options, given=set(options))[0]
    assert config(dropout=None).dropout == 0.3 and config(learning_rate=None).learning_rate == 0.001
    for name, value, says in (("dropout", "0.3", "takes a number"), ("augment", "no", "takes True or False"),
                              ("how_many_training_steps", 10.5, "takes a whole number"),
                              ("dropout", 1.5, "below 1 \\(got 1.5\\)")):
        with pytest.raises(ConfigError, match=f"--{name} {says}" if "takes" in says else f"--{name} must.*{says}"):
            config(**{name: value})
    checked = config(dropout=np.float32(0.25), augment=np.bool_(True))
    assert type(checked.dropout) is float and checked.augment is True
    # Options whose default is None are checked by their Optional[...] type.
    with pytest.raises(ConfigError, match="--fine_tune_learning_rate takes a number"):
        build_config({"image_dir": str(tmp_path), "fine_tune_learning_rate": "0.001"}, given={"image_dir", "fine_tune_learning_rate"})
    tuned = build_config({"image_dir": str(tmp_path), "fine_tune_learning_rate": np.float32(0.5)},
                         given={"image_dir", "fine_tune_learning_rate"})[0]
    assert type(tuned.fine_tune_learning_rate) is float
    head = {"image_dir": str(tmp_path), "architecture": "mobilenet_0.25_224", "bottleneck_dir": tmp_path / "b"}
    assert build_config(head, given=set(head))[0].bottleneck_dir == str(tmp_path / "b")


def test_a_native_net_is_built_with_the_configured_dropout():
    from common.tfcompat import keras
    from retrain.families.native import nets
    for rate, expected in ((0.0, []), (0.3, [0.3])):
        model = nets.build("quickdraw_cnn_small", 5, dropout=rate)
        assert [layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)] == expected


@pytest.mark.parametrize("given, expected", [
    ({}, True), ({"how_many_training_steps": 900}, False), ({"epochs": 3}, False), ({"epochs": 0}, True)])
def test_native_length_scales_with_the_data_only_when_the_user_chose_none(tmp_path, given, expected):
    options = {"quickdraw_dir": str(tmp_path), "architecture": "quickdraw_cnn", **given}
    config, _ = build_config(options, given=set(options))
    assert config.native.steps_from_data is expected


def test_default_native_length_is_passes_within_bounds():
    """At least retrain.py's steps (small data keeps today's length), DEFAULT_PASSES passes on big data,
    capped; an explicit --epochs or --how_many_training_steps is taken as given."""
    from retrain.families.native.native_config import BLOCK_STEPS, DEFAULT_PASSES, MAX_DEFAULT_STEPS, NativeConfig
    scaled = NativeConfig(steps_from_data=True)
    assert scaled.total_steps(265, 4000)[0] == 4000  # 13 classes: 26k drawings, 15 passes already
    assert scaled.total_steps(1250, 4000)[0] == DEFAULT_PASSES * 1250  # 69 classes: 125k drawings
    # Whole blocks of BLOCK_STEPS (a Keras "epoch"), so the schedule ends where training does.
    assert scaled.total_steps(1282, 4000)[0] == 10500 and 10500 % BLOCK_STEPS == 0
    assert scaled.total_steps(10000, 4000)[0] == MAX_DEFAULT_STEPS  # a million drawings
    assert "--epochs" in scaled.total_steps(1282, 4000)[1]
    assert NativeConfig().total_steps(1280, 4000)[0] == 4000
    assert NativeConfig(epochs=3).total_steps(1280, 4000)[0] == 3 * 1280


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sample")
    for name in CLASSES:
        shutil.copy(sample_dir() / f"{name}.npy", folder / f"{name}.npy")
    return folder


def test_train_evaluate_predict_export_the_embedded_sample(tmp_path, sample, standin_module):
    model = qdretrain.train(quickdraw_dir=sample, tfhub_module=standin_module, input_size=32,
                            quickdraw_per_class=40, renderings=1, how_many_training_steps=30,
                            optimizer="adam", learning_rate=0.01, bottleneck_dir=tmp_path / "bottlenecks",
                            output_dir=tmp_path / "model")
    assert model.model_dir == str(tmp_path / "model") and model.labels == CLASSES
    assert model.run.test_top1 is not None

    result = model.evaluate()
    assert result.top1 == pytest.approx(model.run.test_top1)  # the same evaluation as training's

    image = tmp_path / "drawing.png"
    Image.fromarray(np.full((40, 40, 3), 255, np.uint8)).save(image)
    strokes = [[[10, 200, 200, 10, 10], [10, 10, 200, 200, 10]]]  # a square, Quick, Draw!'s format
    predictions = model.predict([str(image), np.zeros((28, 28), np.uint8), strokes], top_k=2)
    assert len(predictions) == 3
    assert all(p.label in CLASSES and len(p.top) == 2 and 0 <= p.score <= 1 for p in predictions)
    assert model.predict(strokes)[0].source == "drawing 0"

    report = model.export(formats=["tflite"])
    assert (tmp_path / "model" / "model.tflite").exists() and "tflite" in report.artifacts

    again = qdretrain.load(tmp_path / "model")
    assert again.labels == CLASSES and again.predict(strokes)[0].label == predictions[2].label
