"""First-run polish: the strings a new user reads (Android README, training log lines)."""

from __future__ import annotations

import numpy as np

from tests.test_export_modeldir import trained_model_dir  # noqa: F401


def test_strategy_name_is_friendly():
    from retrain.distribution.strategy import strategy_name

    class _DefaultDistributionStrategy:
        pass

    class MirroredStrategy:
        pass

    class SomethingNew:
        pass

    assert strategy_name(_DefaultDistributionStrategy()) == "default (one device)"
    assert strategy_name(MirroredStrategy()) == "mirrored"
    assert strategy_name(SomethingNew()) == "SomethingNew"


def test_pipeline_does_not_repeat_bottlenecks_prefix():
    import inspect

    from retrain.run import story as pipeline
    source = inspect.getsource(pipeline)
    assert 'f"Bottlenecks: {report}"' not in source and "strategy_name(strategy)" in source


def test_android_readme_has_imports_gradle_and_float_mean(trained_model_dir, tmp_path):
    from android_export.android import write_android_assets
    out = tmp_path / "assets"
    write_android_assets(trained_model_dir, str(out))
    readme = (out / "README.md").read_text()
    for needed in ('implementation("org.tensorflow:tensorflow-lite-task-vision:0.4.4")',
                   'implementation("org.tensorflow:tensorflow-lite-support:0.4.4")',
                   'implementation("com.google.ai.edge.litert:litert:',
                   "import org.tensorflow.lite.task.vision.classifier.ImageClassifier",
                   "import org.tensorflow.lite.support.common.FileUtil",
                   "import org.tensorflow.lite.Interpreter",
                   "IMAGE_MEAN = 127.5f", "IMAGE_STD = 127.5f"):
        assert needed in readme, needed
    assert "<version>" not in readme


def test_misclassified_grid_spreads_over_classes_most_confident_first():
    # Before: the first 32 misses in input order, sorted by class, so later classes never appeared.
    from retrain.evaluation.evaluate import Misclassified, misclassified_title, pick_misclassified
    misses = [Misclassified(f"a{i}", "apple", "cat", 0.5 + i / 100, i) for i in range(40)]
    misses += [Misclassified("z0", "zebra", "cat", 0.3, 40), Misclassified("z1", "zebra", "cat", 0.9, 41)]
    chosen = pick_misclassified(misses, 32)
    assert len(chosen) == 32
    assert [m.name for m in chosen[:4]] == ["a39", "z1", "a38", "z0"]
    assert {m.true_label for m in chosen} == {"apple", "zebra"}
    assert misclassified_title(chosen[1]) == "zebra -> cat (0.90)\nz1"


def test_misclassified_heading_says_how_many_of_all(monkeypatch):
    import matplotlib.figure

    from retrain.evaluation import plots
    headings = []
    monkeypatch.setattr(matplotlib.figure.Figure, "suptitle", lambda self, text, **kw: headings.append(text))
    images = [np.zeros((28, 28), np.uint8)] * 3
    plots.plot_misclassified_grid(images, ["a -> b (0.50)"] * 3, total=56)
    assert "3 of 56" in headings[0]


def test_training_curves_record_each_interval_not_keras_running_mean():
    # Keras' running mean restarts every epoch: plotted per step it made a sawtooth that looked like a bug.
    from retrain.families.hub_head.train import _Evaluator
    evaluator = _Evaluator.__new__(_Evaluator)
    evaluator.on_epoch_begin(0)
    assert evaluator._interval_mean("accuracy", 1.0, 10) == 1.0
    assert evaluator._interval_mean("accuracy", 0.5, 20) == 0.0      # the second 10 batches were all wrong
    assert abs(evaluator._interval_mean("accuracy", 0.6, 30) - 0.8) < 1e-9
    evaluator.on_epoch_begin(1)
    assert evaluator._interval_mean("accuracy", 0.7, 10) == 0.7      # a new epoch starts a new mean


def test_help_screens_are_whole_and_grouped():
    from click.testing import CliRunner

    from retrain.cli.main import cli
    top = CliRunner().invoke(cli, ["--help"], terminal_width=100)
    assert top.exit_code == 0 and "..." not in top.output.split("Commands:")[1]  # no summary cut off
    train = CliRunner().invoke(cli, ["train", "--help"], terminal_width=100)
    sections = [line for line in train.output.splitlines() if line and not line.startswith(" ")]
    assert "Data:" in sections and "Training:" in sections and "Outputs:" in sections
    assert train.output.index("--image_dir") < train.output.index("Training:") < train.output.index("--learning_rate")
    android = CliRunner().invoke(cli, ["android", "--help"])
    assert android.exit_code == 0 and "--opset" not in android.output and "--calibration_dir" in android.output
