"""The distilled family: a native net (its size, speed and input contract) trained on its drawings'
labels *and* a trained teacher's soft predictions (`--teacher MODEL_DIR`).

It is the native family with one difference, the target: weight x the teacher's probabilities +
(1 - weight) x the label (teacher.py's `blend`), the teacher's predictions computed once for every
training drawing and memory-mapped (teacher.py). The model folder is a native one (model_info.json's
"family" is "native": the student takes drawings as native nets do), plus "distilled_from".
"""

from __future__ import annotations

import os

from common.errors import ConfigError
from common.progress import echo
from retrain.families.native.family import NativeFamily

FAMILY = "distilled"


class DistilledFamily(NativeFamily):
    name = FAMILY

    def teacher_targets(self, config, native, data):
        if data.teacher_targets is None:
            raise ConfigError("--teacher needs --quickdraw_dir (the teacher's predictions are kept per "
                              "class file row); for an --image_dir train without --teacher.")
        return data.teacher_targets(native.teacher, os.path.join(config.path("checkpoint_dir"), "teacher"), echo)

    def model_info_extra(self, native) -> dict:
        from retrain.model_folder.contract import MODEL_INFO_FILE
        import json
        try:
            with open(os.path.join(native.teacher, MODEL_INFO_FILE), encoding="utf-8") as handle:
                teacher = json.load(handle)
        except (OSError, ValueError):
            teacher = {}
        return {"distilled_from": {"model_dir": os.path.basename(os.path.abspath(native.teacher)),
                                   "run_id": teacher.get("run_id"), "module_handle": teacher.get("module_handle"),
                                   "weight": native.teacher_weight, "temperature": native.teacher_temperature}}
