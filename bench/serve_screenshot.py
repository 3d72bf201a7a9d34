"""Refreshes docs/serve_screenshot.png from the demo model (`bash .ci/demo` first): serves
qdretrain_demo/model, draws a doodle with the mouse in Debian's headless chromium (Playwright) and
saves the page. The doodle is drawn by formula (the embedded sample holds bitmaps, not strokes): the
first of a few simple shapes of the demo's classes that the model gets right is the one drawn.

    python bench/serve_screenshot.py [--model_dir qdretrain_demo/model] [--output docs/serve_screenshot.png]
"""

from __future__ import annotations

import argparse
import json
import math
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"


def _shapes() -> dict:
    """Formula doodles on Quick, Draw!'s 256 canvas, by the demo class they are meant as."""
    t = [k / 48 for k in range(49)]
    circle = lambda cx, cy, r, a=0.0, b=1.0: [[round(cx + r * math.cos(2 * math.pi * (a + (b - a) * v))) for v in t],  # noqa: E731
                                               [round(cy + r * math.sin(2 * math.pi * (a + (b - a) * v))) for v in t]]
    return {
        "lollipop": [circle(128, 80, 60), [[128, 128], [140, 250]]],
        "diamond": [[[128, 230, 128, 26, 128], [10, 128, 246, 128, 10]]],
        "rainbow": [circle(128, 200, r, 0.5, 1.0) for r in (110, 85, 60)],
        "eye": [circle(128, 128, 100, 0.5, 1.0), circle(128, 128, 100, 0.0, 0.5), circle(128, 128, 35)],
        "apple": [circle(128, 150, 90), [[128, 135], [60, 10]]],
    }


def _classify(url: str, strokes) -> str:
    request = urllib.request.Request(url + "classify", data=json.dumps({"strokes": strokes}).encode(),
                                     headers={"content-type": "application/json"})
    return json.loads(urllib.request.urlopen(request, timeout=60).read())["top"][0]["label"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_dir", default=str(ROOT / "qdretrain_demo" / "model"))
    parser.add_argument("--output", default=str(ROOT / "docs" / "serve_screenshot.png"))
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "retrain", "serve", "--model_dir", args.model_dir,
                               "--port", str(port)], cwd=ROOT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.time() + 180
        while True:
            try:
                urllib.request.urlopen(url + "model", timeout=2).read()
                break
            except OSError:
                if server.poll() is not None or time.time() > deadline:
                    print("the server did not start", file=sys.stderr)
                    return 1
                time.sleep(0.5)
        label, strokes = next(((label, s) for label, s in _shapes().items() if _classify(url, s) == label),
                              (None, None))
        if label is None:
            print("the model gets none of the formula doodles right; nothing written", file=sys.stderr)
            return 1
        from android_export.web_check import replay_strokes
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1100, "height": 720})
            page.goto(url)
            page.wait_for_selector("body[data-ready='1']")
            replay_strokes(page, strokes)  # as the web export's browser check draws
            page.wait_for_load_state("networkidle")
            page.wait_for_timeout(500)
            page.screenshot(path=args.output)
            browser.close()
        print(f"Wrote {args.output}: a formula {label}, classified {label} by {args.model_dir}")
        return 0
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
