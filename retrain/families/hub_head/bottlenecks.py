"""The bottleneck cache: each image's feature vector, computed once by the module and reused by every run.

Layout (one folder per module identity and preprocessing, so a changed module never meets stale
features, and a rerun with the same module reuses everything):

  <bottleneck_dir>/<module-name>-<size>px-<key>/meta.json             what the key stands for
  <bottleneck_dir>/<module-name>-<size>px-<key>/part-<unique>.npz     keys, features, failures

`key` hashes the module's fingerprint (its files), the input size and the preprocessing version
(retrain/data/images.py). Each part file holds the features of a batch of images (float32 [n, D]) with the
images' keys, plus images that failed to decode and why. Parts are written to a temporary name, synced
and renamed (`os.replace`), so a reader never sees half a file: interrupt a run anywhere and the finished
parts are kept, the rest is recomputed by the next run. Part names carry time, pid and a random id, so
any number of processes (the shards of a distributed job) can write into one shared folder without
clashing. A part that is still unreadable (a copy gone wrong, a bad disk) is reported and ignored.

Per-image keys are content hashes (sha1 of the file's bytes; of the drawing for QuickDraw rows), not
path + mtime: renaming, moving or copying a dataset reuses its features, duplicates are computed once,
and an edited image is recomputed even if its mtime lies. The cost is reading each file once per run to
hash it — a small fraction of what decoding and the forward pass cost — and it is memoised per process.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import re
import time
import uuid
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Optional, Sequence

import numpy as np

from convert.drawing_augment import AUGMENT_VERSION
from retrain.data import quickdraw_source
from retrain.families.architectures import INPUT_MEAN, INPUT_STD, ArchitectureSpec
from retrain.data.dataset import ImageRecord
from common.errors import DatasetError
from retrain.families.hub_head.hub_modules import ResolvedModule
from retrain.data.images import PREPROCESSING_VERSION
from common.progress import progress_bar

log = logging.getLogger(__name__)

FORMAT_VERSION = 1         # the part-file layout; part of the folder key
PART_PREFIX = "part-"
PART_SUFFIX = ".npz"
TMP_PREFIX = ".tmp-"
META_FILE = "meta.json"
KEY_LENGTH = 40            # sha1 hex
STALE_TMP_SECONDS = 24 * 3600  # a temp part this old belongs to a process that died; safe to delete
# A kill -9 loses at most this much caching work. One part file (an fsync'd .npz) per 256 images
# costs under 2% of cache throughput (bench/bench_cache_flush.py), and later runs read a few more files.
FLUSH_EVERY = 256
FLUSH_SECONDS = 10.0
# What reading a damaged .npz can raise (truncated, overwritten, bad CRC, missing member, bad header).
_UNREADABLE = (OSError, ValueError, KeyError, EOFError, AttributeError, TypeError, zipfile.BadZipFile,
               zlib.error)


@dataclasses.dataclass(frozen=True)
class CacheReport:
    """What one `compute` did.

    Attributes:
      cache_dir: the keyed folder the features are in.
      requested: records passed in.
      unique: distinct images among them (same content = one image).
      already_cached: distinct images found in the cache (features or a known decode failure).
      computed: distinct images this call computed (features or failure).
      other_shards: missing images left to the other shards of a sharded run.
      failed: (relpath, reason) of requested records that cannot be decoded (now or in an earlier run).
      corrupt_files: (path, reason) of unreadable part files that were ignored.
      seconds: wall time of the call.
      compute_seconds: of which reading, decoding and the forward passes took this long (the rest:
        hashing, scanning the cache, loading the module).
    """

    cache_dir: str
    requested: int
    unique: int
    already_cached: int
    computed: int
    other_shards: int
    failed: tuple[tuple[str, str], ...]
    corrupt_files: tuple[tuple[str, str], ...]
    seconds: float
    compute_seconds: float = 0.0

    @property
    def images_per_second(self) -> float:
        """Throughput of the computing itself (module loading excluded)."""
        return self.computed / self.compute_seconds if self.compute_seconds > 0 else 0.0

    def __str__(self) -> str:
        return self.summary()

    def summary(self) -> str:
        """A few lines for the console."""
        lines = [f"Bottlenecks in {self.cache_dir}: {self.requested} images ({self.unique} distinct), "
                 f"{self.already_cached} already cached, {self.computed} computed in {self.seconds:.1f}s"
                 + (f" ({self.images_per_second:.1f} images/s once the module was loaded)"
                    if self.computed else "")
                 + (f", {self.other_shards} left to other shards" if self.other_shards else "") + "."]
        if self.failed:
            lines.append(f"{len(self.failed)} image(s) could not be decoded and are left out, e.g. "
                         + "; ".join(f"{p}: {r}" for p, r in self.failed[:3]))
        if self.corrupt_files:
            lines.append(f"{len(self.corrupt_files)} unreadable cache file(s) ignored (their images are "
                         f"recomputed): " + "; ".join(f"{p}: {r}" for p, r in self.corrupt_files[:3]))
        return "\n".join(lines)


@dataclasses.dataclass
class _CacheState:
    """What the part files hold right now."""

    where: dict[str, tuple[str, int]]          # key -> (part file, row)
    failures: dict[str, str]                    # key -> reason
    corrupt: list[tuple[str, str]]              # (part file, reason)
    feature_size: Optional[int]


def cache_key(module: ResolvedModule, input_size: int, input_preprocessing: str = "none") -> str:
    """The folder key: module identity + everything that changes the pixels it sees."""
    text = f"{module.fingerprint}|{input_size}|pre{PREPROCESSING_VERSION}|fmt{FORMAT_VERSION}"
    if input_preprocessing != "none":  # (so caches written before it existed stay valid)
        text += f"|in:{input_preprocessing}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _file_key(path: str) -> str:
    digest = hashlib.sha1(b"file:")
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")[:60] or "module"


class BottleneckCache:
    """Feature vectors of images under one module, stored in a shared folder.

    Args:
      cache_dir: --bottleneck_dir; a subfolder per module/preprocessing key is created in it.
      module: the resolved TF-Hub module (its fingerprint is part of the key).
      spec: the architecture (gives the input size).
    """

    def __init__(self, cache_dir: str, module: ResolvedModule, spec: ArchitectureSpec):
        self.module = module
        self.spec = spec
        self.input_size = spec.input_size
        self.key = cache_key(module, spec.input_size, spec.input_preprocessing)
        name = _safe_name(os.path.basename(os.path.normpath(module.path)))
        self.dir = os.path.join(os.path.abspath(cache_dir), f"{name}-{spec.input_size}px-{self.key}")
        self._key_memo: dict[tuple, str] = {}
        self._feature_fn = None

    # -------------------------------------------------------------------------------------------
    # Keys.

    def record_keys(self, records: Sequence[ImageRecord]) -> list[str]:
        """Content keys of records, in order (memoised on path, size and mtime within this process).

        Raises:
          DatasetError: a QuickDraw source file cannot be read any more.
        """
        keys: list[Optional[str]] = [None] * len(records)
        files, drawings = [], {}
        for i, record in enumerate(records):
            if record.row is None:
                files.append(i)
            else:
                drawings.setdefault(record.source, []).append(i)
        if files:
            def one(i: int) -> str:
                path = records[i].source
                try:
                    stat = os.stat(path)
                except OSError:
                    return _missing_key(path)
                memo = (path, None, stat.st_size, stat.st_mtime_ns)
                if memo not in self._key_memo:
                    try:
                        self._key_memo[memo] = _file_key(path)
                    except OSError:
                        return _missing_key(path)
                return self._key_memo[memo]
            # Reading and sha1 release the GIL, so threads hash files in parallel.
            with ThreadPoolExecutor(max_workers=min(16, 4 * (os.cpu_count() or 1))) as pool:
                for i, key in zip(files, pool.map(one, files)):
                    keys[i] = key
        for source, indices in drawings.items():
            try:
                stat = os.stat(source)
            except OSError as error:
                raise DatasetError(f"QuickDraw file {source} cannot be read any more ({error.strerror}); "
                                   f"rescan the data.") from None
            todo = [i for i in indices
                    if (source, records[i].row, stat.st_size, stat.st_mtime_ns) not in self._key_memo]
            if todo:
                try:
                    read = quickdraw_source.read_drawings(source, [records[i].row for i in todo])
                except (OSError, ValueError, KeyError, IndexError) as error:
                    raise DatasetError(
                        f"Cannot read QuickDraw file {source} ({type(error).__name__}: {error}); rescan "
                        f"the data (it changed since it was indexed).") from None
                for i in todo:
                    content = quickdraw_source.content_bytes(read[records[i].row])
                    self._key_memo[(source, records[i].row, stat.st_size, stat.st_mtime_ns)] = \
                        hashlib.sha1(content).hexdigest()
            for i in indices:
                keys[i] = self._key_memo[(source, records[i].row, stat.st_size, stat.st_mtime_ns)]
        for i, record in enumerate(records):
            if record.rendering:  # a random rendering is its own image: content + how it was drawn
                keys[i] = hashlib.sha1(f"{keys[i]}|aug{AUGMENT_VERSION}|seed{record.augment_seed}|"
                                       f"r{record.rendering}".encode()).hexdigest()
        return keys  # type: ignore[return-value]

    # -------------------------------------------------------------------------------------------
    # Reading the folder.

    def part_files(self) -> list[str]:
        """The finished part files, sorted (temporary files are never listed)."""
        if not os.path.isdir(self.dir):
            return []
        return sorted(os.path.join(self.dir, name) for name in os.listdir(self.dir)
                      if name.startswith(PART_PREFIX) and name.endswith(PART_SUFFIX))

    def _scan(self) -> _CacheState:
        state = _CacheState(where={}, failures={}, corrupt=[], feature_size=None)
        for path in self.part_files():
            try:
                keys, failed_keys, failed_reasons, feature_size = _read_part_index(path)
            except _UNREADABLE as error:
                state.corrupt.append((path, f"{type(error).__name__}: {error}"))
                continue
            if state.feature_size is None and len(keys):
                state.feature_size = feature_size
            if len(keys) and feature_size != state.feature_size:
                state.corrupt.append((path, f"features of length {feature_size}, others "
                                            f"{state.feature_size}"))
                continue
            for row, key in enumerate(keys):
                state.where.setdefault(key, (path, row))
            for key, reason in zip(failed_keys, failed_reasons):
                state.failures.setdefault(key, reason)
        return state

    # -------------------------------------------------------------------------------------------
    # Computing.

    def feature_function(self):
        """A tf.function: [b, size, size, 3] images in [-1, 1] -> [b, D] features.

        The same arithmetic as retrain.families.hub_head.model.build_classifier's input preprocessing and `to_unit_range`
        Rescaling layer in front of the same hub.KerasLayer, so cached features are what the exported
        model's backbone computes.
        """
        if self._feature_fn is None:
            from retrain.model_folder import input_preprocessing
            from retrain.families.hub_head.hub_modules import load_feature_layer
            from common.tfcompat import tf
            layer = load_feature_layer(self.module, trainable=False)
            rescale = input_preprocessing.layer(input_preprocessing.get(self.spec.input_preprocessing))
            size = self.input_size

            @tf.function(input_signature=[tf.TensorSpec([None, size, size, 3], tf.float32)])
            def features(images):
                if rescale is not None:  # the classifier's own first layer (retrain/families/hub_head/model.py)
                    images = rescale(images)
                return layer(images * (INPUT_STD / 255.0) + INPUT_MEAN / 255.0)
            features(tf.zeros([1, size, size, 3]))  # trace now: loading stays out of throughput figures
            self._feature_fn = features
        return self._feature_fn

    def _write_meta(self) -> None:
        path = os.path.join(self.dir, META_FILE)
        if os.path.exists(path):
            return
        from retrain.model_folder.contract import write_json
        write_json({"format_version": FORMAT_VERSION, "module_handle": self.module.handle,
                    "module_fingerprint": self.module.fingerprint, "input_size": self.input_size,
                    "preprocessing_version": PREPROCESSING_VERSION,
                    "input_preprocessing": self.spec.input_preprocessing,
                    "quickdraw_render_version": quickdraw_source.RENDER_VERSION,
                    "note": "part-*.npz: keys (sha1 of image content), features float32 [n, D], "
                            "failed_keys/failed_reasons. Safe to delete; safe to share."}, path)

    def _clean_stale_tmp(self) -> None:
        now = time.time()
        for name in os.listdir(self.dir):
            if name.startswith(TMP_PREFIX):
                path = os.path.join(self.dir, name)
                try:
                    if now - os.path.getmtime(path) > STALE_TMP_SECONDS:
                        os.remove(path)
                except OSError:
                    pass  # another process finished or removed it meanwhile

    def _write_part(self, keys: list[str], features: list[np.ndarray], failed: dict[str, str],
                    feature_size: int) -> str:
        """Atomically writes one part file (temp name, fsync, rename) and returns its path."""
        name = f"{PART_PREFIX}{time.time_ns():x}-{os.getpid()}-{uuid.uuid4().hex[:8]}{PART_SUFFIX}"
        final = os.path.join(self.dir, name)
        tmp = os.path.join(self.dir, TMP_PREFIX + name)
        feats = np.concatenate(features).astype(np.float32) if features else \
            np.zeros((0, feature_size), np.float32)
        try:
            with open(tmp, "wb") as handle:
                np.savez(handle, keys=np.array(keys, dtype=f"S{KEY_LENGTH}"), features=feats,
                         failed_keys=np.array(list(failed), dtype=f"S{KEY_LENGTH}"),
                         failed_reasons=np.array([r[:500] for r in failed.values()], dtype=str))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, final)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise
        return final

    def write_features(self, keys: Sequence[str], features: np.ndarray) -> str:
        """Stores features computed elsewhere (float32 [len(keys), D]) as one part file; returns its path.

        For synthetic caches (bench/bench_scale.py, tests); `compute` is how real images get here.
        """
        os.makedirs(self.dir, exist_ok=True)
        self._write_meta()
        return self._write_part(list(keys), [np.asarray(features, np.float32)], {}, features.shape[1])

    def _dataset(self, records: list[ImageRecord], batch_size: int):
        """Batches of (index into `records`, image); undecodable images are dropped (reported later)."""
        from retrain.data.images import record_images_dataset
        from common.tfcompat import tf
        return record_images_dataset(records, self.input_size).batch(batch_size).prefetch(tf.data.AUTOTUNE)

    def compute(self, records: Sequence[ImageRecord], batch_size: int = 32, shard_index: int = 0,
                shard_count: int = 1, progress: bool = True, flush_every: int = FLUSH_EVERY,
                flush_seconds: float = FLUSH_SECONDS) -> CacheReport:
        """Computes the features of the records not cached yet (only this shard's share of them).

        Images that fail to decode are recorded as failures (reported, kept out of training, not
        retried until their content changes); they never stop the run.

        Args:
          records: the images (any mix of files and QuickDraw rows).
          batch_size: images per forward pass.
          shard_index, shard_count: compute only missing images whose key falls in shard
            `shard_index` of `shard_count` (a hash of the key, so every worker agrees on the split
            without talking to the others); several workers may share one cache folder.
          progress: show a progress bar (images/s, ETA).
          flush_every, flush_seconds: write a part file after this many images or seconds, whichever
            comes first; that is the most work an interruption can lose.

        Returns:
          A CacheReport.

        Raises:
          ValueError: bad shard or batch arguments.
          ModuleUnavailableError: the module cannot be loaded.
        """
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if shard_count < 1 or not 0 <= shard_index < shard_count:
            raise ValueError(f"shard_index must be in [0, shard_count); got {shard_index} of {shard_count}")
        started = time.perf_counter()
        records = list(records)
        keys = self.record_keys(records)
        state = self._scan()
        first: dict[str, int] = {}
        for i, key in enumerate(keys):
            first.setdefault(key, i)
        known = {k for k in first if k in state.where or k in state.failures}
        missing = [k for k in first if k not in known]
        mine = [k for k in missing if _shard_of(k, shard_count) == shard_index]
        new_failures: dict[str, str] = {}
        compute_seconds = 0.0
        if mine:
            try:
                os.makedirs(self.dir, exist_ok=True)
                self._write_meta()
            except OSError as error:
                reason = error.strerror or str(error)
                raise DatasetError(f"Cannot write the bottleneck cache in {self.dir} ({reason}). Pass "
                                   f"--bottleneck_dir with a writable folder.") from None
            self._clean_stale_tmp()
            pairs = sorted(((records[first[k]], k) for k in mine),
                           key=lambda pair: (pair[0].source, pair[0].row or 0))
            new_failures, compute_seconds = self._run(
                [r for r, _ in pairs], [k for _, k in pairs], batch_size, progress, flush_every,
                flush_seconds, shard_index, shard_count, state.feature_size)
        failures = {**state.failures, **new_failures}
        failed = tuple((records[i].relpath, failures[k]) for i, k in enumerate(keys) if k in failures)
        for path, reason in state.corrupt:
            # Set aside (kept for inspection) so it is reported once, not on every run.
            _quarantine(path)
            log.info("Ignored unreadable bottleneck file %s (%s); its images are recomputed.", path, reason)
        return CacheReport(cache_dir=self.dir, requested=len(records), unique=len(first),
                           already_cached=len(known), computed=len(mine),
                           other_shards=len(missing) - len(mine), failed=failed,
                           corrupt_files=tuple(state.corrupt), seconds=time.perf_counter() - started,
                           compute_seconds=compute_seconds)

    def _run(self, todo: list[ImageRecord], todo_keys: list[str], batch_size: int, progress: bool,
             flush_every: int, flush_seconds: float, shard_index: int, shard_count: int,
             feature_size: Optional[int]) -> tuple[dict[str, str], float]:
        """Runs the pipeline over `todo`, writing parts as it goes; returns (new failures, seconds)."""
        features_fn = self.feature_function()
        started = time.perf_counter()
        dataset = self._dataset(todo, batch_size)
        done = np.zeros(len(todo), bool)
        pending_keys: list[str] = []
        pending: list[np.ndarray] = []
        last_flush = time.monotonic()
        shard = f" (shard {shard_index + 1}/{shard_count})" if shard_count > 1 else ""
        bar = progress_bar(total=len(todo), unit="img", desc=f"Caching bottlenecks{shard}",
                           disable=not progress, smoothing=0.1)

        def flush(failed: Optional[dict[str, str]] = None) -> None:
            nonlocal pending_keys, pending, last_flush
            if pending_keys or failed:
                self._write_part(pending_keys, pending, failed or {}, feature_size or 0)
            pending_keys, pending, last_flush = [], [], time.monotonic()

        try:
            for indices, images in dataset:
                batch = features_fn(images).numpy()
                feature_size = batch.shape[1]
                indices = indices.numpy()
                done[indices] = True
                pending_keys.extend(todo_keys[i] for i in indices)
                pending.append(batch)
                bar.update(len(indices))
                if len(pending_keys) >= flush_every or time.monotonic() - last_flush >= flush_seconds:
                    flush()
        except BaseException:
            # Keep what is finished (Ctrl-C, a crash elsewhere): complete batches are valid features.
            try:
                flush()
            except Exception as error:
                log.warning("Could not save the last bottlenecks while stopping: %s", error)
            bar.close()
            raise
        failed = {todo_keys[i]: _failure_reason(todo[i], self.input_size) for i in np.flatnonzero(~done)}
        bar.update(len(failed))
        bar.close()
        flush(failed)
        for key, reason in list(failed.items())[:5]:
            log.info("Could not decode an image (%s); it is left out.", reason)
        return failed, time.perf_counter() - started

    # -------------------------------------------------------------------------------------------
    # Loading.

    def locate(self, records: Sequence[ImageRecord]) -> "CachedLocations":
        """Where the cached features of `records` are, without reading any feature.

        Args:
          records: images that `compute` has seen.

        Returns:
          CachedLocations: the records that have features (in the given order; images that could
          not be decoded are left out) and, for each, its part file and row.

        Raises:
          DatasetError: some records have no cached features (run `compute` / `qdretrain cache`
            first, with every shard finished).
        """
        records = list(records)
        return self.locate_keys(records, self.record_keys(records))

    def locate_keys(self, records: Sequence[ImageRecord], keys: Sequence[str]) -> "CachedLocations":
        """`locate` for records whose content keys are known already (`keys[j]` belongs to records[j])."""
        records = list(records)
        state = self._scan()
        missing = [r for r, k in zip(records, keys) if k not in state.where and k not in state.failures]
        if missing:
            corrupt = (f" {len(state.corrupt)} corrupt cache file(s) were ignored, e.g. "
                       f"{state.corrupt[0][0]} ({state.corrupt[0][1]})." if state.corrupt else "")
            raise DatasetError(
                f"{len(missing)} of {len(records)} images have no cached bottleneck in {self.dir} "
                f"(e.g. {missing[0].relpath}).{corrupt} Compute them first (`qdretrain cache` with the "
                f"same data and module, every shard finished), then rerun.")
        kept = [k in state.where for k in keys]
        paths: dict[str, int] = {}
        parts, rows = [], []
        for key, keep in zip(keys, kept):
            if keep:
                path, row = state.where[key]
                parts.append(paths.setdefault(path, len(paths)))
                rows.append(row)
        return CachedLocations(records=[r for r, keep in zip(records, kept) if keep], paths=list(paths),
                               parts=np.array(parts, np.int32), rows=np.array(rows, np.int32),
                               feature_size=state.feature_size or 0)

    def load(self, records: Sequence[ImageRecord]) -> tuple[np.ndarray, list[ImageRecord]]:
        """The cached features of `records`, as one array (retrain/families/hub_head/feature_stream.py streams them instead).

        Args:
          records: images that `compute` has seen.

        Returns:
          (features, kept): `kept` is the list of records that have features, in the given order
          (images that could not be decoded are left out); `features` is float32 [len(kept), D],
          row j belonging to kept[j].

        Raises:
          DatasetError: some records have no cached features (run `compute` / `qdretrain cache`
            first, with every shard finished), or a part file turned out unreadable (it is set aside;
            rerun `compute`).
        """
        found = self.locate(records)
        return found.gather(np.arange(len(found.records))), found.records


@dataclasses.dataclass(frozen=True)
class CachedLocations:
    """Cached records and where their features are: record j is row rows[j] of part paths[parts[j]].

    Memory is a few bytes per record; features are read from the part files only when asked for.
    """

    records: list
    paths: list
    parts: np.ndarray         # int32 [n], index into paths
    rows: np.ndarray          # int32 [n], row in that part's features
    feature_size: int

    def __len__(self) -> int:
        return len(self.records)

    def subset(self, indices: np.ndarray) -> "CachedLocations":
        """The records at `indices`, in that order."""
        indices = np.asarray(indices, np.int64)
        return dataclasses.replace(self, records=[self.records[i] for i in indices],
                                   parts=self.parts[indices], rows=self.rows[indices])

    def gather(self, indices: np.ndarray) -> np.ndarray:
        """float32 [len(indices), D]: the features of records `indices`, each part file read once.

        Raises:
          DatasetError: a part file is corrupt (it is set aside; rerun to recompute its images).
        """
        indices = np.asarray(indices, np.int64)
        out = np.zeros((len(indices), self.feature_size), np.float32)
        if not len(indices):
            return out
        for part, targets in group_by_part(self.parts[indices]):
            out[targets] = read_part_features(self.paths[part])[self.rows[indices[targets]]]
        return out


def group_by_part(parts: np.ndarray):
    """(part, positions in `parts` holding it) for each distinct part, in O(n log n)."""
    order = np.argsort(parts, kind="stable")
    distinct, starts = np.unique(parts[order], return_index=True)
    for part, positions in zip(distinct, np.split(order, starts[1:])):
        yield int(part), positions


def read_part_features(path: str) -> np.ndarray:
    """The features member of one part file (float32 [rows, D]; at most FLUSH_EVERY-ish rows).

    Read through zipfile, so the member's CRC is checked: a flipped bit is caught, not trained on.

    Raises:
      DatasetError: the file is unreadable; it is renamed to *.corrupt so the next run recomputes it.
    """
    try:
        with np.load(path, allow_pickle=False) as part:
            return part["features"]
    except _UNREADABLE as error:  # CRC mismatch, bad zip...: set it aside so compute redoes it
        _quarantine(path)
        raise DatasetError(f"Bottleneck file {path} is corrupt ({type(error).__name__}: {error}); "
                           f"it was renamed to *.corrupt. Rerun to recompute its images.") from None


# ---------------------------------------------------------------------------------------------------
# Helpers.

def _missing_key(path: str) -> str:
    """A key for an unreadable file: never cached, so it shows up as a decode failure, not a crash."""
    return hashlib.sha1(b"unreadable:" + path.encode("utf-8", "surrogateescape")).hexdigest()


def _shard_of(key: str, shard_count: int) -> int:
    return int(key[:15], 16) % shard_count


def _read_part_index(path: str) -> tuple[list[str], list[str], list[str], int]:
    """Keys, failures and feature length of a part file, checking its shape without reading features."""
    with np.load(path, allow_pickle=False) as part:
        keys = [k.decode() for k in part["keys"]]
        failed_keys = [k.decode() for k in part["failed_keys"]]
        failed_reasons = [str(r) for r in part["failed_reasons"]]
        version, shape, dtype = _npy_header(part.zip, "features.npy")
    if dtype != np.dtype(np.float32) or len(shape) != 2 or shape[0] != len(keys):
        raise ValueError(f"features {dtype} {shape} do not match {len(keys)} keys")
    if len(failed_keys) != len(failed_reasons):
        raise ValueError("failure keys and reasons differ in length")
    return keys, failed_keys, failed_reasons, int(shape[1])


def _npy_header(zip_file, member: str):
    """(version, shape, dtype) of an .npy member of an .npz, from its header alone; checks its size."""
    from numpy.lib import format as npy_format
    info = zip_file.getinfo(member)
    with zip_file.open(member) as handle:
        version = npy_format.read_magic(handle)
        read_header = {(1, 0): npy_format.read_array_header_1_0,
                       (2, 0): npy_format.read_array_header_2_0}.get(version)
        if read_header is None:
            raise ValueError(f"unsupported .npy version {version}")
        shape, _, dtype = read_header(handle)
        header_end = handle.tell() if hasattr(handle, "tell") else None
    expected = int(np.prod(shape)) * dtype.itemsize
    if header_end is not None and info.file_size != header_end + expected:
        raise ValueError(f"{member} holds {info.file_size - header_end} bytes, expected {expected}")
    return version, shape, dtype


def _quarantine(path: str) -> None:
    try:
        os.replace(path, path + ".corrupt")
    except OSError:
        pass  # another process set it aside already


def _failure_reason(record: ImageRecord, input_size: int) -> str:
    """Why one record did not come out of the pipeline (decoded again alone, to get the message)."""
    try:
        if record.row is None:
            from retrain.data.images import load_image_file
            load_image_file(record.source, input_size)
        else:
            drawing = quickdraw_source.read_drawings(record.source, [record.row])[record.row]
            quickdraw_source.render(drawing, record.rendering, record.augment_seed)
    except Exception as error:  # the message is the point: show whatever it was
        return str(error).strip().splitlines()[0][:300] if str(error).strip() else type(error).__name__
    return "could not be decoded in the batch pipeline"
