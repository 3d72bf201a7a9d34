"""The native family: nets, GeM, schedules, MAP@3, Kaggle CSV parsing, streaming split, end to end."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from click.testing import CliRunner

from retrain.families import architectures
from retrain.evaluation.metrics import map_at_k
from retrain.families.native.registry import ENTRIES
from retrain.families.native.schedules import ScheduleConfig, learning_rate_at

NATIVE = [e.name for e in ENTRIES if not e.name.endswith(("_64", "_96"))]


def _bars(folder, rows=60):
    """Three .npy classes a CNN tells apart in a few steps: vertical bar, horizontal bar, box."""
    os.makedirs(folder, exist_ok=True)
    for name, cut in (("vertical", np.s_[4:24, 11:16]), ("horizontal", np.s_[11:16, 4:24]),
                      ("corner", np.s_[2:10, 2:10])):
        image = np.zeros((28, 28), np.uint8)
        image[cut] = 255
        np.save(os.path.join(folder, f"{name}.npy"), np.tile(image.ravel(), (rows, 1)))
    return folder


def test_registry_lists_native_entries_with_size_and_channels():
    for name in ("quickdraw_cnn", "quickdraw_cnn_small", "tiny_darknet", "mobilenet_v3_doodle"):
        spec = architectures.get(name)
        assert spec.is_native and spec.trainer == "native"
        assert spec.input_size == 28 and spec.channels == 1
    assert not architectures.get("mobilenet_0.25_224").is_native


@pytest.mark.parametrize("name", NATIVE)
def test_every_native_net_builds_with_embedding_layer(name):
    from retrain.families.native import nets
    model = nets.build(name, num_classes=5)
    assert model.input.shape[1:] == (28, 28, 3)
    assert model.output.shape[1:] == (5,)
    embedding = model.get_layer("embedding")
    assert embedding.output.shape[-1] == architectures.get(name).feature_size
    if name == "quickdraw_cnn":
        assert 300_000 < model.count_params() < 380_000
        assert len([l for l in model.layers if l.name.endswith('_conv')]) == 6  # two a block
    if name == "quickdraw_cnn_small":  # int8 stores ~1 byte a weight: under 100 KB with the file's overhead
        assert 70_000 < model.count_params() < 90_000
        assert len([l for l in model.layers if l.name.endswith('_conv')]) == 6


def test_gem_with_p_1_is_average_pooling_and_p_3_is_between_avg_and_max():
    from retrain.model_folder.native_layers import GeMPooling
    from common.tfcompat import tf
    x = tf.random.uniform((2, 5, 5, 4), 0.1, 2.0, seed=1)
    np.testing.assert_allclose(GeMPooling(p=1.0)(x).numpy(), tf.reduce_mean(x, axis=[1, 2]).numpy(),
                               rtol=1e-5)
    gem3 = GeMPooling(p=3.0)(x).numpy()
    assert np.all(gem3 > tf.reduce_mean(x, axis=[1, 2]).numpy())
    assert np.all(gem3 <= tf.reduce_max(x, axis=[1, 2]).numpy() + 1e-6)
    learnt = GeMPooling()
    learnt(x)
    assert [w.name.split("/")[-1].split(":")[0] for w in learnt.trainable_weights] == ["p"]


@pytest.mark.parametrize("config, step, expected", [
    (ScheduleConfig("constant", 0.1, 100), 50, 0.1),
    (ScheduleConfig("step", 0.1, 100, decay_steps=10, decay_rate=0.5), 25, 0.025),
    (ScheduleConfig("exponential", 0.1, 100, decay_steps=10, decay_rate=0.5), 5, 0.1 * 0.5 ** 0.5),
    (ScheduleConfig("cosine", 0.1, 110, warmup_steps=10, eta_min=0.01), 5, 0.05),
    (ScheduleConfig("cosine", 0.1, 110, warmup_steps=10, eta_min=0.01), 10, 0.1),
    (ScheduleConfig("cosine", 0.1, 110, warmup_steps=10, eta_min=0.01), 60, 0.055),
    (ScheduleConfig("cosine", 0.1, 110, warmup_steps=10, eta_min=0.01), 110, 0.01),
    (ScheduleConfig("cosine", 0.1, 110, warmup_steps=10, eta_min=0.01), 500, 0.01),
])
def test_schedules_give_the_documented_learning_rate(config, step, expected):
    from retrain.families.native.schedules import NativeSchedule
    assert learning_rate_at(config, step) == pytest.approx(expected, rel=1e-6)
    assert float(NativeSchedule(config)(step)) == pytest.approx(expected, rel=1e-5)


def test_map_at_3_on_hand_made_cases():
    p = np.array([[0.5, 0.3, 0.2, 0.0],   # true 0 at rank 1 -> 1
                  [0.5, 0.3, 0.2, 0.0],   # true 1 at rank 2 -> 1/2
                  [0.5, 0.3, 0.2, 0.0],   # true 2 at rank 3 -> 1/3
                  [0.5, 0.3, 0.2, 0.0]])  # true 3 at rank 4 -> 0
    assert map_at_k(p, np.array([0, 1, 2, 3]), 3) == pytest.approx((1 + 0.5 + 1 / 3) / 4)
    assert map_at_k(p, np.array([0, 0, 0, 0]), 3) == 1.0
    assert map_at_k(p[:, :2], np.array([1, 1, 1, 1]), 3) == 0.5  # fewer classes than k
    with pytest.raises(ValueError):
        map_at_k(p, np.array([0, 1]), 3)


def _write_csv(path, rows, header="countrycode,drawing,key_id,recognized,timestamp,word"):
    with open(path, "w", encoding="utf-8") as out:
        out.write(header + "\n" + "".join(r + "\n" for r in rows))
    return str(path)


def test_kaggle_csv_quoted_json_bad_rows_and_no_word_column(tmp_path):
    from retrain.families.native import stream
    good = '"[[[0,50,100],[0,80,20]],[[10,200],[30,40]]]"'
    path = _write_csv(tmp_path / "sea turtle.csv", [
        f"US,{good},123,True,2017-03-01,sea turtle",
        'US,"not json",124,True,2017-03-01,sea turtle',       # bad JSON
        f"US,{good},125",                                      # missing columns
        'US,"[[[1,2],[3]]]",126,True,2017-03-01,sea turtle',  # xs/ys lengths differ
        f"GB,{good},127,False,2017-03-02,sea turtle"])
    bad = stream.BadRows()
    rows = list(stream.iter_csv(path, bad))
    assert [(r[0], r[1], r[2]) for r in rows] == [(0, "123", "sea turtle"), (4, "127", "sea turtle")]
    assert rows[0][3][0] == ((0, 50, 100), (0, 80, 20))
    assert bad.counts[path] == 3 and "row 1" in bad.first[path]
    test = _write_csv(tmp_path / "test_simplified.csv", [f"US,{good},9000000"],
                      header="key_id,countrycode,drawing".replace("key_id,countrycode,drawing",
                                                                 "countrycode,drawing,key_id"))
    (row, key_id, word, strokes), = stream.iter_csv(test, stream.BadRows())
    assert key_id == "9000000" and word is None
    no_drawing = _write_csv(tmp_path / "x.csv", ["US,1"], header="countrycode,key_id")
    with pytest.raises(Exception, match="drawing"):
        list(stream.iter_csv(no_drawing, stream.BadRows()))


def test_stream_split_matches_the_project_hash_split_and_is_disjoint(tmp_path):
    from retrain.families.native import stream
    from retrain.data.split import which_set
    sources, _ = stream.discover(_bars(str(tmp_path / "d"), rows=200))
    bad = stream.BadRows()
    seen = {}
    for name in ("training", "validation", "testing"):
        counts = stream.count_split(sources, stream.SplitSpec(name, 10, 10), bad)
        seen[name] = counts
        expected = sum(which_set(stream.key(sources[0], r), 10, 10) == name for r in range(200))
        assert counts[sources[0].label] == expected
    assert sum(seen[n]["vertical"] for n in seen) == 200
    ds = stream.dataset(sources, stream.SplitSpec("testing", 10, 10), bad)
    labels = [int(y) for _, y in ds]
    assert len(labels) == sum(seen["testing"].values())


def test_cli_refuses_options_that_do_not_apply_to_native_nets(tmp_path):
    from retrain.cli.main import cli
    data = _bars(str(tmp_path / "d"))
    result = CliRunner().invoke(cli, ["train", "--architecture", "quickdraw_cnn", "--quickdraw_dir", data,
                                      "--tfhub_module", "x", "--output_dir", str(tmp_path / "o")])
    assert result.exit_code != 0 and "--tfhub_module" in result.output and "native" in result.output
    result = CliRunner().invoke(cli, ["train", "--quickdraw_dir", data, "--epochs", "2"])
    assert result.exit_code != 0 and "only apply to native" in result.output


@pytest.mark.parametrize("name", NATIVE)
def test_every_native_net_trains_exports_and_verifies(tmp_path, name):
    from retrain.cli.main import cli
    data = _bars(str(tmp_path / "d"))
    out = str(tmp_path / "model")
    # avg is the default; one net takes GeM, so both poolings train and export end to end.
    pooling = ["--pooling", "gem"] if name == NATIVE[0] else []
    result = CliRunner().invoke(cli, [
        "train", "--architecture", name, "--quickdraw_dir", data, "--how_many_training_steps", "3",
        "--train_batch_size", "8", "--output_dir", out, "--export", "tflite", *pooling,
        "--warmup_steps", "1"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    info = json.load(open(os.path.join(out, "model_info.json")))
    assert info["input_height"] == 28 and info["channels"] == 3 and info["family"] == "native"
    contract = info["drawing_contract"]  # the one drawing contract (convert/drawing.py), as for TF-Hub models
    assert contract["size"] == 28 and contract["polarity"] == "black_on_white" and contract["stroke_width"] == 16
    assert os.path.exists(os.path.join(out, "retrained_graph.pb"))
    report = json.load(open(os.path.join(out, "export_report.json")))
    assert "tflite" in json.dumps(report)
    assert os.path.exists(os.path.join(out, "native_evaluation.json"))


def test_submission_words_top3_with_underscores():
    from retrain.families.native.predict import submission_words
    p = np.array([[0.1, 0.6, 0.3, 0.0]])
    assert submission_words(p, ["sea turtle", "cat", "The Eiffel Tower", "dog"]) == \
        ["cat The_Eiffel_Tower sea_turtle"]


@pytest.fixture(scope="module")
def small_native_model(tmp_path_factory):
    """(data folder, model folder) of a quickdraw_cnn_small trained 2 steps through the CLI, shared by
    the tests that only read the model."""
    from retrain.cli.main import cli
    root = tmp_path_factory.mktemp("small_native")
    data = _bars(str(root / "d"))
    out = str(root / "model")
    result = CliRunner().invoke(cli, ["train", "--architecture", "quickdraw_cnn_small", "--quickdraw_dir",
                                      data, "--how_many_training_steps", "2", "--train_batch_size", "8",
                                      "--output_dir", out])
    assert result.exit_code == 0, result.output
    return data, out


def test_predict_writes_a_kaggle_submission(small_native_model, tmp_path):
    from retrain.cli.main import cli
    _, out = small_native_model
    good = '"[[[0,50,100],[0,80,20]]]"'
    test = _write_csv(tmp_path / "test_simplified.csv", [f"9001,US,{good}", "9002,US,broken",
                                                         f"9003,GB,{good}"], header="key_id,countrycode,drawing")
    sub = str(tmp_path / "submission.csv")
    result = CliRunner().invoke(cli, ["predict", "--model_dir", out, "--input", test, "--output", sub])
    assert result.exit_code == 0, result.output
    lines = open(sub).read().splitlines()
    assert lines[0] == "key_id,word" and [l.split(",")[0] for l in lines[1:]] == ["9001", "9003"]
    assert all(len(l.split(",")[1].split(" ")) == 3 for l in lines[1:])
    assert "skipped 1 malformed" in result.output


def _synthetic(folder, classes, rows):
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(0)
    for c in range(classes):
        np.save(os.path.join(folder, f"class{c}.npy"),
                (rng.random((rows, 784)) < 0.1).astype(np.uint8) * 255)
    return folder


@pytest.mark.slow
def test_streaming_memory_does_not_grow_with_the_number_of_drawings(tmp_path):
    """20k vs 400k drawings streamed through the same pipeline: peak anonymous RSS within 60 MB."""
    import subprocess
    import sys
    peaks = {}
    for rows in (5_000, 100_000):
        folder = _synthetic(str(tmp_path / f"d{rows}"), 4, rows)
        out = subprocess.run([sys.executable, "-m", "retrain.families.native.memprobe", folder], check=True,
                             capture_output=True, text=True).stdout.strip().splitlines()[-1]
        result = json.loads(out)
        assert result["drawings"] > 0.75 * 4 * rows
        peaks[rows] = result["peak_rss_anon_mb"]
    assert peaks[100_000] - peaks[5_000] < 60, peaks


def test_similar_search_on_a_native_net_uses_its_embedding_layer(small_native_model, tmp_path):
    from retrain.cli.main import cli
    data, out = small_native_model
    grid = str(tmp_path / "similar.png")
    label = sorted(os.listdir(data))[0].rsplit(".", 1)[0]
    result = CliRunner().invoke(cli, ["similar", "--model_dir", out, "--class", label, "--index", "0",
                                      "--k", "3", "--output", grid])
    assert result.exit_code == 0, result.output
    assert os.path.exists(grid)
    from retrain.model_folder.saved_model import load_keras_model
    model = load_keras_model(os.path.join(out, "saved_model"))
    assert model.get_layer("embedding") is not None


def test_weights_fingerprint_tells_designs_apart_and_is_stable():
    """A backup is keyed by the net's weight shapes: another design (or pooling) of the same
    architecture name must not match, the same design built twice must."""
    from retrain.families.backups import weights_fingerprint
    from retrain.families.native import nets
    first = weights_fingerprint(nets.build("quickdraw_cnn", num_classes=5))
    assert first == weights_fingerprint(nets.build("quickdraw_cnn", num_classes=5))
    assert first != weights_fingerprint(nets.build("quickdraw_cnn", num_classes=6))
    assert first != weights_fingerprint(nets.build("quickdraw_cnn_small", num_classes=5))
