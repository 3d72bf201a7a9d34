"""Export never runs Python code stored in a model folder (issue 8, item 12)."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.test_export_modeldir import trained_model_dir  # noqa: F401 (fixture)


def _plant_lambda_model(model_dir: str, marker: str) -> None:
    """Replaces the folder's SavedModel by one whose Lambda layer writes `marker` whenever it runs."""
    from retrain.model_folder import contract as outputs
    from common.tfcompat import keras
    labels = outputs.read_labels(os.path.join(model_dir, "retrained_labels.txt"))
    info = outputs.read_json(os.path.join(model_dir, "model_info.json"))
    size = int(info.get("input_height", 32))

    def side_effect(x, marker=marker):
        open(marker, "w").close()
        return x

    model = keras.Sequential([keras.Input((size, size, 3), name="input"), keras.layers.Lambda(side_effect),
                              keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(len(labels), activation="softmax", name="final_result")])
    shutil.rmtree(os.path.join(model_dir, "saved_model"))
    model.save(os.path.join(model_dir, "saved_model"), save_format="tf")
    os.remove(marker)  # saving traced the function once


def test_export_refuses_a_model_folder_with_lambda_layers(trained_model_dir, tmp_path):  # noqa: F811
    from android_export.exporter import ExportConfig, run_export
    from retrain.model_folder.safety import layer_class_names
    from common.errors import ConfigError
    folder = str(tmp_path / "model")
    shutil.copytree(trained_model_dir, folder)
    marker = str(tmp_path / "code_ran")
    _plant_lambda_model(folder, marker)
    assert "Lambda" in layer_class_names(os.path.join(folder, "saved_model"))
    with pytest.raises(ConfigError, match="Lambda"):
        run_export(ExportConfig(model_dir=folder, formats=("tflite",)))
    assert not os.path.exists(marker), "the model folder's Python code ran during export"


def test_qdretrain_models_hold_no_unsafe_layers(trained_model_dir):  # noqa: F811
    from retrain.model_folder.safety import UNSAFE_CLASSES, check_no_python_code, layer_class_names
    names = layer_class_names(os.path.join(trained_model_dir, "saved_model"))
    assert names and not set(names) & UNSAFE_CLASSES
    check_no_python_code(os.path.join(trained_model_dir, "saved_model"))  # raises on failure
