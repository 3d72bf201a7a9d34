"""`qdretrain label_image`: every artifact gives the trained model's labels on real test images."""

from __future__ import annotations

import os

import numpy as np
import pytest

from tests.test_export_modeldir import export_report, exported_model_dir, trained_model_dir  # noqa: F401

ARTIFACTS = ["model.tflite", "model_fp16.tflite", "model_dynamic.tflite", "model_int8.tflite", "model.onnx",
             "retrained_graph.pb", "saved_model"]


@pytest.fixture
def test_images(exported_model_dir):
    from retrain.evaluation.test_images import split_items
    return [path for path, _ in split_items(exported_model_dir, "testing")]


def _reference_top1(model_dir, paths):
    from retrain.evaluation.test_images import load_pixels
    from android_export.runners import KerasRunner
    batch = np.stack([(load_pixels(p, 32, 32) - 127.5) / 127.5 for p in paths])
    return KerasRunner(os.path.join(model_dir, "saved_model")).predict(batch)


@pytest.mark.parametrize("artifact", ARTIFACTS)
def test_label_image_agrees_with_model(exported_model_dir, test_images, artifact):
    from android_export import label_image, runners
    from retrain.model_folder import contract as outputs
    path = os.path.join(exported_model_dir, artifact)
    runner = runners.open_artifact(path)
    contract = label_image.resolve_contract(path, runner)
    assert contract == label_image.InputContract(32, 32, 127.5, 127.5)
    labels = label_image.resolve_labels(path, None)
    assert labels == outputs.read_labels(os.path.join(exported_model_dir, "retrained_labels.txt"))
    predictions = label_image.classify(runner, test_images, labels, contract, top_k=3)
    reference = _reference_top1(exported_model_dir, test_images)
    for prediction, scores in zip(predictions, reference):
        assert len(prediction.top) == 3 and prediction.seconds > 0
        assert prediction.top[0][0] == labels[int(np.argmax(scores))]
        tolerance = 2e-2 if "int8" in artifact else 1e-3
        assert prediction.top[0][1] == pytest.approx(float(np.max(scores)), abs=tolerance)


def test_label_image_cli_folder_and_tflite_labels_from_metadata(exported_model_dir, tmp_path):
    import shutil

    from click.testing import CliRunner

    from retrain.cli.main import cli
    alone = tmp_path / "alone.tflite"  # no labels file or model_info.json beside it: metadata only
    shutil.copyfile(os.path.join(exported_model_dir, "model_int8.tflite"), alone)
    images = os.path.join(os.path.dirname(exported_model_dir), "images")
    result = CliRunner().invoke(cli, ["label_image", "--graph", str(alone), "--image_dir", images, "--top_k", "2"])
    assert result.exit_code == 0, result.output
    assert result.output.count("(score=") == 48 * 2 and "ms per image" in result.output


def test_label_image_retrain_py_style_graph(exported_model_dir, test_images, tmp_path):
    """A graph with other node names and another normalisation, driven only by retrain.py's flags."""
    from click.testing import CliRunner

    from retrain.model_folder.frozen_graph import load_frozen_graph
    from retrain.cli.main import cli
    graph_def = load_frozen_graph(os.path.join(exported_model_dir, "retrained_graph.pb"))
    renames = {"input": "Mul", "final_result": "final_probs"}
    for node in graph_def.node:
        node.name = renames.get(node.name, node.name)
        node.input[:] = [renames.get(name, name) for name in node.input]
    folder = tmp_path / "old"
    folder.mkdir()
    (folder / "graph.pb").write_bytes(graph_def.SerializeToString())
    labels = folder / "output_labels.txt"
    shutil_labels = open(os.path.join(exported_model_dir, "retrained_labels.txt")).read()
    labels.write_text(shutil_labels)
    args = ["label_image", "--graph", str(folder / "graph.pb"), "--image", test_images[0], "--labels", str(labels),
            "--input_layer", "Mul", "--output_layer", "final_probs", "--input_height", "32", "--input_width", "32",
            "--input_mean", "127.5", "--input_std", "127.5", "--top_k", "1"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    reference = _reference_top1(exported_model_dir, test_images[:1])[0]
    names = shutil_labels.split("\n")
    assert f"{names[int(np.argmax(reference))]} (score={np.max(reference):.5f})" in result.output
    wrong = CliRunner().invoke(cli, args[:-8] + ["--output_layer", "nope"])
    assert wrong.exit_code == 1 and "no node 'nope'" in wrong.output


def test_label_image_says_which_input_contract_it_used_and_where_from(exported_model_dir, test_images, tmp_path):
    """A lone .pb (no model_info.json beside it) falls back to 224/128/128 and says so (issue 8)."""
    import shutil

    from click.testing import CliRunner

    from retrain.cli.main import cli
    lone = tmp_path / "lone"
    lone.mkdir()
    shutil.copy(os.path.join(exported_model_dir, "retrained_graph.pb"), lone / "graph.pb")
    shutil.copy(os.path.join(exported_model_dir, "retrained_labels.txt"), lone / "labels.txt")
    result = CliRunner().invoke(cli, ["label_image", "--graph", str(lone / "graph.pb"), "--labels",
                                      str(lone / "labels.txt"), "--image", test_images[0]])
    assert result.exit_code == 0, result.output
    assert "(pixel - 128) / 128" in result.output and "TensorFlow-for-Poets' default" in result.output
    beside = CliRunner().invoke(cli, ["label_image", "--graph", os.path.join(exported_model_dir, "retrained_graph.pb"),
                                      "--image", test_images[0], "--input_std", "127.5"])
    assert beside.exit_code == 0, beside.output
    assert "32x32, (pixel - 127.5) / 127.5" in beside.output
    # One mention per source (issue 20: the model_info.json path was repeated per value).
    assert "size and mean from model_info.json" in beside.output and "std from the command line" in beside.output


def _write_strokes(tmp_path):
    import json
    lines = [json.dumps({"key_id": "a1", "word": "cat", "drawing": [[[10, 200, 120], [20, 40, 220]]]}),
             "{not json",
             json.dumps({"key_id": "b2", "word": "cat", "drawing": [[[0, 255], [0, 255]], [[0, 255], [255, 0]]]})]
    ndjson = tmp_path / "cat.ndjson"
    ndjson.write_text("\n".join(lines) + "\n")
    csv = tmp_path / "test_simplified.csv"
    csv.write_text('key_id,countrycode,drawing\n7,US,"[[[0, 255], [0, 255]], [[0, 255], [255, 0]]]"\n')
    return ndjson, csv


def test_label_image_classifies_stroke_files_drawn_by_the_model_s_contract(exported_model_dir, tmp_path):
    from click.testing import CliRunner

    from android_export import label_image, runners
    from retrain.model_folder import contract as outputs
    from retrain.cli.main import cli
    from retrain.data.stroke_rendering import render_drawing
    ndjson, csv = _write_strokes(tmp_path)
    artifact = os.path.join(exported_model_dir, "model.tflite")
    result = CliRunner().invoke(cli, ["label_image", "--graph", artifact, "--strokes", str(ndjson), "--top_k", "1"])
    assert result.exit_code == 0, result.output
    assert result.output.count("(score=") == 2 and "skipped 1 line(s)" in result.output
    assert "cat.ndjson:1 (a1)" in result.output and "cat.ndjson:3 (b2)" in result.output
    contract = outputs.read_json(os.path.join(exported_model_dir, "model_info.json")).get("drawing_contract")
    assert ("the model's drawing contract" if contract else "the default drawing contract") in result.output
    # The score is the artifact's on exactly what the serve page would send for the same strokes.
    gray = render_drawing([[[0, 255], [0, 255]], [[0, 255], [255, 0]]], 32, 32, contract).astype(np.float32)
    runner = runners.open_artifact(artifact)
    scores = runner.predict(((np.repeat(gray[..., None], 3, -1) - 127.5) / 127.5)[None].astype(np.float32))[0]
    labels = label_image.resolve_labels(artifact, None)
    one = CliRunner().invoke(cli, ["label_image", "--graph", artifact, "--strokes", f"{csv}:1", "--top_k", "1"])
    assert one.exit_code == 0, one.output
    assert f"{labels[int(np.argmax(scores))]} (score={float(np.max(scores)):.5f})" in one.output


@pytest.mark.parametrize("suffix, message", [(":0", "counted from 1"), (":9", "has 3 drawings"),
                                              (":2", "does not parse")])
def test_label_image_stroke_errors_say_what_to_do(exported_model_dir, tmp_path, suffix, message):
    from click.testing import CliRunner

    from retrain.cli.main import cli
    ndjson, _ = _write_strokes(tmp_path)
    artifact = os.path.join(exported_model_dir, "model.tflite")
    result = CliRunner().invoke(cli, ["label_image", "--graph", artifact, "--strokes", f"{ndjson}{suffix}"])
    assert result.exit_code != 0 and message in result.output
    both = CliRunner().invoke(cli, ["label_image", "--graph", artifact, "--strokes", str(ndjson),
                                    "--image", str(ndjson)])
    assert both.exit_code != 0 and "one of --image" in both.output
