"""Peak anonymous memory while streaming a set of drawings (used by the slow test and bench_scale).

Anonymous RSS (RssAnon in /proc/self/status) is what the process itself holds; memory-mapped .npy
pages are file-backed page cache the kernel reclaims, so they are not counted.
"""

from __future__ import annotations

import sys
import time


def rss_anon_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1024
    return 0.0


def stream_peak(folder: str, batch_size: int = 256, shuffle_buffer: int = 2000, max_batches: int = 0) -> dict:
    """Streams the training split of `folder` once; returns peak RssAnon (MB), drawings and drawings/s."""
    from retrain.families.native import stream
    sources, _ = stream.discover(folder)
    ds = stream.dataset(sources, stream.SplitSpec("training", 10, 10), stream.BadRows(),
                        shuffle_buffer=shuffle_buffer).batch(batch_size)
    peak, count, start = rss_anon_mb(), 0, time.time()
    for i, (x, _) in enumerate(ds):
        count += int(x.shape[0])
        if i % 20 == 0:
            peak = max(peak, rss_anon_mb())
        if max_batches and i + 1 >= max_batches:
            break
    peak = max(peak, rss_anon_mb())
    return {"peak_rss_anon_mb": peak, "drawings": count, "drawings_per_s": count / max(1e-9, time.time() - start)}


if __name__ == "__main__":
    import json
    print(json.dumps(stream_peak(sys.argv[1], max_batches=int(sys.argv[2]) if len(sys.argv) > 2 else 0)))
