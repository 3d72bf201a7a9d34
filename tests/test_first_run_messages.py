"""Messages a new user meets in the first ten minutes say what is true (issue 20): no --per_class note
the user did not ask for, no "Model folder" before a usage error, one path per contract line, the
right architecture count in the docs, .csv in convert's help, no empty folders after a failed run."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from retrain.cli.main import cli

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _run(*args, **kwargs):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False, **kwargs)


def test_convert_sample_mentions_no_per_class_it_was_not_given(tmp_path):
    result = _run("convert", "--sample", "--output_dir", tmp_path / "out", "--size", 8, "--quality", 50)
    assert result.exit_code == 0, result.output
    assert "--per_class" not in result.output
    explicit = _run("convert", "--sample", "--output_dir", tmp_path / "out", "--size", 8, "--quality", 50, "--per_class", 400)
    assert "13 of 13 classes have fewer than --per_class 400" in explicit.output


def test_a_usage_error_comes_alone():
    result = _run("--how_many_training_steps", 10)
    assert result.exit_code == 2
    assert "Pass exactly one of --image_dir" in result.output
    assert "Model folder" not in result.output


def test_contract_line_names_each_source_once():
    from android_export.label_image import InputContract
    where = "model_info.json (/m/model_info.json)"
    line = InputContract(224, 224, 127.5, 127.5, (("size", where), ("mean", where), ("std", where))).describe()
    assert line.count("/m/model_info.json") == 1 and "size, mean and std from model_info.json" in line


def test_docs_count_the_architectures_the_registry_lists():
    from retrain.families import architectures
    names = architectures.names()
    native = sum(architectures.get(n).is_native for n in names)
    text = (DOCS / "train.md").read_text()
    found = re.search(r"lists all (\d+): (\d+) TF-Hub backbones and (\d+) native nets", text)
    assert found and tuple(map(int, found.groups())) == (len(names), len(names) - native, native)


def test_convert_help_lists_every_format_the_top_help_promises():
    assert "QuickDraw .npy/.ndjson/.csv" in _run("--help").output
    help_text = _run("convert", "--help").output
    assert all(suffix in help_text for suffix in (".npy", ".ndjson", ".csv"))


def test_a_failed_run_leaves_no_empty_folders_it_created(tmp_path, image_folder, monkeypatch):
    """No network for the module (here a refused local port, which fails at once): the run stops with
    advice, and bottlenecks/, retrain_output/ (checkpoints/, summaries/) and the TF-Hub cache folder
    it created are gone again."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "hub_cache"))
    result = _run("--image_dir", image_folder, "--tfhub_module", "http://127.0.0.1:9/no_module",
                  "--input_size", 32, "--how_many_training_steps", 10)
    assert result.exit_code == 1 and "Could not download the TF-Hub module" in result.output
    assert sorted(p.name for p in work.iterdir()) == []
    assert not (tmp_path / "hub_cache").exists()


def test_a_failed_run_keeps_folders_that_were_there(tmp_path, image_folder, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bottlenecks").mkdir()
    result = _run("--image_dir", image_folder, "--tfhub_module", tmp_path / "missing_module",
                  "--input_size", 32, "--how_many_training_steps", 10)
    assert result.exit_code == 1
    assert (tmp_path / "bottlenecks").is_dir() and not (tmp_path / "retrain_output").exists()


def test_the_shared_skip_line_says_what_shared_is(monkeypatch, tmp_path):
    import pytest

    from tests import conftest
    monkeypatch.setattr(conftest, "SHARED", tmp_path / "shared")
    with pytest.raises(pytest.skip.Exception) as skipped:
        conftest.shared_path("data", "x.npy")
    assert "real Quick, Draw! data and weights beside the repo" in str(skipped.value)
    assert "a user's clone does not need it" in str(skipped.value)


def test_after_an_export_the_last_line_points_past_it(tmp_path):
    from retrain.families.config import TrainConfig
    from retrain.run.story import where_everything_went
    config = TrainConfig(image_dir=str(tmp_path), output_dir="m")
    assert "Next: qdretrain export --model_dir m" in where_everything_went(config)
    after = where_everything_went(config, exported=True)
    assert "qdretrain export" not in after and "Next: qdretrain android --model_dir m" in after


def test_misclassified_captions_name_the_file():
    from retrain.evaluation.evaluate import Misclassified, misclassified_title
    item = Misclassified(name="cat/cat_12.jpg", true_label="cat", predicted_label="owl", confidence=0.93, index=0)
    assert misclassified_title(item) == "cat -> owl (0.93)\ncat/cat_12.jpg"
