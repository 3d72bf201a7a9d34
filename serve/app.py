"""The web app (Starlette): the page, and the JSON API it uses (a script can use it too).

  GET  /            the drawing page (serve/static/index.html)
  GET  /model       the model_info.json contract, labels and artifacts
  POST /classify    {"strokes": [[[xs], [ys]], ...] | "png": base64, "artifact"?: name, "top_k"?: n}
                    -> {"labels", "scores", "top", "latency_ms", "artifact", "input_png"}
  POST /collect     {"strokes": ..., "label": one of the model's labels} -> {"path", "label"}

Bad input answers 4xx with {"error": one-line reason}; rendering and inference run in worker threads.
"""

from __future__ import annotations

import asyncio
import base64
import errno
import io
import os
from typing import Optional

import numpy as np
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from serve import collect
from serve.model import ServedModel
from retrain.data.stroke_rendering import render_drawing
from serve.validation import MAX_BODY_BYTES, RequestError, parse_json, parse_png, parse_strokes

STATIC_DIR = os.path.join(os.path.dirname(__file__), "static")
# Classifications (decode + render + inference) running at once; the rest wait their turn without a
# thread or a decoded image, so memory stays flat however many clients send at once.
MAX_CONCURRENT_CLASSIFICATIONS = max(1, min(4, os.cpu_count() or 1))
# A body that has not fully arrived after this long is answered 408 and its connection dropped (a
# stalled or trickling client must not hold a connection and its buffer forever).
BODY_TIMEOUT_S = 20.0


def _error(reason: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": reason}, status_code=status)


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused (413) as soon as it passes `limit` bytes: a huge upload is never held whole."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise RequestError(f"the body is over {limit} bytes", 413)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(f"the body is over {limit} bytes", 413)
        chunks.append(chunk)
    return b"".join(chunks)


def _png_base64(pixels: np.ndarray) -> str:
    from PIL import Image
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def create_app(model: ServedModel, collect_dir: Optional[str] = None, max_body_bytes: int = MAX_BODY_BYTES,
               max_concurrent: int = MAX_CONCURRENT_CLASSIFICATIONS, body_timeout_s: float = BODY_TIMEOUT_S):
    """The ASGI app serving `model`.

    Args:
      model: the loaded artifacts.
      collect_dir: where corrections go (None: POST /collect answers 404 and the page hides the control).
      max_body_bytes: the request size limit.
      max_concurrent: classifications decoding/running at once (the others queue).
      body_timeout_s: seconds a request body may take to arrive.
    """
    slots = asyncio.Semaphore(max_concurrent)

    async def body_json(request: Request) -> dict:
        try:
            body = await asyncio.wait_for(_read_body(request, max_body_bytes), body_timeout_s)
        except asyncio.TimeoutError:
            raise RequestError(f"the body did not arrive within {body_timeout_s:g}s", 408) from None
        return parse_json(body)

    def classify_sync(payload: dict) -> dict:
        artifact = payload.get("artifact") or model.default_artifact
        if not isinstance(artifact, str) or artifact not in model.artifacts:
            raise RequestError(f"unknown artifact {str(artifact)[:40]!r}; choose from {', '.join(model.artifacts)}")
        top_k = payload.get("top_k", min(5, len(model.labels)))
        if not isinstance(top_k, int) or isinstance(top_k, bool) or not 1 <= top_k <= len(model.labels):
            raise RequestError(f"'top_k' must be an integer from 1 to {len(model.labels)}")
        if ("strokes" in payload) == ("png" in payload):
            raise RequestError("send exactly one of 'strokes' ([[xs], [ys]] per stroke) or 'png' (base64)")
        if "strokes" in payload:
            pixels = render_drawing(parse_strokes(payload["strokes"]), model.height, model.width,
                                    model.info.get("drawing_contract"))
        else:
            pixels = parse_png(payload["png"], model.height, model.width)
        result = model.classify(pixels, artifact)
        order = np.argsort(-result.scores, kind="stable")[:top_k]
        return {"artifact": result.artifact, "labels": model.labels,
                "scores": [round(float(s), 6) for s in result.scores],
                "top": [{"label": model.labels[i], "score": round(float(result.scores[i]), 6)} for i in order],
                "latency_ms": round(result.latency_ms, 3), "input_png": _png_base64(pixels)}

    async def classify(request: Request):
        try:
            payload = await body_json(request)
            async with slots:
                return JSONResponse(await run_in_threadpool(classify_sync, payload))
        except RequestError as error:
            return _error(str(error), error.status)

    def collect_sync(payload: dict) -> dict:
        label = payload.get("label")
        if not isinstance(label, str) or label not in model.labels:
            raise RequestError(f"'label' must be one of the model's {len(model.labels)} labels")
        strokes = parse_strokes(payload.get("strokes"))
        try:
            path = collect.append_drawing(collect_dir, label, strokes)
        except OSError as error:
            from common.writable import describe_write_failure
            # 507 (Insufficient Storage) for a full disk or quota, 500 otherwise; the reason says which.
            status = 507 if error.errno in (errno.ENOSPC, errno.EDQUOT) else 500
            raise RequestError(describe_write_failure(collect_dir, "--collect_dir", error), status) from None
        return {"label": label, "path": path}

    async def collect_drawing(request: Request):
        if collect_dir is None:
            return _error("collection is off: start the server with --collect_dir DIR", 404)
        try:
            return JSONResponse(await run_in_threadpool(collect_sync, await body_json(request)))
        except RequestError as error:
            return _error(str(error), error.status)

    async def model_info(request: Request):
        return JSONResponse({**model.contract(), "collect": collect_dir is not None})

    async def page(request: Request):
        return FileResponse(os.path.join(STATIC_DIR, "index.html"))

    async def client_gone(request: Request, exc: Exception):
        return _error("the client went away", 400)

    routes = [Route("/", page), Route("/model", model_info), Route("/classify", classify, methods=["POST"]),
              Route("/collect", collect_drawing, methods=["POST"]),
              Mount("/static", StaticFiles(directory=STATIC_DIR), name="static")]
    return Starlette(routes=routes, exception_handlers={ClientDisconnect: client_gone})
