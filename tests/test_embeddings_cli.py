"""`qdretrain similar` / `audit` end to end on a stand-in module, and `--exclude_list` in training."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from retrain.cli.main import cli
from tests.conftest import make_image_folder
from tests.test_pipeline import _train


def test_exclude_list_removes_exactly_the_listed_drawings_from_every_split(tmp_path):
    from retrain.data.dataset import scan_image_dir
    from retrain.data.exclude import apply_exclude_list, read_exclude_list, write_exclude_list
    from retrain.data.split import SETS, split_records
    images = make_image_folder(tmp_path / "images", {"cat": 30, "dog": 30})
    index = scan_image_dir(str(images))
    before = split_records(index.records, 20, 20)
    # Some of each split, so every split loses some.
    listed = {before[name][i].relpath for name in SETS for i in (0, 1)}
    write_exclude_list(listed | {"dog/not_there.jpg"}, str(tmp_path / "x.txt"), header="a comment")
    names = read_exclude_list(str(tmp_path / "x.txt"))
    assert "dog/not_there.jpg" in names and not any(n.startswith("#") for n in names)
    cleaned, removed = apply_exclude_list(index, names)
    after = split_records(cleaned.records, 20, 20)
    assert removed == len(listed) == 6
    for name in SETS:
        assert [r.relpath for r in after[name]] == [r.relpath for r in before[name]
                                                     if r.relpath not in listed]


@pytest.fixture(scope="module")
def planted_model(tmp_path_factory, standin_module):
    """A tiny model trained on images with a planted same-class copy and a cross-class copy."""
    tmp_path = tmp_path_factory.mktemp("embed")
    images = make_image_folder(tmp_path / "images", {"cat": 20, "apple": 20})
    shutil.copyfile(images / "cat" / "img_0003.jpg", images / "cat" / "img_copy.jpg")
    shutil.copyfile(images / "cat" / "img_0005.jpg", images / "apple" / "img_cat.jpg")
    _train(tmp_path, images, standin_module, steps=20)
    return tmp_path, images


def test_audit_cli_reports_planted_copies_and_writes_an_exclude_list(planted_model, standin_module):
    tmp_path, images = planted_model
    report_dir, exclude = tmp_path / "report", tmp_path / "flagged.txt"
    result = CliRunner().invoke(cli, ["audit", "--model_dir", str(tmp_path / "model"), "--output_dir",
                                      str(report_dir), "--exclude_list", str(exclude), "--k", "5",
                                      # stand-in features of noise images are all alike: exact only
                                      "--near_duplicate_cosine", "1.0"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data = json.loads((report_dir / "audit.json").read_text())
    same = {tuple(sorted((p["a"], p["b"]))) for p in data["findings"]["exact_duplicate_same_class"]}
    cross = {tuple(sorted((p["a"], p["b"]))) for p in data["findings"]["exact_duplicate_cross_class"]}
    assert same == {("cat/img_0003.jpg", "cat/img_copy.jpg")}
    assert cross == {("apple/img_cat.jpg", "cat/img_0005.jpg")}
    assert (report_dir / "exact_duplicate_same_class.png").read_bytes()[:4] == b"\x89PNG"
    assert "exact duplicate same class" in (report_dir / "summary.txt").read_text()
    listed = {line for line in exclude.read_text().splitlines() if not line.startswith("#")}
    assert {"apple/img_cat.jpg", "cat/img_0005.jpg"} <= listed
    assert len({"cat/img_0003.jpg", "cat/img_copy.jpg"} & listed) == 1  # one copy is kept
    # No label error goes in unless chosen; the closing line says so and what each class would lose.
    assert len(listed) == 3 and "no label errors (none chosen" in result.output
    assert "Per class: " in result.output and "%)" in result.output
    ranked = data["findings"]["label_error"]
    assert [f["margin"] for f in ranked] == sorted(f["margin"] for f in ranked)
    chosen = CliRunner().invoke(cli, ["audit", "--model_dir", str(tmp_path / "model"), "--output_dir",
                                      str(report_dir), "--exclude_list", str(tmp_path / "top1.txt"), "--k", "5",
                                      "--near_duplicate_cosine", "1.0", "--max_exclude", "1",
                                      "--label_error_score", "0"], catch_exceptions=False)
    assert chosen.exit_code == 0, chosen.output
    ranked = json.loads((report_dir / "audit.json").read_text())["findings"]["label_error"]
    top = {line for line in (tmp_path / "top1.txt").read_text().splitlines() if not line.startswith("#")}
    assert top - listed == ({ranked[0]["name"]} - listed if ranked else set())

    # Training accepts the list and leaves exactly those drawings out of every split.
    _train(tmp_path, images, standin_module, "--exclude_list", str(exclude), steps=10, out="clean")
    splits = json.loads((tmp_path / "clean" / "splits.json").read_text())
    kept = {n for name in ("training", "validation", "testing") for n in splits[name]}
    original = json.loads((tmp_path / "model" / "splits.json").read_text())
    every = {n for name in ("training", "validation", "testing") for n in original[name]}
    assert kept == every - listed


def test_similar_cli_by_image_and_by_class(planted_model):
    tmp_path, images = planted_model
    out = tmp_path / "similar.png"
    query = images / "cat" / "img_0003.jpg"
    result = CliRunner().invoke(cli, ["similar", "--model_dir", str(tmp_path / "model"), "--image",
                                      str(query), "--k", "3", "--output", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    lines = [l for l in result.output.splitlines() if l.strip()[:2] in ("1.", "2.", "3.")]
    assert len(lines) == 3 and all(" cat " in l for l in lines[:2])
    splits = json.loads((tmp_path / "model" / "splits.json").read_text())
    assert all("cat/img_0003.jpg" not in line for line in lines)  # not the query's own neighbour
    if "cat/img_copy.jpg" in splits["training"]:  # its planted copy is, at distance ~0
        assert "cat/img_copy.jpg" in lines[0] and float(lines[0].split()[1]) < 1e-4
    assert out.read_bytes()[:4] == b"\x89PNG"
    by_class = CliRunner().invoke(cli, ["similar", "--model_dir", str(tmp_path / "model"), "--class",
                                        "apple", "--index", "0", "--k", "2", "--output", str(out)])
    assert by_class.exit_code == 0, by_class.output
    bad = CliRunner().invoke(cli, ["similar", "--model_dir", str(tmp_path / "model"), "--class", "owl"])
    assert bad.exit_code != 0 and "no drawings of class 'owl'" in bad.output


def test_extract_interface_and_the_generic_keras_embedding_path(planted_model):
    from retrain.data.dataset import scan_image_dir
    from retrain.embeddings import extract
    from retrain.model_folder.native_layers import GeMPooling as GeMPooling2D
    from retrain.data.images import load_record_images
    from common.tfcompat import keras
    tmp_path, images = planted_model
    records = scan_image_dir(str(images)).records[:6]
    vectors = extract.extract(str(tmp_path / "model"), records)
    assert vectors.dtype == np.float32 and vectors.shape == (6, 8)
    # Any Keras model with a layer named "embedding" works, whatever its architecture.
    image = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu")(image)
    embedding = GeMPooling2D(name="embedding")(x)
    model = keras.Model(image, keras.layers.Dense(2, activation="softmax")(embedding))
    extractor = extract.KerasExtractor(model, 32)
    got, kept = extractor.embed_records(records)
    batch = np.stack(load_record_images(records, 32))
    expected = keras.Model(image, embedding)(batch).numpy()
    assert got.shape == (6, 4) and len(kept) == 6
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(Exception, match="no layer named 'embedding'"):
        extract.KerasExtractor(keras.Model(image, x), 32)


def test_exported_embedding_model_matches_the_trained_one(planted_model):
    from android_export.embedding_export import export_embedding, verify_embedding
    from android_export.runners import TFLiteRunner
    from retrain.embeddings import extract
    tmp_path, _ = planted_model
    out = tmp_path / "embedding_export"
    check = export_embedding(str(tmp_path / "model"), str(out))
    assert check.passed and check.feature_size == 8 and check.images > 0
    assert check.min_cosine > 0.9999 and check.max_abs_diff < 1e-4
    runner = TFLiteRunner(str(out / "embedding.tflite"))
    assert tuple(runner.output["shape"]) == (1, 8) and tuple(runner.input["shape"]) == (1, 32, 32, 3)
    # The check can fail: a different model's embeddings are rejected.
    config = extract.load_run_config(str(tmp_path / "model"))
    extractor = extract.extractor_for(str(tmp_path / "model"), config)
    images = np.random.default_rng(0).uniform(-1, 1, (4, 32, 32, 3)).astype(np.float32)

    class Shifted:
        def embed_images(self, batch):
            return np.roll(extractor.embed_images(batch), 1, axis=1)
    assert not verify_embedding(str(out / "embedding.tflite"), Shifted(), images).passed
