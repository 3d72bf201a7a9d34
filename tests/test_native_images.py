"""Native nets on --image_dir: the same ink as .npy rows, the project's split and exclude list, end to end."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from click.testing import CliRunner

from tests.test_native import _bars


def _drawing_folder(root, rows=24, size=64, formats=("png", "jpg")):
    """The _bars classes as `qdretrain convert` writes them: per-class folders of black-on-white images
    at `size` px (PNG and JPG mixed), each a .npy row upscaled and inverted."""
    from PIL import Image
    data = _bars(str(root / "npy"), rows=1)
    for file in sorted(os.listdir(data)):
        ink = np.load(os.path.join(data, file))[0].reshape(28, 28)
        image = Image.fromarray(255 - ink).resize((size, size), Image.NEAREST)
        folder = root / "images" / file[:-4]
        folder.mkdir(parents=True)
        for i in range(rows):
            image.save(folder / f"{file[:-4]}_{i:04d}.{formats[i % len(formats)]}")
    return root / "images"


def test_an_image_decodes_to_the_npy_rows_ink_convention(tmp_path):
    """A black-on-white 28 px PNG of a .npy row gives back that row (255 ink on 0), and a 64 px one
    resized to 28 keeps the ink where it was (antialiased, not dropped)."""
    from PIL import Image

    from retrain.families.native.image_stream import decode_ink
    from common.tfcompat import tf
    ink = np.load(os.path.join(_bars(str(tmp_path / "d"), rows=1), "vertical.npy"))[0].reshape(28, 28)
    path = tmp_path / "v.png"
    Image.fromarray(255 - ink).save(path)
    decoded = decode_ink(tf.io.read_file(str(path)), 28).numpy()
    assert decoded.dtype == np.uint8 and decoded.shape == (28, 28, 1)
    np.testing.assert_array_equal(decoded[..., 0], ink)
    Image.fromarray(255 - ink).resize((64, 64), Image.NEAREST).save(path)
    small = decode_ink(tf.io.read_file(str(path)), 28).numpy()[..., 0].astype(int)
    assert np.abs(small - ink.astype(int)).mean() < 12 and small[5:23, 12:15].min() > 200
    # An RGBA PNG of black strokes on transparent paper is ink on white paper, not black on black.
    rgba = np.zeros((28, 28, 4), np.uint8)
    rgba[..., 3] = ink
    Image.fromarray(rgba).save(path)
    np.testing.assert_array_equal(decode_ink(tf.io.read_file(str(path)), 28).numpy()[..., 0], ink)


def test_white_on_black_folders_are_refused_with_what_to_do(tmp_path):
    from retrain.data.dataset import scan_image_dir
    from common.errors import DatasetError
    from retrain.families.native import image_stream
    folder = _drawing_folder(tmp_path, rows=4)
    index = scan_image_dir(str(folder))
    assert image_stream.folder_polarity(str(folder), index.records) == "black_on_white"
    (folder / image_stream.CONVERT_SETTINGS_FILE).write_text(json.dumps({"polarity": "white_on_black"}))
    with pytest.raises(DatasetError, match="--polarity black_on_white"):
        image_stream.check_polarity(str(folder), index.records)


def test_image_stream_uses_the_tfhub_split_and_exclude_list(tmp_path):
    from retrain.families.config import TrainConfig
    from retrain.families.native.data import image_data
    from retrain.families.native.train import NativeConfig
    from retrain.data.split import which_set
    folder = _drawing_folder(tmp_path, rows=30)
    excluded = "vertical/vertical_0003.jpg"
    exclude = tmp_path / "flagged.txt"
    exclude.write_text(f"# from audit\n{excluded}\n")
    config = TrainConfig(image_dir=str(folder), architecture="quickdraw_cnn_small", exclude_list=str(exclude),
                         testing_percentage=20, validation_percentage=20, output_dir=str(tmp_path / "o"),
                         native=NativeConfig())
    data = image_data(config, 28, (0, 1))
    splits = data.splits_json()
    assert splits["image_dir"] == str(folder) and splits["quickdraw_dir"] is None
    every = sorted(n for name in ("training", "validation", "testing") for n in splits[name])
    assert len(every) == 89 and excluded not in every
    for name in ("training", "validation", "testing"):
        assert all(which_set(n, 20, 20) == name for n in splits[name])
    assert data.train_count == len(splits["training"])
    labels = [int(y) for _, y in data.testing()]
    assert sorted(labels) == sorted(data.labels.index(n.split("/")[0]) for n in splits["testing"])
    x, _ = next(iter(data.train(shuffle_buffer=100, repeat=True)))
    assert x.shape == (28, 28, 1) and x.dtype.name == "uint8"


def test_quickdraw_cnn_on_an_image_dir_trains_evaluates_exports_and_verifies(tmp_path):
    from retrain.cli.main import cli
    folder = _drawing_folder(tmp_path)
    out = tmp_path / "model"
    result = CliRunner().invoke(cli, [
        "--architecture", "quickdraw_cnn_small", "--image_dir", str(folder), "--how_many_training_steps", "30",
        "--train_batch_size", "16", "--learning_rate", "0.01", "--augment", "--output_dir", str(out),
        "--export", "tflite"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    info = json.load(open(out / "model_info.json"))
    assert info["family"] == "native" and info["input_height"] == 28
    splits = json.load(open(out / "splits.json"))
    assert splits["image_dir"] == str(folder) and splits["testing"]
    evaluation = json.load(open(out / "native_evaluation.json"))
    assert evaluation["test_drawings"] == len(splits["testing"])
    # Learnt from the images (chance is 1/3). Training accuracy, not test: after 30 steps BatchNorm's
    # moving averages are still mostly their initial values, so inference-mode accuracy means little.
    history = json.load(open(out / "training_history.json"))
    assert history["accuracy"][-1] > 0.8
    report = json.load(open(out / "export_report.json"))
    text = json.dumps(report)
    assert "tflite" in text and "the test split in splits.json" in text


def test_exclude_list_leaves_drawings_out_of_the_native_quickdraw_streams(tmp_path):
    """--exclude_list names "<label>/<file>#<row>" for --quickdraw_dir; the native streams honour it
    as the TF-Hub family's index does."""
    from retrain.families.native import stream
    sources, _ = stream.discover(_bars(str(tmp_path / "d"), rows=50))
    bad = stream.BadRows()
    everything = {name: stream.count_split(sources, stream.SplitSpec(name, 20, 20), bad)
                  for name in ("training", "validation", "testing")}
    test_rows = [r for r in range(50) if stream.SplitSpec("testing", 20, 20).wants(sources[0], r)]
    excluded = frozenset({stream.key(sources[0], test_rows[0]), stream.key(sources[0], 0)})
    for name in ("training", "validation", "testing"):
        spec = stream.SplitSpec(name, 20, 20, excluded=excluded)
        counts = stream.count_split(sources, spec, bad)
        gone = sum(stream.SplitSpec(name, 20, 20).wants(sources[0], r) for r in {0, test_rows[0]})
        assert counts[sources[0].label] == everything[name][sources[0].label] - gone
        assert counts[sources[1].label] == everything[name][sources[1].label]
        if name == "testing":
            assert len(list(stream.dataset(sources, spec, bad))) == sum(counts.values())


def test_splits_json_sample_follows_max_per_class_and_the_exclude_list(tmp_path):
    """Export verifies on splits.json's sample: it must hold only drawings the run could test on."""
    from retrain.families.native import stream
    from retrain.families.native.data import split_sample
    sources, _ = stream.discover(_bars(str(tmp_path / "d"), rows=200))
    spec = stream.SplitSpec("testing", 20, 20, max_per_class=50)
    keys = split_sample(sources, spec, limit_per_class=1000)
    assert keys and all(int(k.rsplit("#", 1)[1]) < 50 for k in keys)
    assert len(keys) == sum(stream.count_split(sources, spec, stream.BadRows()).values())
    excluded = stream.SplitSpec("testing", 20, 20, max_per_class=50, excluded=frozenset(keys[:2]))
    assert split_sample(sources, excluded, 1000) == keys[2:]
    assert len(split_sample(sources, spec, limit_per_class=2)) == 2 * len(sources)


def test_image_ink_at_the_64_px_nets_side(tmp_path):
    from PIL import Image

    from retrain.families.native.image_stream import decode_ink
    from common.tfcompat import tf
    image = np.full((64, 64), 255, np.uint8)
    image[10:54, 30:34] = 0
    Image.fromarray(image).save(tmp_path / "bar.png")
    ink = decode_ink(tf.io.read_file(str(tmp_path / "bar.png")), 64).numpy()[..., 0]
    np.testing.assert_array_equal(ink, 255 - image)
    assert decode_ink(tf.io.read_file(str(tmp_path / "bar.png")), 96).shape == (96, 96, 1)


def test_validation_order_mixes_the_classes():
    from retrain.data.dataset import ImageRecord
    from retrain.families.native.image_stream import round_robin
    records = [ImageRecord(label, index, f"{label}/{i}.png", f"/x/{label}/{i}.png")
               for index, (label, count) in enumerate((("a", 3), ("b", 1), ("c", 2))) for i in range(count)]
    assert [r.relpath for r in round_robin(records)] == ["a/0.png", "b/0.png", "c/0.png", "a/1.png", "c/1.png",
                                                        "a/2.png"]
    assert round_robin([]) == []
