"""The `train` options of the native family, and how the CLI turns them into a NativeConfig.

Kept out of retrain/cli/main.py so that file only adds them to the list and calls `native_config`.
"""

from __future__ import annotations

import click

from common.cli_options import flag
from retrain.families.native.schedule_config import SCHEDULES

NAMES = ("epochs", "lr_schedule", "warmup_steps", "decay_steps", "decay_rate", "eta_min", "weight_decay",
         "mixed_precision", "pooling", "shuffle_buffer", "class_balanced", "class_weighting", "teacher", "teacher_weight",
         "teacher_temperature")
# What a native run uses when the user did not choose: retrain.py's SGD at 0.01 suits a head on
# fixed features, not a CNN from random initialisation. Augmentation off: measured on 69 unbalanced
# classes (docs/benchmarks.md#69-classes), quickdraw_cnn without it gained 14.7 points of macro top-1
# and 9.7 of micro at the same steps; the drawings themselves vary more than the transforms add.
NATIVE_DEFAULTS = {"optimizer": "adam", "learning_rate": 0.001, "augment": False}


def native_options() -> list:
    return [
        flag("--epochs", type=int, default=0, show_default=True,
             help="Native nets: passes over the training split (0: use --how_many_training_steps)."),
        flag("--lr_schedule", type=click.Choice(SCHEDULES), default="cosine", show_default=True,
             help="Native nets: learning-rate schedule (cosine = linear warmup + cosine to --eta_min)."),
        flag("--warmup_steps", type=int, default=0, show_default=True),
        flag("--decay_steps", type=int, default=1000, show_default=True, help="step/exponential schedules."),
        flag("--decay_rate", type=float, default=0.1, show_default=True, help="step/exponential schedules."),
        flag("--eta_min", type=float, default=0.0, show_default=True, help="cosine's final learning rate."),
        flag("--weight_decay", type=float, default=0.0, show_default=True),
        flag("--mixed_precision/--no_mixed_precision", default=False, show_default=True,
             help="Native nets: float16 compute (GPU only)."),
        flag("--pooling", type=click.Choice(("avg", "gem")), default="avg", show_default=True,
             help="Native nets: pooling of the `embedding` layer (gem: generalised mean, p learnt)."),
        flag("--shuffle_buffer", type=int, default=10000, show_default=True,
             help="Native nets: drawings in the bounded shuffle buffer (memory stays flat)."),
        flag("--class_balanced/--no_class_balanced", default=False, show_default=True,
             help="Native nets: sample every class equally often (= --class_weighting balanced)."),
        flag("--class_weighting", type=click.Choice(("data", "sqrt", "balanced")), default="sqrt",
             show_default=True,
             help="Native nets: each class's share of the training draws, spread evenly through every "
                  "pass so no class is starved: sqrt (tempered: count**0.5; the default, measured best "
                  "on 69 unbalanced classes: +5.7 pt macro top-1 for -0.7 pt micro against data), data "
                  "(its share of the drawings), balanced (every class equally: best macro, -12 pt "
                  "micro)."),
        flag("--teacher", type=click.Path(exists=True, file_okay=False), default=None,
             help="Native nets: distil from this trained model folder (same classes, e.g. a "
                  "mobilenet_1.0_224 head): the net learns the teacher's soft predictions as well as "
                  "the labels, and keeps its own size and speed. --quickdraw_dir only."),
        flag("--teacher_weight", type=float, default=0.7, show_default=True,
             help="The teacher's share of the training target (the label has the rest)."),
        flag("--teacher_temperature", type=float, default=1.0, show_default=True,
             help="Soften (> 1) or sharpen (< 1) the teacher's probabilities: p**(1/T), renormalised."),
    ]


def native_config(ctx: click.Context, options: dict, is_native: bool):
    """Pops the native options from `options`; returns a NativeConfig (native) or None.

    Raises:
      click.UsageError: native options for a TF-Hub architecture, or TF-Hub options for a native one.
    """
    from common.errors import ConfigError

    def given(name: str) -> bool:
        return ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE

    values = {name: options.pop(name) for name in NAMES}
    if not is_native:
        wrong = [n for n in NAMES if given(n)]
        if wrong:
            raise click.UsageError(f"{', '.join('--' + n for n in wrong)} only apply to native "
                                   f"architectures (quickdraw_cnn, tiny_darknet, ...).")
        return None
    from retrain.families.native.train import NOT_APPLICABLE, NativeConfig
    wrong = [n for n in NOT_APPLICABLE if given(n)]
    if wrong:
        raise click.UsageError(
            f"{', '.join('--' + n for n in wrong)}: not for --architecture {options['architecture']}, a "
            f"native net trained end to end from random initialisation (no TF-Hub module, no bottleneck "
            f"cache, no separate fine-tuning). Drop them, or pick a TF-Hub architecture.")
    for name, value in NATIVE_DEFAULTS.items():
        if not given(name):
            options[name] = value
    if given("quickdraw_per_class"):
        values["max_per_class"] = options["quickdraw_per_class"]
    try:
        return NativeConfig(**values)
    except ConfigError as error:
        raise click.UsageError(str(error)) from None
