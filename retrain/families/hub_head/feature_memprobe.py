"""Peak memory of the head trained on cached bottlenecks, on a synthetic cache (bench_scale, tests).

A synthetic cache is written with the cache's own part writer (`BottleneckCache.write_features`), in
part files of FLUSH_EVERY rows like `compute` writes, so the reader sees the real format. Labels come
in consecutive blocks, as in a real cache (parts are written sorted by source file, i.e. by class):
a stream that did not mix part files would train on one class at a time.

    python -m retrain.families.hub_head.feature_memprobe write CACHE_ROOT COUNT [FEATURE_SIZE]
    python -m retrain.families.hub_head.feature_memprobe train CACHE_ROOT COUNT STEPS [stream|array]   # prints JSON

Memory is sampled every 50 ms from /proc/self/status (RssAnon: what the process holds itself) and
read from ru_maxrss at the end.
"""

from __future__ import annotations

import hashlib
import json
import resource
import sys
import threading
import time

import numpy as np

from retrain.families import architectures
from retrain.families.hub_head.bottlenecks import FLUSH_EVERY, BottleneckCache
from retrain.data.dataset import ImageRecord
from retrain.families.hub_head.hub_modules import ResolvedModule
from retrain.families.native.memprobe import rss_anon_mb

CLASSES = 345


def synthetic_cache(cache_root: str, feature_size: int) -> BottleneckCache:
    """A cache folder keyed on a made-up module: only its part files are ever used."""
    spec = architectures.with_overrides(architectures.get("mobilenet_1.0_224"), feature_size=feature_size)
    module = ResolvedModule(handle="synthetic", path=f"/synthetic-{feature_size}",
                            fingerprint=f"synthetic-{feature_size}")
    return BottleneckCache(cache_root, module, spec)


def synthetic_labels(count: int, classes: int) -> np.ndarray:
    """Consecutive blocks of classes, like a real cache's parts."""
    return (np.arange(count, dtype=np.int64) * classes) // count


def synthetic_key(i: int) -> str:
    return hashlib.sha1(f"synthetic:{i}".encode()).hexdigest()


def write_synthetic_cache(cache_root: str, count: int, feature_size: int = 1024, classes: int = CLASSES,
                          noise: float = 1.0, seed: int = 0, part_rows: int = FLUSH_EVERY) -> BottleneckCache:
    """`count` features (class centre + Gaussian noise) in part files of `part_rows`; one part in memory."""
    cache = synthetic_cache(cache_root, feature_size)
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((classes, feature_size), dtype=np.float32)
    labels = synthetic_labels(count, classes)
    for start in range(0, count, part_rows):
        index = np.arange(start, min(count, start + part_rows))
        features = centres[labels[index]] + noise * rng.standard_normal((len(index), feature_size),
                                                                         dtype=np.float32)
        cache.write_features([synthetic_key(int(i)) for i in index], features)
    return cache


def synthetic_records(count: int, classes: int = CLASSES) -> tuple[list[ImageRecord], list[str]]:
    labels = synthetic_labels(count, classes)
    names = [f"c{c}" for c in range(classes)]  # one string per class, as a real index shares them
    records = [ImageRecord(label=names[c], label_index=int(c), relpath=f"{names[c]}/{i}",
                           source="synthetic") for i, c in enumerate(labels)]
    return records, [synthetic_key(i) for i in range(count)]


class PeakSampler:
    """Highest RssAnon seen by a background thread (50 ms period) between start and stop."""

    def __init__(self):
        self.peak = rss_anon_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, rss_anon_mb())

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_anon_mb())


def train_head(cache_root: str, count: int, feature_size: int, steps: int, stream: bool,
               classes: int = CLASSES, batch_size: int = 100, shuffle_buffer: int = 20_000) -> dict:
    """Trains a head for `steps` on the synthetic cache; memory, speed and training accuracy."""
    from retrain.families.hub_head import feature_stream, train
    from retrain.families.hub_head import model as model_lib
    cache = synthetic_cache(cache_root, feature_size)
    # Two phases measured apart: the index (records, the cache scan: a few hundred bytes per record,
    # whichever path) and training (what the feature path itself adds).
    with PeakSampler() as indexing:
        records, keys = synthetic_records(count, classes)
        locations = cache.locate_keys(records, keys)
        del keys
        split = feature_stream.load_split(locations, 0 if stream else 1 << 62)
    after_index = rss_anon_mb()
    with PeakSampler() as training:
        params = train.TrainingParams(steps=steps, eval_interval=50, batch_size=batch_size,
                                      validation_batch_size=100, learning_rate=0.01, optimizer="adam")
        head = model_lib.build_head(feature_size, classes)
        train.compile_for_training(head, params, from_logits=True)
        errors = feature_stream.StreamErrors()
        dataset = (feature_stream.training_dataset(split, classes, batch_size, 0, errors, shuffle_buffer)
                   if stream else train.feature_training_dataset(split.array, split.labels, classes, params))
        with errors.reraised():
            result = train.fit(head, dataset, None, params, backup_dir=None, extra_callbacks=[],
                               echo=lambda line: None)
    trained = steps * batch_size
    return {"features": count, "mode": "stream" if stream else "array", "steps": steps,
            "peak_rss_anon_mb": max(indexing.peak, training.peak), "peak_rss_anon_index_mb": indexing.peak,
            "rss_anon_after_index_mb": after_index, "peak_rss_anon_training_mb": training.peak,
            "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "features_per_s": trained / max(1e-9, result.seconds),
            "train_accuracy": result.history["accuracy"][-1]}


if __name__ == "__main__":
    command, root, total = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if command == "write":
        started = time.time()
        write_synthetic_cache(root, total, int(sys.argv[4]) if len(sys.argv) > 4 else 1024)
        print(json.dumps({"written": total, "seconds": time.time() - started}))
    else:
        mode = sys.argv[5] if len(sys.argv) > 5 else "stream"
        print(json.dumps(train_head(root, total, 1024, int(sys.argv[4]), stream=mode == "stream")))
