"""`qdretrain convert` end to end with CliRunner: formats, naming, seeds, resume, bad inputs, the sample."""

from __future__ import annotations

import errno
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from convert import writer
from convert.cli import convert_command
from convert.sample import sample_dir
from tests.conftest import shared_path
from tests.test_convert_helpers import bitmap_rows, block_of, write_ndjson, write_npy


def run(*args: str):
    return CliRunner().invoke(convert_command, [str(a) for a in args])


def jpgs(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def leftovers(root: Path) -> list[Path]:
    """Anything half-written: temporary files, or JPGs that do not decode completely."""
    bad = [p for p in root.rglob(".*.part")]
    for path in root.rglob("*.jpg"):
        try:
            with Image.open(path) as image:
                image.load()
        except OSError:
            bad.append(path)
    return bad


@pytest.mark.parametrize("file_name, shape", [
    ("cat.npy", (12, 784)),
    ("full_numpy_bitmap_cat.npy", (12, 784)),
    ("cat.npy", (12, 28, 28)),
    ("full_numpy_bitmap_cat.npy", (12, 1, 784)),
])
def test_converts_every_bitmap_layout_and_naming(tmp_path, file_name, shape):
    rows = bitmap_rows(12)
    source = write_npy(tmp_path / "in" / file_name, rows.reshape(shape))
    out = tmp_path / "out"
    result = run(source, "--output_dir", out, "--per_class", 5, "--size", 28, "--workers", 1,
                 "--resample", "nearest")
    assert result.exit_code == 0, result.output
    assert "5 written, 0 skipped" in result.stdout
    names = jpgs(out / "cat")
    assert len(names) == 5 and all(n.startswith("cat_") and n.endswith(".jpg") for n in names)
    for name in names:  # each file shows the row its name says (black ink on white by default)
        index = int(name[len("cat_"):-len(".jpg")])
        pixels = np.asarray(Image.open(out / "cat" / name).convert("L"), dtype=float)
        block = block_of(index)
        assert pixels[block].mean() < 60 and pixels.mean() > 150


def test_ndjson_and_spaces_in_class_names_with_dashed_options(tmp_path):
    write_ndjson(tmp_path / "in" / "full_simplified_The Eiffel Tower.ndjson", 6)
    write_npy(tmp_path / "in" / "sea turtle.npy", bitmap_rows(4))
    out = tmp_path / "out"
    result = run(tmp_path / "in", "--output-dir", out, "--per-class", 10, "--size", 48,
                 "--polarity", "white_on_black", "--workers", 1)
    assert result.exit_code == 0, result.output
    assert "10 written" in result.stdout and "2 classes" in result.stdout
    assert jpgs(out / "The Eiffel Tower") == [f"The Eiffel Tower_{1000 + i}.jpg" for i in range(6)]
    assert jpgs(out / "sea turtle") == [f"sea turtle_{i}.jpg" for i in range(4)]
    image = Image.open(out / "The Eiffel Tower" / "The Eiffel Tower_1000.jpg")
    assert image.size == (48, 48)
    assert np.asarray(image.convert("L")).mean() < 128  # white ink on black as asked
    assert "fewer than --per_class 10" in result.stderr


def test_same_seed_same_choice_other_seed_other_choice(tmp_path):
    source = write_npy(tmp_path / "cat.npy", bitmap_rows(40))
    chosen = {}
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        assert run(source, "--output_dir", tmp_path / name, "--per_class", 10, "--seed", seed,
                   "--workers", 1).exit_code == 0
        chosen[name] = jpgs(tmp_path / name / "cat")
    assert chosen["a"] == chosen["b"] and len(chosen["a"]) == 10
    assert chosen["a"] != chosen["c"]


def test_rerun_skips_done_and_larger_count_only_adds(tmp_path):
    source = write_npy(tmp_path / "cat.npy", bitmap_rows(30))
    out = tmp_path / "out"
    assert "6 written, 0 skipped" in run(source, "--output_dir", out, "--per_class", 6,
                                          "--workers", 1).stdout
    first = {name: (out / "cat" / name).stat().st_mtime_ns for name in jpgs(out / "cat")}
    again = run(source, "--output_dir", out, "--per_class", 6, "--workers", 1)
    assert again.exit_code == 0 and "0 written, 6 skipped" in again.stdout
    more = run(source, "--output_dir", out, "--per_class", 10, "--workers", 1)
    assert "4 written, 6 skipped" in more.stdout
    assert all((out / "cat" / name).stat().st_mtime_ns == mtime for name, mtime in first.items())
    assert set(first) < set(jpgs(out / "cat"))


def test_rerun_with_other_render_settings_is_refused(tmp_path):
    source = write_npy(tmp_path / "cat.npy", bitmap_rows(5))
    assert run(source, "--output_dir", tmp_path / "out", "--workers", 1).exit_code == 0
    result = run(source, "--output_dir", tmp_path / "out", "--size", 32, "--workers", 1)
    assert result.exit_code == 1 and "size 64 -> 32" in result.output and "Traceback" not in result.output


def test_interrupted_write_leaves_no_partial_jpg_and_rerun_finishes(tmp_path, monkeypatch):
    source = write_npy(tmp_path / "cat.npy", bitmap_rows(12))
    out = tmp_path / "out"
    real_replace = os.replace
    calls = []

    def replace_then_interrupt(src, dst):
        # The temporary file is fully written at this point; Ctrl-C lands before the rename.
        calls.extend([dst] if str(dst).endswith(".jpg") else [])
        if len(calls) == 5 and str(dst).endswith(".jpg"):
            assert Path(src).exists() and Path(src).stat().st_size > 0
            raise KeyboardInterrupt
        return real_replace(src, dst)

    monkeypatch.setattr(writer.os, "replace", replace_then_interrupt)
    result = run(source, "--output_dir", out, "--per_class", 12, "--workers", 1)
    assert result.exit_code == 130 and "Interrupted" in result.output
    assert len(jpgs(out / "cat")) == 4 and leftovers(out) == []
    monkeypatch.setattr(writer.os, "replace", real_replace)
    result = run(source, "--output_dir", out, "--per_class", 12, "--workers", 1)
    assert result.exit_code == 0 and "8 written, 4 skipped" in result.stdout
    assert leftovers(out) == []


def test_failed_write_mid_file_is_a_clear_error_with_nothing_half_written(tmp_path, monkeypatch):
    source = write_npy(tmp_path / "cat.npy", bitmap_rows(8))
    out = tmp_path / "out"
    real_open = open
    written = []

    def failing_open(path, mode="r", *args, **kwargs):
        stream = real_open(path, mode, *args, **kwargs)
        if "w" in mode and str(path).endswith(".part"):
            written.append(path)
            if len(written) == 3:  # a disk that fills up after a few bytes of the third JPG
                stream.write(b"\xff\xd8\xff")
                stream.close()
                raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return stream

    monkeypatch.setattr(writer, "open", failing_open, raising=False)
    result = run(source, "--output_dir", out, "--per_class", 8, "--workers", 1)
    assert result.exit_code == 1
    assert "No space left on device" in result.output and "rerun" in result.output
    assert "Traceback" not in result.output
    assert len(jpgs(out / "cat")) == 2 and leftovers(out) == []


def test_stale_temporary_files_from_a_killed_run_are_removed(tmp_path):
    source = write_npy(tmp_path / "cat.npy", bitmap_rows(3))
    (tmp_path / "out" / "cat").mkdir(parents=True)
    stale = tmp_path / "out" / "cat" / ".cat_0.jpg.999.part"
    stale.write_bytes(b"\xff\xd8")
    assert run(source, "--output_dir", tmp_path / "out", "--workers", 1).exit_code == 0
    assert not stale.exists() and jpgs(tmp_path / "out" / "cat") == ["cat_0.jpg", "cat_1.jpg", "cat_2.jpg"]


def _bad_inputs(folder: Path) -> dict[str, str]:
    """One bad file per kind of bad input, keyed by file name, with what the warning must say."""
    write_npy(folder / "floaty.npy", bitmap_rows(3).astype(np.float64))
    write_npy(folder / "shapeless.npy", np.zeros((3, 27, 29), np.uint8))
    truncated = write_npy(folder / "truncated.npy", bitmap_rows(20))
    truncated.write_bytes(truncated.read_bytes()[:-500])
    (folder / "empty.npy").write_bytes(b"")
    (folder / "nothing.ndjson").write_text("")
    objects = np.empty(1, dtype=object)
    objects[0] = {"evil": True}
    np.save(folder / "pickled.npy", objects, allow_pickle=True)
    (folder / "garbage.ndjson").write_text("{oops\nnot json either\n")
    (folder / "unreadable.npy").symlink_to(folder / "gone.npy")
    return {"floaty.npy": "float64", "shapeless.npy": "(3, 27, 29)", "truncated.npy": "truncated",
            "empty.npy": "empty", "nothing.ndjson": "empty", "pickled.npy": "pickled",
            "garbage.ndjson": "no usable drawing", "unreadable.npy": "cannot read"}


def test_each_bad_input_is_reported_and_other_classes_still_convert(tmp_path):
    folder = tmp_path / "in"
    expected = _bad_inputs(folder)
    write_npy(folder / "cat.npy", bitmap_rows(4))
    write_ndjson(folder / "dog.ndjson", 3, extra_lines=("{broken", '{"drawing": 5}'))
    out = tmp_path / "out"
    result = run(folder, "--output_dir", out, "--workers", 1)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    for name, reason in expected.items():
        lines = [line for line in result.stderr.splitlines() if f"{name}:" in line]
        assert lines and reason in lines[0], (name, result.stderr)
    assert "'dog' (dog.ndjson): skipped 2 malformed line(s)" in result.stderr
    assert "7 written" in result.stdout and "2 refused drawings" in result.stdout
    assert f"{len(expected)} refused files" in result.stdout
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["cat", "dog"]
    assert leftovers(out) == []


def test_only_bad_inputs_is_an_error(tmp_path):
    write_npy(tmp_path / "in" / "floaty.npy", bitmap_rows(3).astype(np.float32))
    result = run(tmp_path / "in", "--output_dir", tmp_path / "out")
    assert result.exit_code == 1 and "none of the inputs could be converted" in result.output
    assert "float32" in result.output


def test_usage_errors(tmp_path):
    assert run("--output_dir", tmp_path / "out").exit_code == 2
    both = run(tmp_path, "--sample", "--output_dir", tmp_path / "out")
    assert both.exit_code == 2 and "not both" in both.output
    missing = run(tmp_path / "nope.npy", "--output_dir", tmp_path / "out")
    assert missing.exit_code == 1 and "does not exist" in missing.output
    assert run(tmp_path, "--output_dir", tmp_path / "o", "--quality", 100).exit_code == 2


def test_pickle_is_never_loaded_during_convert(tmp_path, monkeypatch):
    objects = np.empty(1, dtype=object)
    objects[0] = 1
    np.save(tmp_path / "evil.npy", objects, allow_pickle=True)
    write_npy(tmp_path / "cat.npy", bitmap_rows(2))
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("unpickled"))
    monkeypatch.setattr(pickle, "load", lambda *a, **k: pytest.fail("unpickled"))
    result = run(tmp_path, "--output_dir", tmp_path / "out", "--workers", 1)
    assert result.exit_code == 0 and "pickled" in result.stderr


def test_two_worker_processes_write_the_same_files(tmp_path):
    write_npy(tmp_path / "in" / "cat.npy", bitmap_rows(150))
    write_ndjson(tmp_path / "in" / "sea turtle.ndjson", 70)
    one = run(tmp_path / "in", "--output_dir", tmp_path / "one", "--per_class", 140, "--workers", 1)
    two = run(tmp_path / "in", "--output_dir", tmp_path / "two", "--per_class", 140, "--workers", 2)
    assert one.exit_code == 0 and two.exit_code == 0, two.output
    assert "210 written" in two.stdout
    for label in ("cat", "sea turtle"):
        assert jpgs(tmp_path / "one" / label) == jpgs(tmp_path / "two" / label)
    name = jpgs(tmp_path / "two" / "cat")[3]
    assert (tmp_path / "one" / "cat" / name).read_bytes() == (tmp_path / "two" / "cat" / name).read_bytes()


def test_sample_flag_converts_the_embedded_sample(tmp_path):
    result = run("--sample", "--output_dir", tmp_path / "demo", "--per_class", 3, "--size", 28,
                 "--workers", 1)
    assert result.exit_code == 0, result.output
    labels = sorted(p.name for p in (tmp_path / "demo").iterdir() if p.is_dir())
    assert len(labels) == 13 and "sea turtle" in labels
    assert "39 written" in result.stdout


def test_embedded_sample_files_and_attribution():
    folder = sample_dir()
    files = sorted(folder.glob("*.npy"))
    assert len(files) == 13 and (folder / "sea turtle.npy") in files
    for path in files:
        array = np.load(path, allow_pickle=False)
        assert array.dtype == np.uint8 and array.shape == (300, 784)
        assert array.max() == 255 and len(np.unique(array, axis=0)) == 300
    attribution = (folder / "ATTRIBUTION.md").read_text()
    assert "CC BY 4.0" in attribution and "https://quickdraw.withgoogle.com/data" in attribution


@pytest.mark.slow
def test_real_shared_files_convert(tmp_path):
    bitmaps = shared_path("data", "quickdraw_bitmaps", "sea turtle.npy")
    strokes = shared_path("data", "quickdraw_ndjson", "The Eiffel Tower.ndjson")
    out = tmp_path / "out"
    result = run(bitmaps, strokes, "--output_dir", out, "--per_class", 5, "--size", 96,
                 "--recognized_only", "--workers", 1)
    assert result.exit_code == 0, result.output
    assert "10 written" in result.stdout
    for label in ("sea turtle", "The Eiffel Tower"):
        names = jpgs(out / label)
        assert len(names) == 5
        pixels = np.asarray(Image.open(out / label / names[0]).convert("L"))
        assert pixels.shape == (96, 96)
        assert 0.02 < (pixels < 128).mean() < 0.6  # some dark ink on a mostly white page
    # The JPGs show the chosen rows of the real file.
    real = np.load(bitmaps, mmap_mode="r")
    index = int(jpgs(out / "sea turtle")[0].rsplit("_", 1)[1][:-4])
    again = Image.open(out / "sea turtle" / jpgs(out / "sea turtle")[0]).convert("L").resize((28, 28))
    correlation = np.corrcoef(255 - np.asarray(again, float).ravel(), real[index].astype(float))[0, 1]
    assert correlation > 0.8


def test_ctrl_c_with_worker_processes_leaves_only_whole_jpgs(tmp_path):
    """A real SIGINT to the whole process group (what Ctrl-C does) while two workers write."""
    write_ndjson(tmp_path / "in" / "cat.ndjson", 3000)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "retrain", "convert", str(tmp_path / "in"), "--output_dir", str(out),
               "--size", "256", "--per_class", "0", "--workers", "2"]
    process = subprocess.Popen(command, start_new_session=True, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while len(jpgs(out / "cat")) < 20 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, "the conversion ended before it could be interrupted"
    os.killpg(process.pid, signal.SIGINT)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 130 and "Interrupted" in stderr and "Traceback" not in stderr
    done = len(jpgs(out / "cat"))
    assert 20 <= done < 3000 and leftovers(out) == []


def test_convert_package_never_imports_tensorflow():
    code = ("import sys, convert.cli, convert.pipeline, convert.preview, convert.sample; "
            "bad = [m for m in ('tensorflow', 'tf_keras', 'matplotlib') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parent.parent)
