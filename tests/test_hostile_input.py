"""Issue 17 items 6, 12, 14, 15-16 (CSV headers), 18: one hostile line never stops a run.

Every reader goes through convert.sources (load_json, drawing_from_record, iter_lines/read_line,
open_drawing_file, csv_columns), so these tests hit the shared parsers and then each entry point once.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from click.testing import CliRunner

from convert import sources

GOOD = {"key_id": "1", "drawing": [[[0, 50, 100], [0, 80, 20]]]}
DEEP = b'{"drawing": ' + b"[" * 5000 + b"]" * 5000 + b"}\n"
HUGE_INT = ('{"drawing": [[[0, 1%s], [0, 1]]]}' % ("0" * 400)).encode() + b"\n"
LONG_LINE = b'{"drawing": [[[0' + b", 1" * 10 + b"]" + b" " * (sources.MAX_LINE_BYTES + 10) + b"\n"


def _ndjson(path, lines):
    with open(path, "wb") as out:
        out.write(b"".join(lines))
    return str(path)


def _good(key):
    return (json.dumps({**GOOD, "key_id": str(key)}) + "\n").encode()


@pytest.mark.parametrize("line", [DEEP, HUGE_INT, LONG_LINE], ids=["nested", "400-digit", "too-long"])
def test_parse_drawing_refuses_hostile_lines_as_malformed(line):
    with pytest.raises(ValueError):
        sources.parse_drawing(line, 1)


@pytest.mark.parametrize("field", ["[" * 5000 + "]" * 5000, "[[[0, 1%s], [0, 1]]]" % ("0" * 400)],
                         ids=["nested", "400-digit"])
def test_csv_rows_refuse_hostile_drawings_as_malformed(tmp_path, field):
    from retrain.data.kaggle_csv import BadRows, iter_csv
    path = tmp_path / "cat.csv"
    path.write_text('countrycode,drawing,key_id\nUS,"[[[0,50],[0,80]]]",1\nUS,"%s",2\n' % field)
    bad = BadRows()
    assert [row for row, *_ in iter_csv(str(path), bad)] == [0]
    assert bad.counts[str(path)] == 1
    columns = sources.csv_columns(path)
    with pytest.raises(ValueError):
        sources.parse_csv_line(path.read_bytes().splitlines()[2], 2, columns)


def test_npy_with_a_negative_shape_is_one_line(tmp_path):
    path = tmp_path / "cat.npy"
    np.save(path, np.zeros((2, 784), np.uint8))
    raw = path.read_bytes().replace(b"(2, 784)", b"(-5, 784)")
    path.write_bytes(raw)
    with pytest.raises(sources.SourceError, match="impossible shape"):
        sources.open_bitmaps(path)


def test_a_newline_free_file_is_read_in_bounded_pieces(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "MAX_LINE_BYTES", 1000)
    path = _ndjson(tmp_path / "cat.ndjson", [b"x" * 50_000, b"\n", _good(7)])
    with open(path, "rb") as stream:
        lengths = [len(line) for _, line in sources.iter_lines(stream)]
    assert lengths[0] == 1001 and len(lengths) == 2  # the long one cut short (and skipped), the next intact
    selection = sources.select_drawings(path, 0, 0, "cat", recognized_only=False)
    assert [line.key_id for line in selection.lines] == ["7"] and selection.malformed == 1


def test_a_device_is_not_a_drawing_file(tmp_path):
    os.symlink("/dev/zero", tmp_path / "cat.ndjson")
    with pytest.raises(sources.SourceError, match="not a regular file"):
        sources.open_drawing_file(tmp_path / "cat.ndjson")
    found = sources.discover_sources([tmp_path])
    assert not found.sources and "not a regular file" in found.refused[0][1]


def test_convert_and_preview_skip_hostile_lines(tmp_path):
    from convert.cli import convert_command
    from convert.preview import collect
    (tmp_path / "in").mkdir()
    path = _ndjson(tmp_path / "in" / "cat.ndjson", [_good(1), DEEP, HUGE_INT, _good(2)])
    _ndjson(tmp_path / "in" / "dog.ndjson", [_good(3), _good(4)])
    result = CliRunner().invoke(convert_command, [str(tmp_path / "in"), "--output_dir", str(tmp_path / "out"),
                                                  "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "out" / "cat").glob("*.jpg"))) == 2
    classes, _ = collect([path], 4, 2, 0, "black_on_white")
    assert classes


def test_quickdraw_scan_and_native_stream_skip_hostile_lines(tmp_path):
    from retrain.data import dataset
    from retrain.families.native import stream
    folder = tmp_path / "d"
    folder.mkdir()
    for name in ("cat", "dog"):
        _ndjson(folder / f"{name}.ndjson", [_good(i) for i in range(25)] + [DEEP, HUGE_INT])
    index = dataset.scan_quickdraw_dir(str(folder), per_class=100)
    assert index.counts() == {"cat": 25, "dog": 25}
    class_sources, _ = stream.discover(str(folder))
    bad = stream.BadRows()
    inks = [y for split in ("training", "validation", "testing")
            for _, y in stream.iter_class(class_sources[0], stream.SplitSpec(split, 10, 10), bad)]
    assert len(inks) == 25 and bad.counts[class_sources[0].path] == 2


def test_label_image_and_similar_strokes_specs_are_one_line(tmp_path):
    from android_export.label_image import stroke_drawings
    from common.errors import QdretrainError
    path = _ndjson(tmp_path / "f.ndjson", [_good(1), DEEP, HUGE_INT, _good(2)])
    assert [name.split(" ")[0] for name, _ in stroke_drawings(path, 10)] == ["f.ndjson:1", "f.ndjson:4"]
    with pytest.raises(QdretrainError, match="beyond any QuickDraw file"):
        stroke_drawings(f"{path}:99999999999999999999999", 10)
    with pytest.raises(QdretrainError, match="does not parse"):
        stroke_drawings(f"{path}:2", 10)
    with pytest.raises(QdretrainError, match="has 4 drawings"):
        stroke_drawings(f"{path}:9", 10)
    os.symlink("/dev/zero", tmp_path / "zero.ndjson")
    with pytest.raises(QdretrainError, match="not a regular file"):
        stroke_drawings(str(tmp_path / "zero.ndjson"), 10)


def test_label_image_cli_huge_drawing_number_is_one_line(tmp_path):
    from retrain.cli.main import cli
    path = _ndjson(tmp_path / "f.ndjson", [_good(1)])
    model = tmp_path / "m.tflite"
    model.write_bytes(b"not a model")
    result = CliRunner().invoke(cli, ["label_image", "--graph", str(model), "--strokes",
                                      f"{path}:99999999999999999999999"])
    assert result.exit_code != 0
    assert "Traceback" not in result.output and not isinstance(result.exception, (OverflowError, ValueError))


def test_serve_answers_400_for_a_400_digit_coordinate():
    from serve.validation import RequestError, parse_json, parse_strokes
    payload = parse_json(HUGE_INT.replace(b'"drawing"', b'"strokes"'))
    with pytest.raises(RequestError) as caught:
        parse_strokes(payload["strokes"])
    assert caught.value.status == 400


# --- CSV headers (items 15-16) ---------------------------------------------------------------------

def test_csv_header_with_a_utf8_bom_is_read(tmp_path):
    from retrain.data.kaggle_csv import csv_header
    path = tmp_path / "test_simplified.csv"
    path.write_bytes(b'\xef\xbb\xbfkey_id,countrycode,drawing\n1,US,"[[[0,5],[0,5]]]"\n')
    assert "key_id" in csv_header(str(path))
    assert "key_id" in sources.csv_columns(path)


def test_a_non_utf8_csv_header_is_one_line(tmp_path):
    from retrain.data.kaggle_csv import csv_header
    path = tmp_path / "cat.csv"
    path.write_bytes(b'countr\xffycode,drawing,key_id\nUS,"[[[0,5],[0,5]]]",1\n')
    with pytest.raises(sources.SourceError, match="not UTF-8"):
        csv_header(str(path))


def test_a_non_utf8_exclude_list_is_one_line(tmp_path):
    from common.errors import ConfigError
    from retrain.data.exclude import read_exclude_list
    path = tmp_path / "x.txt"
    path.write_bytes(b"cat/\xff.jpg\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        read_exclude_list(str(path))


# --- 12: a Kaggle word column that disagrees, malformed rows counted once --------------------------

def test_malformed_rows_are_counted_once_however_often_they_are_read(tmp_path):
    from retrain.data.kaggle_csv import BadRows, iter_csv
    path = tmp_path / "cat.csv"
    path.write_text('countrycode,drawing,key_id,word\nUS,"[[[0,5],[0,5]]]",1,dog\nUS,"broken",2,cat\n')
    bad = BadRows()
    for _ in range(3):  # three passes (epochs)
        list(iter_csv(str(path), bad, "cat"))
    assert bad.counts == {str(path): 1}
    notes = [line for line in bad.lines() if "word" in line]
    assert len(notes) == 1 and "'dog'" in notes[0] and "'cat'" in notes[0]


# --- 6: /collect never removes a parseable last line ------------------------------------------------

def test_collect_keeps_a_valid_last_line_without_newline(tmp_path):
    from serve.collect import append_drawing
    path = tmp_path / "cat.ndjson"
    path.write_bytes(_good(1) + _good(2).rstrip(b"\n"))
    append_drawing(str(tmp_path), "cat", [[[0.0, 10.0], [0.0, 10.0]]])
    lines = path.read_bytes().splitlines()
    assert len(lines) == 3 and json.loads(lines[1])["key_id"] == "2"
    # An interrupted write (a cut line) is still removed.
    path.write_bytes(_good(1) + b'{"drawing": [[[0, 1')
    append_drawing(str(tmp_path), "cat", [[[0.0, 10.0], [0.0, 10.0]]])
    assert len(path.read_bytes().splitlines()) == 2


def test_tfhub_quickdraw_dir_says_once_when_a_csv_word_disagrees(tmp_path):
    from retrain.data import dataset
    from retrain.data.records import DatasetWarning
    for name, word in (("cat", "dog"), ("fish", "fish")):
        rows = "".join(f'US,"[[[0,{i}],[0,5]]]",{i},{word}\n' for i in range(1, 25))
        (tmp_path / f"{name}.csv").write_text("countrycode,drawing,key_id,word\n" + rows)
    with pytest.warns(DatasetWarning) as caught:
        index = dataset.scan_quickdraw_dir(str(tmp_path), per_class=30)
    notes = [str(w.message) for w in caught if "word" in str(w.message)]
    assert len(notes) == 1 and "'dog'" in notes[0] and "cat.csv" in notes[0]
    assert index.labels == ("cat", "fish")


def test_native_training_with_a_non_utf8_csv_header_is_one_line_before_training(tmp_path):
    from common.errors import QdretrainError
    from retrain.families.config import TrainConfig
    from retrain.families.native.data import drawing_data
    (tmp_path / "cat.csv").write_bytes(b'countr\xffycode,drawing,key_id\nUS,"[[[0,5],[0,5]]]",1\n')
    (tmp_path / "dog.csv").write_text('countrycode,drawing,key_id\nUS,"[[[0,5],[0,5]]]",1\n')
    config = TrainConfig(quickdraw_dir=str(tmp_path), architecture="quickdraw_cnn_small",
                         output_dir=str(tmp_path / "o"))
    with pytest.raises(QdretrainError, match="not UTF-8"):
        drawing_data(config, 0, (0, 1), print)
