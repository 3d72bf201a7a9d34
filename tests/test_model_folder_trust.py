"""A model folder is untrusted input: no command that reads one builds Python named in it (issue 17,
items 1-2). Each hostile folder kind is built here, and each test checks that a marker file the planted
code would create never appears."""

from __future__ import annotations

import json
import os
import shutil
import time
import zipfile

import pytest
from click.testing import CliRunner

from tests.test_export_modeldir import trained_model_dir  # noqa: F401 (fixture)


def _lambda_model(marker: str, size: int = 8, classes: int = 2):
    from common.tfcompat import keras

    def side_effect(x, marker=marker):
        open(marker, "w").close()
        return x

    return keras.Sequential([keras.Input((size, size, 3), name="input"),
                             keras.layers.Lambda(side_effect, name="embedding"),
                             keras.layers.GlobalAveragePooling2D(),
                             keras.layers.Dense(classes, activation="softmax", name="final_result")])


def plant_lambda_saved_model(saved_model_dir: str, marker: str, legacy_layout: bool, size: int = 8,
                             classes: int = 2) -> None:
    """A SavedModel whose Lambda layer writes `marker` when built or run. `legacy_layout`: the Keras
    config moved into saved_model.pb's object graph (the pre-TF-2.5 layout) and keras_metadata.pb
    deleted, which tf_keras loads just the same."""
    shutil.rmtree(saved_model_dir, ignore_errors=True)
    _lambda_model(marker, size, classes).save(saved_model_dir, save_format="tf")
    if legacy_layout:
        from tensorflow.core.protobuf import saved_model_pb2
        from tf_keras.protobuf import saved_metadata_pb2
        metadata = saved_metadata_pb2.SavedMetadata()
        with open(os.path.join(saved_model_dir, "keras_metadata.pb"), "rb") as handle:
            metadata.ParseFromString(handle.read())
        proto = saved_model_pb2.SavedModel()
        with open(os.path.join(saved_model_dir, "saved_model.pb"), "rb") as handle:
            proto.ParseFromString(handle.read())
        for node in metadata.nodes:
            proto.meta_graphs[0].object_graph_def.nodes[node.node_id].user_object.metadata = node.metadata
        with open(os.path.join(saved_model_dir, "saved_model.pb"), "wb") as handle:
            handle.write(proto.SerializeToString())
        os.remove(os.path.join(saved_model_dir, "keras_metadata.pb"))
    os.remove(marker)  # saving traced the function once


def plant_function_reference(path: str, marker: str, module: str = "pydoc", name: str = "pipepager") -> None:
    """A .keras file whose Lambda names `module.name` as its function, with a shell command as argument:
    pydoc.pipepager(<the input>, cmd) runs the command (tf_keras does this even with safe_mode)."""
    from common.tfcompat import keras
    model = keras.Sequential([keras.Input((8, 8, 3), name="input"),
                              keras.layers.Lambda(lambda x: x, name="embedding"),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2, activation="softmax")])
    clean = path + ".clean.keras"
    model.save(clean)
    with zipfile.ZipFile(clean) as source:
        members = {n: source.read(n) for n in source.namelist()}
    os.remove(clean)
    config = json.loads(members["config.json"])
    config["config"]["layers"][1]["config"].update(
        function={"module": module, "class_name": "function", "config": name, "registered_name": "function"},
        function_type="function", module=module, arguments={"cmd": f"touch {marker}"})
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in members.items():
            archive.writestr(member, data)


def _nothing_ran(marker: str) -> bool:
    time.sleep(0.5)  # pipepager's shell would run asynchronously: give it the time it would need
    return not os.path.exists(marker)


@pytest.mark.parametrize("legacy_layout", [False, True], ids=["keras_metadata.pb", "saved_model.pb"])
def test_load_keras_model_refuses_a_lambda_in_either_metadata_place(tmp_path, legacy_layout):
    from common.errors import ConfigError
    from retrain.model_folder.saved_model import load_keras_model
    marker = str(tmp_path / "code_ran")
    folder = str(tmp_path / "saved_model")
    plant_lambda_saved_model(folder, marker, legacy_layout)
    assert os.path.exists(os.path.join(folder, "keras_metadata.pb")) != legacy_layout
    with pytest.raises(ConfigError, match="Lambda"):
        load_keras_model(folder)
    assert _nothing_ran(marker), "the model folder's Python code ran"


@pytest.mark.parametrize("module,name", [("pydoc", "pipepager"), ("os", "system"), ("subprocess", "getoutput"),
                                         ("builtins", "exec")])
def test_load_keras_file_refuses_a_function_reference_to_any_module(tmp_path, module, name):
    from common.errors import ConfigError
    from retrain.model_folder.saved_model import load_keras_file
    marker = str(tmp_path / "code_ran")
    path = str(tmp_path / "model.keras")
    plant_function_reference(path, marker, module, name)
    with pytest.raises(ConfigError, match=f"{module}"):
        load_keras_file(path)
    assert _nothing_ran(marker)


def test_a_reference_hidden_in_an_activation_or_a_custom_module_is_refused():
    from retrain.model_folder.safety import config_problems
    layer = {"module": "keras.layers", "class_name": "Dense", "config": {
        "activation": {"module": "os", "class_name": "function", "config": "system", "registered_name": "function"}}}
    assert config_problems(layer) == ["function from module os"]
    assert config_problems({"class_name": "Dense", "module": "evil", "config": {}}) == ["Dense from module evil"]
    assert config_problems({"class_name": "Dense", "config": {"activation": "eval"}}) == ["activation eval"]
    assert config_problems({"class_name": "Dense", "config": {"activation": "relu"}}) == []


def _run(*args):
    from retrain.cli.main import cli
    return CliRunner().invoke(cli, list(args))


def _one_line_refusal(result) -> str:
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output, result.output
    # Status lines ("Exporting ...: loading the trained model...") may come first; the error is one line.
    lines = [line for line in result.output.splitlines() if line.strip() and not line.endswith("...")]
    assert len(lines) == 1 and "refused" in lines[0], result.output
    return lines[0]


@pytest.mark.parametrize("legacy_layout", [False, True], ids=["keras_metadata.pb", "saved_model.pb"])
def test_export_and_predict_refuse_a_hostile_model_folder(trained_model_dir, tmp_path, legacy_layout):  # noqa: F811
    from retrain.model_folder import contract as outputs
    folder = str(tmp_path / "model")
    shutil.copytree(trained_model_dir, folder)
    labels = outputs.read_labels(os.path.join(folder, outputs.LABELS_FILE))
    marker = str(tmp_path / "code_ran")
    plant_lambda_saved_model(os.path.join(folder, "saved_model"), marker, legacy_layout, 32, len(labels))
    _one_line_refusal(_run("export", "--model_dir", folder, "--formats", "tflite"))
    # predict (native nets) needs only predictions: it runs the SavedModel's serving signature, graph
    # ops only, so the planted Lambda's Python never runs and the submission is still written.
    from retrain.families.native.predict import predict_csv
    csv = tmp_path / "test.csv"
    csv.write_text('key_id,countrycode,drawing\n1,US,"[[[0, 10], [0, 10]]]"\n')
    predict_csv(folder, str(csv), str(tmp_path / "out.csv"), echo=lambda *_: None)
    assert open(tmp_path / "out.csv").read().splitlines()[0] == "key_id,word"
    assert _nothing_ran(marker)


def test_similar_and_audit_refuse_a_hostile_model_keras(trained_model_dir, tmp_path):  # noqa: F811
    folder = str(tmp_path / "model")
    shutil.copytree(trained_model_dir, folder)
    marker = str(tmp_path / "code_ran")
    plant_function_reference(os.path.join(folder, "model.keras"), marker)
    line = _one_line_refusal(_run("similar", "--model_dir", folder, "--class", "cat"))
    assert "pydoc" in line
    _one_line_refusal(_run("audit", "--model_dir", folder, "--output_dir", str(tmp_path / "audit")))
    assert _nothing_ran(marker)


def test_what_qdretrain_writes_passes_the_allow_list(trained_model_dir, tmp_path):  # noqa: F811
    from common.tfcompat import keras
    from retrain.families.native import nets
    from retrain.model_folder.safety import unsafe_objects
    from retrain.model_folder.saved_model import save_serving_model
    assert unsafe_objects(os.path.join(trained_model_dir, "saved_model")) == []
    model = nets.build("mobilenet_v3_doodle", 3, pooling="gem", input_size=32)
    model.compile(optimizer=keras.optimizers.Adam(), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    save_serving_model(model, str(tmp_path / "saved_model"))
    model.save(str(tmp_path / "model.keras"))
    assert unsafe_objects(str(tmp_path / "saved_model")) == []
    assert unsafe_objects(str(tmp_path / "model.keras")) == []


@pytest.mark.parametrize("legacy_layout", [False, True], ids=["keras_metadata.pb", "saved_model.pb"])
def test_the_serving_signature_of_a_hostile_folder_runs_no_python(tmp_path, legacy_layout):
    """What label_image and serve load: tf.saved_model.load builds no Keras object, so a Lambda's
    Python never runs (only the graph traced when the folder was saved)."""
    import numpy as np

    from retrain.model_folder.saved_model import load_serving_signature
    marker = str(tmp_path / "code_ran")
    folder = str(tmp_path / "saved_model")
    plant_lambda_saved_model(folder, marker, legacy_layout)
    signature = load_serving_signature(folder)
    signature(**{name: np.zeros((1, 8, 8, 3), np.float32)
                 for name in signature.structured_input_signature[1]})
    assert _nothing_ran(marker)
