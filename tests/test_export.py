"""`qdretrain export`: every format round-trips on a stand-in model and is checked by its own runtime."""

from __future__ import annotations

import os

import numpy as np

from tests.test_export_modeldir import export_report, exported_model_dir, trained_model_dir  # noqa: F401


def test_export_writes_and_verifies_every_format(exported_model_dir, export_report):
    checks = {c.name: c for c in export_report.checks}
    assert set(checks) == {"tflite", "tflite_fp16", "tflite_dynamic", "tflite_int8", "onnx", "frozen_graph",
                           "saved_model"}
    for name in ("tflite", "onnx", "frozen_graph", "saved_model"):
        assert checks[name].passed and checks[name].max_abs_diff < 1e-4, checks[name]
        assert checks[name].top1_agreement == 1.0
    assert export_report.test_images == 12 and export_report.reference_accuracy is not None
    print(export_report)


def test_quantization_report_and_model_info_exports(exported_model_dir, export_report):
    from retrain.model_folder import contract as outputs
    precisions = [row["precision"] for row in export_report.quantization]
    assert precisions == ["float32", "float16", "dynamic", "int8"]
    int8 = export_report.quantization[-1]
    assert 0 < int8["size_vs_float32"] < 1 and int8["accuracy"] is not None
    info = outputs.read_json(os.path.join(exported_model_dir, "model_info.json"))
    assert info["exports"]["tflite_int8"]["input_dtype"] == "uint8"
    assert info["exports"]["tflite_int8"]["output_dtype"] == "uint8"
    assert info["exports"]["tflite"]["input_dtype"] == "float32"
    assert info["exports"]["tflite"]["input_shape"] == [1, 32, 32, 3]
    report = outputs.read_json(os.path.join(exported_model_dir, "export_report.json"))
    assert {c["name"] for c in report["checks"]} == set(info["exports"])


def test_tflite_metadata_reads_back(exported_model_dir):
    from android_export.tflite_metadata import read_metadata
    from retrain.model_folder import contract as outputs
    labels = outputs.read_labels(os.path.join(exported_model_dir, "retrained_labels.txt"))
    for name, dtype in (("model.tflite", "float32"), ("model_fp16.tflite", "float32"),
                        ("model_dynamic.tflite", "float32"), ("model_int8.tflite", "uint8")):
        with open(os.path.join(exported_model_dir, name), "rb") as handle:
            meta = read_metadata(handle.read())
        assert meta["labels"] == labels, name
        assert meta["input_mean"] == [127.5] and meta["input_std"] == [127.5]
        assert meta["color_space"] == "RGB" and meta["min_parser_version"] == "1.0.0"
        assert (meta["input_name"], meta["output_name"]) == ("input", "final_result")
        assert meta["input_type"] == dtype and meta["output_type"] == dtype


def test_frozen_graph_is_inference_only(exported_model_dir):
    from retrain.model_folder.frozen_graph import load_frozen_graph
    graph_def = load_frozen_graph(os.path.join(exported_model_dir, "retrained_graph.pb"))
    ops = {node.op for node in graph_def.node}
    assert [n.name for n in graph_def.node if n.op == "Placeholder"] == ["input"]
    assert any(n.name == "final_result" and n.op == "Identity" for n in graph_def.node)
    assert not ops & {"VarHandleOp", "ReadVariableOp", "NoOp", "SaveV2", "RestoreV2", "StatefulPartitionedCall",
                      "PartitionedCall", "Assert"}
    assert not any(name.startswith("^") for node in graph_def.node for name in node.input)


def test_onnx_names_and_opset(exported_model_dir, trained_model_dir):
    import onnx

    from retrain.model_folder.frozen_graph import load_frozen_graph
    from android_export.onnx_export import graph_def_to_onnx
    model = onnx.load(os.path.join(exported_model_dir, "model.onnx"))
    assert [i.name for i in model.graph.input] == ["input"]
    assert [o.name for o in model.graph.output] == ["final_result"]
    assert {o.domain: o.version for o in model.opset_import}[""] == 15
    graph_def = load_frozen_graph(os.path.join(trained_model_dir, "retrained_graph.pb"))
    other = onnx.load_from_string(graph_def_to_onnx(graph_def, opset=13))
    assert {o.domain: o.version for o in other.opset_import}[""] == 13


def _reference_and_data(model_dir):
    from android_export import exporter
    from android_export.runners import KerasRunner
    model = exporter.read_model_dir(model_dir)
    data, _ = exporter.test_images(model, exporter.ExportConfig(model_dir=model_dir))
    return KerasRunner(model.saved_model).predict(data.images), data


def _corrupt_tflite(path, target):
    """Negates the head's weight matrix (the [classes, features] float buffer) in a copy of a .tflite."""
    from ai_edge_litert import schema_py_generated as schema_fb
    import flatbuffers
    with open(path, "rb") as handle:
        model = schema_fb.ModelT.InitFromObj(schema_fb.Model.GetRootAsModel(handle.read(), 0))
    graph = model.subgraphs[0]
    weights = next(t for t in graph.tensors if list(t.shape) == [3, 8] and t.type == schema_fb.TensorType.FLOAT32)
    buffer = model.buffers[weights.buffer]
    values = np.frombuffer(bytes(bytearray(buffer.data)), np.float32)
    buffer.data = np.frombuffer((-values).tobytes(), np.uint8)
    builder = flatbuffers.Builder(0)
    builder.Finish(model.Pack(builder), b"TFL3")
    with open(target, "wb") as handle:
        handle.write(builder.Output())


def test_verification_catches_corrupted_artifacts(exported_model_dir, tmp_path):
    import pytest

    from android_export import exporter

    from retrain.model_folder import frozen_graph
    from common.errors import ExportVerificationError
    from common.tfcompat import tf
    reference, data = _reference_and_data(exported_model_dir)
    bad_tflite = str(tmp_path / "model.tflite")
    _corrupt_tflite(os.path.join(exported_model_dir, "model.tflite"), bad_tflite)
    graph_def = frozen_graph.load_frozen_graph(os.path.join(exported_model_dir, "retrained_graph.pb"))
    for node in graph_def.node:  # scale the head's bias: wrong probabilities, same graph structure
        if node.op == "Const" and "logits" in node.name and "BiasAdd" in node.name:
            bias = tf.make_ndarray(node.attr["value"].tensor)
            node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto((np.arange(3) * 5.0).astype(bias.dtype)))
    bad_graph = str(tmp_path / "retrained_graph.pb")
    with open(bad_graph, "wb") as handle:
        handle.write(graph_def.SerializeToString())
    good = os.path.join(exported_model_dir, "model.onnx")
    checks = exporter.verify_artifacts({"tflite": bad_tflite, "frozen_graph": bad_graph, "onnx": good},
                                       reference, data, tolerance=1e-3)
    by_name = {c.name: c for c in checks}
    assert not by_name["tflite"].passed and not by_name["frozen_graph"].passed
    assert by_name["onnx"].passed
    with pytest.raises(ExportVerificationError, match="FAILED"):
        exporter.raise_if_failed(checks, 1e-3)
    assert not os.path.exists(bad_tflite) and os.path.exists(bad_tflite + ".failed")
    assert os.path.exists(good)


def test_missing_onnx_packages_give_install_hint(monkeypatch):
    import sys

    import pytest

    from android_export.onnx_export import OnnxUnavailableError, require_onnx
    monkeypatch.setitem(sys.modules, "tf2onnx", None)  # makes `import tf2onnx` raise ImportError
    with pytest.raises(OnnxUnavailableError, match=r"qdretrain\[onnx\]"):
        require_onnx("tf2onnx")


def test_int8_without_training_images_asks_for_calibration_dir(trained_model_dir, tmp_path):
    import shutil

    import pytest

    from android_export import exporter
    from common.errors import QdretrainError
    copy = str(tmp_path / "model")
    shutil.copytree(trained_model_dir, copy)
    os.remove(os.path.join(copy, "splits.json"))
    model = exporter.read_model_dir(copy)
    with pytest.raises(QdretrainError, match="--calibration_dir"):
        exporter.calibration_images(model, exporter.ExportConfig(model_dir=copy))
    images = os.path.join(os.path.dirname(trained_model_dir), "images")
    calibration = exporter.calibration_images(model, exporter.ExportConfig(model_dir=copy, calibration_dir=images))
    assert len(list(calibration())) == 48


def test_export_cli(trained_model_dir, tmp_path):
    from click.testing import CliRunner

    from retrain.cli.main import cli
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["export", "--model_dir", trained_model_dir, "--output-dir", str(out),
                                      "--formats", "tflite,frozen_graph"])
    assert result.exit_code == 0, result.output
    assert "tflite" in result.output and "FAILED" not in result.output
    assert sorted(os.listdir(out)) == ["export_report.json", "model.tflite", "model_info.json",
                                      "retrained_graph.pb", "retrained_labels.txt"]
    bad = CliRunner().invoke(cli, ["export", "--model_dir", trained_model_dir, "--formats", "tflite,coreml"])
    assert bad.exit_code == 2 and "coreml" in bad.output
    missing = CliRunner().invoke(cli, ["export", "--model_dir", str(tmp_path)])
    assert missing.exit_code == 1 and "not a qdretrain model dir" in missing.output


def test_a_quantized_file_far_below_float_is_warned_about():
    """int8 GeM lost 9 points at 69 classes while export still passed it: the loss is said on screen."""
    from android_export.verify import QUANTIZATION_WARN_POINTS, quantization_warnings
    rows = [{"precision": "float32", "file": "/m/model.tflite", "accuracy": 0.89, "accuracy_change_vs_float32": 0.0},
            {"precision": "float16", "file": "/m/model_fp16.tflite", "accuracy": 0.889,
             "accuracy_change_vs_float32": -0.001},
            {"precision": "int8", "file": "/m/model_int8.tflite", "accuracy": 0.80,
             "accuracy_change_vs_float32": -0.09}]
    lines = quantization_warnings(rows)
    assert len(lines) == 1 and "model_int8.tflite is 9.0 points" in lines[0] and "model.tflite" in lines[0]
    rows[2]["accuracy_change_vs_float32"] = -QUANTIZATION_WARN_POINTS / 100 + 0.001
    assert quantization_warnings(rows) == []
