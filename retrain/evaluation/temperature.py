"""Temperature scaling: one number, fitted on the validation split, so that a model's confidence means
what it says (Guo et al. 2017, "On Calibration of Modern Neural Networks").

A classifier's softmax(z) becomes softmax(z / T), with T chosen to minimise the negative log-likelihood
of the validation drawings. Dividing every logit by the same positive number keeps their order, so top-1,
top-5 and MAP@3 stay exactly what they were; only the confidences move. T is folded into the weights of
the Dense layer named "logits" (W / T, b / T), so the SavedModel, the frozen graph and every export carry
it and an app shows the calibrated confidence without knowing T exists.

Why it matters here: the TF-Hub heads trained on bottlenecks came out with expected calibration errors
of 11-27% on the 69 classes (docs/benchmarks.md), i.e. "90% sure" in an app meant far less.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional, Sequence

import numpy as np

MAX_DRAWINGS = 2000   # validation drawings scored for the fit: one number needs few, a big backbone is slow
MIN_DRAWINGS = 50     # below this a fitted T says more about the few drawings than about the model
MIN_TEMPERATURE, MAX_TEMPERATURE = 0.1, 10.0  # outside: a degenerate fit (e.g. every drawing right)
LOGITS_LAYER = "logits"  # the Dense layer before the `final_result` softmax, in every family
OUTPUT_LAYER = "final_result"  # the softmax every family ends in (retrain/families/base.py TrainedModel)


@dataclasses.dataclass(frozen=True)
class Calibration:
    """A fitted temperature and what it did on the drawings it was fitted on.

    Attributes:
      temperature: T (> 0); the logits are divided by it.
      drawings: validation drawings the fit used.
      ece_before / ece_after: their expected calibration error (metrics.calibration) at T = 1 and at T.
      nll_before / nll_after: their mean negative log-likelihood at T = 1 and at T: what the fit
        minimises, so after <= before always (T = 1 is inside the bounds); the ECE usually falls too,
        but nothing guarantees it on a model that was calibrated already.
    """
    temperature: float
    drawings: int
    ece_before: float
    ece_after: float
    nll_before: float
    nll_after: float

    def to_json(self) -> dict:
        return {"method": "temperature", "temperature": self.temperature, "validation_drawings": self.drawings,
                "validation_ece_before": self.ece_before, "validation_ece_after": self.ece_after,
                "validation_nll_before": self.nll_before, "validation_nll_after": self.nll_after}


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def negative_log_likelihood(logits: np.ndarray, true_indices: np.ndarray) -> float:
    """Mean -log softmax(logits)[true], computed stably (log-sum-exp)."""
    z = np.asarray(logits, np.float64)
    top = z.max(axis=1)
    log_sum = top + np.log(np.exp(z - top[:, None]).sum(axis=1))
    return float(np.mean(log_sum - z[np.arange(len(z)), np.asarray(true_indices, np.int64)]))


def fit_temperature(logits: np.ndarray, true_indices: np.ndarray) -> float:
    """The T in [MIN_TEMPERATURE, MAX_TEMPERATURE] that minimises the mean negative log-likelihood of
    softmax(logits / T).

    The NLL is convex in beta = 1/T (a log-sum-exp of lines minus a line), and its derivative,
    mean(E_softmax(beta z)[z] - z_true), increases with beta: bisection on its sign finds the minimum
    exactly, with no step size to tune. A bound is returned when the minimum lies beyond it.

    Args:
      logits: float [n, classes].
      true_indices: int [n], each in [0, classes).
    """
    z = np.asarray(logits, np.float64)
    true = np.asarray(true_indices, np.int64)
    if z.ndim != 2 or len(z) != len(true) or not len(z):
        raise ValueError(f"fit_temperature needs logits [n, classes] and n labels (got {z.shape}, {true.shape}).")
    z_true = z[np.arange(len(z)), true]

    def slope(beta: float) -> float:
        return float(np.mean((softmax(beta * z) * z).sum(axis=1) - z_true))

    low, high = np.log(1.0 / MAX_TEMPERATURE), np.log(1.0 / MIN_TEMPERATURE)  # bisection on log(beta)
    if slope(np.exp(low)) >= 0:
        return MAX_TEMPERATURE
    if slope(np.exp(high)) <= 0:
        return MIN_TEMPERATURE
    for _ in range(60):
        middle = (low + high) / 2
        if slope(np.exp(middle)) > 0:
            high = middle
        else:
            low = middle
    return float(1.0 / np.exp((low + high) / 2))


def logits_layers(model) -> list:
    """Every Dense layer named "logits" in `model`, nested models (the TF-Hub head) included."""
    found = []
    for layer in model.layers:
        if hasattr(layer, "layers"):
            found += logits_layers(layer)
        elif layer.name == LOGITS_LAYER:
            found.append(layer)
    return found


def fold(classifier, temperature: float) -> None:
    """Divides the "logits" layer's kernel and bias by `temperature`, in place.

    Raises:
      ValueError: the classifier does not have exactly one linear Dense "logits" layer (then softmax's
        input is not W x + b and dividing the weights would not divide the logits).
    """
    from common.tfcompat import keras
    found = logits_layers(classifier)
    if len(found) != 1 or not isinstance(found[0], keras.layers.Dense) \
            or found[0].activation is not keras.activations.linear:
        raise ValueError(f"temperature scaling needs exactly one linear Dense layer named {LOGITS_LAYER!r} "
                         f"before the softmax; {classifier.name} has {len(found)}.")
    layer = found[0]
    layer.kernel.assign(layer.kernel / temperature)
    if layer.use_bias:
        layer.bias.assign(layer.bias / temperature)


def logits_of(classifier, inputs: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """The softmax's input (float [n, classes]) for `inputs`, batch by batch."""
    from common.tfcompat import keras
    from retrain.evaluation.test_images import predict_in_batches
    softmax_layer = classifier.get_layer(OUTPUT_LAYER)
    return predict_in_batches(keras.Model(classifier.inputs, softmax_layer.input), inputs, batch_size)


def calibrate(classifier, records: Sequence, input_size: int, family: str, seed: int,
              echo: Callable[[str], None]) -> Optional[Calibration]:
    """Fits T on (a sample of) the validation records and folds it into `classifier`.

    Args:
      classifier: the trained Keras model (input [-1, 1] -> `final_result` softmax); changed in place.
      records: the validation split's ImageRecords.
      input_size: the model's input side.
      family: model_info.json's "family" (how records become inputs: test_images.model_inputs).
      seed: picks the sample.
      echo: prints a line.

    Returns:
      The Calibration, or None when there are too few validation drawings (the model is left as it was).
    """
    from retrain.evaluation.metrics import calibration as expected_calibration_error
    from retrain.data.split import seeded_subset
    from retrain.evaluation.test_images import model_inputs
    picked = seeded_subset(records, MAX_DRAWINGS, seed)
    if len(picked) < MIN_DRAWINGS:
        echo(f"Calibration skipped: {len(picked)} validation image(s), fewer than {MIN_DRAWINGS} to fit a "
             f"temperature on (raise --validation_percentage or add images). Confidences are as trained.")
        return None
    echo(f"Calibrating the confidences (temperature scaling) on {len(picked)} validation images...")
    kept, inputs = model_inputs(picked, input_size, family)
    if len(kept) < MIN_DRAWINGS:
        echo(f"Calibration skipped: only {len(kept)} validation image(s) could be read, fewer than "
             f"{MIN_DRAWINGS}. Confidences are as trained.")
        return None
    true = np.array([picked[i].label_index for i in kept])
    logits = logits_of(classifier, inputs)
    temperature = fit_temperature(logits, true)
    result = Calibration(temperature=temperature, drawings=len(kept),
                         ece_before=expected_calibration_error(softmax(logits), true)[0],
                         ece_after=expected_calibration_error(softmax(logits / temperature), true)[0],
                         nll_before=negative_log_likelihood(logits, true),
                         nll_after=negative_log_likelihood(logits / temperature, true))
    fold(classifier, temperature)
    echo(f"  temperature {temperature:.2f}: calibration error on those images {100 * result.ece_before:.1f}% "
         f"-> {100 * result.ece_after:.1f}% (top-1 unchanged; the model and every export carry it)")
    if temperature in (MIN_TEMPERATURE, MAX_TEMPERATURE):
        why = ("sharper would fit the validation images better still: usually every one of them is right "
               "with room to spare, so they cannot say how sure the model should be" if temperature == MIN_TEMPERATURE
               else "flatter would fit the validation images better still: the model is barely better than "
                    "guessing on them (typically trained for too few steps), so its scores are made near-uniform")
        echo(f"  Note: the temperature stopped at its bound ({temperature:g}): {why}. Train longer or add "
             f"validation images; --no_temperature_scaling keeps the confidences as trained.")
    return result


def unfolded(classifier, temperature: float, action: Callable[[], None]) -> None:
    """Runs `action` with the classifier's logits multiplied back by `temperature` (the weights as
    trained), then folds it in again: what --resume continues from must be the trained model, not the
    calibrated one, or every resume would stack another temperature on the last."""
    fold(classifier, 1.0 / temperature)
    try:
        action()
    finally:
        fold(classifier, temperature)
