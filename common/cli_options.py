"""Click helpers shared by every command: retrain.py-style flags in both spellings, error mapping."""

from __future__ import annotations

import functools
import math
import sys

import click

from common.errors import QdretrainError


def flag(name: str, *decls: str, **kwargs):
    """`click.option` accepting retrain.py's underscore spelling and the dashed one.

    `flag("--how_many_training_steps", ...)` accepts `--how_many_training_steps` and
    `--how-many-training-steps`; the Python parameter is `how_many_training_steps`. Boolean pairs
    (`--fine_tune/--no_fine_tune`) get both spellings too; a bare identifier in `decls` renames the
    parameter.
    """
    on, _, off = name.partition("/")
    python_name = [d for d in decls if not d.startswith("-")] or [on[2:]]
    decls = tuple(d for d in decls if d.startswith("-"))

    def dashed(option: str) -> str:
        return "--" + option[2:].replace("_", "-")

    spellings = [name]
    if off and dashed(on) == on and dashed(off) != off:
        spellings.append(f" /{dashed(off)}")  # Click's syntax for an alias of the "off" flag only
    elif dashed(on) != on:
        spellings.append(f"{dashed(on)}/{dashed(off)}" if off else dashed(on))
    return click.option(*spellings, *decls, *python_name, **kwargs)


class FiniteFloat(click.ParamType):
    """A float that is a real number: `nan`, `inf` and `-inf` (which float() accepts) are usage errors,
    not a ValueError deep inside training or a model trained on NaN."""

    name = "float"

    def convert(self, value, param, ctx):
        if isinstance(value, float) and math.isfinite(value):
            return value
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number.", param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number; give a real value such as 0.01.", param, ctx)
        return number


FINITE_FLOAT = FiniteFloat()


def user_errors(func):
    """Turns QdretrainError (and Ctrl-C) into a clean Click error: message, no traceback."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except QdretrainError as error:
            raise click.ClickException(str(error)) from None
        except KeyboardInterrupt:
            click.echo("\nInterrupted. Finished work is kept; rerun the same command to go on.", err=True)
            sys.exit(130)
    return wrapper


def apply_options(options: list, func):
    """Decorates `func` with `options`, first in the list first in --help."""
    for option in reversed(options):
        func = option(func)
    return func


# `qdretrain train --help` in sections, in the order a user meets them (parameter name -> section).
TRAIN_HELP_SECTIONS = {
    "Data": ("image_dir", "quickdraw_dir", "quickdraw_per_class", "exclude_list", "testing_percentage",
             "validation_percentage", "renderings", "seed"),
    "Module and bottleneck cache (TF-Hub architectures)": ("architecture", "tfhub_module", "input_size",
                                                          "bottleneck_dir", "cache_batch_size",
                                                          "input_preprocessing"),
    "Training": ("how_many_training_steps", "learning_rate", "train_batch_size", "eval_step_interval",
                 "validation_batch_size", "test_batch_size", "optimizer", "label_smoothing", "dropout",
                 "class_weights"),
    "Fine-tuning the backbone (--fine_tune) and augmentation": (
        "fine_tune", "fine_tune_steps", "fine_tune_batch_size", "fine_tune_learning_rate", "augment",
        "flip_left_right", "random_crop", "random_scale", "random_brightness"),
    "Native nets trained from scratch (quickdraw_cnn, tiny_darknet, ...)": (
        "epochs", "lr_schedule", "warmup_steps", "decay_steps", "decay_rate", "eta_min", "weight_decay",
        "mixed_precision", "pooling", "shuffle_buffer", "class_balanced", "class_weighting", "mixup",
        "teacher", "teacher_weight", "teacher_temperature"),
    "Distribution": ("strategy",),
    "Outputs": ("output_dir", "output_graph", "output_labels", "saved_model_dir", "summaries_dir",
                "checkpoint_dir", "resume", "intermediate_store_frequency", "intermediate_output_graphs_dir",
                "final_tensor_name", "print_misclassified_test_images", "export_formats"),
}


class SectionedCommand(click.Command):
    """A command whose --help lists its options in named sections (TRAIN_HELP_SECTIONS) instead of
    one long list; options in no section go under "Other options"."""

    sections = TRAIN_HELP_SECTIONS

    def format_options(self, ctx, formatter):
        rows: dict[str, list] = {name: [] for name in self.sections}
        rows["Other options"] = []
        where = {param: section for section, params in self.sections.items() for param in params}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is not None:
                rows[where.get(param.name, "Other options")].append(record)
        for section, records in rows.items():
            if records:
                with formatter.section(section):
                    formatter.write_dl(records)
