"""`qdretrain export --formats web`: the drawing contract in JavaScript against the Python renderer (Node),
the export's errors, and the exported folder in headless Chromium from a plain static server, offline,
against LiteRT in Python on the same drawings."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO_ROOT, SHARED

WEB_SOURCE = REPO_ROOT / "android_export" / "web"


def _node_render(cases: list) -> list:
    """Runs drawing.js in Node on [{strokes, contract, height?, width?}]; returns pixel lists."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is absent (apt-get install -y nodejs): drawing.js cannot run outside a browser")
    script = ("import { renderStrokes, renderDrawing } from " + json.dumps((WEB_SOURCE / "drawing.js").as_uri()) + ";\n"
              "let text = ''; process.stdin.on('data', (d) => (text += d)).on('end', () => {\n"
              "  const out = JSON.parse(text).map((c) => Array.from(c.height ? "
              "renderDrawing(c.strokes, c.height, c.width, c.contract) : renderStrokes(c.strokes, c.contract)));\n"
              "  process.stdout.write(JSON.stringify(out)); });\n")
    result = subprocess.run([node, "--input-type=module", "-e", script], input=json.dumps(cases),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_drawing_js_reproduces_the_golden_files_exactly():
    from PIL import Image

    from convert import make_golden
    names = sorted(make_golden.golden_cases())
    cases = []
    for name in names:
        with open(os.path.join(make_golden.GOLDEN_DIR, f"{name}.json")) as handle:
            cases.append(json.load(handle))
    for name, pixels in zip(names, _node_render(cases)):
        expected = np.asarray(Image.open(os.path.join(make_golden.GOLDEN_DIR, f"{name}.png")))
        assert np.array_equal(np.asarray(pixels, np.uint8).reshape(expected.shape), expected), name


def test_drawing_js_matches_the_python_renderer_on_random_drawings():
    """Random strokes, several contracts, and serve's full path to a 224 input (bilinear resize)."""
    import dataclasses

    from convert.drawing import DEFAULT_CONTRACT, DrawingContract, render_strokes
    from retrain.data.stroke_rendering import render_drawing
    rng = np.random.default_rng(7)
    contracts = [DEFAULT_CONTRACT, dataclasses.replace(DEFAULT_CONTRACT, size=28, stroke_width=10),
                 dataclasses.replace(DEFAULT_CONTRACT, resample="bicubic", polarity="white_on_black"),
                 DrawingContract(size=48, fit="canvas", frame=300.0, stroke_width=9.0, supersample=3,
                                 resample="hamming")]
    cases, expected = [], []
    for i in range(48):
        strokes = [[rng.uniform(0, 300, n).round(1).tolist(), rng.uniform(0, 300, n).round(1).tolist()]
                   for n in rng.integers(1, 14, rng.integers(1, 5))]
        contract = contracts[i % len(contracts)]
        if i % 6 == 5:  # the page's whole path: simplified, drawn, resized to the model's input
            cases.append({"strokes": strokes, "contract": contract.to_json(), "height": 224, "width": 224})
            expected.append(render_drawing(strokes, 224, 224, contract.to_json()))
        else:
            cases.append({"strokes": strokes, "contract": contract.to_json()})
            expected.append(render_strokes(strokes, contract))
    for i, (pixels, want) in enumerate(zip(_node_render(cases), expected)):
        assert np.array_equal(np.asarray(pixels, np.uint8).reshape(want.shape), want), f"drawing {i}"


def test_web_export_without_litertjs_says_what_to_run(tmp_path, monkeypatch):
    from android_export import web_export
    from common.errors import QdretrainError
    monkeypatch.setenv(web_export.RUNTIME_ENV, str(tmp_path))
    with pytest.raises(QdretrainError, match="npm ci --prefix"):
        web_export.runtime_files()


def test_cli_takes_web_by_name_and_all_leaves_it_out():
    from android_export.cli import _formats
    assert _formats("tflite,web") == ("tflite", "web")
    assert "web" not in _formats("all")


# --- the exported folder in a real browser ----------------------------------------------------------

CLASSES = ("circle", "line", "star")


def _require_browser_and_runtime():
    from android_export import web_check, web_export
    from common.errors import QdretrainError
    if not os.path.exists(web_check.CHROMIUM):
        pytest.skip(f"{web_check.CHROMIUM} is absent (apt-get install -y chromium; .ci/setup_browser does it)")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    try:
        web_export.runtime_files()
    except QdretrainError as error:
        pytest.skip(str(error))


def _test_drawings() -> list:
    """Shared test drawings: 3 from each of 40 real classes (any doodle gets an answer), else stand-ins."""
    from android_export.web_check import read_drawings
    real = SHARED / "data" / "quickdraw_ndjson"
    if real.exists():
        files = sorted(real.glob("*.ndjson"))[:40]
        return [d for path in files for d in read_drawings(str(path), skip=20, count=3)]
    from tests.test_serve_browser import _write_standin_drawings
    import tempfile
    folder = Path(tempfile.mkdtemp()) / "standins"
    _write_standin_drawings(folder)
    return [d for label in CLASSES for d in read_drawings(str(folder / f"{label}.ndjson"))]


@pytest.fixture(scope="module")
def web_folder(tmp_path_factory) -> Path:
    """A real (embedded mobilenet_0.25_224) drawing model on three classes, exported with --formats web."""
    _require_browser_and_runtime()
    from tests.test_serve_browser import stroke_model
    return stroke_model(tmp_path_factory.mktemp("web"), 100, "web") / "web"


@pytest.mark.browser
def test_exported_folder_is_self_contained(web_folder):
    names = {str(p.relative_to(web_folder)) for p in web_folder.rglob("*") if p.is_file()}
    assert {"index.html", "app.js", "drawing.js", "model.js", "style.css", "model.tflite", "model.json",
            "litert/core.js", "litert/wasm-utils.js", "litert/wasm/litert_wasm_internal.wasm"} <= names
    assert not any("threaded" in n or "jspi" in n for n in names)  # only the builds the page can load
    info = json.loads((web_folder / "model.json").read_text())
    assert info["labels"] == list(CLASSES) and info["drawing_contract"]["size"] == 64
    for name in ("index.html", "app.js", "model.js", "model.json"):  # nothing from a CDN or this machine
        text = (web_folder / name).read_text()
        assert "http://" not in text and "https://" not in text and str(REPO_ROOT) not in text, name


@pytest.mark.browser
def test_page_agrees_with_litert_offline_from_a_static_server(web_folder):
    from android_export import web_check
    drawings = _test_drawings()
    with web_check.static_server(str(web_folder)) as url:
        run = web_check.run_page(url, drawings)
    assert run.foreign_requests == [] and run.page_errors == []
    assert len(run.answers) == len(drawings)
    for answer in run.answers:
        assert 1 <= len(answer["top_labels"]) <= 5 and answer["top_labels"][0] == answer["top"][0]["label"]
        assert answer["input_src"].startswith("data:image/png;base64,")
    report = web_check.compare_with_litert(str(web_folder), run.answers)
    assert report["agreement"] >= 0.99, report
    assert all(d["tie"] for d in report["disagreements"]), report["disagreements"]
    assert report["identical_input_pixels"] == 1.0, report  # the JS contract draws Python's bytes


@pytest.mark.browser
def test_undo_and_clear(web_folder):
    from playwright.sync_api import sync_playwright

    from android_export import web_check
    strokes = [[[10, 120, 240], [20, 200, 30]], [[30, 220], [128, 128]]]
    with web_check.static_server(str(web_folder)) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=web_check.CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1100, "height": 720})
        page.goto(url)
        page.wait_for_selector("body[data-ready='1']")
        web_check.replay_strokes(page, strokes)
        page.wait_for_function(web_check.DONE, arg=2)
        page.click("#undo")
        page.wait_for_function(web_check.DONE, arg=1)
        assert page.locator("#top li").count() == 3
        page.click("#clear")
        page.wait_for_function(web_check.IDLE)
        assert page.evaluate("window.qdretrain.strokes.length") == 0 and page.locator("#top li").count() == 0
        browser.close()
