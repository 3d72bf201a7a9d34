"""`qdretrain serve`'s JSON API through Starlette's test client, on a stand-in model exported to TFLite."""

from __future__ import annotations

import base64
import io
import json
import os
import threading

import numpy as np
import pytest

pytest.importorskip("starlette")
try:  # the client Starlette's TestClient is built on (httpx2; the older httpx works too)
    import httpx2  # noqa: F401
except ImportError:
    pytest.importorskip("httpx", reason="neither httpx2 nor httpx is installed (pip install '.[serve]')")
from starlette.testclient import TestClient  # noqa: E402

from tests.test_export_modeldir import make_model_dir  # noqa: E402

_CACHE: dict = {}
LINE = [[[10, 60, 120, 200], [20, 80, 90, 240]], [[30, 30], [200, 10]]]


@pytest.fixture
def served_dir(tmp_path_factory, standin_module) -> str:
    """A stand-in model dir with model.tflite and model_int8.tflite (built once per session)."""
    if "dir" not in _CACHE:
        from android_export.exporter import ExportConfig, run_export
        model_dir = make_model_dir(str(tmp_path_factory.mktemp("served")), standin_module, epochs=5)
        run_export(ExportConfig(model_dir=model_dir, formats=("tflite", "tflite_int8")))
        _CACHE["dir"] = model_dir
    return _CACHE["dir"]


@pytest.fixture
def client(served_dir, tmp_path):
    from serve.app import create_app
    from serve.model import ServedModel
    if "model" not in _CACHE:
        _CACHE["model"] = ServedModel(served_dir)
    app = create_app(_CACHE["model"], collect_dir=str(tmp_path / "collected"), max_body_bytes=200_000)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def test_model_contract(client):
    info = client.get("/model").json()
    assert info["labels"] == ["apple", "cat", "sea turtle"]
    assert info["artifacts"] == ["model.tflite", "model_int8.tflite", "saved_model"]
    assert info["default_artifact"] == "model.tflite" and info["input_height"] == 32 and info["collect"]


def test_classify_strokes_float_and_int8(client):
    from retrain.data.stroke_rendering import render_drawing
    for artifact in ("model.tflite", "model_int8.tflite"):
        response = client.post("/classify", json={"strokes": LINE, "artifact": artifact})
        assert response.status_code == 200, response.text
        result = response.json()
        assert result["artifact"] == artifact and len(result["scores"]) == 3 and result["latency_ms"] > 0
        assert abs(sum(result["scores"]) - 1) < 0.02
        assert [t["label"] for t in result["top"]][0] == result["labels"][int(np.argmax(result["scores"]))]
        from PIL import Image
        shown = np.asarray(Image.open(io.BytesIO(base64.b64decode(result["input_png"]))))
        np.testing.assert_array_equal(shown, render_drawing(LINE, 32, 32))


def test_classify_png_matches_strokes(client):
    from PIL import Image
    from retrain.data.stroke_rendering import render_drawing
    buffer = io.BytesIO()
    Image.fromarray(render_drawing(LINE, 32, 32)).save(buffer, format="PNG")
    png = client.post("/classify", json={"png": base64.b64encode(buffer.getvalue()).decode()}).json()
    strokes = client.post("/classify", json={"strokes": LINE}).json()
    np.testing.assert_allclose(png["scores"], strokes["scores"], atol=1e-5)


def test_the_page_and_its_files_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and "<canvas" in page.text and "/static/app.js" in page.text
    # The drawing pad is page.js, shared with the web export; app.js imports it.
    assert "./page.js" in client.get("/static/app.js").text
    assert "pointerdown" in client.get("/static/page.js").text
    for name in ("app.js", "page.js"):
        assert "http" not in client.get(f"/static/{name}").text.replace("http://", "")  # no CDN


BAD = [
    (b"not json", "not JSON"),
    (b"[1, 2]", "JSON object"),
    (b'{"strokes": [[[1, NaN], [2, 3]]]}', "not a number JSON allows"),
    (b'{"strokes": [[[1, Infinity], [2, 3]]]}', "not a number JSON allows"),
    (b'{"strokes": [[[1, 1e400], [2, 3]]]}', "finite"),
    (b'{"strokes": [[[1, 2], [2]]]}', "2 xs but 1 ys"),
    (b'{"strokes": [[1, 2, 3]]}', "not [[xs], [ys]]"),
    (b'{"strokes": "a cat"}', "must be a list"),
    (b'{"strokes": [[["a"], [2]]]}', "finite"),
    (b'{"strokes": [[[true], [2]]]}', "finite"),
    (b'{"strokes": [[[], []]]}', "no points"),
    (b'{"strokes": []}', "no points"),
    (b'{}', "exactly one of"),
    (b'{"strokes": [[[1], [2]]], "artifact": "../../etc/passwd"}', "unknown artifact"),
    (b'{"strokes": [[[1], [2]]], "top_k": 0}', "top_k"),
    (b'{"png": "%%%"}', "not valid base64"),
    (b'{"png": "aGVsbG8="}', "not a readable PNG"),
    (b'[' * 150_000 + b']' * 150_000, "body is over"),
    (b'[' * 50_000 + b']' * 50_000, "nested too deeply"),
]


@pytest.mark.parametrize("body,reason", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_input_gets_4xx_with_a_reason(client, body, reason):
    response = client.post("/classify", content=body, headers={"content-type": "application/json"})
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:200])
    error = response.json()["error"]
    assert reason in error and "\n" not in error
    assert client.post("/classify", json={"strokes": LINE}).status_code == 200  # still alive


def test_a_million_points_and_huge_bodies_are_refused(client):
    million = {"strokes": [[list(range(1_000_000)), list(range(1_000_000))]]}
    assert client.post("/classify", json=million).status_code == 413
    # Under the byte limit but over the point limit.
    from serve.validation import MAX_POINTS
    many = {"strokes": [[[1] * 30_000, [2] * 30_000]]}
    response = client.post("/classify", content=json.dumps(many).replace(" ", ""),
                           headers={"content-type": "application/json"})
    assert response.status_code == 413 and str(MAX_POINTS) in response.json()["error"]
    # A lying (absent) Content-Length: the streamed body is cut at the limit all the same.
    chunks = (b"x" * 10_000 for _ in range(100))
    assert client.post("/classify", content=chunks).status_code == 413
    from PIL import Image
    buffer = io.BytesIO()
    Image.new("L", (5000, 4000)).save(buffer, format="PNG")  # small file, 20 M pixels
    png = base64.b64encode(buffer.getvalue()).decode()
    assert len(png) < 200_000
    assert client.post("/classify", json={"png": png}).status_code == 413


def test_concurrent_requests_all_answer(client):
    expected = client.post("/classify", json={"strokes": LINE}).json()["scores"]
    results, errors = [], []

    def worker(artifact):
        try:
            for _ in range(5):
                response = client.post("/classify", json={"strokes": LINE, "artifact": artifact})
                results.append((artifact, response.status_code, response.json()["scores"]))
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
    threads = [threading.Thread(target=worker, args=(a,)) for a in ["model.tflite", "model_int8.tflite"] * 4]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(results) == 40 and all(status == 200 for _, status, _ in results)
    floats = [scores for artifact, _, scores in results if artifact == "model.tflite"]
    assert all(np.allclose(s, expected, atol=1e-6) for s in floats)


def test_collect_appends_readable_lines(client, tmp_path):
    from convert.sources import parse_drawing
    for label in ("cat", "sea turtle", "cat"):
        response = client.post("/collect", json={"strokes": LINE, "label": label})
        assert response.status_code == 200, response.text
    cat = tmp_path / "collected" / "cat.ndjson"
    lines = cat.read_bytes().splitlines()
    assert len(lines) == 2 and (tmp_path / "collected" / "sea turtle.ndjson").exists()
    drawing, recognized = parse_drawing(lines[0], 1)
    assert json.loads(lines[0])["word"] == "cat" and recognized
    xs = [x for stroke in drawing.strokes for x in stroke[0]]
    assert min(xs) == 0 and max(max(xs), max(y for s in drawing.strokes for y in s[1])) == 255
    for bad in ({"strokes": LINE, "label": "../../evil"}, {"strokes": LINE, "label": "dog"},
                {"strokes": [[[1], [float("1e400")]]], "label": "cat"}, {"label": "cat"}):
        assert client.post("/collect", content=json.dumps(bad), headers={"content-type": "application/json"}
                           ).status_code == 400
    assert sorted(os.listdir(tmp_path / "collected")) == ["cat.ndjson", "sea turtle.ndjson"]


def test_collection_survives_interrupted_writes(tmp_path, monkeypatch):
    """A write cut short (a crash mid-line) never leaves a corrupt line in front of the next one."""
    from serve import collect
    from convert.sources import parse_drawing
    path = collect.append_drawing(str(tmp_path), "cat", LINE)
    with open(path, "ab") as handle:  # what a crash between two partial writes would leave
        handle.write(collect.drawing_line(LINE, "cat")[:37])
    collect.append_drawing(str(tmp_path), "cat", LINE)
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, data[:20]))  # a short write (disk full)
    with pytest.raises(OSError, match="only 20 of"):
        collect.append_drawing(str(tmp_path), "cat", LINE)
    monkeypatch.undo()
    collect.append_drawing(str(tmp_path), "cat", LINE)
    data = open(path, "rb").read()
    assert data.endswith(b"\n")
    lines = data.splitlines()
    assert len(lines) == 3
    for number, line in enumerate(lines, 1):
        parse_drawing(line, number)  # every line is whole and parses
    # Many threads at once: each line whole.
    threads = [threading.Thread(target=collect.append_drawing, args=(str(tmp_path), "dog", LINE)) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    dog = open(os.path.join(tmp_path, "dog.ndjson"), "rb").read().splitlines()
    assert len(dog) == 16 and all(parse_drawing(line, 1) for line in dog)


def test_collect_off_without_collect_dir(served_dir):
    from serve.app import create_app
    from serve.model import ServedModel
    with TestClient(create_app(_CACHE.get("model") or ServedModel(served_dir))) as plain:
        assert plain.get("/model").json()["collect"] is False
        assert plain.post("/collect", json={"strokes": LINE, "label": "cat"}).status_code == 404


def test_resize_matches_training(served_dir):
    """The adapter's bilinear resize is TensorFlow's (retrain.data.images.pixels_to_input)."""
    from convert.render import render_strokes
    from retrain.data.images import pixels_to_input
    from retrain.data.quickdraw_source import RENDER_OPTIONS
    from retrain.data.stroke_rendering import quickdraw_simplified, render_drawing
    rendered = np.asarray(render_strokes(quickdraw_simplified(LINE), RENDER_OPTIONS), np.float32)
    expected = (pixels_to_input(np.repeat(rendered[..., None], 3, 2), 224).numpy()[..., 0] * 127.5 + 127.5)
    assert np.abs(render_drawing(LINE, 224, 224).astype(np.float32) - expected).max() <= 0.5 + 1e-3


def test_serve_cli_errors(tmp_path):
    from click.testing import CliRunner
    from retrain.cli.main import cli
    result = CliRunner().invoke(cli, ["serve", "--model_dir", str(tmp_path)])
    assert result.exit_code == 1 and "model_info.json" in result.output


def test_strokes_are_rendered_by_the_contract_the_model_folder_states():
    from convert.drawing import DrawingContract, render_strokes
    from retrain.data.stroke_rendering import quickdraw_simplified, render_drawing
    strokes = [[[10, 200, 120], [20, 40, 230]]]
    thin = DrawingContract(size=28, stroke_width=4.0).to_json()
    expected = render_strokes(quickdraw_simplified(strokes), DrawingContract.from_json(thin))
    np.testing.assert_array_equal(render_drawing(strokes, 28, 28, thin), expected)
    assert not np.array_equal(render_drawing(strokes, 28, 28, DrawingContract(size=28).to_json()), expected)
