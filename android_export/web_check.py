"""Proving a web export in a real browser: serve the folder statically, replay drawings on the page in
headless Chromium (Playwright), and compare its answers with LiteRT in Python on the same drawings.

tests/test_web_export.py and bench/bench_web.py use it. Chromium is Debian's (.ci/setup_browser);
Playwright's own browser download is not needed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from typing import Optional, Sequence

import numpy as np

CHROMIUM = "/usr/bin/chromium"
TIE = 1e-5  # scores this close are a tie: either label is a right top-1


@contextlib.contextmanager
def static_server(folder: str):
    """`python -m http.server` on a free local port serving `folder`; yields its URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                                "--directory", folder], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.time() + 30
        while True:
            try:
                urllib.request.urlopen(url, timeout=2).read()
                break
            except OSError:
                if process.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"the static server on {url} did not start")
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@dataclasses.dataclass
class PageRun:
    """What the page did: load time, one answer per drawing, and any request off this server."""

    ready_ms: float              # navigation start -> runtime and model loaded
    answers: list                # per drawing: strokes (as the page recorded them), pixels, scores, ms
    foreign_requests: list       # URLs asked of anything but the static server (must stay empty)
    page_errors: list            # uncaught exceptions on the page

    @property
    def cold_load_ms(self) -> float:
        """Navigation start to the first prediction's answer (its drawing and inference included)."""
        first = self.answers[0]
        return self.ready_ms + first["drawMs"] + first["modelMs"]


def replay_strokes(page, strokes):
    """Draws `strokes` (0-255 units) with the mouse on #pad, as a person would."""
    box = page.locator("#pad").bounding_box()
    # Inside the 1 px border: a press exactly on the box's edge may land on the element beneath.
    inset = 2
    k = (box["width"] - 2 * inset) / 256
    for xs, ys in strokes:
        page.mouse.move(box["x"] + inset + xs[0] * k, box["y"] + inset + ys[0] * k)
        page.mouse.down()
        for x, y in zip(xs[1:], ys[1:]):
            page.mouse.move(box["x"] + inset + x * k, box["y"] + inset + y * k)
        page.mouse.up()


# Every classification finished (answers === request), and the last one saw all `n` strokes.
IDLE = "() => window.qdretrain.answers === window.qdretrain.request"
DONE = ("n => window.qdretrain.answers === window.qdretrain.request && window.qdretrain.last !== null && "
        "window.qdretrain.last.strokes.length === n")
STATE = ("({answers: window.qdretrain.answers, request: window.qdretrain.request, "
         "strokes: window.qdretrain.strokes.length, last: window.qdretrain.last && window.qdretrain.last.strokes.length})")


def run_page(url: str, drawings: Sequence, chromium: str = CHROMIUM, timeout_ms: int = 120_000) -> PageRun:
    """Opens the page in a fresh headless Chromium (cold cache) and classifies every drawing.

    Args:
      url: the static server's URL of the web folder.
      drawings: strokes per drawing, [[xs], [ys]] per stroke in 0..255 units.
    """
    from playwright.sync_api import sync_playwright
    origin = url.rstrip("/")
    foreign, errors, answers = [], [], []
    with sync_playwright() as p:
        # No network beyond the local server: every other request is recorded and refused.
        browser = p.chromium.launch(executable_path=chromium, headless=True,
                                    args=["--no-sandbox", "--disable-background-networking"])
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 720})
            page.on("pageerror", lambda error: errors.append(str(error)))

            def guard(route):
                if route.request.url.startswith(origin):
                    route.continue_()
                else:
                    foreign.append(route.request.url)
                    route.abort()
            page.route("**/*", guard)
            page.goto(url)
            page.wait_for_selector("body[data-ready='1']", timeout=timeout_ms)
            ready_ms = page.evaluate("window.qdretrain.readyMs")
            for strokes in drawings:
                page.click("#clear")
                page.wait_for_function(IDLE, timeout=timeout_ms)
                replay_strokes(page, strokes)
                try:
                    page.wait_for_function(DONE, arg=len(strokes), timeout=timeout_ms)
                except Exception:
                    raise RuntimeError(f"the page did not answer drawing {len(answers)} ({len(strokes)} strokes): "
                                       f"state {page.evaluate(STATE)}, error "
                                       f"{page.locator('#error').inner_text()!r}") from None
                answer = page.evaluate("window.qdretrain.last")
                answer["top_labels"] = page.locator("#top li .label").all_inner_texts()
                answer["input_src"] = page.locator("#input").get_attribute("src") or ""
                answers.append(answer)
        finally:
            browser.close()
    return PageRun(ready_ms=ready_ms, answers=answers, foreign_requests=foreign, page_errors=errors)


def compare_with_litert(web_folder: str, answers: list) -> dict:
    """The page's top-1 against LiteRT (ai_edge_litert) in Python on the same drawings.

    Python draws the strokes the page recorded with serve's renderer (the drawing contract), runs
    model.tflite, and compares; it also runs the page's own input pixels, which separates a renderer
    difference from a runtime one. A disagreement counts as a tie when LiteRT's two labels in
    question score within TIE of each other.
    """
    from android_export.runners import TFLiteRunner
    from retrain.data.stroke_rendering import render_drawing
    with open(os.path.join(web_folder, "model.json")) as handle:
        info = json.load(handle)
    runner = TFLiteRunner(os.path.join(web_folder, info["model"]))
    height, width = info["input_height"], info["input_width"]

    def scores_of(pixels: np.ndarray) -> np.ndarray:
        rgb = np.repeat(pixels.reshape(height, width, 1), 3, axis=2).astype(np.float32)
        return runner.predict(((rgb - info["input_mean"]) / info["input_std"])[None])[0]

    agree = same_pixels = runtime_agree = 0
    disagreements, max_score_diff = [], 0.0
    for i, answer in enumerate(answers):
        page_scores = np.asarray(answer["scores"], np.float32)
        page_top = int(np.argmax(page_scores))
        python_pixels = render_drawing(answer["strokes"], height, width, info["drawing_contract"])
        page_pixels = np.asarray(answer["pixels"], np.uint8)
        same_pixels += bool(np.array_equal(python_pixels.ravel(), page_pixels))
        on_page_pixels = scores_of(page_pixels)
        runtime_agree += int(np.argmax(on_page_pixels)) == page_top
        max_score_diff = max(max_score_diff, float(np.abs(on_page_pixels - page_scores).max()))
        litert = scores_of(python_pixels)
        litert_top = int(np.argmax(litert))
        if litert_top == page_top:
            agree += 1
        else:
            gap = float(litert[litert_top] - litert[page_top])
            disagreements.append({"drawing": i, "page": info["labels"][page_top],
                                  "litert": info["labels"][litert_top], "gap": gap, "tie": gap <= TIE})
    n = len(answers)
    return {"drawings": n, "agreement": agree / n if n else None, "disagreements": disagreements,
            "identical_input_pixels": same_pixels / n if n else None,
            "runtime_agreement_on_page_pixels": runtime_agree / n if n else None,
            "max_abs_score_diff_on_page_pixels": max_score_diff}


def read_drawings(path: str, skip: int = 0, count: Optional[int] = None) -> list:
    """Strokes of a QuickDraw .ndjson file's drawings, from line `skip` (0-based), at most `count`."""
    drawings = []
    with open(path) as handle:
        for number, line in enumerate(handle):
            if number < skip:
                continue
            if count is not None and len(drawings) >= count:
                break
            drawings.append(json.loads(line)["drawing"])
    return drawings
