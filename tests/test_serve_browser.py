"""`qdretrain serve` end to end in Debian's headless chromium (Playwright): draw a doodle with pointer
events, read the top-1 off the page, undo/clear, send a correction, take a screenshot.

Real Quick, Draw! strokes come from ../shared where it exists; a user's clone does without: the
embedded sample (convert/sample_data) holds bitmaps only, no strokes to draw with the mouse, so there the
model learns formula drawings (circles, lines, stars) and the test draws those. Either way it runs.
docs/serve_screenshot.png is the demo model's (bench/serve_screenshot.py), not this test's."""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, SHARED

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
CLASSES = ("circle", "line", "star")


def _require_browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is absent (apt-get install -y chromium; .ci/setup_browser does it)")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    pytest.importorskip("uvicorn")


def _write_standin_drawings(folder: Path):
    """Where ../shared is absent: circles, lines and stars drawn by formula, 25 each."""
    folder.mkdir()
    for label in CLASSES:
        with open(folder / f"{label}.ndjson", "w") as handle:
            for i in range(25):
                t = [k / 40 for k in range(41)]
                if label == "circle":
                    xs = [128 + (100 - i) * math.cos(2 * math.pi * v) for v in t]
                    ys = [128 + (95 + i) * math.sin(2 * math.pi * v) for v in t]
                elif label == "line":
                    xs, ys = [10 + 230 * v for v in t], [20 + i * 3 + 200 * v * (i % 3) / 2 for v in t]
                else:
                    angles = [math.pi / 2 + k * 4 * math.pi / 5 for k in range(6)]
                    xs = [128 + (110 - i) * math.cos(a) for a in angles]
                    ys = [128 - (110 - i) * math.sin(a) for a in angles]
                drawing = [[[round(x) for x in xs], [round(y) for y in ys]]]
                handle.write(json.dumps({"word": label, "key_id": f"{label}{i}", "drawing": drawing}) + "\n")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """A real (embedded mobilenet_0.25_224) model on three classes' strokes, exported to TFLite."""
    _require_browser()
    return stroke_model(tmp_path_factory.mktemp("browser"), 150, "tflite,tflite_int8")


def stroke_model(root: Path, steps: int, formats: str) -> Path:
    """The embedded mobilenet_0.25_224 trained on CLASSES' strokes (the shared real ones, else stand-in
    drawings) for `steps` steps, exported to `formats`; returns the model folder. The serve and the web
    export browser tests both start from it."""
    from click.testing import CliRunner

    from retrain.cli.main import cli
    drawings = root / "drawings"
    real = SHARED / "data" / "quickdraw_ndjson"
    if real.exists():
        drawings.mkdir()
        for label in CLASSES:
            shutil.copy(real / f"{label}.ndjson", drawings / f"{label}.ndjson")
    else:
        _write_standin_drawings(drawings)
    out = root / "model"
    result = CliRunner().invoke(cli, [
        "--quickdraw_dir", str(drawings), "--architecture", "mobilenet_0.25_224", "--output_dir", str(out),
        "--bottleneck_dir", str(root / "bottlenecks"), "--how_many_training_steps", str(steps),
        "--optimizer", "adam", "--learning_rate", "0.01", "--train_batch_size", "32",
        "--testing_percentage", "10", "--validation_percentage", "10"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(cli, ["export", "--model_dir", str(out), "--formats", formats],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(model_dir, tmp_path_factory):
    collect_dir = tmp_path_factory.mktemp("collected")
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", "retrain", "serve", "--model_dir", str(model_dir),
                                "--port", str(port), "--collect_dir", str(collect_dir)], cwd=REPO_ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "model", timeout=2).read()
            break
        except OSError:
            if process.poll() is not None:
                pytest.fail(f"the server died: {process.stdout.read()}")
            time.sleep(0.3)
    yield url, Path(collect_dir)
    process.terminate()
    process.wait(timeout=20)


def _classify_server_side(url: str, strokes) -> str:
    request = urllib.request.Request(url + "classify", data=json.dumps({"strokes": strokes}).encode(),
                                     headers={"content-type": "application/json"})
    return json.loads(urllib.request.urlopen(request, timeout=30).read())["top"][0]["label"]


def _pick_drawing(url: str, label: str, drawings: Path):
    """A drawing of `label` (from the files the model learnt from) that the exported model gets right."""
    lines = (drawings / f"{label}.ndjson").read_text().splitlines()
    for line in lines[::-1]:
        strokes = json.loads(line)["drawing"]
        if _classify_server_side(url, strokes) == label:
            return strokes
    pytest.fail(f"the model gets no {label} drawing right")


def _draw(page, strokes):
    box = page.locator("#pad").bounding_box()
    k = box["width"] / 256
    for xs, ys in strokes:
        page.mouse.move(box["x"] + xs[0] * k, box["y"] + ys[0] * k)
        page.mouse.down()
        for x, y in zip(xs[1:], ys[1:]):
            page.mouse.move(box["x"] + x * k, box["y"] + y * k)
        page.mouse.up()
        page.wait_for_timeout(50)


def _top1(page) -> str:
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(300)
    return page.locator("#top li .label").first.inner_text()


def test_draw_classify_undo_clear_collect(server, model_dir, tmp_path):
    from playwright.sync_api import sync_playwright
    url, collect_dir = server
    label = "star"
    strokes = _pick_drawing(url, label, model_dir.parent / "drawings")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1100, "height": 720})
        page.goto(url)
        page.wait_for_selector("body[data-ready='1']")
        _draw(page, strokes)
        assert _top1(page) == label
        assert page.locator("#top li").count() == 3
        assert page.locator("#input").get_attribute("src").startswith("data:image/png;base64,")
        page.screenshot(path=str(tmp_path / "serve.png"))
        assert (tmp_path / "serve.png").read_bytes()[:4] == b"\x89PNG"
        # The int8 artifact answers the same drawing.
        page.select_option("#artifact", "model_int8.tflite")
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(300)
        assert "model_int8.tflite" in page.locator("#latency").inner_text()
        # The pad's strokes live in a module (serve/static/page.js), not on window: undo is checked
        # through what the page sends, the correction below (one stroke fewer).
        page.click("#undo")
        # A correction lands in --collect_dir/<label>.ndjson.
        page.select_option("#label", "circle")
        page.click("#correct button[type=submit]")
        page.wait_for_selector("#collected:has-text('Saved')")
        saved = (collect_dir / "circle.ndjson").read_text().splitlines()
        assert len(saved) == 1 and len(json.loads(saved[0])["drawing"]) == len(strokes) - 1
        page.click("#clear")
        page.wait_for_timeout(200)
        assert page.locator("#top li").count() == 0
        assert page.locator("#latency").inner_text() == "Draw something."
        browser.close()
