"""The native family's registry entries (no TensorFlow here: `qdretrain --help` stays fast).

Each entry says what the net sees (input side, channels) and the length of its "embedding" layer;
the builder of the same name is in retrain/families/native/nets.py. retrain/families/architectures.py lists these next to
the TF-Hub entries, so `--architecture` and `qdretrain architectures` know them all.
"""

from __future__ import annotations

import dataclasses

# (name, input side, channels the net sees, embedding length, one line for `qdretrain architectures`)
_ENTRIES = (
    ("quickdraw_cnn", 28, 1, 128, "3x(2 conv+BN, pool) 32/64/128, FC 256, dropout; ~330k params"),
    ("quickdraw_cnn_small", 28, 1, 64, "3x(2 conv+BN, pool) 16/32/64, FC 64; ~80k params, <100 KB int8"),
    ("tiny_darknet", 28, 1, 128, "Tiny-DarkNet: 1x1/3x3 convs, max-pool, global average pool, no FC"),
    ("mobilenet_v3_doodle", 28, 1, 288, "MobileNetV3-style inverted residuals + SE + hard-swish"),
    ("mobilenet_v3_doodle_64", 64, 1, 288, "mobilenet_v3_doodle at 64 px"),
    ("mobilenet_v3_doodle_96", 96, 1, 288, "mobilenet_v3_doodle at 96 px"),
)


@dataclasses.dataclass(frozen=True)
class NativeEntry:
    name: str
    input_size: int
    channels: int
    embedding_size: int
    description: str

    @property
    def builder(self) -> str:
        """Name of the builder in nets.py (size variants share their base net's builder)."""
        for suffix in ("_64", "_96"):
            if self.name.endswith(suffix):
                return self.name[: -len(suffix)]
        return self.name


ENTRIES = tuple(NativeEntry(*row) for row in _ENTRIES)
