"""convert.render: bitmap resizing and polarity, anti-aliased stroke rendering."""

from __future__ import annotations

import numpy as np
import pytest

from convert.render import RenderOptions, render_bitmap, render_strokes
from tests.test_convert_helpers import bitmap_rows, square_strokes


def test_render_bitmap_native_size_keeps_pixels_and_inverts_for_paper():
    row = bitmap_rows(6)[5]
    native = np.asarray(render_bitmap(row, RenderOptions(size=28, polarity="white_on_black")))
    np.testing.assert_array_equal(native, row.reshape(28, 28))
    paper = np.asarray(render_bitmap(row, RenderOptions(size=28, polarity="black_on_white")))
    np.testing.assert_array_equal(paper, 255 - row.reshape(28, 28))


@pytest.mark.parametrize("resample", ["nearest", "bilinear", "lanczos"])
def test_render_bitmap_resizes_with_the_chosen_resampling(resample):
    row = bitmap_rows(1)[0]  # ink block in the top-left 7x7 of 28
    image = np.asarray(render_bitmap(row, RenderOptions(size=112, resample=resample,
                                                        polarity="white_on_black")))
    assert image.shape == (112, 112)
    assert image[:24, :24].mean() > 200 and image[40:, 40:].max() < 40
    # Nearest keeps two grey levels; the smooth filters make intermediate ones at the block's edge.
    levels = len(np.unique(image))
    assert levels == 2 if resample == "nearest" else levels > 2


def test_render_strokes_is_antialiased_centred_and_sized():
    options = RenderOptions(size=64, polarity="white_on_black")
    image = np.asarray(render_strokes(square_strokes(), options))
    assert image.shape == (64, 64)
    greys = ((image > 20) & (image < 235)).sum()
    assert greys > 20, "anti-aliasing gives intermediate grey levels along the lines"
    ys, xs = np.nonzero(image > 128)
    assert abs((xs.min() + xs.max()) / 2 - 31.5) < 2 and abs((ys.min() + ys.max()) / 2 - 31.5) < 2
    # A drawing in a corner of the canvas is centred the same way.
    shifted = np.asarray(render_strokes(square_strokes(50), options))
    np.testing.assert_allclose(shifted.astype(float), image.astype(float), atol=2)


def test_render_strokes_polarity_width_and_big_raw_coordinates():
    thin = np.asarray(render_strokes(square_strokes(), RenderOptions(size=64, stroke_width=4,
                                                                    polarity="white_on_black")))
    thick = np.asarray(render_strokes(square_strokes(), RenderOptions(size=64, stroke_width=24,
                                                                     polarity="white_on_black")))
    assert thick.sum() > 2 * thin.sum()
    paper = np.asarray(render_strokes(square_strokes(), RenderOptions(size=64, stroke_width=4)))
    np.testing.assert_array_equal(paper, 255 - thin)
    # Raw drawings use screen coordinates beyond 255: scaled down to fit, nothing cut off.
    raw = [[[0, 1000, 1000, 0, 0], [0, 0, 600, 600, 0]]]
    image = np.asarray(render_strokes(raw, RenderOptions(size=64, polarity="white_on_black")))
    ys, xs = np.nonzero(image > 128)
    assert xs.min() > 0 and xs.max() < 63 and xs.max() - xs.min() > 45


def test_render_strokes_single_point_is_a_dot_and_empty_is_refused():
    dot = np.asarray(render_strokes([[[128], [128]]], RenderOptions(size=32, polarity="white_on_black")))
    assert dot[14:18, 14:18].max() > 150 and dot[:5, :5].max() == 0
    with pytest.raises(ValueError):
        render_strokes([], RenderOptions())


def test_render_options_reject_nonsense():
    with pytest.raises(ValueError, match="resample"):
        RenderOptions(resample="cubic-ish")
    with pytest.raises(ValueError, match="polarity"):
        RenderOptions(polarity="grey")
