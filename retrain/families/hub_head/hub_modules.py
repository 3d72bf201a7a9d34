"""Finding, downloading, caching, fingerprinting and loading TF-Hub image feature-vector modules.

Resolution order for an architecture:
  1. `--tfhub_module` if given: a tfhub.dev / Kaggle handle, or a local module folder;
  2. the copy shipped in `retrain/modules/` if the architecture has one (works offline);
  3. the registry's TF-Hub handle, downloaded once into the TF-Hub cache (`TFHUB_CACHE_DIR`).

A module's *fingerprint* hashes its files, so the bottleneck cache can tell when a module changed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path
from typing import Optional

from retrain.families.architectures import ArchitectureSpec
from common.errors import ModuleUnavailableError

# retrain/modules/: the module that ships with qdretrain (package data of `retrain`).
EMBEDDED_MODULES_DIR = Path(__file__).resolve().parents[2] / "modules"


@dataclasses.dataclass(frozen=True)
class ResolvedModule:
    """A module on local disk.

    Attributes:
      handle: what was asked for (URL or path), for messages and the run's config.
      path: local SavedModel folder.
      fingerprint: hex digest of the module's files (identity for the bottleneck cache).
    """

    handle: str
    path: str
    fingerprint: str


def hub_cache_dir() -> str:
    """Where tensorflow_hub stores downloads: $TFHUB_CACHE_DIR, else its default temp folder."""
    explicit = os.environ.get("TFHUB_CACHE_DIR")
    if explicit:
        return os.path.expanduser(explicit)
    try:
        from tensorflow_hub import resolver
        return resolver.tfhub_cache_dir(use_temp=True)
    except Exception:  # an older/newer tensorflow_hub without the helper: report its documented default
        import tempfile
        return os.path.join(tempfile.gettempdir(), "tfhub_modules")


def _is_local(handle: str) -> bool:
    return "://" not in handle


def fingerprint_module(path: str) -> str:
    """Hashes every file of a SavedModel folder (names and contents), in a stable order."""
    digest = hashlib.sha256()
    root = Path(path)
    # os.walk with followlinks: rglob skips symlinked folders (variables/ is often a link).
    files = sorted(Path(folder, name) for folder, _, names in os.walk(root, followlinks=True)
                   for name in names)
    for file in files:
        digest.update(str(file.relative_to(root)).encode())
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def _check_local_module(path: str, handle: str) -> None:
    if os.path.isfile(path):
        hint = (" It looks like a Keras .h5/.keras model file: load it in Python and save the feature "
                "extractor with `tf.saved_model.save(model, 'module_dir')`, then pass module_dir."
                if path.lower().endswith((".h5", ".hdf5", ".keras")) else
                " If it is saved_model.pb, pass the folder that holds it." if os.path.basename(path) ==
                "saved_model.pb" else "")
        raise ModuleUnavailableError(
            f"--tfhub_module '{handle}' is a file, but a module is a TF2 SavedModel folder (holding "
            f"saved_model.pb and variables/) or a tfhub.dev / Kaggle handle.{hint}")
    if not os.path.isdir(path):
        raise ModuleUnavailableError(
            f"TF-Hub module folder '{handle}' does not exist. Pass --tfhub_module with a folder that "
            f"holds saved_model.pb and variables/, or a tfhub.dev handle.")
    if not (os.path.exists(os.path.join(path, "saved_model.pb"))
            or os.path.exists(os.path.join(path, "saved_model.pbtxt"))):
        raise ModuleUnavailableError(
            f"'{handle}' is a folder but not a SavedModel (no saved_model.pb in it). Point "
            f"--tfhub_module at the module's own folder, the one that holds saved_model.pb.")


def _download(handle: str) -> str:
    """Downloads (or finds in the TF-Hub cache) a module; turns network failures into advice."""
    import common.tfcompat  # noqa: F401 (TensorFlow first, with TF_USE_LEGACY_KERAS and quiet start-up)
    import tensorflow_hub as hub

    from common.writable import no_empty_folders_left_on_failure
    try:
        with no_empty_folders_left_on_failure(hub_cache_dir()):  # no empty /tmp/tfhub_modules after a failure
            return hub.resolve(handle)
    except Exception as error:  # URLError, HTTPError, OSError, tarfile errors: all mean "not here"
        raise ModuleUnavailableError(
            f"Could not download the TF-Hub module {handle}\n"
            f"  ({type(error).__name__}: {error})\n"
            f"  TF-Hub cache dir: {hub_cache_dir()} (set TFHUB_CACHE_DIR to choose another)\n"
            f"  Without network access, download the module elsewhere, copy its folder (the one with "
            f"saved_model.pb) to this machine and pass it with --tfhub_module /path/to/module, or put "
            f"it in the cache dir above. `--architecture mobilenet_0.25_224` works offline: its "
            f"module ships with qdretrain.") from None


def resolve_module(spec: ArchitectureSpec, tfhub_module: Optional[str] = None) -> ResolvedModule:
    """Finds the module for an architecture on local disk, downloading it if needed.

    Args:
      spec: the registry entry.
      tfhub_module: --tfhub_module; overrides the registry handle (URL or local folder).

    Returns:
      The local module and its fingerprint.

    Raises:
      ModuleUnavailableError: not found / no network; the message says what to do.
    """
    if tfhub_module:
        handle = tfhub_module
    elif spec.embedded_module and (EMBEDDED_MODULES_DIR / spec.embedded_module).is_dir():
        handle = str(EMBEDDED_MODULES_DIR / spec.embedded_module)
    else:
        handle = spec.handle
    if _is_local(handle):
        path = os.path.abspath(os.path.expanduser(handle))
        _check_local_module(path, handle)
    else:
        path = _download(handle)
        _check_local_module(path, handle)
    return ResolvedModule(handle=handle, path=path, fingerprint=fingerprint_module(path))


def load_feature_layer(module: ResolvedModule, trainable: bool = False, name: str = "backbone"):
    """A tf_keras layer wrapping the module: float32 [b, H, W, 3] in [0, 1] -> [b, features].

    Raises:
      ModuleUnavailableError: the folder is not a loadable image module.
    """
    from common.tfcompat import tf  # noqa: F401  (sets TF_USE_LEGACY_KERAS before hub imports Keras)
    import tensorflow_hub as hub
    try:
        return hub.KerasLayer(module.path, trainable=trainable, name=name)
    except Exception as error:
        raise ModuleUnavailableError(
            f"Could not load the module at {module.path} as a TF-Hub image feature-vector module "
            f"({type(error).__name__}: {error}). It must be a TF2 SavedModel taking float32 "
            f"[batch, height, width, 3] in [0, 1] and returning [batch, features].") from None


def probe_feature_size(module: ResolvedModule, input_size: int) -> int:
    """Runs the module once on zeros and returns its feature length (checks a custom module's shape).

    Raises:
      ModuleUnavailableError: the module does not produce [batch, features] for that input size.
    """
    from common.tfcompat import tf
    layer = load_feature_layer(module)
    try:
        out = layer(tf.zeros([1, input_size, input_size, 3], tf.float32))
    except Exception as error:
        raise ModuleUnavailableError(
            f"The module at {module.path} failed on a [1, {input_size}, {input_size}, 3] input "
            f"({type(error).__name__}). If it expects another size, pass --input_size.") from None
    if len(out.shape) != 2:
        raise ModuleUnavailableError(
            f"The module at {module.path} returns shape {tuple(out.shape)}; a feature-vector module "
            f"returns [batch, features]. Use a '.../feature_vector/N' handle, not a classification one.")
    return int(out.shape[-1])
