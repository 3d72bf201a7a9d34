"""Exported .tflite files checked by the real Android-side clients, not only by LiteRT.

The TFLite Task Library (tflite-support: the C++ ImageClassifier Android apps link) and MediaPipe
Tasks each classify test images from the model file alone, reading labels and normalisation from its
metadata; their top-1 must be LiteRT's. Each client lives in its own venv (its pins clash with
qdretrain's), made by .ci/setup_clients; a missing venv skips with the reason.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import REPO_ROOT
from tests.test_export_modeldir import CLASSES, make_model_dir

pytestmark = pytest.mark.clients

CLIENTS = {"tflite_support": ".venv-tflite-support", "mediapipe": ".venv-mediapipe"}
SCRIPT = REPO_ROOT / "tests" / "clients" / "classify.py"
_CACHE: dict = {}


def client_python(client: str) -> str:
    """The client venv's python, or a skip saying how to make it."""
    python = REPO_ROOT / CLIENTS[client] / "bin" / "python"
    if not python.exists():
        pytest.skip(f"{python.parent.parent.name} is absent: run `bash .ci/setup_clients` "
                    f"(needs pip access, and libusb-1.0-0 for tflite-support)")
    return str(python)


@pytest.fixture
def exported(tmp_path_factory, standin_module):
    """A stand-in model exported as float and int8 TFLite with metadata, and input-sized test PNGs.

    The PNGs are already the model's input size, so no client resizes: any disagreement is about
    metadata or normalisation, not interpolation.
    """
    if "exported" not in _CACHE:
        from PIL import Image

        from android_export.exporter import ExportConfig, run_export
        from retrain.model_folder import contract as outputs
        model_dir = make_model_dir(str(tmp_path_factory.mktemp("clients")), standin_module)
        run_export(ExportConfig(model_dir=model_dir, formats=("tflite", "tflite_int8")))
        splits = outputs.read_json(os.path.join(model_dir, "splits.json"))
        image_dir = tmp_path_factory.mktemp("client_images")
        paths = []
        for relpath in splits["testing"][::2]:  # 6 images, 2 per class
            with Image.open(os.path.join(splits["image_dir"], relpath)) as image:
                path = image_dir / (relpath.replace("/", "_").rsplit(".", 1)[0] + ".png")
                image.convert("RGB").resize((32, 32), Image.BILINEAR).save(path)
            paths.append(str(path))
        _CACHE["exported"] = (model_dir, paths)
    return _CACHE["exported"]


def litert_top1(model_path: str, image_paths: list, labels: list) -> list:
    """LiteRT's top-1 labels, fed the normalisation the model's metadata states (127.5/127.5)."""
    from PIL import Image

    from android_export.runners import TFLiteRunner
    batch = np.stack([np.asarray(Image.open(p).convert("RGB"), np.float32) for p in image_paths])
    scores = TFLiteRunner(model_path).predict((batch - 127.5) / 127.5)
    return [labels[i] for i in scores.argmax(axis=1)]


@pytest.mark.parametrize("client", sorted(CLIENTS))
@pytest.mark.parametrize("model_file", ["model.tflite", "model_int8.tflite"])
def test_real_client_agrees_with_litert(exported, client, model_file):
    python = client_python(client)
    model_dir, images = exported
    model_path = os.path.join(model_dir, model_file)
    result = subprocess.run([python, str(SCRIPT), client, model_path, *images], capture_output=True,
                            text=True, timeout=300, cwd=str(model_dir))
    assert result.returncode == 0, result.stderr[-3000:]
    top1 = json.loads(result.stdout.strip().splitlines()[-1])
    labels = sorted(CLASSES)
    got = [row["label"] for row in top1]
    # The names can only have come from the metadata: no labels file was passed, and the script ran in
    # a folder without one.
    assert set(got) <= set(labels) and "sea turtle" in labels
    assert got == litert_top1(model_path, images, labels), (client, model_file, top1)
    assert all(0.0 < row["score"] <= 1.0 for row in top1)
    # The stand-in model classifies its own (training-distribution) test images: a client that got the
    # normalisation wrong would collapse onto one class.
    assert len(set(got)) == len(labels), got


def test_client_script_refuses_without_metadata(exported, tmp_path):
    """The clients really depend on the metadata: strip it and the Task Library cannot label."""
    python = client_python("tflite_support")
    model_dir, images = exported
    with open(os.path.join(model_dir, "model.tflite"), "rb") as handle:
        data = handle.read()
    bare = tmp_path / "bare.tflite"
    bare.write_bytes(_strip_metadata(data))
    result = subprocess.run([python, str(SCRIPT), "tflite_support", str(bare), images[0]],
                            capture_output=True, text=True, timeout=300)
    if result.returncode == 0:  # it may still run, but can only print an empty or index-only label
        assert json.loads(result.stdout.strip().splitlines()[-1])[0]["label"] not in sorted(CLASSES)
    else:
        assert "metadata" in result.stderr.lower() or "normalization" in result.stderr.lower(), result.stderr


def _strip_metadata(model_bytes: bytes) -> bytes:
    """The .tflite without its TFLITE_METADATA entry (and its associated labels file)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema_fb
    model = schema_fb.ModelT.InitFromObj(schema_fb.Model.GetRootAsModel(model_bytes, 0))
    model.metadata = [m for m in (model.metadata or []) if m.name != b"TFLITE_METADATA"]
    builder = flatbuffers.Builder(0)
    builder.Finish(model.Pack(builder), b"TFL3")
    return bytes(builder.Output())
