"""The pictures a run writes are worth looking at (issue 20): values and captions on the rendering
panel, captions never cut off, titled training curves, and the same evaluation pictures for the
native family as for the TF-Hub head."""

from __future__ import annotations

import shutil

import numpy as np
from PIL import Image

from convert.sample import sample_dir


def test_every_panel_row_has_a_caption_and_na_rows_are_drawn():
    from retrain.evaluation.panel import ROW_CAPTIONS, ROWS, PanelRow, plot_panel
    assert set(ROWS) <= set(ROW_CAPTIONS)
    rows = [PanelRow(name, None if name.startswith("canvas") else 0.8, 0 if name.startswith("canvas") else 50)
            for name in ROWS]
    png = plot_panel(rows)
    assert png[:4] == b"\x89PNG"


def test_grid_captions_use_a_readable_font_and_are_wrapped_not_cut():
    from PIL import ImageDraw, ImageFont

    from retrain.embeddings.report import FONT_SIZE, _font, grid_png, wrap
    font = _font()
    assert isinstance(font, ImageFont.FreeTypeFont) and FONT_SIZE >= 12  # not the ~8 px bitmap font
    draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    name = "sea turtle/sea turtle_58291038459182.npy#12345"
    lines = wrap(f"1. sea turtle, cosine 0.123\n{name}", 150, lambda t: draw.textlength(t, font=font))
    assert len(lines) >= 3 and "".join(lines) == f"1. sea turtle, cosine 0.123{name}"
    image = np.zeros((28, 28, 3), np.uint8)
    assert grid_png([[(image, name)] * 3], "title")[:4] == b"\x89PNG"


def test_native_runs_write_the_same_evaluation_pictures(tmp_path):
    import qdretrain
    data = tmp_path / "data"
    data.mkdir()
    for name in ("apple", "cat", "fish"):
        shutil.copy(sample_dir() / f"{name}.npy", data / f"{name}.npy")
    model = qdretrain.train(quickdraw_dir=data, architecture="quickdraw_cnn_small", quickdraw_per_class=60,
                            how_many_training_steps=20, train_batch_size=32, output_dir=tmp_path / "model")
    out = tmp_path / "model"
    for picture in ("training_curves.png", "misclassified.png", "rendering_panel.png", "confusion_matrix.png"):
        assert (out / picture).read_bytes()[:4] == b"\x89PNG", picture
    assert model.info.get("family") == "native"
