"""Learning-rate schedules of the native trainer: their names, config and formulas (no TensorFlow,
so the CLI can offer the choices without importing it; the keras schedule is in schedules.py).

  constant:     lr
  step:         lr * decay_rate ** floor(step / decay_steps)
  exponential:  lr * decay_rate ** (step / decay_steps)
  cosine:       linear warmup from 0 to lr over warmup_steps, then
                eta_min + (lr - eta_min) * (1 + cos(pi * t)) / 2, t = (step - warmup) / (total - warmup)
                (so lr at the end of warmup, eta_min at the last step, and eta_min after it).
Every schedule also honours warmup_steps (linear ramp from 0) before its own formula starts.
"""

from __future__ import annotations

import dataclasses
import math

SCHEDULES = ("constant", "step", "exponential", "cosine")


@dataclasses.dataclass(frozen=True)
class ScheduleShape:
    """The user's schedule options, declared once: the native family's NativeConfig inherits them, and
    ScheduleConfig takes its defaults from here (the run then adds the learning rate and step count).

    Attributes:
      lr_schedule: one of SCHEDULES.
      warmup_steps / decay_steps / decay_rate / eta_min: see the formulas above.
    """
    lr_schedule: str = "cosine"
    warmup_steps: int = 0
    decay_steps: int = 1000
    decay_rate: float = 0.1
    eta_min: float = 0.0

    def schedule(self, learning_rate: float, total_steps: int, base_learning_rate: float) -> "ScheduleConfig":
        """The ScheduleConfig of a run: `learning_rate` (scaled for the replicas) over `total_steps`;
        eta_min is capped at the user's `base_learning_rate`."""
        return ScheduleConfig(self.lr_schedule, learning_rate, total_steps, self.warmup_steps,
                              self.decay_steps, self.decay_rate, min(self.eta_min, base_learning_rate))


_SHAPE = ScheduleShape()


@dataclasses.dataclass(frozen=True)
class ScheduleConfig:
    """Attributes:
      name: one of SCHEDULES.
      learning_rate: the peak (after warmup) learning rate.
      total_steps: the run's steps (cosine reaches eta_min there).
      warmup_steps: steps of linear warmup from 0 (0: none).
      decay_steps: step/exponential: steps per decay by decay_rate.
      decay_rate: step/exponential factor.
      eta_min: cosine's final learning rate.
    """
    name: str = _SHAPE.lr_schedule
    learning_rate: float = 0.001
    total_steps: int = 1000
    warmup_steps: int = _SHAPE.warmup_steps
    decay_steps: int = _SHAPE.decay_steps
    decay_rate: float = _SHAPE.decay_rate
    eta_min: float = _SHAPE.eta_min

    def __post_init__(self):
        if self.name not in SCHEDULES:
            raise ValueError(f"lr schedule must be one of {', '.join(SCHEDULES)}, not {self.name!r}")
        if self.learning_rate <= 0 or self.total_steps < 1 or self.decay_steps < 1 or self.warmup_steps < 0:
            raise ValueError("learning_rate > 0, total_steps >= 1, decay_steps >= 1, warmup_steps >= 0")
        if not 0 <= self.eta_min <= self.learning_rate:
            raise ValueError("eta_min must be in [0, learning_rate]")


def learning_rate_at(config: ScheduleConfig, step: float) -> float:
    """The documented formula in plain Python (the reference the tests hold the keras schedule to)."""
    lr, warmup = config.learning_rate, config.warmup_steps
    if warmup and step < warmup:
        return lr * step / warmup
    after = step - warmup
    if config.name == "constant":
        return lr
    if config.name == "step":
        return lr * config.decay_rate ** math.floor(after / config.decay_steps)
    if config.name == "exponential":
        return lr * config.decay_rate ** (after / config.decay_steps)
    span = max(1, config.total_steps - warmup)
    t = min(1.0, after / span)
    return config.eta_min + (lr - config.eta_min) * (1 + math.cos(math.pi * t)) / 2

