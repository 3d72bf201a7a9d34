"""bench/bench_many.py's planning and bookkeeping (no training: the bench itself runs for hours)."""

import json
import sys

import pytest

from bench import bench_many


def test_native_names_become_cli_flags():
    arguments = bench_many.native_arguments("quickdraw_cnn+ls+e3", [])
    assert arguments == ["--architecture", "quickdraw_cnn", "--label_smoothing", "0.1", "--epochs", "3"]
    with pytest.raises(KeyError):
        bench_many.native_arguments("quickdraw_cnn+nonsense", [])
    with pytest.raises(KeyError):
        bench_many.native_arguments("resnet", [])


def test_a_like_for_like_row_needs_both_runs_before_it():
    configs = {"mobilenet_1.0_224 head": ["--architecture", "mobilenet_1.0_224"]}
    row = "quickdraw_cnn @ mobilenet_1.0_224 head"
    planned = bench_many.plan(["quickdraw_cnn", "mobilenet_1.0_224 head", row, "baseline"], configs, [])
    assert list(planned) == ["quickdraw_cnn", "mobilenet_1.0_224 head", row, "baseline"]
    assert planned[row] is None and planned["baseline"] is None
    assert planned["quickdraw_cnn"][:2] == ["--architecture", "quickdraw_cnn"]
    for names in (["quickdraw_cnn", row, "mobilenet_1.0_224 head"], ["mobilenet_1.0_224 head", row],
                  ["quickdraw_cnn", "baseline", "quickdraw_cnn @ baseline"],  # not a head
                  ["mobilenet_1.0_224 head", "mobilenet_1.0_224 head @ mobilenet_1.0_224 head"],  # not a native net
                  ["quickdraw_cnn", "mobilenet_1.0_224 head", row + " @ quickdraw_cnn"]):
        with pytest.raises(KeyError):
            bench_many.plan(names, configs, [])


def test_the_default_order_plans():
    args = type("Args", (), {"steps": 0, "head_steps": 4000, "head_per_class": 1000, "renderings": 1})()
    planned = bench_many.plan(list(bench_many.DEFAULT_ORDER), bench_many.configurations(args, "/w"), [])
    assert "--teacher" in planned["quickdraw_cnn_small <- quickdraw_cnn"]
    assert planned["mobilenet_1.0_224 head"][planned["mobilenet_1.0_224 head"].index("--quickdraw_per_class") + 1] == "1000"


def _row(name, seconds):
    return {"name": name, "seconds": seconds, "macro": 0.5, "top1": 0.6, "top5": 0.9, "map3": 0.7, "ece": 0.05,
            "worst": "frog 10%", "weak": 1, "below60": 3, "count": 10}


def test_finished_rows_survive_and_print_as_a_table(tmp_path, monkeypatch, capsys):
    bench_many.record(str(tmp_path), _row("quickdraw_cnn", 1201.4))
    bench_many.record(str(tmp_path), _row("quickdraw_cnn on the head's test drawings", None))
    bench_many.record(str(tmp_path), {"name": "tiny_darknet", "failed": True, "seconds": 12.0})
    assert [json.loads(line)["name"] for line in open(tmp_path / "rows.jsonl")][0] == "quickdraw_cnn"
    monkeypatch.setattr(sys, "argv", ["bench_many.py", "--table", str(tmp_path)])
    bench_many.main()
    lines = capsys.readouterr().out.splitlines()
    assert lines[2].startswith("| quickdraw_cnn | 50.0% | 60.0% | 90.0% | 70.0% | 5.0% | 3 | frog 10% | 1201 |")
    assert "| frog 10% | n/a |" in lines[3]  # the wall-s column: scoring an existing model has no training time
    assert lines[4] == "| tiny_darknet | failed | | | | | | | 12 | | | |"
