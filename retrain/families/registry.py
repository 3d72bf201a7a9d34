"""The model families by name: the run story's one branch point.

Each registry entry of retrain/families/architectures.py names its family (`trainer`); this maps the
name to the family's implementation, imported only when a run needs it.
"""

from __future__ import annotations

from retrain.families.base import ModelFamily


def family_for(architecture: str) -> ModelFamily:
    """The family that trains `architecture` (the registry entry's `trainer`).

    Imported lazily: `qdretrain --help` must not load TensorFlow.

    Raises:
      KeyError: unknown architecture (retrain/families/architectures.get's message).
    """
    from retrain.families import architectures
    trainer = architectures.get(architecture).trainer
    if trainer == "native":
        from retrain.families.native.family import NativeFamily
        return NativeFamily()
    from retrain.families.hub_head.family import HubHeadFamily
    return HubHeadFamily()
