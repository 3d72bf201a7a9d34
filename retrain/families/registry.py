"""The model families by name: the run story's one branch point.

Each registry entry of retrain/families/architectures.py names its family (`trainer`); this maps the
name to the family's implementation, imported only when a run needs it.
"""

from __future__ import annotations

from typing import Optional

from retrain.families.base import ModelFamily


def family_for(architecture: str, teacher: Optional[str] = None) -> ModelFamily:
    """The family that trains `architecture` (the registry entry's `trainer`); with a `teacher` model
    folder, the distilled family (a native net learning the teacher's soft predictions too).

    Imported lazily: `qdretrain --help` must not load TensorFlow.

    Raises:
      KeyError: unknown architecture (retrain/families/architectures.get's message).
      ConfigError: a teacher for an architecture that is not a native net.
    """
    from retrain.families import architectures
    trainer = architectures.get(architecture).trainer
    if teacher:
        if trainer != "native":
            from common.errors import ConfigError
            raise ConfigError(f"--teacher trains a native student; {architecture} is a TF-Hub head. Pick a "
                              f"native --architecture (quickdraw_cnn_small, quickdraw_cnn, ...).")
        from retrain.families.distilled.family import DistilledFamily
        return DistilledFamily()
    if trainer == "native":
        from retrain.families.native.family import NativeFamily
        return NativeFamily()
    from retrain.families.hub_head.family import HubHeadFamily
    return HubHeadFamily()
