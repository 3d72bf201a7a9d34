"""The keras form of the native trainer's learning-rate schedules (formulas: schedule_config.py)."""

from __future__ import annotations

import dataclasses
import math

from retrain.families.native.schedule_config import SCHEDULES, ScheduleConfig, learning_rate_at  # noqa: F401
from common.tfcompat import keras, tf


@keras.utils.register_keras_serializable(package="qdretrain_native")
class NativeSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """`learning_rate_at` as a keras schedule (graph ops on the optimizer's step counter)."""

    def __init__(self, config: ScheduleConfig):
        self.config = config

    def __call__(self, step):
        c = self.config
        step = tf.cast(step, tf.float32)
        lr = tf.constant(c.learning_rate, tf.float32)
        warmup = float(c.warmup_steps)
        after = step - warmup
        if c.name == "constant":
            value = lr
        elif c.name == "step":
            value = lr * tf.pow(c.decay_rate, tf.floor(after / c.decay_steps))
        elif c.name == "exponential":
            value = lr * tf.pow(c.decay_rate, after / c.decay_steps)
        else:
            t = tf.minimum(1.0, after / float(max(1, c.total_steps - c.warmup_steps)))
            value = c.eta_min + (lr - c.eta_min) * (1.0 + tf.cos(math.pi * t)) / 2.0
        if c.warmup_steps:
            value = tf.where(step < warmup, lr * step / warmup, value)
        return value

    def get_config(self):
        return dataclasses.asdict(self.config)

    @classmethod
    def from_config(cls, config):
        return cls(ScheduleConfig(**config))
