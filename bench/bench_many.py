"""69 real classes side by side: native nets, TF-Hub heads, distilled students, a plain Keras CNN.

Every configuration runs through the real CLI (`python -m retrain ...`) on the same data and the same
stable hash split ("<label>/<file>#<row>", which both families and the baseline hash), then exports
float and int8 TFLite. Reported per row: macro top-1 (per-class mean: what a user drawing every class
gets), micro top-1, top-5, MAP@3, expected calibration error, the worst class, wall time to the
trained model (bottleneck caching included for heads), int8 size and single-drawing latency (1 thread),
and the int8 - float32 top-1 gap on the export's test drawings.

    .venv/bin/python bench/bench_many.py                  # full data, defaults (~2 h on 2 idle cores)
    .venv/bin/python bench/bench_many.py --table DIR      # the table of a run's finished rows (DIR/rows.jsonl)
    .venv/bin/python bench/bench_many.py --quick          # a quarter of each class (unbalance kept), fewer steps
    .venv/bin/python bench/bench_many.py --quick --only quickdraw_cnn_small,quickdraw_cnn_small+sqrt

--quick keeps the *first quarter of every class file* (--fraction), not a cap per class: a cap would
make the classes balanced and hide exactly what this bench is about (423 to 10,053 drawings a class).
The copy goes to a temporary folder (never into the repository). The heads cache --head_per_class
drawings a class (a bottleneck per drawing and rendering is their cost: see the "wall s" column). On the
full data that is 1,000 drawings a class and 1 rendering by default: measured, 500 -> 1,000 a class moved
the 1.0 head by +0.3 points of macro top-1, while caching every drawing in 3 renderings is ~416,000
bottlenecks, over an hour on 2 cores (docs/benchmarks.md#69-classes).

A head is scored on its own test drawings (the stable split of the drawings it scanned), not on the
natives' test split; the "<native> @ <head>" row scores the native model on exactly the head's test
drawings (bench/score_on_keys.py), so the two can be compared like for like.

Each run's output streams to <workdir>/<name>.log as it goes, and every finished row is appended to
<workdir>/rows.jsonl, so an interrupted bench keeps what it measured (--table prints it).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from bench.harness import tflite_latency_ms  # noqa: E402
SHARED = os.path.join(os.path.dirname(REPO), "shared")
DATA69 = os.path.join(SHARED, "data", "quickdraw_bitmaps_69")
MODULES = {"mobilenet_0.25_224": os.path.join(SHARED, "modules", "mobilenet_v1_025_224"),
           "mobilenet_1.0_224": os.path.join(SHARED, "modules", "mobilenet_v1_100_224")}
NATIVE = ("quickdraw_cnn", "quickdraw_cnn_small", "tiny_darknet", "mobilenet_v3_doodle")


def scaled_copy(source: str, fraction: float, target: str) -> str:
    """The first `fraction` of each class file's rows, in a new folder: the same drawings (and so the
    same split) as the full files' first rows, the classes as unbalanced as before."""
    os.makedirs(target, exist_ok=True)
    for name in sorted(os.listdir(source)):
        if name.endswith(".npy") and not os.path.exists(os.path.join(target, name)):  # a rerun keeps it
            rows = np.load(os.path.join(source, name), mmap_mode="r")
            np.save(os.path.join(target, name), np.asarray(rows[:max(20, int(len(rows) * fraction))]))
    return target


# "+name" suffixes a native configuration may carry, combinable ("quickdraw_cnn+ls+lr3"): each is the
# flags it adds. Defaults (sqrt weighting, no augmentation, no mixup) need no suffix.
VARIANTS = {"sqrt": ["--class_weighting", "sqrt"], "data": ["--class_weighting", "data"],
            "balanced": ["--class_balanced"], "aug": ["--augment"], "noaug": ["--no_augment"],
            "ls": ["--label_smoothing", "0.1"], "lr3": ["--learning_rate", "0.003"],
            "gem": ["--pooling", "gem"], "avg": ["--pooling", "avg"], "b256": ["--train_batch_size", "256"],
            "drop0": ["--dropout", "0.0"], "wd": ["--optimizer", "adamw", "--weight_decay", "0.0001"],
            "warm": ["--warmup_steps", "200"], "mix": ["--mixup", "0.2"]}


def native_arguments(name: str, steps: list) -> list:
    """CLI arguments of "<net>[+variant...]"; raises KeyError for an unknown net or variant."""
    net, *variants = name.split("+")
    if net not in NATIVE:
        raise KeyError(name)
    extra = []
    for variant in variants:  # "e8": --epochs 8; "s12000": --how_many_training_steps 12000
        if variant[:1] in "es" and variant[1:].isdigit():
            extra += ["--epochs" if variant[0] == "e" else "--how_many_training_steps", variant[1:]]
        else:
            extra += VARIANTS[variant]
    if "b256" in variants and steps:  # the same drawings as the 100-drawing batches see
        steps = [steps[0], str(max(1, int(steps[1]) * 100 // 256))]
    return ["--architecture", net, *steps, *extra]


def _steps(args) -> list:
    """--steps as CLI arguments for the native nets (none: their data-scaled default)."""
    return [] if not args.steps else ["--how_many_training_steps", str(args.steps)]


def configurations(args, workdir: str) -> dict:
    """name -> CLI arguments (the data and output folder are added by `run`); native names with
    "+variant" suffixes are built on demand by native_arguments."""
    steps = _steps(args)
    configs = {net: native_arguments(net, steps) for net in NATIVE}
    for student in NATIVE:  # "<student> <- <teacher>": the teacher's run must come earlier in --only
        for teacher in (*NATIVE, *MODULES):
            name = teacher if teacher in NATIVE else f"{teacher} head"
            folder = os.path.join(workdir, name.replace(" ", "_").replace("+", "_"))
            configs[f"{student} <- {teacher}"] = ["--architecture", student, "--teacher", folder, *steps]
    head_steps = ["--how_many_training_steps", str(args.head_steps)]
    for arch, module in MODULES.items():
        configs[f"{arch} head"] = ["--architecture", arch, "--tfhub_module", module, *head_steps,
                                   "--quickdraw_per_class", str(args.head_per_class),
                                   "--renderings", str(args.renderings),
                                   "--bottleneck_dir", os.path.join(workdir, "bn"),
                                   "--class_weights", "balanced"]
    return configs


def folder(workdir: str, name: str) -> str:
    """The output folder of configuration `name` (its log is this path + ".log")."""
    return os.path.join(workdir, name.replace(" ", "_").replace("+", "_").replace("<-", "from").replace("@", "on"))


def _tail(path: str, chars: int = 2000) -> str:
    with open(path, errors="replace") as f:
        return f.read()[-chars:]


def run(name: str, cli_args: list, data: str, workdir: str, export: bool) -> dict:
    out = folder(workdir, name)
    command = [sys.executable, "-m", "retrain", *cli_args, "--quickdraw_dir", data, "--output_dir", out]
    started = time.monotonic()
    with open(out + ".log", "w") as log:  # streamed, so a long run's progress can be watched
        completed = subprocess.run(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                   env={**os.environ, "PYTHONPATH": REPO})
    seconds = time.monotonic() - started
    if completed.returncode:
        print(f"{name} failed (exit {completed.returncode}); the end of {out}.log:\n{_tail(out + '.log')}",
              flush=True)
        return {"name": name, "failed": True, "seconds": seconds}
    row = {"name": name, "seconds": seconds, **evaluation_row(os.path.join(out, "evaluation.json"))}
    if export:
        subprocess.run([sys.executable, "-m", "retrain", "export", "--model_dir", out, "--formats",
                        "tflite,tflite_int8", "--max_test_images", "2000"], cwd=REPO, capture_output=True,
                       text=True, env={**os.environ, "PYTHONPATH": REPO})
        report_path = os.path.join(out, "export_report.json")
        report = json.load(open(report_path)) if os.path.exists(report_path) else {}
        accuracy = {r["precision"]: r["accuracy"] for r in report.get("quantization", [])}
        int8 = next((os.path.join(out, p) for p in os.listdir(out) if p.endswith("int8.tflite")), None)
        row.update(int8_kb=os.path.getsize(int8) / 1024 if int8 else None,
                   int8_ms=tflite_latency_ms(int8) if int8 else None,
                   int8_gap=(accuracy["int8"] - accuracy["float32"]) if {"int8", "float32"} <= set(accuracy) else None)
    print(json.dumps(row), flush=True)
    return row


def like_for_like(name: str, data: str, workdir: str) -> dict:
    """"<native> @ <head>": the native run's model scored on the head run's test drawings."""
    native, head = name.split(" @ ")
    out = folder(workdir, name)
    label = f"{native} on the {head}'s test drawings"
    # A subprocess, as for every other row: TensorFlow stays out of the bench's own process, and a
    # failed or missing run before it costs this row only.
    with open(out + ".log", "w") as log:
        completed = subprocess.run([sys.executable, os.path.join(REPO, "bench", "score_on_keys.py"),
                                    folder(workdir, native), os.path.join(folder(workdir, head), "splits.json"),
                                    data, "--output_dir", out], cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                   env={**os.environ, "PYTHONPATH": REPO})
    if completed.returncode:
        print(f"{label} failed; the end of {out}.log:\n{_tail(out + '.log')}", flush=True)
        return {"name": label, "failed": True, "seconds": None}
    row = {"name": label, "seconds": None, **evaluation_row(os.path.join(out, "evaluation.json"))}
    print(json.dumps(row), flush=True)
    return row


def evaluation_row(path: str) -> dict:
    evaluation = json.load(open(path))
    worst = evaluation["per_class_worst_first"][0]
    return {"macro": evaluation["macro_top1"], "top1": evaluation["top1"], "top5": evaluation["top5"],
            "map3": evaluation["map_at_3"], "ece": evaluation.get("expected_calibration_error"),
            "worst": f"{worst} {100 * evaluation['per_class'][worst]['accuracy']:.0f}%",
            "weak": len(evaluation.get("weak_classes", [])),
            "below60": sum(1 for s in evaluation["per_class"].values() if s["count"] and s["accuracy"] < 0.6),
            "count": evaluation["count"]}


def baseline(data: str, workdir: str, epochs: int) -> dict:
    out = os.path.join(workdir, "keras_baseline")
    started = time.monotonic()
    with open(out + ".log", "w") as log:
        completed = subprocess.run([sys.executable, os.path.join(REPO, "bench", "keras_baseline.py"), data, out,
                                    "--epochs", str(epochs)], cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                   env={**os.environ, "PYTHONPATH": REPO})
    if completed.returncode:
        print(f"plain Keras CNN failed; the end of {out}.log:\n{_tail(out + '.log')}", flush=True)
        return {"name": "plain Keras CNN", "failed": True, "seconds": time.monotonic() - started}
    row = {"name": "plain Keras CNN", "seconds": time.monotonic() - started,
           **evaluation_row(os.path.join(out, "evaluation.json"))}
    print(json.dumps(row), flush=True)
    return row


def _p(value) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _s(seconds) -> str:
    return "n/a" if seconds is None else f"{seconds:.0f}"


def table(rows: list) -> str:
    lines = ["| model | macro top-1 | micro top-1 | top-5 | MAP@3 | ECE | classes <60% | worst class | wall s | "
             "int8 KB | int8 ms | int8-fp32 |", "|---" * 12 + "|"]
    for r in rows:
        if r.get("failed"):
            lines.append(f"| {r['name']} | failed | | | | | | | {_s(r['seconds'])} | | | |")
            continue
        gap, kb, ms = r.get("int8_gap"), r.get("int8_kb"), r.get("int8_ms")
        lines.append(f"| {r['name']} | {_p(r['macro'])} | {_p(r['top1'])} | {_p(r['top5'])} | {_p(r['map3'])} | "
                     f"{_p(r['ece'])} | {r['below60']} | {r['worst']} | {_s(r['seconds'])} | "
                     f"{'n/a' if kb is None else f'{kb:.0f}'} | {'n/a' if ms is None else f'{ms:.2f}'} | "
                     f"{'n/a' if gap is None else f'{100 * gap:+.1f}pt'} |")
    return "\n".join(lines)


DEFAULT_ORDER = ("quickdraw_cnn", "mobilenet_1.0_224 head", "quickdraw_cnn @ mobilenet_1.0_224 head",
                 "quickdraw_cnn_small", "quickdraw_cnn_small <- quickdraw_cnn", "baseline",
                 "mobilenet_0.25_224 head", "tiny_darknet", "mobilenet_v3_doodle")


def plan(names: list, configs: dict, steps: list) -> dict:
    """name -> CLI arguments (None for "baseline" and "<native> @ <head>" rows), every name checked
    before hours of training rather than when its turn comes.

    Raises:
      KeyError(name): an unknown configuration, or a "<native> @ <head>" row before either of its runs.
    """
    planned = {}
    for position, name in enumerate(names):
        if " @ " in name:  # a native model scored on a head's test drawings: both must run before it
            parts = name.split(" @ ")
            if len(parts) != 2 or not parts[1].endswith(" head") or parts[1] not in configs \
                    or any(part not in names[:position] for part in parts):
                raise KeyError(name)
            native_arguments(parts[0], steps)  # KeyError unless a native net
            planned[name] = None
        else:
            planned[name] = None if name == "baseline" else configs.get(name) or native_arguments(name, steps)
    return planned


def record(workdir: str, row: dict) -> dict:
    """Appends `row` to <workdir>/rows.jsonl (an interrupted bench keeps its finished rows; a new run
    in the same workdir starts the file again)."""
    with open(os.path.join(workdir, "rows.jsonl"), "a") as f:
        f.write(json.dumps(row) + "\n")
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a quarter of each class, 800 native steps")
    parser.add_argument("--fraction", type=float, default=0.25, help="--quick: share of each class file kept")
    parser.add_argument("--steps", type=int, default=0, help="native steps (0: the defaults; --quick: 800)")
    parser.add_argument("--head_steps", type=int, default=0, help="head steps (default 4000; --quick 1000)")
    parser.add_argument("--head_per_class", type=int, default=None, help="drawings a class the heads cache "
                        "(default 1000; --quick 100; 0: all)")
    parser.add_argument("--renderings", type=int, default=1, help="heads' renderings (default 1)")
    parser.add_argument("--baseline_epochs", type=int, default=0, help="plain Keras CNN epochs (default 5; --quick 2)")
    parser.add_argument("--only", default="", help="comma-separated configuration names (plus 'baseline'); "
                        "default: " + ",".join(DEFAULT_ORDER))
    parser.add_argument("--no_export", action="store_true", help="skip TFLite export and latency")
    parser.add_argument("--workdir", default="", help="keep the model folders here (default: a temporary one)")
    parser.add_argument("--table", metavar="WORKDIR", default="", help="print the table of WORKDIR/rows.jsonl "
                        "(a finished or interrupted run's rows) and exit")
    args = parser.parse_args()
    if args.table:
        with open(os.path.join(args.table, "rows.jsonl")) as f:
            print(table([json.loads(line) for line in f if line.strip()]))
        return
    args.steps = args.steps or (800 if args.quick else 0)
    args.head_steps = args.head_steps or (1000 if args.quick else 4000)
    if args.head_per_class is None:
        args.head_per_class = 100 if args.quick else 1000
    args.baseline_epochs = args.baseline_epochs or (2 if args.quick else 5)
    workdir = args.workdir or tempfile.mkdtemp(prefix="bench_many_")
    os.makedirs(workdir, exist_ok=True)  # a new --workdir is created, as its help promises to keep folders there
    data = scaled_copy(DATA69, args.fraction, os.path.join(workdir, "data")) if args.quick else DATA69
    configs = configurations(args, workdir)
    names = args.only.split(",") if args.only else list(DEFAULT_ORDER)
    try:
        planned = plan(names, configs, _steps(args))
    except KeyError as error:
        parser.error(f"unknown configuration {error.args[0]!r}: a net of {', '.join(NATIVE)} with +variants of "
                     f"{', '.join(VARIANTS)}, +eN, +sN; a head, a '<student> <- <teacher>' pair, "
                     f"'<native> @ <head>' after both, or 'baseline'")
    print(f"data: {data}; native steps: {args.steps or 'default'}; workdir: {workdir}", flush=True)
    open(os.path.join(workdir, "rows.jsonl"), "w").close()  # this run's rows only (--table reads them)
    rows = []
    for name, cli_args in planned.items():
        if name == "baseline":
            row = baseline(data, workdir, args.baseline_epochs)
        elif " @ " in name:
            row = like_for_like(name, data, workdir)
        else:
            row = run(name, cli_args, data, workdir, not args.no_export)
        rows.append(record(workdir, row))
    print(" ".join(["python bench/bench_many.py", *sys.argv[1:]]))
    print(table(rows))


if __name__ == "__main__":
    main()
