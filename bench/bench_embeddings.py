"""Embedding benchmarks: retrieval quality, the audit on planted errors, and search latency.

    .venv/bin/python bench/bench_embeddings.py --quick      # 13 x 60 drawings, 1 epoch, 10k/100k search
    .venv/bin/python bench/bench_embeddings.py              # 13 x 500, 6 epochs x 2 poolings x 2 seeds,
                                                            # 10k/100k/1M search (the 1M HNSW build alone
                                                            # took 11.5 min on 2 busy cores)

1. Retrieval on the shared test split (../shared/data/quickdraw_bitmaps): each test drawing queries the
   training drawings; relevant = same class; mAP@10 and precision@1. Side by side: the MobileNet v1 0.25
   bottleneck (../shared/modules) and a native net (`quickdraw_cnn`) trained twice through the CLI,
   `--pooling avg` and `--pooling gem`, same seed, drawings and epochs, read at its `embedding` layer
   by retrain/embeddings/extract.py (the path `qdretrain similar` uses).
2. Audit on a planted copy of the drawings (MobileNet bottleneck), per planting seed: exact duplicates
   (a drawing added again under a new name, same class), cross-split leaks (a test drawing added again
   under a name that hashes into training: the same bytes, or re-encoded as a `convert` JPEG), and label
   swaps (2% of one class relabelled as another); precision and recall per finding type.
3. Search latency on synthetic clustered embeddings, exact (NumPy) vs HNSW (hnswlib): build time, time
   a query (batched and one at a time) and recall@10 at several ef_search.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time

import numpy as np
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repo, for bench/
from bench.harness import run_cli  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(REPO), "shared")
sys.path.insert(0, REPO)


def average_precision_at_k(relevant: np.ndarray) -> np.ndarray:
    """AP@k per row of a [q, k] 0/1 relevance matrix (normalised by the hits found, as usual for @k)."""
    hits = np.cumsum(relevant, axis=1)
    precision = hits / np.arange(1, relevant.shape[1] + 1)
    return (precision * relevant).sum(axis=1) / np.maximum(relevant.sum(axis=1), 1)


def retrieval(vectors, labels, splits, k=10) -> dict:
    from retrain.embeddings.search import exact_topk
    train = np.flatnonzero(np.array(splits) == "training")
    test = np.flatnonzero(np.array(splits) == "testing")
    found = exact_topk(vectors[test], vectors[train], k)
    relevant = (labels[train][found.indices] == labels[test][:, None]).astype(np.float32)
    return {"queries": len(test), "database": len(train), "mAP@10": float(average_precision_at_k(relevant).mean()),
            "precision@1": float(relevant[:, 0].mean())}


def train_native(net: str, pooling: str, per_class: int, epochs: int, seed: int, workdir: str,
                 batch: int = 32) -> tuple:
    """Trains `net` with `--pooling pooling` through the CLI; (model folder, wall seconds).

    batch 32: ~1,000 steps at 500 drawings a class and 6 epochs; with batch 100 (~300 steps) the
    BatchNorm moving statistics lagged and the classifier stayed near chance on the test split."""
    out = os.path.join(workdir, f"{net}_{pooling}_seed{seed}")
    command = ["--architecture", net, "--pooling", pooling,
               "--quickdraw_dir", os.path.join(SHARED, "data", "quickdraw_bitmaps"),
               "--quickdraw_per_class", str(per_class), "--epochs", str(epochs), "--seed", str(seed),
               "--train_batch_size", str(batch), "--learning_rate", "0.002", "--warmup_steps", "50",
               "--lr_schedule", "cosine"]
    return out, run_cli(command, out).seconds


def native_retrieval(net: str, per_class: int, epochs: int, seeds, workdir: str) -> dict:
    """Retrieval of `net`'s embedding layer, avg vs GeM pooling (one training each per seed)."""
    from retrain.embeddings import extract
    rows = {}
    for seed in seeds:
        for pooling in ("avg", "gem"):
            model_dir, seconds = train_native(net, pooling, per_class, epochs, seed, workdir)
            config = extract.load_run_config(model_dir)
            extractor = extract.extractor_for(model_dir, config)
            data, _ = extract.dataset_embeddings(config, extractor, progress=False)
            y = np.array([r.label_index for r in data.records])
            top1 = json.load(open(os.path.join(model_dir, "evaluation.json")))["top1"]
            name = f"{pooling}_seed{seed}"
            rows[name] = {**retrieval(data.vectors, y, data.splits), "dim": int(data.vectors.shape[1]),
                          "train_seconds": seconds, "classifier_top1": top1}
            print(f"retrieval {net} --pooling {pooling} --seed {seed}:", json.dumps(rows[name]), flush=True)
    return rows


def reencoded_copy(record, folder: str, name: str, quality: int):
    """`record`'s drawing written as `qdretrain convert` writes it (its 64x64 rendering, a JPEG at
    `quality`) under a new name: the same drawing, other bytes, so no content hash can match it."""
    from PIL import Image

    from retrain.data.images import render_drawings
    path = os.path.join(folder, name.replace("/", "_").replace("#", "_") + ".jpg")
    Image.fromarray(render_drawings([record])[0]).save(path, "JPEG", quality=quality)
    return dataclasses.replace(record, relpath=name, source=path, row=None)


def planted_records(records, seed: int, folder: str, swap_share=0.02, duplicates=20, leaks=20):
    """A copy of the dataset's records with known errors (same drawings, new names/labels).

    Leaks are test drawings added again under a name that hashes into training: half as the same
    bytes (an exact copy), half re-encoded as `qdretrain convert` JPEGs at quality 90/75/50 (the same
    drawing from a converted folder next to its source file): the realistic leak a content hash misses.
    """
    from retrain.data.split import which_set
    rng = np.random.default_rng(seed)
    records = list(records)
    # leak: every planted pair across the splits (test copies, and duplicates whose new name hashed
    # into another split); test_copy: the planted test copies alone (exact duplicates too, but scored
    # as leaks, not as duplicates).
    truth = {"duplicate": set(), "leak": set(), "test_copy": set(), "reencoded_leak": set(), "swap": set()}
    by_label = {}
    for r in records:
        by_label.setdefault(r.label_index, []).append(r)
    labels = sorted({(r.label_index, r.label) for r in records})
    planted = []
    for i in rng.choice(len(records), duplicates, replace=False):
        r = records[i]
        copy = dataclasses.replace(r, relpath=r.relpath + "_dup")
        planted.append(copy)
        truth["duplicate"].add(tuple(sorted((r.relpath, copy.relpath))))
        # Its new name may hash across the train/held-out line: a leak as the audit defines it
        # (validation vs testing is not one: both are held out).
        if (which_set(r.relpath, 10, 10) == "training") != (which_set(copy.relpath, 10, 10) == "training"):
            truth["leak"].add(tuple(sorted((r.relpath, copy.relpath))))
    tests = [r for r in records if which_set(r.relpath, 10, 10) == "testing"]
    for j, r in enumerate(rng.choice(len(tests), min(leaks, len(tests)), replace=False)):
        r = tests[r]
        n = 0
        while which_set(f"{r.relpath}_leak{n}", 10, 10) != "training":
            n += 1
        name = f"{r.relpath}_leak{n}"
        if j % 2:
            copy = reencoded_copy(r, folder, name, quality=(90, 75, 50)[j // 2 % 3])
            truth["reencoded_leak"].add(tuple(sorted((r.relpath, copy.relpath))))
        else:
            copy = dataclasses.replace(r, relpath=name)
        planted.append(copy)
        truth["leak"].add(tuple(sorted((r.relpath, copy.relpath))))
        truth["test_copy"].add(tuple(sorted((r.relpath, copy.relpath))))
    # 2% of class 0 relabelled as class 1
    victims = by_label[labels[0][0]]
    chosen = set(rng.choice(len(victims), max(1, int(round(swap_share * len(victims)))), replace=False))
    out = []
    for r in records:
        if r.label_index == labels[0][0] and victims.index(r) in chosen:
            r = dataclasses.replace(r, label=labels[1][1], label_index=labels[1][0])
            truth["swap"].add(r.relpath)
        out.append(r)
    return out + planted, truth


def precision_recall(found: set, truth: set) -> dict:
    hits = len(found & truth)
    return {"found": len(found), "planted": len(truth), "precision": hits / len(found) if found else 1.0,
            "recall": hits / len(truth) if truth else 1.0}


def audit_bench(extractor, records, seed: int, config=None, dump: str = "") -> dict:
    """Precision/recall of the audit (thresholds: `config`, default AuditConfig()) on planted errors;
    `dump`: also save the embeddings and truth there (.npz), to study the rules offline."""
    from retrain.embeddings import audit
    from retrain.data.split import which_set
    config = config or audit.AuditConfig()
    folder = tempfile.mkdtemp(prefix="bench_embeddings_leaks_")
    try:
        planted, truth = planted_records(records, seed, folder)
        vectors, kept = extractor.embed_records(planted)
        keys = extractor.cache.record_keys(kept)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    splits = [which_set(r.relpath, 10, 10) for r in kept]
    labels = [r.label_index for r in kept]
    if dump:
        names = [r.relpath for r in kept]
        np.savez(dump, vectors=vectors, labels=np.array(labels), splits=np.array(splits),
                 keys=np.array(keys), names=np.array(names),
                 truth=np.array(json.dumps({k: sorted(v) for k, v in truth.items()})))
    started = time.perf_counter()
    result = audit.audit(vectors, labels, max(labels) + 1, splits, keys, config)
    seconds = time.perf_counter() - started
    kinds = result.by_kind()
    name = lambda i: kept[i].relpath  # noqa: E731
    pairs = lambda items: {tuple(sorted((name(p.a), name(p.b)))) for p in items}  # noqa: E731
    same = pairs(kinds["exact_duplicate_same_class"])
    leaks = pairs(kinds["cross_split_leak"])
    # A planted duplicate is found when its pair is reported as a same-class exact duplicate; the
    # QuickDraw data may hold real duplicates too, which count against precision here.
    return {"drawings": len(kept), "seconds": seconds,
            "duplicate": precision_recall(same - truth["test_copy"], truth["duplicate"]),
            "leak": precision_recall(leaks, truth["leak"]),
            "reencoded_leak_recall": precision_recall(leaks, truth["reencoded_leak"])["recall"],
            "swap": precision_recall({name(m.index) for m in result.mislabels}, truth["swap"])}


def latency(sizes, dim=256, queries=200, seed=0, threads=-1, ef_construction=100,
            ef_searches=(64, 128, 256)) -> list[dict]:
    from retrain.embeddings import search
    rng = np.random.default_rng(seed)
    rows = []
    for n in sizes:
        centers = rng.normal(size=(max(10, n // 300), dim)).astype(np.float32)
        x = np.empty((n, dim), np.float32)
        for start in range(0, n, 100_000):
            m = min(100_000, n - start)
            x[start:start + m] = centers[rng.integers(0, len(centers), m)] + \
                0.7 * rng.normal(size=(m, dim)).astype(np.float32)
        x = search.normalize(x)
        q = search.normalize(x[rng.choice(n, queries, replace=False)] +
                             0.05 * rng.normal(size=(queries, dim)).astype(np.float32))
        exact_index = search.ExactIndex(x)  # normalises once, as `qdretrain similar` does
        t = time.perf_counter()
        one = exact_index.search(q[:1], 10)  # one interactive query
        exact_one = time.perf_counter() - t
        t = time.perf_counter()
        exact = exact_index.search(q, 10)
        exact_batch = (time.perf_counter() - t) / queries
        del exact_index
        t = time.perf_counter()
        index = search.HnswIndex(x, ef_construction=ef_construction, threads=threads)
        build = time.perf_counter() - t
        # ef_search trades time for recall; a bigger graph needs a wider beam for the same recall.
        sweep = {}
        for ef in ef_searches:
            index.ef_search = ef
            t = time.perf_counter()
            approx = index.search(q, 10)
            ann = (time.perf_counter() - t) / queries
            t = time.perf_counter()
            for row in q[:50]:  # one query at a time, like an interactive `similar`
                index.search(row[None], 10)
            sweep[ef] = {"ms_per_query": ann * 1e3, "single_query_ms": (time.perf_counter() - t) / 50 * 1e3,
                         "recall@10": search.recall_at_k(approx.indices, exact.indices)}
        rows.append({"n": n, "dim": dim, "exact_single_query_ms": exact_one * 1e3,
                     "exact_batched_ms_per_query": exact_batch * 1e3, "hnsw_build_s": build,
                     "hnsw_build_threads": threads, "hnsw_ef_construction": ef_construction,
                     "hnsw_by_ef_search": sweep})
        del one, x, index
        print("latency:", json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--per_class", type=int, default=None)
    parser.add_argument("--module", default=os.path.join(SHARED, "modules", "mobilenet_v1_025_224"))
    parser.add_argument("--bottleneck_dir", default=os.path.join(tempfile.gettempdir(), "bench_embeddings_cache"))
    parser.add_argument("--sizes", default=None, help="comma-separated search sizes")
    parser.add_argument("--skip_latency", action="store_true")
    parser.add_argument("--skip_data", action="store_true")
    parser.add_argument("--skip_native", action="store_true", help="leave out the avg-vs-GeM native nets")
    parser.add_argument("--skip_audit", action="store_true")
    parser.add_argument("--native", default="quickdraw_cnn", help="native net trained for avg vs GeM")
    parser.add_argument("--epochs", type=int, default=None, help="native nets' epochs [1 quick, 6]")
    parser.add_argument("--seeds", default="0,1", help="audit seeds (planting), comma-separated")
    parser.add_argument("--native_seeds", default=None, help="training seeds of the avg/GeM nets [0 quick, 0,1]")
    parser.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "bench_embeddings_native"))
    parser.add_argument("--dump", default="", help="save each audit seed's planted embeddings here (prefix)")
    parser.add_argument("--hnsw_ef_construction", type=int, default=100,
                        help="HNSW build beam (search.HnswIndex's default 100; lower builds faster)")
    parser.add_argument("--hnsw_threads", type=int, default=-1, help="HNSW build threads (-1: all cores)")
    args = parser.parse_args()
    per_class = args.per_class or (60 if args.quick else 500)
    sizes = [int(s) for s in (args.sizes or ("10000,100000" if args.quick else "10000,100000,1000000")).split(",")]
    results = {}
    if not args.skip_data:
        from retrain.families.config import TrainConfig
        from retrain.embeddings import extract
        config = TrainConfig(quickdraw_dir=os.path.join(SHARED, "data", "quickdraw_bitmaps"),
                             quickdraw_per_class=per_class, architecture="mobilenet_0.25_224",
                             tfhub_module=args.module, bottleneck_dir=args.bottleneck_dir)
        extractor = extract.BottleneckExtractor(config)
        t = time.perf_counter()
        data, labels = extract.dataset_embeddings(config, extractor, progress=False)
        results["embedding_seconds"] = time.perf_counter() - t
        y = np.array([r.label_index for r in data.records])
        results["retrieval_mobilenet_0.25"] = retrieval(data.vectors, y, data.splits)
        print("retrieval mobilenet_0.25 bottleneck:", json.dumps(results["retrieval_mobilenet_0.25"]), flush=True)
        if not args.skip_native:
            epochs = args.epochs or (1 if args.quick else 6)
            seeds = [int(s) for s in (args.native_seeds or ("0" if args.quick else "0,1")).split(",")]
            results[f"retrieval_{args.native}"] = native_retrieval(args.native, per_class, epochs, seeds,
                                                                  args.workdir)
        if not args.skip_audit:
            for seed in [int(s) for s in args.seeds.split(",")]:
                results[f"audit_seed{seed}"] = audit_bench(extractor, data.records, seed=seed,
                                                           dump=f"{args.dump}{seed}.npz" if args.dump else "")
                print(f"audit seed {seed}:", json.dumps(results[f"audit_seed{seed}"]), flush=True)
    if not args.skip_latency:
        results["latency"] = latency(sizes, threads=args.hnsw_threads, ef_construction=args.hnsw_ef_construction)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
