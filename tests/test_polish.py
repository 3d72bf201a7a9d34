"""First-run polish: the strings a new user reads (Android README, training log lines)."""

from __future__ import annotations

from tests.test_export_modeldir import trained_model_dir  # noqa: F401


def test_strategy_name_is_friendly():
    from retrain.distribute import strategy_name

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

    from retrain import pipeline
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
