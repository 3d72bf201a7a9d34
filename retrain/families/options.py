"""The options of a training run, defined once for the CLI and the Python API.

`qdretrain train --...` (retrain/cli/main.py) and `qdretrain.train(...)` (qdretrain/api.py) both call
`build_config`: the same names, the same defaults (TrainConfig's and NativeConfig's fields; the CLI's
flags take their defaults from `defaults()`), the same checks and the same native-family rules. Only
spelling differs: the CLI parses strings, the API takes Python values.
"""

from __future__ import annotations

import dataclasses
import functools
import numbers
import os
from typing import Collection, Mapping, Optional

from common.errors import ConfigError
from retrain.families.config import EXPORT_FORMATS, TrainConfig
from retrain.families.native.native_config import DEFAULT_DROPOUT, NOT_APPLICABLE, NativeConfig

# TrainConfig fields a user does not set by name: `native` is built from NATIVE_NAMES below.
_INTERNAL = ("native",)
# The native family's options: NativeConfig's fields but those the table derives (max_per_class from
# --quickdraw_per_class, steps_from_data from which length options were given).
_DERIVED = ("max_per_class", "steps_from_data")
NATIVE_NAMES = tuple(f.name for f in dataclasses.fields(NativeConfig) if f.name not in _DERIVED)
# What a native run uses when the user did not choose: retrain.py's SGD at 0.01 suits a head on fixed
# features, not a CNN from random initialisation. Augmentation off: measured on 69 unbalanced classes
# (docs/benchmarks.md#69-classes), quickdraw_cnn without it gained 14.7 points of macro top-1 and 9.7 of
# micro at the same steps (a short budget: see there). Dropout (DEFAULT_DROPOUT) before the classifier (a head on fixed
# features: none). The CLI's --help prints these from here (retrain/cli/main.py).
NATIVE_DEFAULTS = {"optimizer": "adam", "learning_rate": 0.001, "augment": False, "dropout": DEFAULT_DROPOUT}
# Defaults that differ from the dataclass's: output_dir None = derived from the file options
# (retrain/model_folder/locate.py), as retrain.py users expect.
_OVERRIDES = {"output_dir": None}


def defaults() -> dict:
    """Every training option's default, by name: TrainConfig's fields, then the native ones."""
    values = {f.name: f.default for f in dataclasses.fields(TrainConfig) if f.name not in _INTERNAL}
    values.update({f.name: f.default for f in dataclasses.fields(NativeConfig) if f.name in NATIVE_NAMES})
    values.update(_OVERRIDES)
    return values


def option_names() -> tuple:
    return tuple(defaults())


def parse_export_formats(value) -> tuple:
    """"tflite,onnx" (the CLI's --export) or ("tflite", "onnx") (the API) -> a checked tuple.

    Raises:
      ConfigError: an unknown format.
    """
    if isinstance(value, str):
        value = value.split(",")
    formats = tuple(f.strip() for f in (value or ()) if f and f.strip())
    unknown = [f for f in formats if f not in EXPORT_FORMATS]
    if unknown:
        raise ConfigError(f"Unknown export format(s) {', '.join(unknown)}; choose from {', '.join(EXPORT_FORMATS)}.")
    return formats


@functools.lru_cache(maxsize=None)
def _optional_types() -> dict:
    """name -> the type of each option whose default is None (input_size: int, fine_tune_learning_rate:
    float, folders: str), from the config classes' Optional[...] annotations."""
    import typing
    types = {}
    for cls in (TrainConfig, NativeConfig):
        for name, hint in typing.get_type_hints(cls).items():
            inner = [a for a in typing.get_args(hint) if a is not type(None)]
            if typing.get_origin(hint) is typing.Union and len(inner) == 1:
                types[name] = inner[0]
    return types


def _checked(name: str, value, default):
    """`value` in its option's type (that of the default), or a ConfigError naming the option: the API
    takes Python values, and "no" for a flag or "0.3" for a rate must not pass as something else (a
    non-empty string is true; a NumPy float would be saved as a string in run_config.json)."""
    import numpy as np
    kind = _optional_types().get(name) if default is None else type(default)
    if value is None:  # only where None is the default (build_config dropped the others)
        return None
    if kind is bool:
        if isinstance(value, (bool, np.bool_)) or isinstance(value, numbers.Integral) and value in (0, 1):
            return bool(value)
        raise ConfigError(f"--{name} takes True or False (got {value!r}).")
    if kind is int:
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return int(value)
        raise ConfigError(f"--{name} takes a whole number (got {value!r}).")
    if kind is float:
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"--{name} takes a number (got {value!r}).")
    if kind is str:
        if isinstance(value, os.PathLike):
            return os.fspath(value)
        if not isinstance(value, str):
            raise ConfigError(f"--{name} takes a string (got {value!r}).")
    return value


def build_config(options: Mapping, given: Collection[str]) -> tuple[TrainConfig, Optional[str]]:
    """The run's TrainConfig from options by name.

    Args:
      options: option values by name (see `defaults()`); missing ones take their default.
      given: the names the user set (explicitly, not by default): native-family rules depend on it.

    Returns:
      (config, note): note says how the model folder was chosen when output_dir was not given (print
      it once the config is known to be valid), else None.

    Raises:
      ConfigError: an unknown option, a value out of range, or options that do not go together; the
        message names the option as the CLI spells it.
    """
    from retrain.families import architectures
    known = defaults()
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ConfigError(f"Unknown option(s) {', '.join(unknown)}. The options are `qdretrain train`'s "
                          f"(`qdretrain train --help`): {', '.join(known)}.")
    # The API's None means "the default" (a wrapper passing dropout=None); the CLI never sends None.
    options = {name: value for name, value in options.items() if value is not None or known[name] is None}
    given = set(given) & set(options)
    values = {**known, **{name: _checked(name, value, known[name]) for name, value in options.items()}}
    try:
        is_native = architectures.get(values["architecture"]).is_native
    except KeyError as error:
        raise ConfigError(error.args[0]) from None
    native_values = {name: values.pop(name) for name in NATIVE_NAMES}
    native = None
    if not is_native:
        wrong = [n for n in NATIVE_NAMES if n in given]
        if wrong:
            raise ConfigError(f"{', '.join('--' + n for n in wrong)} only apply to native architectures "
                              f"(quickdraw_cnn, tiny_darknet, ...).")
    else:
        wrong = [n for n in NOT_APPLICABLE if n in given]
        if wrong:
            raise ConfigError(
                f"{', '.join('--' + n for n in wrong)}: not for --architecture {values['architecture']}, a "
                f"native net trained end to end from random initialisation (no TF-Hub module, no bottleneck "
                f"cache, no separate fine-tuning). Drop them, or pick a TF-Hub architecture.")
        for name, value in NATIVE_DEFAULTS.items():
            if name not in given:
                values[name] = value
        if "quickdraw_per_class" in given:
            native_values["max_per_class"] = values["quickdraw_per_class"]
        native_values["steps_from_data"] = ("how_many_training_steps" not in given
                                            and not native_values["epochs"])
        native = NativeConfig(**native_values)
    values["export_formats"] = parse_export_formats(values["export_formats"])
    note = None
    if not values["output_dir"]:
        from retrain.model_folder.locate import derive_output_dir
        values["output_dir"], why = derive_output_dir(values["output_graph"], values["output_labels"],
                                                      values["saved_model_dir"])
        note = f"Model folder: {values['output_dir']} ({why}; set it with --output_dir)."
    return TrainConfig(native=native, **values), note
