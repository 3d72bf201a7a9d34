"""Issue 17 item 15: every command that writes a folder probes it first (common/writable.py) and says
what is wrong in one line: cache, export, android, audit (training: tests/test_native_edges.py).

Tests run as any user, root included, so "unwritable" is a file standing where the folder must be."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from tests.test_native import _bars


@pytest.fixture(scope="module")
def model_and_blocker(tmp_path_factory):
    from retrain.cli.main import cli
    root = tmp_path_factory.mktemp("probes")
    data = _bars(str(root / "d"), rows=30)
    out = str(root / "model")
    result = CliRunner().invoke(cli, ["train", "--architecture", "quickdraw_cnn_small", "--quickdraw_dir", data,
                                      "--how_many_training_steps", "2", "--train_batch_size", "8",
                                      "--output_dir", out])
    assert result.exit_code == 0, result.output
    blocker = root / "file"
    blocker.write_text("a file where a folder is needed")
    return data, out, str(blocker / "sub")


def _one_line_refusal(result, option):
    assert result.exit_code != 0
    assert "Cannot write to" in result.output and option in result.output, result.output
    assert "Traceback" not in result.output and result.exception is None or isinstance(result.exception, SystemExit)


def test_cache_probes_the_bottleneck_dir(model_and_blocker, tmp_path):
    from retrain.cli.main import cli
    from tests.conftest import make_image_folder
    _, _, blocked = model_and_blocker
    images = make_image_folder(tmp_path / "images", {"cat": 2, "dog": 2})
    result = CliRunner().invoke(cli, ["cache", "--image_dir", str(images), "--bottleneck_dir", blocked])
    _one_line_refusal(result, "--bottleneck_dir")


def test_export_probes_its_output_dir(model_and_blocker):
    from retrain.cli.main import cli
    _, model, blocked = model_and_blocker
    result = CliRunner().invoke(cli, ["export", "--model_dir", model, "--output_dir", blocked,
                                      "--formats", "tflite"])
    _one_line_refusal(result, "--output_dir")


def test_android_probes_its_output(model_and_blocker):
    from retrain.cli.main import cli
    _, model, blocked = model_and_blocker
    result = CliRunner().invoke(cli, ["android", "--model_dir", model, "--output", blocked])
    _one_line_refusal(result, "--output")


def test_audit_probes_its_output_dir(model_and_blocker):
    from retrain.cli.main import cli
    _, model, blocked = model_and_blocker
    result = CliRunner().invoke(cli, ["audit", "--model_dir", model, "--output_dir", blocked])
    _one_line_refusal(result, "--output_dir")


@pytest.mark.parametrize("line", [b'{"drawing": ' + b"[" * 5000 + b"]" * 5000 + b"}\n",
                                  b'{"drawing": [[[0, 1' + b"0" * 400 + b'], [0, 1]]]}\n'],
                         ids=["nested", "400-digit"])
def test_similar_strokes_with_a_hostile_line_is_one_line(model_and_blocker, tmp_path, line):
    """Issue 17 item 14 for `similar --strokes` (next to the model these tests share)."""
    from retrain.cli.main import cli
    _, model, _ = model_and_blocker
    path = tmp_path / "q.ndjson"
    path.write_bytes(line)
    result = CliRunner().invoke(cli, ["similar", "--model_dir", model, "--strokes", f"{path}:1"])
    assert result.exit_code != 0 and "does not parse" in result.output
    assert not isinstance(result.exception, (RecursionError, OverflowError))
