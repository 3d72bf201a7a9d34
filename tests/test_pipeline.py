"""Retraining end to end through the CLI, on a stand-in module and tiny image folders (offline)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from click.testing import CliRunner

from retrain.cli.main import cli
from tests.conftest import make_image_folder


def _train(tmp_path, image_dir, module, *extra, steps=60, out="model"):
    args = ["--image_dir", str(image_dir), "--tfhub_module", module, "--input_size", "32",
            "--bottleneck_dir", str(tmp_path / "bottlenecks"), "--output_dir", str(tmp_path / out),
            "--how_many_training_steps", str(steps), "--eval_step_interval", "20",
            "--optimizer", "adam", "--learning_rate", "0.05", "--train_batch_size", "16",
            "--testing_percentage", "20", "--validation_percentage", "20", *extra]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def trained(tmp_path_factory, standin_module):
    """One training run shared by the output checks below."""
    tmp_path = tmp_path_factory.mktemp("run")
    images = make_image_folder(tmp_path / "images", {"cat": 25, "sea turtle": 25, "apple": 25})
    summaries = tmp_path / "summaries"
    summaries.mkdir()
    (summaries / "keep_me.txt").write_text("a user's file")
    result = _train(tmp_path, images, standin_module, "--summaries_dir", str(summaries), steps=200)
    return tmp_path, images, result


def test_outputs_exist_with_sorted_labels_and_contract(trained):
    tmp_path, _, result = trained
    out = tmp_path / "model"
    for name in ("retrained_graph.pb", "retrained_labels.txt", "model_info.json", "run_config.json",
                 "splits.json", "evaluation.json", "per_class_accuracy.csv", "confusion_matrix.png",
                 "training_curves.png", "misclassified.png", "reliability.png", "confusion_examples.png"):
        assert (out / name).exists(), name
    assert (out / "saved_model" / "saved_model.pb").exists()
    assert (out / "retrained_labels.txt").read_text().splitlines() == ["apple", "cat", "sea turtle"]
    info = json.loads((out / "model_info.json").read_text())
    assert info["input_tensor"] == "input" and info["output_tensor"] == "final_result"
    assert (info["input_height"], info["input_mean"], info["input_std"], info["label_count"]) == (32, 127.5, 127.5, 3)
    config = json.loads((out / "run_config.json").read_text())
    assert config["how_many_training_steps"] == 200
    assert "Final test accuracy" in result.output


def test_head_learns_the_synthetic_classes(trained):
    tmp_path, _, _ = trained
    evaluation = json.loads((tmp_path / "model" / "evaluation.json").read_text())
    # Three colour-coded classes are easy; chance is 33%.
    assert evaluation["top1"] >= 0.8, evaluation["top1"]


def test_summaries_dir_is_never_wiped(trained):
    tmp_path, _, _ = trained
    summaries = tmp_path / "summaries"
    assert (summaries / "keep_me.txt").read_text() == "a user's file"
    runs = [p for p in summaries.iterdir() if p.is_dir()]
    assert runs and any(files for _, _, files in os.walk(runs[0]))


def test_frozen_graph_matches_the_saved_model(trained):
    """The artifacts written by training give the same answers (input `input`, output `final_result`)."""
    from retrain.data.images import load_image_file
    from common.tfcompat import tf
    tmp_path, images, _ = trained
    out = tmp_path / "model"
    files = sorted((images / "cat").iterdir())[:4] + sorted((images / "apple").iterdir())[:4]
    batch = np.stack([load_image_file(str(f), 32) for f in files])
    keras_probs = _saved_model_probs(out / "saved_model", batch)
    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString((out / "retrained_graph.pb").read_bytes())
    with tf.Graph().as_default() as graph:
        tf.compat.v1.import_graph_def(graph_def, name="")
        with tf.compat.v1.Session(graph=graph) as session:
            graph_probs = session.run("final_result:0", {"input:0": batch})
    np.testing.assert_allclose(graph_probs, keras_probs, atol=1e-5)
    assert graph_probs.shape == (8, 3)


def _saved_model_probs(path, batch):
    from common.tfcompat import tf
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    outputs = serve(input=tf.constant(batch))
    return list(outputs.values())[0].numpy()


def test_rerun_reuses_every_bottleneck(trained, standin_module):
    tmp_path, images, _ = trained
    result = _train(tmp_path, images, standin_module, steps=20, out="model2")
    assert "computed 0" in result.output.lower() or "0 computed" in result.output.lower(), result.output


def test_resume_continues_from_the_finished_head(trained, standin_module):
    tmp_path, images, _ = trained
    result = _train(tmp_path, images, standin_module, "--resume", steps=20)
    assert "Resumed the head from" in result.output


def test_resume_without_checkpoint_is_a_clear_error(tmp_path, image_folder, standin_module):
    result = CliRunner().invoke(cli, ["--image_dir", str(image_folder), "--tfhub_module", standin_module,
                                      "--input_size", "32", "--output_dir", str(tmp_path / "fresh"),
                                      "--bottleneck_dir", str(tmp_path / "b"), "--resume"])
    assert result.exit_code != 0
    assert "no finished head" in result.output


def test_one_class_is_a_clear_error(tmp_path, standin_module):
    images = make_image_folder(tmp_path / "one", {"cat": 10})
    result = CliRunner().invoke(cli, ["--image_dir", str(images), "--tfhub_module", standin_module,
                                      "--input_size", "32", "--output_dir", str(tmp_path / "o"),
                                      "--bottleneck_dir", str(tmp_path / "b")])
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert "class" in result.output.lower()


def test_fine_tune_trains_backbone_and_writes_outputs(tmp_path, standin_module):
    images = make_image_folder(tmp_path / "images", {"cat": 12, "fish": 12})
    result = _train(tmp_path, images, standin_module, "--fine_tune", "--fine_tune_learning_rate", "0.01",
                    "--fine_tune_steps", "20", "--fine_tune_batch_size", "8", steps=20)
    assert "Fine-tun" in result.output
    assert (tmp_path / "model" / "retrained_graph.pb").exists()
    history = json.loads((tmp_path / "model" / "training_history.json").read_text())
    # Head phase (20 steps) then fine-tuning phase (20 steps), one after the other.
    assert history["steps"][-1] == 40


def _quickdraw_files(folder, count: int, prefix: str = "", seed: int = 0):
    """Two fake numpy_bitmap classes whose ink sits in different halves (separable on any features)."""
    rng = np.random.default_rng(seed)
    folder.mkdir()
    for label, offset in (("cat", 0), ("sea turtle", 14)):
        bitmaps = np.zeros((count, 28, 28), np.uint8)
        bitmaps[:, offset:offset + 14, :] = rng.integers(100, 255, size=(count, 14, 28))
        np.save(folder / f"{prefix}{label}.npy", bitmaps.reshape(count, 784))
    return folder


def test_quickdraw_dir_trains_without_writing_jpgs(tmp_path, standin_module):
    source = _quickdraw_files(tmp_path / "qd", 40, prefix="full_numpy_bitmap_")
    result = CliRunner().invoke(cli, [
        "--quickdraw_dir", str(source), "--quickdraw_per_class", "30", "--tfhub_module", standin_module,
        "--input_size", "32", "--bottleneck_dir", str(tmp_path / "b"), "--output_dir", str(tmp_path / "m"),
        "--how_many_training_steps", "40", "--eval_step_interval", "20", "--train_batch_size", "16"],
        catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "m" / "retrained_labels.txt").read_text().splitlines() == ["cat", "sea turtle"]
    assert not list(tmp_path.rglob("*.jpg"))


def test_bad_options_are_usage_errors(tmp_path, image_folder):
    runner = CliRunner()
    result = runner.invoke(cli, ["--image_dir", str(image_folder), "--testing_percentage", "60",
                                 "--validation_percentage", "50"])
    assert result.exit_code == 2 and "percentage" in result.output
    result = runner.invoke(cli, ["--image_dir", str(image_folder), "--architecture", "mobilenet_9_224"])
    assert result.exit_code == 2 and "qdretrain architectures" in result.output
    result = runner.invoke(cli, ["--image_dir", str(image_folder), "--export", "tflite,jpeg"])
    assert result.exit_code == 2 and "jpeg" in result.output
    result = runner.invoke(cli, ["trian", "--image_dir", str(image_folder)])
    assert result.exit_code == 2 and "No such command" in result.output


def test_dashed_and_underscore_spellings_are_the_same_flag(tmp_path, image_folder):
    runner = CliRunner()
    for spelling in ("--testing_percentage", "--testing-percentage"):
        result = runner.invoke(cli, ["--image_dir", str(image_folder), spelling, "95"])
        assert result.exit_code == 2 and "percentage" in result.output


def test_retrain_py_distortion_flags_point_to_fine_tune(tmp_path, image_folder):
    runner = CliRunner()
    for flags in (["--random_crop", "10"], ["--flip_left_right"], ["--random-brightness", "5"]):
        result = runner.invoke(cli, ["--image_dir", str(image_folder), *flags])
        assert result.exit_code == 2, result.output
        assert "--fine_tune" in result.output


def test_dashed_boolean_pairs(tmp_path, image_folder):
    result = CliRunner().invoke(cli, ["train", "--help"])
    for spelling in ("--no-augment", "--no-resume", "--fine-tune", "--no_fine_tune"):
        assert spelling in result.output


def test_intermediate_graphs_and_exact_step_count(tmp_path, standin_module):
    images = make_image_folder(tmp_path / "images", {"cat": 20, "fish": 20})
    _train(tmp_path, images, standin_module, "--intermediate_store_frequency", "40", steps=150)
    graphs = {p.name for p in (tmp_path / "model" / "intermediate_graphs").iterdir()}
    assert graphs == {"intermediate_40.pb", "intermediate_80.pb", "intermediate_120.pb"}, graphs
    history = json.loads((tmp_path / "model" / "training_history.json").read_text())
    # Steps run 20 at a time (the eval interval); training stops at the interval that reaches 150,
    # not at the end of a whole epoch (200).
    assert history["steps"] == [20, 40, 60, 80, 100, 120, 140, 150], history["steps"]


def test_outputs_outside_output_dir_keep_the_model_dir_complete(tmp_path, standin_module):
    images = make_image_folder(tmp_path / "images", {"cat": 20, "fish": 20})
    _train(tmp_path, images, standin_module, "--output_graph", str(tmp_path / "elsewhere" / "g.pb"),
           "--output_labels", str(tmp_path / "elsewhere" / "l.txt"),
           "--saved_model_dir", str(tmp_path / "elsewhere" / "sm"), steps=20)
    for path in ("elsewhere/g.pb", "elsewhere/l.txt", "elsewhere/sm/saved_model.pb",
                 "model/retrained_graph.pb", "model/retrained_labels.txt", "model/saved_model/saved_model.pb"):
        assert (tmp_path / path).exists(), path
    assert (tmp_path / "elsewhere" / "g.pb").read_bytes() == (tmp_path / "model" / "retrained_graph.pb").read_bytes()


def test_backup_of_another_run_is_refused(tmp_path, standin_module):
    from retrain.families import backups as pipeline
    backup = tmp_path / "ckpt" / "backup"
    (backup / "chief").mkdir(parents=True)
    (backup / "chief" / "checkpoint").write_text("x")
    from retrain.model_folder import contract as outputs
    outputs.write_json({"steps": 100}, str(backup) + ".run.json")
    with pytest.raises(Exception, match="other settings"):
        pipeline.check_backup(str(backup), {"steps": 200}, is_chief=True)
    pipeline.check_backup(str(backup), {"steps": 100}, is_chief=True)  # same run: resumes


def test_fine_tune_straight_from_quickdraw_files(tmp_path, standin_module):
    source = _quickdraw_files(tmp_path / "qd", 30, seed=1)
    result = CliRunner().invoke(cli, [
        "--quickdraw_dir", str(source), "--tfhub_module", standin_module, "--input_size", "32",
        "--bottleneck_dir", str(tmp_path / "b"), "--output_dir", str(tmp_path / "m"),
        "--how_many_training_steps", "20", "--eval_step_interval", "10", "--train_batch_size", "8",
        "--fine_tune", "--fine_tune_steps", "20", "--fine_tune_batch_size", "8"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    history = json.loads((tmp_path / "m" / "training_history.json").read_text())
    assert history["steps"][-1] == 40
    assert not list(tmp_path.rglob("*.jpg"))


def test_export_of_a_quickdraw_trained_model_checks_on_its_held_back_drawings(tmp_path, standin_module):
    source = _quickdraw_files(tmp_path / "qd", 40)
    train = CliRunner().invoke(cli, [
        "--quickdraw_dir", str(source), "--tfhub_module", standin_module, "--input_size", "32",
        "--bottleneck_dir", str(tmp_path / "b"), "--output_dir", str(tmp_path / "m"),
        "--how_many_training_steps", "20", "--train_batch_size", "8", "--testing_percentage", "25"],
        catch_exceptions=False)
    assert train.exit_code == 0, train.output
    result = CliRunner().invoke(cli, ["export", "--model_dir", str(tmp_path / "m"), "--formats", "tflite"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "m" / "export_report.json").read_text())
    splits = json.loads((tmp_path / "m" / "splits.json").read_text())
    assert report["test_source"] == "the test split in splits.json"
    assert report["test_images"] == len(splits["testing"]) > 0
