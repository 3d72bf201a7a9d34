"""`qdretrain export --formats web`: a static folder that classifies drawings in the browser.

<output dir>/web/ holds everything the page needs, nothing fetched from elsewhere at run time:
  index.html, app.js, drawing.js, model.js   the page (android_export/web/), drawing.js the drawing
                                              contract ported to JavaScript
  style.css                                   the `qdretrain serve` page's (serve/static/)
  model.tflite                                the verified float model the Android app ships
  model.json                                  labels, input size, mean/std, the drawing contract
  litert/                                     LiteRT.js (@litertjs/core): its module, helper and the
                                              two WebAssembly builds it picks from without threads/JSPI

LiteRT.js comes from npm, not from this repository (~39 MB, Apache-2.0): `npm ci` in
android_export/web/ puts it in android_export/web/node_modules/, and the export copies the files it
needs from there (or from $QDRETRAIN_WEB_RUNTIME, a node_modules folder elsewhere). See docs/web.md.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from typing import Callable, Optional

from common.errors import QdretrainError

WEB_FORMAT = "web"
WEB_FOLDER = "web"
SOURCE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "web")
PAGE_FILES = ("index.html", "app.js", "drawing.js", "model.js")
# Shared with `qdretrain serve`'s page, copied in at export time (one source for both pages).
SERVE_STATIC = os.path.join(os.path.dirname(SOURCE_DIR), os.pardir, "serve", "static")
STYLE_SHEET = os.path.join(SERVE_STATIC, "style.css")
SHARED_PAGE_FILES = ("page.js",)
RUNTIME_PACKAGE = "@litertjs/core"
RUNTIME_VERSION = "2.5.3"  # pinned in android_export/web/package.json
RUNTIME_ENV = "QDRETRAIN_WEB_RUNTIME"
# Without threads (they need cross-origin isolation headers a plain static server does not send) and
# without JSPI, LiteRT.js loads litert_wasm_internal (browsers with relaxed SIMD: Chrome, Edge) or
# litert_wasm_compat_internal (the others). The threaded and JSPI builds (~19 MB) are left out.
WASM_BUILDS = ("litert_wasm_internal", "litert_wasm_compat_internal")
MODEL_FILE = "model.tflite"


def node_modules() -> str:
    """Where LiteRT.js is looked for: $QDRETRAIN_WEB_RUNTIME, else android_export/web/node_modules."""
    return os.environ.get(RUNTIME_ENV) or os.path.join(SOURCE_DIR, "node_modules")


def install_hint() -> str:
    return (f"Install it once with `npm ci --prefix {os.path.relpath(SOURCE_DIR)}` (Node.js's npm; it fetches "
            f"{RUNTIME_PACKAGE} {RUNTIME_VERSION}, see docs/web.md), or point ${RUNTIME_ENV} at a node_modules "
            f"folder that has it.")


def runtime_files(modules: Optional[str] = None) -> dict:
    """{path inside the web folder: source path} for the runtime, checked.

    Raises:
      QdretrainError: LiteRT.js is absent, incomplete or another version; the message says what to run.
    """
    modules = modules or node_modules()
    core = os.path.join(modules, "@litertjs", "core")
    helper = os.path.join(modules, "@litertjs", "wasm-utils")
    package = os.path.join(core, "package.json")
    if not os.path.exists(package):
        raise QdretrainError(f"The web export needs LiteRT.js ({RUNTIME_PACKAGE}), which is not in {modules}. "
                             + install_hint())
    with open(package) as handle:
        version = json.load(handle).get("version")
    if version != RUNTIME_VERSION:
        raise QdretrainError(f"{modules} has {RUNTIME_PACKAGE} {version}; the web page is written for "
                             f"{RUNTIME_VERSION}. " + install_hint())
    files = {"litert/core.js": os.path.join(core, "dist", "index.js"),
             "litert/wasm-utils.js": os.path.join(helper, "dist", "index.js")}
    for build in WASM_BUILDS:
        for ext in ("js", "wasm"):
            files[f"litert/wasm/{build}.{ext}"] = os.path.join(core, "wasm", f"{build}.{ext}")
    missing = [path for path in files.values() if not os.path.exists(path)]
    if missing:
        raise QdretrainError(f"LiteRT.js in {modules} is incomplete ({os.path.basename(missing[0])} is missing). "
                             + install_hint())
    return files


def page_info(info: dict, labels) -> dict:
    """model.json: what the page reads before it loads the model."""
    from convert.drawing import DEFAULT_CONTRACT
    return {
        "model": MODEL_FILE, "labels": list(labels), "architecture": info.get("architecture", "classifier"),
        "input_height": int(info["input_height"]), "input_width": int(info["input_width"]),
        "input_mean": float(info["input_mean"]), "input_std": float(info["input_std"]),
        # A model folder from before the contract was recorded was trained on the default look
        # (retrain/data/stroke_rendering.py falls back the same way).
        "drawing_contract": info.get("drawing_contract") or DEFAULT_CONTRACT.to_json(),
        "runtime": f"{RUNTIME_PACKAGE} {RUNTIME_VERSION}",
        # The training run the page's model comes from (retrain/model_folder/contract.py).
        "run_id": info.get("run_id"),
    }


def write_web_folder(out_dir: str, info: dict, labels, tflite_path: str,
                     echo: Callable[[str], None] = print) -> str:
    """Writes <out_dir>/web (replacing an older one whole, never half-written). Returns its path.

    Args:
      out_dir: the export's output dir.
      info: the model's model_info.json contents.
      labels: the labels, model output order.
      tflite_path: the verified float model.tflite.

    Raises:
      QdretrainError: LiteRT.js is not installed (see `runtime_files`).
    """
    files = runtime_files()
    files.update({name: os.path.join(SOURCE_DIR, name) for name in PAGE_FILES})
    files["style.css"] = os.path.normpath(STYLE_SHEET)
    files.update({name: os.path.normpath(os.path.join(SERVE_STATIC, name)) for name in SHARED_PAGE_FILES})
    files[MODEL_FILE] = tflite_path
    target = os.path.join(out_dir, WEB_FOLDER)
    staging = tempfile.mkdtemp(prefix=".web-", dir=out_dir)
    os.chmod(staging, 0o755)  # mkdtemp makes it private; a web folder is for serving
    try:
        for name, source in files.items():
            os.makedirs(os.path.dirname(os.path.join(staging, name)), exist_ok=True)
            shutil.copyfile(source, os.path.join(staging, name))
        with open(os.path.join(staging, "model.json"), "w") as handle:
            json.dump(page_info(info, labels), handle, indent=1)
        if os.path.isdir(target):
            shutil.rmtree(target)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    size = sum(os.path.getsize(os.path.join(root, f)) for root, _, names in os.walk(target) for f in names)
    echo(f"Wrote {target} ({size / 1e6:.1f} MB): serve it with any static server, e.g. "
         f"`python -m http.server --directory {target}`, and open http://localhost:8000/.")
    return target
