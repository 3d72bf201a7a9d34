"""Exported .tflite files checked by the real Android-side clients, not only by LiteRT.

The TFLite Task Library (tflite-support 0.4.4: the C++ ImageClassifier Android apps link), MediaPipe
Tasks 0.10.21 (the oldest the Android guide supports) and MediaPipe Tasks current (1.2.x) each classify
test images from the model file alone, reading labels and normalisation from its metadata; their
top-1 must be LiteRT's. The models are the DEFAULT model of each family, trained and exported through
the CLI as a user would: drawings (a TF-Hub head with the default --input_preprocessing, which puts the
drawing preprocessing inside the model), a native net, photos. A stand-in without the drawing
preprocessing hid that the default int8 drawing model failed in two of these runtimes (issue 18).

Each client lives in its own venv (its pins clash with qdretrain's), made by .ci/setup_clients; a
missing venv skips with the reason.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from tests import real_clients
from tests.test_export_modeldir import CLASSES, make_model_dir

pytestmark = pytest.mark.clients

FAMILIES = ("drawings", "native", "photos")
MODEL_FILES = ("model.tflite", "model_int8.tflite")
_CACHE: dict = {}

# Drawings three classes tell apart by how much ink they hold, so a head on the stand-in module's
# features (which include the mean colour) learns them in a few steps.
_SHAPES = {"dot": np.s_[11:17, 11:17], "bar": np.s_[3:25, 10:18], "block": np.s_[3:25, 3:25]}


def _drawings(folder: str, rows: int = 40) -> str:
    """QuickDraw-style .npy files (28x28 bitmaps, ink 255 on 0), each row shifted a little."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(0)
    for name, cut in _SHAPES.items():
        base = np.zeros((28, 28), np.uint8)
        base[cut] = 255
        shifted = [np.roll(base, tuple(rng.integers(-2, 3, 2)), axis=(0, 1)) for _ in range(rows)]
        np.save(os.path.join(folder, f"{name}.npy"), np.stack(shifted).reshape(rows, 784))
    return folder


def _drawing_pngs(folder, size: int) -> list:
    """Two test drawings a class as black-on-white PNGs of the model's input size (no client resizes)."""
    from PIL import Image
    os.makedirs(folder, exist_ok=True)
    paths = []
    for name, cut in _SHAPES.items():
        for shift in ((1, -1), (-1, 2)):
            ink = np.zeros((28, 28), np.uint8)
            ink[cut] = 255
            gray = 255 - np.roll(ink, shift, axis=(0, 1))
            path = os.path.join(folder, f"{name}_{shift[0]}_{shift[1]}.png")
            Image.fromarray(gray).convert("RGB").resize((size, size), Image.NEAREST).save(path)
            paths.append(path)
    return paths


def _train(args: list) -> None:
    from click.testing import CliRunner

    from retrain.cli.main import cli
    result = CliRunner().invoke(cli, ["train", *args, "--export", "tflite,tflite_int8"], catch_exceptions=False)
    assert result.exit_code == 0, result.output[-3000:]


def build_family(family: str, root, standin_module: str) -> tuple:
    """(model dir, test image paths, labels) of the family's default model, exported float and int8."""
    root = str(root)
    out = os.path.join(root, "model")
    if family == "photos":  # the existing photo model dir (input_preprocessing resolves to none)
        from PIL import Image

        from android_export.exporter import ExportConfig, run_export
        from retrain.model_folder import contract as outputs
        out = make_model_dir(root, standin_module)
        run_export(ExportConfig(model_dir=out, formats=("tflite", "tflite_int8")))
        splits = outputs.read_json(os.path.join(out, "splits.json"))
        paths = []
        os.makedirs(os.path.join(root, "png"))
        for relpath in splits["testing"][::2]:  # 6 images, 2 per class
            with Image.open(os.path.join(splits["image_dir"], relpath)) as image:
                path = os.path.join(root, "png", relpath.replace("/", "_").rsplit(".", 1)[0] + ".png")
                image.convert("RGB").resize((32, 32), Image.BILINEAR).save(path)
            paths.append(path)
        return out, paths, sorted(CLASSES)
    data = _drawings(os.path.join(root, "data"))
    if family == "drawings":  # every default but the module (a stand-in) and its input size
        _train(["--quickdraw_dir", data, "--tfhub_module", standin_module, "--input_size", "32",
                "--bottleneck_dir", os.path.join(root, "b"), "--output_dir", out,
                "--how_many_training_steps", "400", "--eval_step_interval", "400", "--learning_rate", "0.5"])
    else:
        _train(["--architecture", "quickdraw_cnn_small", "--quickdraw_dir", data, "--output_dir", out,
                "--how_many_training_steps", "60", "--train_batch_size", "16"])
    with open(os.path.join(out, "model_info.json")) as handle:
        info = json.load(handle)
    return out, _drawing_pngs(os.path.join(root, "png"), int(info["input_height"])), sorted(_SHAPES)


@pytest.fixture(params=FAMILIES)
def family(request, tmp_path_factory, standin_module):
    if request.param not in _CACHE:
        _CACHE[request.param] = build_family(request.param, tmp_path_factory.mktemp(request.param),
                                             standin_module)
    return request.param, *_CACHE[request.param]


def client_or_skip(name: str) -> real_clients.Client:
    client = real_clients.CLIENTS[name]
    reason = real_clients.missing_reason(client)
    if reason:
        pytest.skip(reason)
    return client


def litert_top1(model_path: str, image_paths: list, labels: list) -> list:
    """LiteRT's top-1 labels, fed the normalisation the model's metadata states (127.5/127.5)."""
    from PIL import Image

    from android_export.runners import TFLiteRunner
    batch = np.stack([np.asarray(Image.open(p).convert("RGB"), np.float32) for p in image_paths])
    scores = TFLiteRunner(model_path).predict((batch - 127.5) / 127.5)
    return [labels[i] for i in scores.argmax(axis=1)]


def test_the_default_drawing_model_is_what_users_get(family):
    """The drawing family really is the default with the drawing preprocessing inside the model."""
    name, model_dir, _, _ = family
    with open(os.path.join(model_dir, "model_info.json")) as handle:
        info = json.load(handle)
    expected = {"drawings": "bitmap28_ink", "photos": None, "native": None}[name]
    if expected:
        assert info["input_preprocessing"] == expected
    for file_name in MODEL_FILES:  # export recorded where each file was checked to run
        entry = info["exports"]["tflite" if file_name == "model.tflite" else "tflite_int8"]
        assert entry["file"] == file_name
        assert all(entry["min_runtime_versions"].values()), entry["min_runtime_versions"]


@pytest.mark.parametrize("client_name", sorted(real_clients.CLIENTS))
@pytest.mark.parametrize("model_file", MODEL_FILES)
def test_real_client_runs_the_default_model_and_agrees_with_litert(family, client_name, model_file):
    from android_export import runtime_compat
    client = client_or_skip(client_name)
    name, model_dir, images, labels = family
    model_path = os.path.join(model_dir, model_file)
    run = real_clients.classify(client, model_path, images)
    assert run.error is None, f"{client_name} cannot run the default {name} {model_file}: {run.error}"
    got = [row["label"] for row in run.top1]
    # The names can only have come from the metadata: no labels file was passed, and the script ran in
    # a folder without one.
    assert set(got) <= set(labels)
    assert got == litert_top1(model_path, images, labels), (name, client_name, model_file, run.top1)
    assert all(0.0 < row["score"] <= 1.0 for row in run.top1)
    # The model classifies its own kind of test images: a client that got the normalisation wrong
    # would collapse onto one class.
    assert len(set(got)) == len(labels), got
    # And the export's claim about this runtime (model_info.json, runtime_compat.py) holds here.
    with open(model_path, "rb") as handle:
        assert runtime_compat.runs_in(handle.read(), client.runtime, real_clients.version(client))


def _int8_div_model(path: str, standin_module: str) -> None:
    """A drawing-like model whose int8 export holds an int8 DIV (the pre-fix ink stretch), with metadata."""
    from android_export import tflite_convert, tflite_metadata
    from common.tfcompat import keras, tf

    class DivideByContrast(keras.layers.Layer):
        def call(self, images):
            low = tf.reduce_min(images, axis=[1, 2, 3], keepdims=True)
            high = tf.reduce_max(images, axis=[1, 2, 3], keepdims=True)
            return tf.clip_by_value(1.0 - (high - images) * (2.0 / tf.maximum(high - low, 0.5)), -1.0, 1.0)

    keras.utils.set_random_seed(0)
    image = keras.Input((32, 32, 3), name="input")
    x = keras.layers.Conv2D(4, 4, strides=4, activation="relu")(DivideByContrast()(image))
    scores = keras.layers.Softmax(name="final_result")(keras.layers.Dense(3)(keras.layers.Flatten()(x)))
    rng = np.random.default_rng(0)
    calibration = [np.where(rng.random((32, 32, 3)) < 0.2, -1.0, 1.0).astype(np.float32) for _ in range(8)]
    data = tflite_convert.convert(keras.Model(image, scores), "int8", lambda: iter(calibration))
    info = tflite_metadata.ClassifierMetadata(name="div", description="int8 DIV", labels=("a", "b", "c"),
                                              input_mean=127.5, input_std=127.5)
    with open(path, "wb") as handle:
        handle.write(tflite_metadata.add_metadata(data, info))


@pytest.mark.parametrize("client_name", sorted(real_clients.CLIENTS))
def test_the_runtime_table_matches_what_each_client_does_with_an_int8_div(client_name, tmp_path,
                                                                           standin_module):
    """runtime_compat.GAPS is what the export reports from: it must say what the real clients do."""
    from android_export import runtime_compat
    client = client_or_skip(client_name)
    path = str(tmp_path / "div_int8.tflite")
    _int8_div_model(path, standin_module)
    with open(path, "rb") as handle:
        data = handle.read()
    assert [gap.label for gap in runtime_compat.gaps_in(data)] == ["int8 DIV"]
    version = real_clients.version(client)
    png = _drawing_pngs(str(tmp_path / "png"), 32)[:1]
    run = real_clients.classify(client, path, png)
    expected = runtime_compat.runs_in(data, client.runtime, version)
    assert (run.error is None) == expected, (client_name, version, run.error)
    line = runtime_compat.cannot_run_line("div_int8.tflite", data)
    assert line and "int8 DIV" in line and "\n" not in line


@pytest.mark.parametrize("family", ["photos"], indirect=True)
def test_client_script_refuses_without_metadata(family, tmp_path):
    """The clients really depend on the metadata: strip it and the Task Library cannot label."""
    client = client_or_skip("tflite_support")
    _, model_dir, images, labels = family
    with open(os.path.join(model_dir, "model.tflite"), "rb") as handle:
        data = handle.read()
    bare = tmp_path / "bare.tflite"
    bare.write_bytes(_strip_metadata(data))
    run = real_clients.classify(client, str(bare), images[:1])
    if run.error is None:  # it may still run, but can only print an empty or index-only label
        assert run.top1[0]["label"] not in labels
    else:
        assert "metadata" in run.error.lower() or "normalization" in run.error.lower(), run.error


def _strip_metadata(model_bytes: bytes) -> bytes:
    """The .tflite without its TFLITE_METADATA entry (and its associated labels file)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema_fb
    model = schema_fb.ModelT.InitFromObj(schema_fb.Model.GetRootAsModel(model_bytes, 0))
    model.metadata = [m for m in (model.metadata or []) if m.name != b"TFLITE_METADATA"]
    builder = flatbuffers.Builder(0)
    builder.Finish(model.Pack(builder), b"TFL3")
    return bytes(builder.Output())
