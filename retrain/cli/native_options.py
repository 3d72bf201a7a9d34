"""The `train` options of the native family (their defaults, names and rules are
retrain/families/options.py's, shared with the Python API; only the flags' spelling and help are here)."""

from __future__ import annotations

import click

from common.cli_options import FINITE_FLOAT, flag
from retrain.families.native.schedule_config import SCHEDULES

from retrain.families.options import defaults

DEFAULTS = defaults()


def native_options() -> list:
    return [
        flag("--epochs", type=int, default=DEFAULTS["epochs"], show_default=True,
             help="Native nets: passes over the training split (0: --how_many_training_steps if "
                  "given, else the default length: see there)."),
        flag("--lr_schedule", type=click.Choice(SCHEDULES), default=DEFAULTS["lr_schedule"], show_default=True,
             help="Native nets: learning-rate schedule (cosine = linear warmup + cosine to --eta_min)."),
        flag("--warmup_steps", type=int, default=DEFAULTS["warmup_steps"], show_default=True),
        flag("--decay_steps", type=int, default=DEFAULTS["decay_steps"], show_default=True, help="step/exponential schedules."),
        flag("--decay_rate", type=float, default=DEFAULTS["decay_rate"], show_default=True, help="step/exponential schedules."),
        flag("--eta_min", type=float, default=DEFAULTS["eta_min"], show_default=True, help="cosine's final learning rate."),
        flag("--weight_decay", type=float, default=DEFAULTS["weight_decay"], show_default=True),
        flag("--mixed_precision/--no_mixed_precision", default=DEFAULTS["mixed_precision"], show_default=True,
             help="Native nets: float16 compute (GPU only)."),
        flag("--pooling", type=click.Choice(("avg", "gem")), default=DEFAULTS["pooling"], show_default=True,
             help="Native nets: pooling of the `embedding` layer. gem (generalised mean, p learnt) "
                  "is more accurate in float but its int8 TFLite loses points (9 at 69 classes, "
                  "docs/benchmarks.md): keep avg for int8 apps."),
        flag("--shuffle_buffer", type=int, default=DEFAULTS["shuffle_buffer"], show_default=True,
             help="Native nets: drawings in the bounded shuffle buffer (memory stays flat)."),
        flag("--class_balanced/--no_class_balanced", default=DEFAULTS["class_balanced"], show_default=True,
             help="Native nets: sample every class equally often (= --class_weighting balanced)."),
        flag("--class_weighting", type=click.Choice(("data", "sqrt", "balanced")), default=DEFAULTS["class_weighting"],
             show_default=True,
             help="Native nets: each class's share of the training draws, spread evenly through every "
                  "pass so no class is starved: sqrt (tempered: count**0.5; the default, measured best "
                  "on 69 unbalanced classes: +5.7 pt macro top-1 for -0.7 pt micro against data), data "
                  "(its share of the drawings), balanced (every class equally: best macro, -12 pt "
                  "micro)."),
        flag("--mixup", type=FINITE_FLOAT, default=DEFAULTS["mixup"], show_default=True,
             help="Native nets: mixup's Beta(alpha, alpha) (each drawing blended with another, its "
                  "label too); 0 = off, the default: measured at 69 classes (docs/benchmarks.md#mixup)."),
        flag("--teacher", type=click.Path(exists=True, file_okay=False), default=DEFAULTS["teacher"],
             help="Native nets: distil from this trained model folder (same classes, e.g. a "
                  "mobilenet_1.0_224 head): the net learns the teacher's soft predictions as well as "
                  "the labels, and keeps its own size and speed. --quickdraw_dir only."),
        flag("--teacher_weight", type=float, default=DEFAULTS["teacher_weight"], show_default=True,
             help="The teacher's share of the training target (the label has the rest)."),
        flag("--teacher_temperature", type=float, default=DEFAULTS["teacher_temperature"], show_default=True,
             help="Soften (> 1) or sharpen (< 1) the teacher's probabilities: p**(1/T), renormalised."),
    ]
