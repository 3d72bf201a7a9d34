"""The bottleneck cache: correct features, reuse, invalidation, failures, interruption, sharding."""

from __future__ import annotations

import os
import shutil
import warnings

import numpy as np
import pytest

from retrain.families import architectures
from retrain.families.hub_head.bottlenecks import BottleneckCache
from retrain.data.dataset import DatasetWarning, ImageRecord, scan_image_dir, scan_quickdraw_dir
from common.errors import DatasetError
from retrain.families.hub_head.hub_modules import resolve_module
from tests.conftest import make_image_folder

N_IMAGES = 24


@pytest.fixture(scope="module")
def spec():
    return architectures.with_overrides(architectures.get("mobilenet_0.25_224"), input_size=32,
                                        feature_size=8)


@pytest.fixture(scope="module")
def module(spec, standin_module):
    return resolve_module(spec, standin_module)


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    root = make_image_folder(tmp_path_factory.mktemp("data") / "images", {"cat": 12, "dog": 12})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DatasetWarning)
        return list(scan_image_dir(str(root)).records)


@pytest.fixture(scope="module")
def reference(spec, module, records):
    """relpath -> features, computed image by image by build_classifier's own backbone."""
    from retrain.data.images import load_image_file
    from retrain.families.hub_head.model import build_classifier, build_head
    from common.tfcompat import keras
    classifier = build_classifier(spec, module, build_head(8, 2))
    backbone = keras.Model(classifier.input, classifier.get_layer("backbone").output)
    images = np.stack([load_image_file(r.source, spec.input_size) for r in records])
    features = backbone.predict(images, batch_size=1, verbose=0)
    return {r.relpath: f for r, f in zip(records, features)}


def _expected(reference, records):
    return np.stack([reference[r.relpath] for r in records])


def _stored_keys(cache) -> int:
    return sum(len(np.load(path)["keys"]) for path in cache.part_files())


def test_features_are_what_the_classifier_backbone_computes(tmp_path, spec, module, records, reference):
    cache = BottleneckCache(str(tmp_path / "bn"), module, spec)
    report = cache.compute(records, batch_size=5, progress=False)
    assert (report.computed, report.already_cached, report.failed) == (N_IMAGES, 0, ())
    features, kept = cache.load(records)
    assert kept == records and features.shape == (N_IMAGES, 8) and features.dtype == np.float32
    np.testing.assert_allclose(features, _expected(reference, records), atol=1e-5)
    assert np.abs(features).sum() > 0  # the stand-in gives real, non-zero features


def test_rerun_reuses_everything_even_after_the_folder_moves(tmp_path, spec, module, records, reference):
    cache = BottleneckCache(str(tmp_path / "bn"), module, spec)
    cache.compute(records, batch_size=8, progress=False)
    parts = cache.part_files()
    moved = tmp_path / "moved"
    shutil.copytree(os.path.dirname(os.path.dirname(records[0].source)), moved)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DatasetWarning)
        moved_records = list(scan_image_dir(str(moved)).records)
    again = BottleneckCache(str(tmp_path / "bn"), module, spec)  # a new process, in effect
    report = again.compute(moved_records, progress=False)
    assert (report.computed, report.already_cached) == (0, N_IMAGES)
    assert again.part_files() == parts
    np.testing.assert_allclose(again.load(moved_records)[0], _expected(reference, records), atol=1e-5)


def test_another_module_gets_its_own_features(tmp_path, tmp_path_factory, spec, module, records):
    from tests.standin import make_standin_module
    other_path = make_standin_module(str(tmp_path_factory.mktemp("other") / "module"), 32, 8, seed=7)
    other = resolve_module(spec, other_path)
    assert other.fingerprint != module.fingerprint
    first = BottleneckCache(str(tmp_path / "bn"), module, spec)
    first.compute(records, progress=False)
    second = BottleneckCache(str(tmp_path / "bn"), other, spec)
    assert second.dir != first.dir
    report = second.compute(records, progress=False)
    assert report.computed == N_IMAGES and report.already_cached == 0
    assert not np.allclose(first.load(records)[0], second.load(records)[0])
    # Another input size is another preprocessing: a separate folder too.
    bigger = BottleneckCache(str(tmp_path / "bn"), module,
                             architectures.with_overrides(spec, input_size=48))
    assert bigger.dir not in (first.dir, second.dir)


def test_undecodable_images_are_reported_left_out_and_not_retried(tmp_path, spec, module, records):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(open(records[0].source, "rb").read()[:200])  # truncated; scanning would skip it
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    extra = [ImageRecord("cat", 0, "cat/bad.jpg", str(bad)),
             ImageRecord("dog", 1, "dog/empty.png", str(empty))]
    everything = records[:6] + extra
    cache = BottleneckCache(str(tmp_path / "bn"), module, spec)
    report = cache.compute(everything, progress=False)
    assert report.computed == 8
    assert [relpath for relpath, _ in report.failed] == ["cat/bad.jpg", "dog/empty.png"]
    assert all(reason for _, reason in report.failed)
    features, kept = cache.load(everything)
    assert kept == records[:6] and features.shape == (6, 8)
    rerun = cache.compute(everything, progress=False)
    assert rerun.computed == 0 and len(rerun.failed) == 2


def test_load_refuses_records_never_computed(tmp_path, spec, module, records):
    cache = BottleneckCache(str(tmp_path / "bn"), module, spec)
    cache.compute(records[:10], progress=False)
    with pytest.raises(DatasetError, match="14 of 24 images have no cached bottleneck"):
        cache.load(records)


def test_ctrl_c_keeps_finished_batches(tmp_path, spec, module, records, reference, monkeypatch):
    cache = BottleneckCache(str(tmp_path / "bn"), module, spec)
    real = cache.feature_function()
    calls = []

    def interrupted(images):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(images)

    monkeypatch.setattr(cache, "feature_function", lambda: interrupted)
    with pytest.raises(KeyboardInterrupt):
        cache.compute(records, batch_size=4, flush_every=1000, progress=False)
    assert _stored_keys(cache) == 8  # the two finished batches were saved on the way out
    assert not [n for n in os.listdir(cache.dir) if n.startswith(".tmp-")]
    monkeypatch.undo()
    report = BottleneckCache(str(tmp_path / "bn"), module, spec).compute(records, progress=False)
    assert (report.already_cached, report.computed) == (8, N_IMAGES - 8)
    np.testing.assert_allclose(cache.load(records)[0], _expected(reference, records), atol=1e-5)


def test_crash_while_writing_leaves_no_partial_file(tmp_path, spec, module, records, monkeypatch):
    cache = BottleneckCache(str(tmp_path / "bn"), module, spec)

    def failing_savez(handle, **arrays):
        handle.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", failing_savez)
    with pytest.raises(OSError, match="disk full"):
        cache.compute(records, batch_size=4, flush_every=4, progress=False)
    monkeypatch.undo()
    assert cache.part_files() == [] and os.listdir(cache.dir) == ["meta.json"]
    assert cache.compute(records, progress=False).computed == N_IMAGES


def test_damaged_part_files_are_ignored_and_recomputed(tmp_path, spec, module, records, reference):
    cache = BottleneckCache(str(tmp_path / "bn"), module, spec)
    cache.compute(records, batch_size=4, flush_every=8, progress=False)
    parts = cache.part_files()
    assert len(parts) == 3
    data = open(parts[0], "rb").read()
    open(parts[0], "wb").write(data[: len(data) // 2])                   # truncated
    open(os.path.join(cache.dir, ".tmp-part-dead.npz"), "wb").write(b"x")  # a killed writer's temp
    open(os.path.join(cache.dir, "part-garbage.npz"), "wb").write(b"\0" * 100)

    report = cache.compute(records, progress=False)
    assert sorted(os.path.basename(p) for p, _ in report.corrupt_files) == sorted(
        [os.path.basename(parts[0]), "part-garbage.npz"])
    assert report.computed == 8 and report.already_cached == N_IMAGES - 8
    np.testing.assert_allclose(cache.load(records)[0], _expected(reference, records), atol=1e-5)


def test_bit_rot_in_features_is_caught(tmp_path, spec, module, records, reference):
    cache = BottleneckCache(str(tmp_path / "bn"), module, spec)
    cache.compute(records, progress=False)
    (part,) = cache.part_files()
    data = bytearray(open(part, "rb").read())
    start = data.find(b"features.npy")  # the member's local header; its data follows shortly after
    data[start + 200] ^= 0xFF
    open(part, "wb").write(bytes(data))
    with pytest.raises(DatasetError, match="corrupt"):
        cache.load(records)
    report = cache.compute(records, progress=False)
    assert report.computed == N_IMAGES
    assert cache.part_files() != [part] and os.path.exists(part + ".corrupt")  # set aside, not reread
    np.testing.assert_allclose(cache.load(records)[0], _expected(reference, records), atol=1e-5)


def test_two_shards_equal_one_worker(tmp_path, spec, module, records, reference):
    worker0 = BottleneckCache(str(tmp_path / "shared"), module, spec)
    worker1 = BottleneckCache(str(tmp_path / "shared"), module, spec)
    first = worker0.compute(records, shard_index=0, shard_count=2, progress=False)
    assert 0 < first.computed < N_IMAGES and first.other_shards == N_IMAGES - first.computed
    with pytest.raises(DatasetError, match="every shard finished"):
        worker0.load(records)
    second = worker1.compute(records, shard_index=1, shard_count=2, progress=False)
    assert second.computed == first.other_shards and second.other_shards == 0
    assert len(set(worker0.part_files())) == len(worker0.part_files()) == 2  # no name clash
    np.testing.assert_allclose(worker0.load(records)[0], _expected(reference, records), atol=1e-5)
    with pytest.raises(ValueError):
        worker0.compute(records, shard_index=2, shard_count=2)


def test_quickdraw_records_are_cached_like_files(tmp_path, spec, module):
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        bitmaps = np.zeros((15, 784), np.uint8)
        for row in bitmaps:
            row[rng.integers(0, 784, 80)] = 255
        np.save(tmp_path / f"{name}.npy", bitmaps)
    bitmaps[3] = bitmaps[4]  # a duplicate drawing is one image
    np.save(tmp_path / "b.npy", bitmaps)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DatasetWarning)
        index = scan_quickdraw_dir(str(tmp_path), per_class=15)
    cache = BottleneckCache(str(tmp_path / "bn"), module, spec)
    report = cache.compute(index.records, progress=False)
    assert (report.requested, report.unique, report.computed) == (30, 29, 29)
    features, kept = cache.load(index.records)
    assert len(kept) == 30
    from retrain.data.images import load_record_image
    direct = cache.feature_function()(np.stack([load_record_image(r, 32) for r in index.records])).numpy()
    np.testing.assert_allclose(features, direct, atol=1e-5)
    assert cache.compute(index.records, progress=False).computed == 0


@pytest.mark.slow
def test_real_module_on_real_drawings(tmp_path):
    from retrain.data.images import load_record_image
    from retrain.families.hub_head.model import build_classifier, build_head
    from common.tfcompat import keras
    from tests.conftest import shared_path
    real_spec = architectures.get("mobilenet_0.25_224")
    real_module = resolve_module(real_spec, str(shared_path("modules", "mobilenet_v1_025_224")))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DatasetWarning)
        index = scan_quickdraw_dir(str(shared_path("data", "quickdraw_bitmaps")), per_class=3)
    cache = BottleneckCache(str(tmp_path / "bn"), real_module, real_spec)
    report = cache.compute(index.records, batch_size=16, progress=False)
    assert report.computed == 39 and not report.failed
    features, kept = cache.load(index.records)
    assert features.shape == (39, 256) and len(kept) == 39
    classifier = build_classifier(real_spec, real_module, build_head(256, 13))
    backbone = keras.Model(classifier.input, classifier.get_layer("backbone").output)
    images = np.stack([load_record_image(r, 224) for r in index.records[:6]])
    np.testing.assert_allclose(features[:6], backbone.predict(images, verbose=0), atol=1e-4)
