"""The drawing contract: one deterministic renderer, its golden files, and the Kotlin bundle."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from convert import drawing, make_golden
from convert.render import RenderOptions, render_strokes as render_image


def test_renderer_reproduces_golden_pngs_exactly():
    for name, (strokes, contract) in make_golden.golden_cases().items():
        with open(os.path.join(make_golden.GOLDEN_DIR, f"{name}.json")) as handle:
            stored = json.load(handle)
        assert stored["strokes"] == strokes
        assert drawing.DrawingContract.from_json(stored["contract"]) == contract
        expected = np.asarray(Image.open(os.path.join(make_golden.GOLDEN_DIR, f"{name}.png")))
        got = drawing.render_strokes(stored["strokes"], contract)
        assert got.dtype == np.uint8 and got.shape == (contract.size, contract.size)
        np.testing.assert_array_equal(got, expected)


def test_deterministic_and_polarity():
    strokes = [[[0, 100, 200], [0, 150, 30]]]
    a = drawing.render_strokes(strokes, drawing.DEFAULT_CONTRACT)
    assert np.array_equal(a, drawing.render_strokes(strokes, drawing.DEFAULT_CONTRACT))
    assert a[0, 0] == 255 and a.min() == 0  # paper white in the corner, black ink
    inverted = drawing.render_strokes(strokes, drawing.DrawingContract(polarity="white_on_black"))
    np.testing.assert_array_equal(inverted, 255 - a)


def test_bbox_fit_ignores_scale_and_position():
    strokes = [[[0, 100, 200], [0, 150, 30]]]
    moved = [[[x / 4 + 300 for x in strokes[0][0]], [y / 4 + 10 for y in strokes[0][1]]]]
    np.testing.assert_array_equal(drawing.render_strokes(strokes, drawing.DEFAULT_CONTRACT),
                                  drawing.render_strokes(moved, drawing.DEFAULT_CONTRACT))


def test_convert_renders_through_the_contract():
    strokes = [[[0, 255], [0, 255]]]
    options = RenderOptions(size=32, stroke_width=8)
    np.testing.assert_array_equal(np.asarray(render_image(strokes, options)),
                                  drawing.render_strokes(strokes, drawing.DrawingContract(
                                      size=32, stroke_width=8)))


def test_contract_checks_and_json():
    with pytest.raises(ValueError):
        drawing.DrawingContract(fit="stretch")
    with pytest.raises(ValueError):
        drawing.render_strokes([[[], []]], drawing.DEFAULT_CONTRACT)
    data = drawing.DEFAULT_CONTRACT.to_json()
    assert data["ink"] == 0 and data["paper"] == 255 and data["renderer_version"] == drawing.RENDERER_VERSION
    assert drawing.DrawingContract.from_json(data) == drawing.DEFAULT_CONTRACT
