"""`qdretrain cache`: precomputes, reuses, shards, and reports user mistakes without a traceback."""

from __future__ import annotations

import re

from click.testing import CliRunner

from retrain.cli.main import cli
from tests.conftest import make_image_folder


def _cache(*args):
    return CliRunner().invoke(cli, ["cache", *args])


def test_cache_command_computes_then_reuses(tmp_path, standin_module):
    images = make_image_folder(tmp_path / "images", {"a": 6, "b": 6})
    (images / "b" / "broken.jpg").write_bytes(b"")
    common = ["--image_dir", str(images), "--tfhub_module", standin_module, "--input_size", "32",
              "--bottleneck-dir", str(tmp_path / "bn"), "--cache_batch_size", "5", "--no_progress"]
    first = _cache(*common, "--shard_index", "0", "--shard_count", "2")
    assert first.exit_code == 0, first.output
    assert "skipped" in first.output and "broken.jpg" in first.output
    done = int(re.search(r"(\d+) computed", first.output).group(1))
    left = int(re.search(r"(\d+) left to other shards", first.output).group(1))
    assert done + left == 12 and done > 0
    second = _cache(*common)
    assert second.exit_code == 0, second.output
    assert f"{done} already cached, {left} computed" in second.output
    third = _cache(*common)
    assert "12 already cached, 0 computed" in third.output


def test_cache_command_user_errors(tmp_path, standin_module):
    images = make_image_folder(tmp_path / "images", {"a": 2})
    both = _cache("--image_dir", str(images), "--quickdraw_dir", str(images))
    assert both.exit_code == 2 and "exactly one" in both.output
    one_class = _cache("--image_dir", str(images), "--tfhub_module", standin_module, "--input_size", "32",
                       "--bottleneck_dir", str(tmp_path / "bn"))
    assert one_class.exit_code == 1 and "at least 2 classes" in one_class.output
    assert "Traceback" not in one_class.output
    shard = _cache("--image_dir", str(images), "--shard_index", "2", "--shard_count", "2")
    assert shard.exit_code == 2
    unknown = _cache("--image_dir", str(images), "--architecture", "mobilenet_9")
    assert unknown.exit_code == 2 and "Unknown architecture" in unknown.output
