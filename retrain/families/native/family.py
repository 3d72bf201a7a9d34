"""The native family: a small CNN trained end to end from random initialisation on streamed drawings.

`NativeFamily.train` is what the run story calls: data (data.py: QuickDraw files or an --image_dir,
the stable hash split) -> net (nets.py) -> fit (train.py) -> the classifier, whose "embedding" layer
`similar` and `audit` use. Evaluation and the model folder are the run story's, as for every family.
"""

from __future__ import annotations

import os

from common.progress import echo
from common.writable import write_errors
from retrain.families.base import TrainedModel, TrainingHistory

FAMILY = "native"


class NativeFamily:
    name = FAMILY

    def teacher_targets(self, config, native, data):
        """The teacher's soft targets: none for plain native training (the distilled family has them)."""
        return None

    def model_info_extra(self, native) -> dict:
        return {}

    def backups(self, config) -> list:
        from retrain.families.native.train import backup_dir
        return [backup_dir(config)]

    def train(self, config, strategy, info, worker_dir: str) -> TrainedModel:
        from retrain.data.bitmap_ink import drawing_contract_json
        from retrain.families import architectures
        from retrain.families.native import data as native_data
        from retrain.families.native.train import NativeConfig, final_weights_path, fit, set_mixed_precision
        native = config.native or NativeConfig()
        set_mixed_precision(native.mixed_precision)
        spec = architectures.get(config.architecture)
        shard = (info.rank, info.num_workers)
        data = native_data.image_data(config, spec.input_size, shard) if config.image_dir else \
            native_data.drawing_data(config, native.max_per_class, shard, echo)
        targets = self.teacher_targets(config, native, data)
        model, history, seconds, epoch_steps = fit(config, native, spec, data, strategy, info, echo, targets)
        curves = {k: [float(v) for v in values] for k, values in history.history.items()}
        steps = tuple(epoch_steps * (i + 1) for i in range(len(next(iter(curves.values()), []))))

        def keep_for_resume(effective) -> None:
            weights = final_weights_path(effective)
            with write_errors(os.path.dirname(weights), "--checkpoint_dir"):
                os.makedirs(os.path.dirname(weights), exist_ok=True)
                model.save_weights(weights)

        import dataclasses
        return TrainedModel(
            classifier=model, spec=spec, labels=tuple(data.labels),
            test_records=data.test_records() if info.is_chief else [],
            validation_records=data.validation_records() if info.is_chief else [],
            splits=data.splits_json(),
            model_info={"module_handle": f"native:{spec.name}", "family": FAMILY,
                        "net_channels": spec.channels, "embedding_layer": "embedding",
                        "pooling": native.pooling, "drawing_contract": drawing_contract_json(),
                        **self.model_info_extra(native)},
            run_config={"native": dataclasses.asdict(native)},
            history=TrainingHistory(steps, curves, seconds),
            keep_for_resume=keep_for_resume, warnings=tuple(data.warnings()),
            train_counts=dict(data.train_counts))
