"""Temperature scaling (retrain/evaluation/temperature.py): the fit, the fold into the weights, the run."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from click.testing import CliRunner

from retrain.data.split import seeded_subset as sample
from retrain.evaluation.temperature import MAX_TEMPERATURE, MIN_TEMPERATURE, fit_temperature, softmax


@pytest.mark.parametrize("true_temperature", [0.5, 1.0, 2.5])
def test_fit_recovers_the_temperature_the_labels_were_drawn_with(true_temperature):
    # Labels drawn from softmax(z / T): the likelihood's minimum is at T (up to sampling noise).
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, size=(20000, 10))
    cumulative = softmax(logits / true_temperature).cumsum(axis=1)
    labels = np.minimum((rng.random((len(logits), 1)) > cumulative).sum(axis=1), 9)
    fitted = fit_temperature(logits, labels)
    assert fitted == pytest.approx(true_temperature, rel=0.05)


def test_fit_minimises_the_negative_log_likelihood():
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 4, size=(500, 5))
    # Right 70% of the time: an interior minimum (random labels would push T to its upper bound).
    labels = np.where(rng.random(500) < 0.7, logits.argmax(1), rng.integers(0, 5, size=500))

    def nll(t):
        return -np.mean(np.log(softmax(logits / t)[np.arange(500), labels]))

    fitted = fit_temperature(logits, labels)
    assert MIN_TEMPERATURE < fitted < MAX_TEMPERATURE
    assert nll(fitted) <= min(nll(fitted * 0.95), nll(fitted * 1.05), nll(1.0))


def test_fit_stays_within_bounds_when_the_minimum_is_beyond_them():
    logits = np.array([[5.0, 0.0], [0.0, 5.0]] * 50)
    assert fit_temperature(logits, np.array([0, 1] * 50)) == MIN_TEMPERATURE  # always right: sharper
    assert fit_temperature(logits, np.array([1, 0] * 50)) == MAX_TEMPERATURE  # always wrong: flatter


def test_fit_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="logits"):
        fit_temperature(np.zeros((3, 2)), np.zeros(2, np.int64))


def test_sample_keeps_order_and_size():
    records = list(range(5000))
    picked = sample(records, 2000, seed=3)
    assert len(picked) == 2000 and picked == sorted(picked) and picked != records[:2000]
    assert sample(records[:10], 2000, seed=3) == records[:10]


def _head_like_classifier():
    """The TF-Hub family's shape: features -> the real head (a nested model with Dense "logits") ->
    the `final_result` softmax."""
    from common.tfcompat import keras
    from retrain.families.hub_head.model import build_head
    image = keras.Input(shape=(6,), name="input")
    features = keras.layers.Dense(4, activation="relu", name="backbone")(image)
    head = build_head(4, 3, seed=0)
    head.get_layer("logits").set_weights([np.random.default_rng(0).normal(0, 2, (4, 3)).astype(np.float32),
                                          np.array([0.5, -0.2, 0.1], np.float32)])
    probabilities = keras.layers.Softmax(name="final_result")(head(features))
    return keras.Model(image, probabilities)


def _native_like_classifier():
    from retrain.families.native.nets import build
    return build("quickdraw_cnn_small", 3, input_size=28, seed=0)


@pytest.mark.parametrize("make", [_head_like_classifier, _native_like_classifier])
def test_fold_divides_the_logits_so_the_softmax_is_the_tempered_one(make):
    from retrain.evaluation.temperature import fold, logits_of
    classifier = make()
    shape = (16,) + tuple(classifier.input_shape[1:])
    inputs = np.random.default_rng(2).uniform(-1, 1, shape).astype(np.float32)
    logits = logits_of(classifier, inputs)
    before = classifier.predict(inputs, verbose=0)
    fold(classifier, 2.5)
    after = classifier.predict(inputs, verbose=0)
    np.testing.assert_allclose(after, softmax(logits / 2.5), atol=1e-5)
    assert (after.argmax(1) == before.argmax(1)).all()
    assert not np.allclose(after, before, atol=1e-4)


def test_fold_refuses_a_model_without_one_logits_layer():
    from common.tfcompat import keras
    from retrain.evaluation.temperature import fold
    image = keras.Input(shape=(4,))
    model = keras.Model(image, keras.layers.Dense(2, activation="softmax", name="final_result")(image))
    with pytest.raises(ValueError, match="logits"):
        fold(model, 2.0)


def test_fold_refuses_two_logits_layers():
    from common.tfcompat import keras
    from retrain.evaluation.temperature import fold
    from retrain.families.hub_head.model import build_head
    features = keras.Input(shape=(4,))
    second = build_head(4, 2, seed=1)
    second = keras.Model(second.inputs, second.outputs, name="second_head")  # nested names must differ
    both = keras.layers.Concatenate()([build_head(4, 2, seed=0)(features), second(features)])
    model = keras.Model(features, keras.layers.Softmax(name="final_result")(both))
    with pytest.raises(ValueError, match="has 2"):
        fold(model, 2.0)


def test_too_few_validation_images_leave_the_model_as_trained():
    from retrain.evaluation.temperature import MIN_DRAWINGS, calibrate
    lines = []
    # The classifier is never touched: the count is checked before anything is read or predicted.
    assert calibrate(None, [object()] * (MIN_DRAWINGS - 1), 28, "native", 0, lines.append) is None
    assert "Calibration skipped" in lines[0] and "--validation_percentage" in lines[0]


def _bars(folder, rows):
    from tests.test_native import _bars as bars
    return bars(folder, rows)


def test_a_run_folds_its_temperature_into_the_model_folder(tmp_path, monkeypatch):
    """The calibrated SavedModel gives softmax(logits / T) of the logits the fit saw, in the same run;
    --resume keeps the weights as trained; --no_temperature_scaling leaves model and folder alone."""
    from retrain.cli.main import cli
    from retrain.evaluation import temperature
    from retrain.model_folder.saved_model import load_keras_model
    seen = []
    real_logits_of = temperature.logits_of

    def recording_logits_of(classifier, inputs, *args):
        seen.append((inputs, real_logits_of(classifier, inputs, *args)))
        return seen[-1][1]

    monkeypatch.setattr(temperature, "logits_of", recording_logits_of)
    data = _bars(str(tmp_path / "d"), rows=300)
    models, outputs = {}, {}
    for calibrate in ("--temperature_scaling", "--no_temperature_scaling"):
        out = str(tmp_path / calibrate)
        result = CliRunner().invoke(cli, [
            "train", "--architecture", "quickdraw_cnn_small", "--quickdraw_dir", data,
            "--how_many_training_steps", "3", "--train_batch_size", "8", "--output_dir", out, calibrate],
            catch_exceptions=False)
        assert result.exit_code == 0, result.output
        models[calibrate], outputs[calibrate] = out, result.output
    assert len(seen) == 1  # the calibrated run only
    info = json.load(open(os.path.join(models["--temperature_scaling"], "model_info.json")))
    assert "confidence_calibration" not in json.load(open(os.path.join(models["--no_temperature_scaling"], "model_info.json")))
    fitted = info["confidence_calibration"]
    assert fitted["method"] == "temperature" and fitted["validation_drawings"] == len(seen[0][0]) >= 50
    assert fitted["validation_nll_after"] <= fitted["validation_nll_before"]  # what the fit minimises
    printed = outputs["--temperature_scaling"]
    assert f"temperature {fitted['temperature']:.2f}" in printed
    assert "Calibrating the confidences" not in outputs["--no_temperature_scaling"]
    # A bound is said on screen (3 steps on three shapes: the fit often stops at one).
    assert ("stopped at its bound" in printed) == (fitted["temperature"] in (MIN_TEMPERATURE, MAX_TEMPERATURE))

    inputs, logits = seen[0]
    saved = load_keras_model(os.path.join(models["--temperature_scaling"], "saved_model"))
    np.testing.assert_allclose(saved.predict(inputs, verbose=0), softmax(logits / fitted["temperature"]), atol=1e-5)
    # The evaluation scored that calibrated model: its ECE is the test split's at T.
    evaluation = json.load(open(os.path.join(models["--temperature_scaling"], "evaluation.json")))
    assert 0 <= evaluation["expected_calibration_error"] <= 1

    # --resume continues from the weights as trained: the saved logits layer times T.
    from retrain.evaluation.temperature import logits_layers
    from retrain.families.native.nets import build
    resumable = build("quickdraw_cnn_small", 3, input_size=28)
    resumable.load_weights(os.path.join(models["--temperature_scaling"], "checkpoints", "final", "model.weights.h5"))
    trained_kernel = logits_layers(resumable)[0].kernel.numpy()
    np.testing.assert_allclose(trained_kernel, logits_layers(saved)[0].kernel.numpy() * fitted["temperature"],
                               rtol=1e-5, atol=1e-6)
