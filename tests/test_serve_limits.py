"""`qdretrain serve` under hostile clients and broken folders (issue 17, items 3 and 17): memory stays
flat under 20 parallel decompression-bomb PNGs, classifications are bounded, stalled bodies time out,
and a broken model folder or collect folder is refused at start-up with one line."""

from __future__ import annotations

import base64
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

pytest.importorskip("starlette")
from tests.test_serve_api import LINE, served_dir  # noqa: E402,F401 (fixture)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def png_b64(width: int, height: int, noise: bool = False) -> str:
    from PIL import Image
    if noise:  # 8x8 blocks of noise with transparency: the whole decode path, within the body limit
        blocks = np.random.default_rng(0).integers(0, 256, (height // 8, width // 8, 4), dtype=np.uint8)
        image = Image.fromarray(np.kron(blocks, np.ones((8, 8, 1), np.uint8)), "RGBA")
    else:
        image = Image.new("RGB", (width, height), "white")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _post(port: int, path: str, payload: dict, timeout: float = 120) -> tuple[int, dict]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _status_kb(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def _parallel(port: int, payload: dict, count: int) -> list[int]:
    codes: list[int] = []
    threads = [threading.Thread(target=lambda: codes.append(_post(port, "/classify", payload)[0]))
               for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return codes


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux /proc peak-RSS reset")
def test_serve_memory_stays_flat_under_20_parallel_4096_pngs(served_dir):  # noqa: F811
    """Measured: the served process's peak RSS (VmHWM, reset through /proc/PID/clear_refs after a warm-up
    request) while 20 clients at once send a blank 4096x4096 PNG (30 KB each), then 20 send the largest
    allowed PNG (1024x1024 RGBA of block noise). Before the fix each 4096 request decoded ~650 MB."""
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": REPO}
    server = subprocess.Popen([sys.executable, "-c", "from retrain.cli.main import cli; cli()", "serve",
                               "--model_dir", served_dir, "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/model", timeout=1).read()
                break
            except OSError:
                assert server.poll() is None, server.stderr.read().decode()
                time.sleep(0.1)
        assert _post(port, "/classify", {"strokes": LINE})[0] == 200  # warm-up: everything loaded
        assert _post(port, "/classify", {"png": png_b64(1024, 1024, noise=True)})[0] == 200
        bomb, biggest = {"png": png_b64(4096, 4096)}, {"png": png_b64(1024, 1024, noise=True)}
        with open(f"/proc/{server.pid}/clear_refs", "w") as handle:
            handle.write("5")  # VmHWM := current RSS
        before = _status_kb(server.pid, "VmRSS")
        codes = _parallel(port, bomb, 20)
        bomb_growth_mb = (_status_kb(server.pid, "VmHWM") - before) / 1024
        assert codes == [413] * 20
        codes = _parallel(port, biggest, 20)
        growth_mb = (_status_kb(server.pid, "VmHWM") - before) / 1024
        assert codes == [200] * 20
        print(f"peak RSS growth: 20 x 4096x4096 bombs {bomb_growth_mb:.1f} MB; "
              f"+ 20 x 1024x1024 noise {growth_mb:.1f} MB")
        assert bomb_growth_mb < 40, f"peak RSS grew {bomb_growth_mb:.0f} MB under 20 refused PNGs"
        assert growth_mb < 150, f"peak RSS grew {growth_mb:.0f} MB under 20 allowed PNGs"
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_png_is_checked_from_its_header_and_decoded_at_the_model_size():
    from serve.validation import MAX_PNG_PIXELS, RequestError, parse_png
    with pytest.raises(RequestError, match="4096x4096") as refused:
        parse_png(png_b64(4096, 4096), 32, 32)
    assert refused.value.status == 413 and MAX_PNG_PIXELS <= 1024 * 1024
    assert parse_png(png_b64(1000, 1000), 224, 224).shape == (224, 224, 3)


def test_png_resize_is_tensorflow_bilinear_on_white():
    """The gathered-tap resize equals compositing on white, then tf.image.resize bilinear."""
    from common.tfcompat import tf
    from PIL import Image
    from serve.validation import parse_png
    rng = np.random.default_rng(1)
    rgba = rng.integers(0, 256, (70, 90, 4), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, format="PNG")
    alpha = rgba[..., 3:].astype(np.float64) / 255
    on_white = rgba[..., :3] * alpha + 255 * (1 - alpha)
    expected = tf.image.resize(on_white[None], [32, 48], method="bilinear").numpy()[0]
    got = parse_png(base64.b64encode(buffer.getvalue()).decode(), 32, 48)
    assert np.abs(got.astype(np.float64) - expected).max() <= 0.5 + 1e-3


def test_a_stalled_body_times_out_and_classifications_are_bounded(served_dir):  # noqa: F811
    import asyncio

    from serve.app import create_app
    from serve.model import ServedModel
    model = ServedModel(served_dir)
    running, most = [0], [0]
    original = model.classify

    def counting(*args, **kwargs):
        running[0] += 1
        most[0] = max(most[0], running[0])
        time.sleep(0.05)
        try:
            return original(*args, **kwargs)
        finally:
            running[0] -= 1

    model.classify = counting
    app = create_app(model, max_concurrent=2, body_timeout_s=0.3)
    status, body = asyncio.run(_stalled(app))
    assert status == 408 and b"did not arrive" in body
    statuses = asyncio.run(_many(app, json.dumps({"strokes": LINE}).encode(), 8))
    assert statuses == [200] * 8 and most[0] <= 2


def _scope():
    return {"type": "http", "method": "POST", "path": "/classify", "headers": [], "query_string": b"",
            "root_path": "", "scheme": "http", "server": ("t", 80), "http_version": "1.1"}


async def _one(app, messages, stall: float = 0.0):
    import asyncio
    sent, pending = [], list(messages)

    async def receive():
        if pending:
            return pending.pop(0)
        await asyncio.sleep(stall)  # the client stops sending
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    await app(_scope(), receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


async def _stalled(app):
    return await _one(app, [{"type": "http.request", "body": b'{"strokes": ', "more_body": True}], stall=5)


async def _many(app, body: bytes, count: int):
    import asyncio
    results = await asyncio.gather(*[_one(app, [{"type": "http.request", "body": body, "more_body": False}])
                                     for _ in range(count)])
    return [status for status, _ in results]
