"""Label errors on planted data: confident learning vs the old neighbour vote vs "the model disagrees".

    .venv/bin/python bench/bench_audit.py --sets 13 --per_class 500 --holdout_per_class 500
    .venv/bin/python bench/bench_audit.py --sets 69 --per_class 150 --holdout_per_class 150 \
        --module ../shared/modules/mobilenet_v1_100_224
    .venv/bin/python bench/bench_audit.py --sets 13 --per_class 60 --holdout_per_class 60   # a quick look

Embeddings: a TF-Hub bottleneck (--module: MobileNet v1 0.25, 256-d, by default; 1.0, 1024-d, for 69
classes), computed once into a bottleneck cache, of ../shared/data/quickdraw_bitmaps (13 classes) or
../shared/data/quickdraw_bitmaps_69 (69). Of each class, --per_class drawings are audited and the next
--holdout_per_class are held out with their true labels. Planting changes the audited labels only,
per planting seed: 2% swaps within one pair (2% of class 0 labelled class 1 and 2% of class 1 labelled
class 0) and 1% random relabels (a drawing of any class given another class, uniformly). Duplicates
and leaks are bench_embeddings.py's (unchanged by this).

Per method, over the audited drawings: the flagged set's precision and recall, and precision among the
top-N ranked (N = number planted). Methods:
  * confident learning (retrain/embeddings/label_errors.py, the audit's rule): issues with score >=
    the audit's default min score, in the audit's rank order (margin); the same findings ranked by
    score (last round's order); and all issues (min score 0);
  * the old neighbour-vote rule (k=10, >= 50% of neighbours on one other class, <= 10% on the given
    one), ranked by vote margin;
  * "model disagrees": the out-of-sample head's top class is not the given label, ranked by 1 - p(given).
Also on the clean data (no planting): how many drawings each flags (unplanted by construction: some
may be real QuickDraw errors), and a PNG page of the audit's flags for a person to judge; and
retraining: the softmax head (what `qdretrain train` fits on a TF-Hub bottleneck) fitted on every
audited drawing, without the top-N ranked, and without N at random (the control), scored on the held-out
drawings' true labels (all of them, and those the audit does not flag on their own labels).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(REPO), "shared")
sys.path.insert(0, REPO)

SETS = {"13": "quickdraw_bitmaps", "69": "quickdraw_bitmaps_69"}


def embed(data_dir: str, per_class: int, module: str, cache: str):
    """(Embeddings of the data set with splits, labels) through the bottleneck cache."""
    from retrain.families.config import TrainConfig
    from retrain.embeddings import extract
    architecture = "mobilenet_1.0_224" if "100" in os.path.basename(module) else "mobilenet_0.25_224"
    config = TrainConfig(quickdraw_dir=data_dir, quickdraw_per_class=per_class, architecture=architecture,
                         tfhub_module=module, bottleneck_dir=cache)
    return extract.dataset_embeddings(config, extract.BottleneckExtractor(config), progress=False)


def plant(labels: np.ndarray, num_classes: int, seed: int, swap_share=0.02, random_share=0.01):
    """(noisy labels, planted row indices): swaps within classes 0<->1, then random relabels."""
    rng = np.random.default_rng(seed)
    noisy = labels.copy()
    planted = set()
    for a, b in ((0, 1), (1, 0)):
        members = np.flatnonzero(labels == a)
        chosen = rng.choice(members, max(1, int(round(swap_share * len(members)))), replace=False)
        noisy[chosen] = b
        planted.update(int(i) for i in chosen)
    rest = np.array([i for i in range(len(labels)) if i not in planted])
    chosen = rng.choice(rest, max(1, int(round(random_share * len(labels)))), replace=False)
    for i in chosen:
        noisy[i] = rng.choice([c for c in range(num_classes) if c != labels[i]])
        planted.add(int(i))
    return noisy, planted


def neighbour_vote(vectors, labels, num_classes, k=10, vote=0.5, own_vote=0.1) -> list[int]:
    """The audit's old rule (before confident learning), ranked by vote - own vote."""
    from retrain.embeddings import search
    found = search.exact_topk(vectors, vectors, k, exclude_self=True)
    votes = search.label_vote(labels[found.indices], num_classes)
    own = votes[np.arange(len(labels)), labels]
    other = votes.copy()
    other[np.arange(len(labels)), labels] = -1
    best = other.max(axis=1)
    hit = np.flatnonzero((best >= vote - 1e-6) & (own <= own_vote + 1e-6))
    return [int(i) for i in sorted(hit, key=lambda i: (-(best[i] - own[i]), i))]


def scores(ranked: list[int], flagged: set, planted: set) -> dict:
    n = len(planted)
    hits = len(flagged & planted)
    return {"flagged": len(flagged), "precision": round(hits / len(flagged), 3) if flagged else 1.0,
            "recall": round(hits / n, 3) if n else 1.0,
            "top_n_precision": round(len(set(ranked[:n]) & planted) / n, 3) if n else 1.0}


def methods(vectors, labels, num_classes, head_config, min_score, engine) -> dict:
    """{method: (ranked rows, flagged set)} on these labels; also the probabilities' fit time."""
    from retrain.embeddings import audit, label_errors, search
    started = time.perf_counter()
    # The audit's own probabilities: k-fold heads blended with the 10 neighbours' vote.
    neighbours = search.exact_topk(vectors, vectors, 10, exclude_self=True)
    probs = audit.blended_probabilities(vectors, neighbours, labels, num_classes, audit.AuditConfig())
    fit_seconds = time.perf_counter() - started
    reported = label_errors.find_label_errors(probs, labels, min_score, engine)
    every = label_errors.find_label_errors(probs, labels, 0.0, engine)
    shown = [e.index for e in reported]
    # Top-N of the audit's rule: what it reports (score >= min_score, in rank order), continued by the
    # issues under the threshold only where it reports fewer than N (a user lowering the score).
    ranked = shown + [e.index for e in every if e.index not in set(shown)]
    out = {"confident_learning": (ranked, set(shown)),
           "confident_learning_all": ([e.index for e in every], {e.index for e in every}),
           # Last round's order, same findings: by score, then the rest by score.
           "confident_learning_by_score": (
               [e.index for e in sorted(reported, key=lambda e: (-e.score, e.index))]
               + [e.index for e in sorted(every, key=lambda e: (-e.score, e.index)) if e.index not in set(shown)],
               set(shown))}
    given = probs[np.arange(len(labels)), labels]
    disagree = np.flatnonzero(np.argmax(probs, axis=1) != labels)
    out["model_disagrees"] = ([int(i) for i in sorted(disagree, key=lambda i: (given[i], i))], set(int(i) for i in disagree))
    vote = neighbour_vote(vectors, labels, num_classes)
    out["neighbour_vote"] = (vote, set(vote))
    return out, probs, fit_seconds


def head_accuracies(vectors, train_labels, train_rows, tests: dict, test_labels, num_classes, head_config) -> dict:
    """{name: test accuracy} of the softmax head fitted on `train_rows` (what retraining the head does),
    for each named set of test rows."""
    from retrain.embeddings import heads
    x = heads.standardize(vectors)
    w = heads.fit_softmax(x[train_rows], train_labels[train_rows], num_classes, head_config.l2, head_config.steps)
    return {name: round(float((np.argmax(heads.predict(w, x[rows]), axis=1) == test_labels[rows]).mean()), 4)
            for name, rows in tests.items()}


def recognisable(vectors, labels, num_classes, min_score, engine) -> np.ndarray:
    """Positions of the drawings the audit's rule does not flag on their own labels: held-out drawings
    a person would call their class (QuickDraw's own junk left out of the score)."""
    from retrain.embeddings import audit, label_errors, search
    neighbours = search.exact_topk(vectors, vectors, 10, exclude_self=True)
    probs = audit.blended_probabilities(vectors, neighbours, labels, num_classes, audit.AuditConfig())
    flagged = {e.index for e in label_errors.find_label_errors(probs, labels, min_score, engine)}
    return np.array([i for i in range(len(labels)) if i not in flagged])


def retrain_rows(vectors, labels, true_labels, audited, tests: dict, ranked, n, num_classes, head_config) -> dict:
    """The softmax head fitted on every audited drawing (its given labels), then without the top-N
    ranked: accuracy on held-out drawings (rows the audit never saw) by their true labels. A held-out
    set as large as the audited one: on the audit's own 10% test split one point was ~6 drawings."""
    dropped = set(int(audited[i]) for i in ranked[:n])
    kept = np.array([i for i in audited if int(i) not in dropped])
    full = np.zeros(len(true_labels), np.int64)
    full[audited] = labels
    # The control: as many drawings dropped at random (3 draws, averaged): what losing that much
    # training data costs by itself.
    rng = np.random.default_rng(0)
    random_runs = [head_accuracies(vectors, full, np.sort(rng.choice(audited, len(kept), replace=False)), tests,
                                   true_labels, num_classes, head_config) for _ in range(3)]
    return {"dropped_from_training": len(audited) - len(kept), **{f"{k}_drawings": len(v) for k, v in tests.items()},
            "test_accuracy_all": head_accuracies(vectors, full, audited, tests, true_labels, num_classes, head_config),
            "test_accuracy_without_top_n": head_accuracies(vectors, full, kept, tests, true_labels, num_classes,
                                                           head_config),
            "test_accuracy_without_random_n": {k: round(float(np.mean([r[k] for r in random_runs])), 4)
                                               for k in tests}}


def page(records, rows, labels, names, probs, path: str, title: str) -> None:
    """A PNG page of flagged drawings, as the audit draws them."""
    from retrain.embeddings import label_errors, report
    from retrain.data.images import load_record_images
    from retrain.model_folder.contract import atomic_write_bytes
    found = label_errors.find_label_errors(probs, labels, 0.0, "builtin")
    found = [e for e in found if e.index in set(rows)][:report.MAX_GRID_ITEMS]
    images = dict(zip([e.index for e in found], load_record_images([records[e.index] for e in found], 64)))
    atomic_write_bytes(path, report.grid_png(report.finding_rows(found, records, (), names, images), title))


def run_set(key: str, per_class: int, seeds, args, out_dir: str) -> dict:
    from retrain.embeddings import heads
    from retrain.embeddings.audit import AuditConfig
    started = time.perf_counter()
    data, names = embed(os.path.join(SHARED, "data", SETS[key]), per_class + args.holdout_per_class,
                        args.module, args.bottleneck_dir)
    # The audit sees `per_class` drawings of each class (the lowest rows taken); the others are held
    # out, with their true labels, to score retraining.
    all_vectors, all_true = data.vectors, np.array([r.label_index for r in data.records])
    rows = np.array([r.row for r in data.records])
    audited = np.sort(np.concatenate([
        members[np.argsort(rows[members], kind="stable")][:per_class]
        for members in (np.flatnonzero(all_true == c) for c in range(len(names)))]))
    holdout = np.setdiff1d(np.arange(len(all_true)), audited)
    records = [data.records[i] for i in audited]
    tests = {"held_out": holdout}
    if not args.skip_retrain:
        keep = recognisable(all_vectors[holdout], all_true[holdout], len(names),
                            AuditConfig().label_error_score, args.engine)
        tests["held_out_recognisable"] = holdout[keep]
    vectors = all_vectors[audited]
    true = all_true[audited]
    num_classes = len(names)
    audit_config = AuditConfig()
    head_config = heads.HeadConfig(folds=audit_config.folds, l2=audit_config.head_l2)
    min_score = audit_config.label_error_score
    result = {"drawings": len(true), "classes": num_classes, "per_class": per_class,
              "module": os.path.basename(args.module), "held_out": len(holdout),
              "embedding_seconds": round(time.perf_counter() - started, 1), "min_score": min_score}
    clean, probs, fit = methods(vectors, true, num_classes, head_config, min_score, args.engine)
    result["clean"] = {m: {"flagged": len(f), "share": round(len(f) / len(true), 4)} for m, (_, f) in clean.items()}
    result["clean"]["fit_seconds"] = round(fit, 1)
    result["clean"]["oos_accuracy"] = round(float((np.argmax(probs, axis=1) == true).mean()), 4)
    page(records, clean["confident_learning"][1], true, names, probs,
         os.path.join(out_dir, f"clean_{key}_flagged.png"),
         f"{key} classes, clean: the {len(clean['confident_learning'][1])} flagged (score >= {min_score})")
    if args.engine != "builtin":
        result["clean"]["engines_agree"] = engines_agree(probs, true)
    for seed in seeds:
        noisy, planted = plant(true, num_classes, seed)
        found, probs, fit = methods(vectors, noisy, num_classes, head_config, min_score, args.engine)
        row = {"planted": len(planted), "fit_seconds": round(fit, 1)}
        row.update({m: scores(ranked, flagged, planted) for m, (ranked, flagged) in found.items()})
        if args.engine != "builtin":
            row["engines_agree"] = engines_agree(probs, noisy)
        if not args.skip_retrain:
            n = len(planted)
            row["retrain_planted"] = retrain_rows(all_vectors, noisy, all_true, audited, tests,
                                                  found["confident_learning"][0], n, num_classes, head_config)
            row["retrain_clean"] = retrain_rows(all_vectors, true, all_true, audited, tests,
                                                clean["confident_learning"][0], n, num_classes, head_config)
        result[f"seed{seed}"] = row
        print(f"{key} classes seed {seed}:", json.dumps(row), flush=True)
    return result


def engines_agree(probs, labels) -> dict:
    """cleanlab's and the built-in confident-learning sets (min score 0): sizes and overlap."""
    from retrain.embeddings import label_errors
    a = set(np.flatnonzero(label_errors.cleanlab_issues(probs, labels)))
    b = set(np.flatnonzero(label_errors.builtin_issues(probs, labels)))
    return {"cleanlab": len(a), "builtin": len(b), "both": len(a & b)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", default="13,69", help="13 and/or 69 (comma-separated)")
    parser.add_argument("--per_class", default="500,100", help="drawings a class, per set in --sets")
    parser.add_argument("--holdout_per_class", type=int, default=500,
                        help="drawings a class after the audited ones, held out to score retraining")
    parser.add_argument("--seeds", default="0,1", help="planting seeds")
    parser.add_argument("--module", default=os.path.join(SHARED, "modules", "mobilenet_v1_025_224"))
    parser.add_argument("--bottleneck_dir", default=os.path.join(tempfile.gettempdir(), "bench_audit_cache"))
    parser.add_argument("--engine", default="auto", choices=["auto", "cleanlab", "builtin"])
    parser.add_argument("--skip_retrain", action="store_true")
    parser.add_argument("--out_dir", default=os.path.join(tempfile.gettempdir(), "bench_audit"))
    args = parser.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    seeds = [int(s) for s in args.seeds.split(",")]
    results = {}
    for key, per_class in zip(args.sets.split(","), [int(p) for p in args.per_class.split(",")]):
        results[key] = run_set(key, per_class, seeds, args, args.out_dir)
    print(json.dumps(results, indent=1))
    with open(os.path.join(args.out_dir, "bench_audit.json"), "w") as handle:
        json.dump(results, handle, indent=1)
    print(f"pages of flagged clean drawings and bench_audit.json in {args.out_dir}")


if __name__ == "__main__":
    main()
