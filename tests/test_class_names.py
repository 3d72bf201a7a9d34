"""Issue 17 items 7, 9, 10, 11: one class-name rule for every reader; qdretrain's own folders are never
data; exclude lists say how many names matched and an excluded class is no output class."""

from __future__ import annotations


import numpy as np
import pytest

from common.errors import ConfigError, DatasetError
from convert import sources
from tests.conftest import make_image_folder

BAD_NAMES = ["..", "x\ny", "a\x0cb", "tab\there", " ", "   ", "line\u2028sep", " lead", "trail "]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_the_class_name_rule_refuses_control_characters_blanks_and_dots(name):
    assert sources.label_problem(name) is not None


@pytest.mark.parametrize("name", ["cat", "sea turtle", "The Eiffel Tower", "über-ÿ", "t-shirt"])
def test_the_class_name_rule_keeps_real_names(name):
    assert sources.label_problem(name) is None


def _npy(path, rows=30):
    image = np.zeros((rows, 784), np.uint8)
    image[:, 100:200] = 255
    np.save(path, image)


@pytest.mark.parametrize("name", ["x\ny", "a\x0cb"])
def test_native_quickdraw_dir_refuses_a_bad_class_name_up_front(tmp_path, name):
    from retrain.families.native import stream
    _npy(tmp_path / "cat.npy")
    _npy(tmp_path / "dog.npy")
    _npy(tmp_path / f"{name}.npy")
    with pytest.raises(DatasetError, match="control character") as caught:
        stream.discover(str(tmp_path))
    assert "\n" not in str(caught.value)


def test_native_quickdraw_dir_dot_file_is_not_class_dotdot(tmp_path):
    from retrain.families.native import stream
    _npy(tmp_path / "cat.npy")
    _npy(tmp_path / "dog.npy")
    _npy(tmp_path / "full_numpy_bitmap_...npy")
    with pytest.raises(DatasetError, match="'..'"):
        stream.discover(str(tmp_path))


def test_kaggle_csv_names_go_through_the_same_rule(tmp_path):
    from retrain.families.native import stream
    for name in ("cat", "dog", "a\x0cb"):
        (tmp_path / f"{name}.csv").write_text('countrycode,drawing,key_id\nUS,"[[[0,5],[0,5]]]",1\n')
    with pytest.raises(DatasetError, match="control character"):
        stream.discover(str(tmp_path))


def test_tfhub_quickdraw_dir_refuses_a_bad_class_name(tmp_path):
    from retrain.data import dataset
    _npy(tmp_path / "cat.npy")
    _npy(tmp_path / "dog.npy")
    _npy(tmp_path / "a\x0cb.npy")
    with pytest.raises(DatasetError, match="control character"):
        dataset.scan_quickdraw_dir(str(tmp_path), per_class=10)


@pytest.mark.parametrize("name", [" ", "a\x0cb", "x\ny", "trail "])
def test_image_dir_refuses_a_bad_label_folder_up_front(tmp_path, name):
    from retrain.data import dataset
    root = make_image_folder(tmp_path / "images", {"cat": 2, "dog": 2, name: 2})
    with pytest.raises(DatasetError, match=r"label folder .*Rename it") as caught:
        dataset.scan_image_dir(str(root))
    assert "\n" not in str(caught.value)  # one line, whatever the name holds


def test_convert_refuses_a_bad_class_name_and_converts_the_rest(tmp_path):
    from convert.pipeline import ConvertConfig, convert
    inputs = tmp_path / "in"
    inputs.mkdir()
    _npy(inputs / "cat.npy", 3)
    _npy(inputs / "a\x0cb.npy", 3)
    summary = convert([inputs], ConvertConfig(output_dir=tmp_path / "out", per_class=3), progress=False)
    assert [c.label for c in summary.classes] == ["cat"]
    assert any("control character" in reason for _, reason in summary.refused_files)


# --- 7: qdretrain's own folders are never data -----------------------------------------------------

def test_output_cache_summaries_and_checkpoints_inside_the_image_dir_are_not_classes(tmp_path):
    from retrain.data import dataset
    root = make_image_folder(tmp_path / "Output", {"cat": 2, "dog": 2})
    model = make_image_folder(root, {"retrain_output": 2})  # plot PNGs ...
    (model / "retrain_output" / "model_info.json").write_text("{}")  # ... of a model folder
    cache = root / "bottlenecks" / ("a" * 40)
    cache.mkdir(parents=True)
    (cache / "meta.json").write_text("{}")
    make_image_folder(root, {"bottlenecks": 1})
    summaries = root / "summaries" / "run-20260101-120000"
    summaries.mkdir(parents=True)
    make_image_folder(root, {"summaries": 1})
    (root / "checkpoints" / "backup" / "chief").mkdir(parents=True)
    make_image_folder(root, {"checkpoints": 1})
    index = dataset.scan_image_dir(str(root), check_files=False)
    assert index.labels == ("cat", "dog")
    reasons = " ".join(reason for _, reason in index.skipped)
    assert "model folder" in reasons and "bottleneck cache" in reasons and "summaries" in reasons \
        and "checkpoints" in reasons


def test_an_output_folder_inside_the_image_dir_is_refused_with_advice(tmp_path, monkeypatch):
    from retrain.families.config import TrainConfig
    root = make_image_folder(tmp_path / "Output", {"cat": 2, "dog": 2})
    monkeypatch.chdir(root)  # cd Output && qdretrain --image_dir .
    with pytest.raises(ConfigError, match=r"--output_dir retrain_output.*inside --image_dir.*\.\./retrain_output"):
        TrainConfig(image_dir=".").check_outputs_outside_data()
    TrainConfig(image_dir=".", output_dir="../model", bottleneck_dir="../bottlenecks").check_outputs_outside_data()
    with pytest.raises(ConfigError, match="--bottleneck_dir"):
        TrainConfig(image_dir=str(root), output_dir=str(tmp_path / "model"),
                    bottleneck_dir=str(root / "cache")).check_outputs_outside_data()
    # The train command refuses it before anything is written.
    from retrain.cli.main import cli
    from click.testing import CliRunner
    result = CliRunner().invoke(cli, ["train", "--image_dir", "."])
    assert result.exit_code == 2 and "inside --image_dir" in result.output
    assert not (root / "retrain_output").exists()


def test_own_folder_markers_agree_with_the_model_folder_contract():
    from retrain.data.dataset import OWN_FOLDER_FILES
    from retrain.model_folder import contract
    assert {contract.MODEL_INFO_FILE, contract.RUN_CONFIG_FILE, contract.LABELS_FILE} <= set(OWN_FOLDER_FILES)


# --- 11: exclude lists ----------------------------------------------------------------------------

def test_excluding_a_whole_class_drops_it_and_unmatched_names_are_counted(tmp_path, monkeypatch):
    from retrain.data import loading
    from retrain.families.config import TrainConfig
    root = make_image_folder(tmp_path / "images", {"cat": 3, "dog": 3, "fish": 3})
    names = [f"fish/img_{i:04d}.jpg" for i in range(3)]
    exclude = tmp_path / "x.txt"
    exclude.write_bytes(("\r\n".join(names + ["cat/img_0000.jpg ", "../images/dog/img_0001.jpg"]) + "\r\n")
                        .encode())
    said = []
    monkeypatch.setattr(loading, "echo", said.append)
    config = TrainConfig(image_dir=str(root), exclude_list=str(exclude), output_dir=str(tmp_path / "o"))
    index = loading.load_index(config)
    assert index.labels == ("cat", "dog")
    assert sorted({r.label_index for r in index.records}) == [0, 1]
    text = "\n".join(said)
    assert "3 of 5 names" in text and "'cat/img_0000.jpg '" in text and "'fish'" in text


def test_native_exclude_list_drops_a_whole_class_and_counts_matches(tmp_path):
    from retrain.families.config import TrainConfig
    from retrain.families.native.data import drawing_data
    for name in ("cat", "dog", "fish"):
        _npy(tmp_path / f"{name}.npy", 10)
    exclude = tmp_path / "x.txt"
    exclude.write_text("".join(f"fish/fish.npy#{r}\n" for r in range(10)) + "cat/cat.npy#99\ncat/cat.npy#1 \n")
    said = []
    config = TrainConfig(quickdraw_dir=str(tmp_path), architecture="quickdraw_cnn_small",
                         exclude_list=str(exclude), output_dir=str(tmp_path / "o"))
    data = drawing_data(config, 0, (0, 1), said.append)
    assert data.labels == ("cat", "dog")
    text = "\n".join(said)
    assert "10 of 12 names" in text and "'fish'" in text
