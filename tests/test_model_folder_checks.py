"""What reads a model folder checks it first and refuses with one line (issue 17, items 8, 17, 18):
`android` ships only what export verified, `serve` checks the folder and --collect_dir at start-up and
answers a failed /collect with JSON, model_info.json is validated in one place for every reader, and
`similar --image` refuses bombs and non-images as label_image does."""

from __future__ import annotations

import errno
import json
import os
import shutil

import pytest
from click.testing import CliRunner

from tests.test_serve_api import LINE, served_dir  # noqa: F401 (fixture)


def _run(*args):
    from retrain.cli.main import cli
    return CliRunner().invoke(cli, [str(a) for a in args])


def _one_line_error(result, *words) -> str:
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output and result.exception is None or isinstance(result.exception,
                                                                                       SystemExit), result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    for word in words:
        assert word in lines[0], result.output
    return lines[0]


@pytest.fixture(autouse=True)
def no_server(monkeypatch):
    """A serve command that got past its checks would block in uvicorn: fail instead."""
    import uvicorn

    def started(*args, **kwargs):
        raise AssertionError("the server started")

    monkeypatch.setattr(uvicorn, "run", started)


@pytest.fixture
def folder(served_dir, tmp_path) -> str:  # noqa: F811
    """A copy of the exported stand-in model folder (model.tflite, model_int8.tflite), free to damage."""
    copy = str(tmp_path / "model")
    shutil.copytree(served_dir, copy)
    return copy


def _edit_info(folder: str, **changes) -> None:
    path = os.path.join(folder, "model_info.json")
    with open(path) as handle:
        info = json.load(handle)
    info.update(changes)
    with open(path, "w") as handle:
        json.dump(info, handle)


# --- item 8: android ships what export verified -----------------------------------------------------

def test_android_reexports_a_truncated_model_tflite(folder, tmp_path):
    from android_export.android import write_android_assets
    from retrain.model_folder import contract as outputs
    with open(os.path.join(folder, "model.tflite"), "r+b") as handle:
        handle.truncate(1000)
    write_android_assets(folder, str(tmp_path / "assets"), "float32")
    shipped = str(tmp_path / "assets" / "model.tflite")
    info = outputs.read_json(os.path.join(folder, "model_info.json"))
    assert os.path.getsize(shipped) > 1000 and outputs.sha256_of(shipped) == info["exports"]["tflite"]["sha256"]


def test_android_refuses_a_copy_that_is_not_the_verified_file(folder, tmp_path, monkeypatch):
    import android_export.android as android
    from common.errors import QdretrainError

    def short_copy(source, target):  # what a full disk can leave: the copy cut short, no error
        with open(source, "rb") as handle, open(target, "wb") as out:
            out.write(handle.read()[:1000])

    monkeypatch.setattr(android.shutil, "copyfile", short_copy)
    with pytest.raises(QdretrainError, match="differs from the verified file"):
        android.write_android_assets(folder, str(tmp_path / "assets"), "float32")
    assert not [n for n in os.listdir(tmp_path / "assets") if n.startswith("model.tflite")]


# --- item 17: serve checks at start-up ----------------------------------------------------------------

def _damage_labels_short(folder):
    path = os.path.join(folder, "retrained_labels.txt")
    lines = open(path).read().splitlines()
    open(path, "w").write("\n".join(lines[:-1]) + "\n")


DAMAGE = {
    "model_info.json not JSON": (lambda f: open(os.path.join(f, "model_info.json"), "w").write("{broken"),
                                 "model_info.json"),
    "labels one line short": (_damage_labels_short, "3 labels"),
    "labels empty": (lambda f: open(os.path.join(f, "retrained_labels.txt"), "w").write(""), "no labels"),
    "input_width -5": (lambda f: _edit_info(f, input_width=-5), "input_width is -5"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_serve_refuses_a_damaged_model_folder_at_start(folder, damage):
    change, words = DAMAGE[damage]
    change(folder)
    _one_line_error(_run("serve", "--model_dir", folder), words)


def test_serve_refuses_a_truncated_tflite_that_model_info_does_not_vouch_for(folder):
    from serve.model import ServedModel
    with open(os.path.join(folder, "model.tflite"), "r+b") as handle:
        handle.truncate(1000)
    info = json.load(open(os.path.join(folder, "model_info.json")))
    info["exports"]["tflite"].pop("sha256")  # e.g. an older folder: only running it can tell
    json.dump(info, open(os.path.join(folder, "model_info.json"), "w"))
    model = ServedModel(folder)
    assert "model.tflite" not in model.artifacts and "cannot be run" in model.refused["model.tflite"]
    _one_line_error(_run("serve", "--model_dir", folder, "--artifact", "model.tflite"), "model.tflite")


def test_serve_refuses_an_unwritable_collect_dir_at_start(folder, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    _one_line_error(_run("serve", "--model_dir", folder, "--collect_dir", blocker / "corrections"),
                    "--collect_dir")


def test_collect_on_a_full_disk_answers_json_and_leaves_no_empty_file(folder, tmp_path, monkeypatch):
    from starlette.testclient import TestClient

    from serve import collect
    from serve.app import create_app
    from serve.model import ServedModel
    real_write = os.write

    def full_disk(fd, data):
        if data.startswith(b'{"word"'):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(collect.os, "write", full_disk)
    collected = tmp_path / "collected"
    with TestClient(create_app(ServedModel(folder), str(collected)), raise_server_exceptions=False) as client:
        response = client.post("/collect", json={"strokes": LINE, "label": "cat"})
    assert response.status_code == 507, response.text
    assert "disk is full" in response.json()["error"]
    assert not (collected / "cat.ndjson").exists()


# --- item 18 (part): model_info.json validated in one place; similar --image ---------------------------

def test_input_width_minus_5_is_one_line_in_export_android_and_label_image(folder, tmp_path):
    from PIL import Image
    _edit_info(folder, input_width=-5)
    _one_line_error(_run("export", "--model_dir", folder, "--formats", "tflite"), "input_width is -5")
    _one_line_error(_run("android", "--model_dir", folder, "--output", tmp_path / "assets"), "input_width is -5")
    image = tmp_path / "x.png"
    Image.new("RGB", (32, 32), "white").save(image)
    _one_line_error(_run("label_image", "--graph", os.path.join(folder, "model.tflite"), "--image", image),
                    "input_width is -5")
    _edit_info(folder, input_width=32)  # the same rule holds for the flags
    _one_line_error(_run("label_image", "--graph", os.path.join(folder, "model_int8.tflite"), "--image", image,
                         "--input_height", 0), "input_height is 0")


@pytest.mark.parametrize("kind", ["bomb", "not an image"])
def test_similar_refuses_an_image_bomb_or_a_non_image(folder, tmp_path, kind):
    from PIL import Image
    query = tmp_path / "query.png"
    if kind == "bomb":
        Image.new("L", (20000, 20000), 255).save(query)  # 400 megapixels in a small file
    else:
        query.write_bytes(b"this is not an image at all")
    words = "too large" if kind == "bomb" else "not an image"
    _one_line_error(_run("similar", "--model_dir", folder, "--image", query), "--image", words)
