"""The rendering panel: each row is computed on the right images, and a run reports it."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from convert.drawing import DEFAULT_CONTRACT, render_strokes
from retrain.evaluation import panel
from retrain.data import quickdraw_source
from retrain.data.dataset import ImageRecord
from tests.test_robust_training import _train
from tests.test_pipeline import _quickdraw_files

STROKES = [[[0, 100, 200], [0, 150, 30]]]


def _bitmap():
    bitmap = np.zeros(784, np.uint8)
    bitmap[300:420] = 255
    return bitmap


def test_rows_are_drawn_from_the_right_source():
    strokes_source = panel._Source(render_strokes(STROKES, DEFAULT_CONTRACT),
                                   render_strokes(STROKES, panel._BITMAP_CONTRACT), STROKES)
    bitmap = 255 - _bitmap().reshape(28, 28)
    bitmap_source = panel._Source(quickdraw_source.render(_bitmap())[..., 0], bitmap, None)
    assert np.array_equal(panel.render_row("training", strokes_source, 32), strokes_source.canonical)
    nearest = panel.render_row("bitmap_nearest", bitmap_source, 56)
    np.testing.assert_array_equal(nearest, np.asarray(Image.fromarray(bitmap).resize((56, 56),
                                                                                     Image.Resampling.NEAREST)))
    assert panel.render_row("canvas_thin", bitmap_source, 32) is None  # no strokes, no canvas row
    thin = panel.render_row("canvas_thin", strokes_source, 32)
    thick = panel.render_row("canvas_thick", strokes_source, 32)
    assert thin.shape == (512, 512) and (thin < 128).sum() < (thick < 128).sum()
    jpeg = panel.render_row("jpeg_q20", strokes_source, 32)
    assert jpeg.shape == strokes_source.canonical.shape and not np.array_equal(jpeg, strokes_source.canonical)


def test_run_panel_scores_each_row_and_names_the_worst(tmp_path):
    np.save(tmp_path / "a.npy", np.stack([_bitmap()] * 3))
    records = [ImageRecord("a", 0, f"a/a.npy#{i}", str(tmp_path / "a.npy"), i) for i in range(3)]

    def predict(batch):  # "class 0" only when the picture is mostly white: nearest scaling passes too
        assert batch.shape[1:] == (24, 24, 3) and batch.min() >= -1 and batch.max() <= 1
        return np.stack([batch.mean(axis=(1, 2, 3)), np.full(len(batch), 0.5)], axis=1)
    rows = panel.run_panel(predict, records, 24)
    by_name = {r.name: r for r in rows}
    assert by_name["canvas_thin"].top1 is None and by_name["canvas_thin"].count == 0
    assert by_name["training"].count == 3 and by_name["training"].top1 == 1.0
    text = panel.format_panel(rows)
    assert "Worst rendering:" in text and "n/a" in text


def test_a_tiny_run_shows_the_panel(tmp_path, standin_module):
    source = _quickdraw_files(tmp_path / "qd", 20)
    result = _train(tmp_path, source, standin_module, "--renderings", "2")
    assert result.exit_code == 0, result.output
    assert "Test accuracy by rendering" in result.output and "Worst rendering:" in result.output
    evaluation = json.loads((tmp_path / "m" / "evaluation.json").read_text())
    assert set(evaluation["panel"]["rows"]) == set(panel.ROWS)
    assert evaluation["panel"]["worst"]["name"] in panel.ROWS
    assert (tmp_path / "m" / panel.PANEL_PNG).read_bytes()[:4] == b"\x89PNG"


def test_export_runs_the_panel_on_each_tflite_artifact(tmp_path, standin_module):
    source = _quickdraw_files(tmp_path / "qd", 20)
    assert _train(tmp_path, source, standin_module, "--renderings", "1").exit_code == 0
    from retrain.cli.main import cli
    from click.testing import CliRunner
    result = CliRunner().invoke(cli, ["export", "--model_dir", str(tmp_path / "m"), "--formats", "tflite"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "Rendering panel tflite:" in result.output
    report = json.loads((tmp_path / "m" / "export_report.json").read_text())
    assert set(report["rendering_panels"]["tflite"]["rows"]) == set(panel.ROWS)
