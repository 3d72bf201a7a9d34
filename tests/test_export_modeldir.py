"""A small trained model dir (what `qdretrain train` writes), built once per test session for the
export, android and label_image tests; plus a check that the helper writes what training writes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import make_image_folder

CLASSES = {"apple": 16, "cat": 16, "sea turtle": 16}
_CACHE: dict = {}


def make_model_dir(root: str, module_path: str, classes: dict = CLASSES, epochs: int = 40) -> str:
    """Trains a stand-in classifier on generated images and writes a model dir like training does.

    The test split in splits.json holds every 4th image of each class; the rest is training.
    """
    from retrain.model_folder.frozen_graph import write_frozen_graph
    from retrain.model_folder.saved_model import save_serving_model
    from retrain.families import architectures
    from retrain.families.hub_head import hub_modules, model as model_lib
    from retrain.model_folder import contract as outputs
    from common.tfcompat import keras

    image_dir = make_image_folder(Path(root) / "images", classes, size=40)
    spec = architectures.with_overrides(architectures.get("mobilenet_0.25_224"), input_size=32, feature_size=8)
    module = hub_modules.resolve_module(spec, module_path)
    labels = sorted(classes)
    keras.utils.set_random_seed(0)
    classifier = model_lib.build_classifier(spec, module, model_lib.build_head(8, len(labels)))
    from retrain.evaluation.test_images import folder_items, load_items
    items = folder_items(str(image_dir))
    data = load_items(items, labels, 32, 32, 127.5, 127.5)
    relpaths = [os.path.relpath(path, image_dir).replace(os.sep, "/") for path, _ in items]
    testing = [r for i, r in enumerate(relpaths) if i % 4 == 0]
    training = [r for i, r in enumerate(relpaths) if i % 4 != 0]
    classifier.compile(optimizer=keras.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy")
    classifier.fit(data.images, data.label_indices, epochs=epochs, batch_size=16, verbose=0)

    model_dir = os.path.join(root, "model")
    os.makedirs(model_dir)
    save_serving_model(classifier, os.path.join(model_dir, "saved_model"))
    write_frozen_graph(classifier, os.path.join(model_dir, "retrained_graph.pb"))
    outputs.write_labels(labels, os.path.join(model_dir, outputs.LABELS_FILE))
    outputs.write_json(outputs.model_info(spec, labels, module.handle, module.fingerprint),
                       os.path.join(model_dir, outputs.MODEL_INFO_FILE))
    outputs.write_json({"image_dir": str(image_dir), "quickdraw_dir": None, "testing_percentage": 25},
                       os.path.join(model_dir, outputs.RUN_CONFIG_FILE))
    outputs.write_json({"image_dir": str(image_dir), "training": training, "validation": [], "testing": testing},
                       os.path.join(model_dir, "splits.json"))
    return model_dir


@pytest.fixture
def trained_model_dir(tmp_path_factory, standin_module) -> str:
    """The shared model dir (training only; tests that export copy it first)."""
    if "model_dir" not in _CACHE:
        _CACHE["model_dir"] = make_model_dir(str(tmp_path_factory.mktemp("trained")), standin_module)
    return _CACHE["model_dir"]


@pytest.fixture
def exported_model_dir(trained_model_dir) -> str:
    """The shared model dir after `qdretrain export` with every format (run once per session)."""
    if "exported" not in _CACHE:
        from android_export.exporter import ExportConfig, run_export
        _CACHE["report"] = run_export(ExportConfig(model_dir=trained_model_dir))
        _CACHE["exported"] = trained_model_dir
    return _CACHE["exported"]


@pytest.fixture
def export_report(exported_model_dir):
    return _CACHE["report"]


def test_model_dir_has_what_training_writes(trained_model_dir):
    from retrain.model_folder import contract as outputs
    for name in ("saved_model/saved_model.pb", "retrained_graph.pb", "retrained_labels.txt", "model_info.json",
                 "run_config.json", "splits.json"):
        assert os.path.exists(os.path.join(trained_model_dir, name)), name
    assert outputs.read_labels(os.path.join(trained_model_dir, "retrained_labels.txt")) == sorted(CLASSES)
    splits = outputs.read_json(os.path.join(trained_model_dir, "splits.json"))
    assert len(splits["testing"]) == 12 and len(splits["training"]) == 36
