"""Streaming cached bottlenecks to the head: accuracy, record order, bounded memory, corrupt parts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

from retrain.families.hub_head import feature_stream
from common.errors import DatasetError
from retrain.families.hub_head.feature_memprobe import synthetic_cache, synthetic_records, write_synthetic_cache

CLASSES = 4
SIZE = 16


def _split(root, count, stream=True, part_rows=64, feature_size=SIZE, noise=0.3):
    write_synthetic_cache(str(root), count, feature_size, CLASSES, noise=noise, part_rows=part_rows)
    records, keys = synthetic_records(count, CLASSES)
    locations = synthetic_cache(str(root), feature_size).locate_keys(records, keys)
    return feature_stream.load_split(locations, 0 if stream else 1 << 62)


def _train_head(split, steps=200, batch_size=32):
    from retrain.families.hub_head import model as model_lib
    from retrain.families.hub_head import train
    params = train.TrainingParams(steps=steps, eval_interval=20, batch_size=batch_size,
                                  validation_batch_size=50, learning_rate=0.01, optimizer="adam")
    head = model_lib.build_head(SIZE, CLASSES)
    train.compile_for_training(head, params, from_logits=True)
    errors = feature_stream.StreamErrors()
    dataset = feature_stream.training_dataset(split, CLASSES, batch_size, seed=0, errors=errors,
                                              shuffle_buffer=500)
    validation = feature_stream.validation_batches(split, CLASSES, 50, seed=1, errors=errors)
    with errors.reraised():
        result = train.fit(head, dataset, validation, params, backup_dir=None, extra_callbacks=[],
                           echo=lambda line: None)
    return head, result


def test_streamed_head_learns_a_separable_cache_and_predicts_in_record_order(tmp_path):
    split = _split(tmp_path / "bn", 2000)
    assert split.streamed and split.array is None
    head, result = _train_head(split)
    assert result.history["val_accuracy"][-1] >= 0.95, result.history["val_accuracy"]
    # A shuffled subset, as limit_test_set makes: predictions must come back in the subset's order.
    chosen = np.random.default_rng(3).permutation(len(split))[:700]
    test = split.subset(chosen)
    logits = feature_stream.predict_logits(head, test, feature_stream.StreamErrors())
    in_memory = test.locations.gather(np.arange(len(test)))
    np.testing.assert_allclose(logits, head.predict(in_memory, verbose=0), atol=1e-5)
    assert np.mean(np.argmax(logits, -1) == test.labels) >= 0.95
    assert [r.relpath for r in test.records] == [split.records[i].relpath for i in chosen]


def test_training_batches_mix_part_files_of_single_classes(tmp_path):
    # Each part holds one class (as real parts mostly do); a batch must still draw from several.
    split = _split(tmp_path / "bn", 2000)
    dataset = feature_stream.training_dataset(split, CLASSES, 64, seed=0, errors=feature_stream.StreamErrors(),
                                              shuffle_buffer=500)
    for _, one_hot in dataset.take(5):
        assert len(np.unique(np.argmax(one_hot.numpy(), -1))) >= 3


def test_validation_of_the_whole_split_streams_every_record_once(tmp_path):
    split = _split(tmp_path / "bn", 1500)
    every = feature_stream.validation_batches(split, CLASSES, -1, seed=1, errors=feature_stream.StreamErrors())
    for _ in range(2):  # each evaluation reads the split again
        batches = list(every())
        assert sum(len(y) for _, y in batches) == len(split)
        counts = np.bincount(np.concatenate([np.argmax(y.numpy(), -1) for _, y in batches]),
                             minlength=CLASSES)
        np.testing.assert_array_equal(counts, np.bincount(split.labels, minlength=CLASSES))


def test_small_splits_stay_in_memory_and_hold_the_same_features(tmp_path):
    streamed = _split(tmp_path / "bn", 300)
    held = feature_stream.load_split(streamed.locations, feature_stream.STREAM_ABOVE_BYTES)
    assert not held.streamed
    np.testing.assert_array_equal(held.array, streamed.locations.gather(np.arange(300)))


def test_a_corrupt_part_while_streaming_is_the_caches_error_and_is_set_aside(tmp_path):
    split = _split(tmp_path / "bn", 640)
    part = split.locations.paths[3]
    data = bytearray(open(part, "rb").read())
    data[data.find(b"features.npy") + 200] ^= 0xFF  # inside the member's data: only the CRC sees it
    open(part, "wb").write(bytes(data))
    with pytest.raises(DatasetError, match="is corrupt .*Rerun to recompute"):
        _train_head(split, steps=40)
    assert os.path.exists(part + ".corrupt") and not os.path.exists(part)


def _peak_traced_bytes(split) -> int:
    """Peak Python/NumPy allocations while streaming one full pass of `split` in batches."""
    every = feature_stream.validation_batches(split, CLASSES, -1, seed=1, errors=feature_stream.StreamErrors())
    tracemalloc.start()
    try:
        for _ in every():
            pass
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_streaming_memory_does_not_grow_with_the_number_of_cached_features(tmp_path):
    # tracemalloc sees NumPy's buffers (the part reads); the cache is 1 MB and 4 MB of features.
    feature_size = 256
    small = _split(tmp_path / "small", 1024, feature_size=feature_size)
    large = _split(tmp_path / "large", 4096, feature_size=feature_size)
    small_peak, large_peak = _peak_traced_bytes(small), _peak_traced_bytes(large)
    large_bytes = 4096 * feature_size * 4
    assert large_peak < large_bytes / 4, (large_peak, large_bytes)
    assert large_peak < 1.5 * small_peak + (256 << 10), (small_peak, large_peak)
    # The control: gathering everything as one array does hold all of it (the test can fail).
    tracemalloc.start()
    large.locations.gather(np.arange(len(large)))
    assert tracemalloc.get_traced_memory()[1] >= large_bytes
    tracemalloc.stop()


@pytest.mark.slow
def test_streamed_head_training_rss_is_flat_from_20k_to_80k_features(tmp_path):
    # The whole process (TensorFlow's shuffle buffer included) in a fresh process per size: 80 MB and
    # 320 MB of features; held as arrays the larger would need ~240 MB more.
    results = {}
    for count in (20_000, 80_000):
        root = str(tmp_path / str(count))
        write_synthetic_cache(root, count, 1024, CLASSES, part_rows=256)
        out = subprocess.run([sys.executable, "-c",
                              "import json, sys; from retrain.families.hub_head.feature_memprobe import train_head; "
                              f"print(json.dumps(train_head({root!r}, {count}, 1024, 400, True, "
                              f"classes={CLASSES}, shuffle_buffer=5000)))"],
                             capture_output=True, text=True, check=True, cwd=os.getcwd())
        results[count] = json.loads(out.stdout.strip().splitlines()[-1])
    growth = results[80_000]["peak_rss_anon_mb"] - results[20_000]["peak_rss_anon_mb"]
    assert growth < 80, results
    assert results[80_000]["train_accuracy"] >= 0.9, results


def test_a_run_above_the_threshold_streams_every_split_end_to_end(tmp_path, standin_module, monkeypatch):
    # The whole CLI with every split streamed: training, validation, a --test_batch_size subset of the
    # test split, evaluation and the misclassified grid (which need the test records in order).
    from tests.conftest import make_image_folder
    from tests.test_pipeline import _train
    monkeypatch.setattr(feature_stream, "STREAM_ABOVE_BYTES", 0)
    images = make_image_folder(tmp_path / "images", {"cat": 25, "sea turtle": 25, "apple": 25})
    result = _train(tmp_path, images, standin_module, "--test_batch_size", "12", steps=200)
    assert "Streaming the cached features of training, validation, testing" in result.output
    evaluation = json.loads((tmp_path / "model" / "evaluation.json").read_text())
    assert evaluation["top1"] >= 0.8 and evaluation["count"] == 12, evaluation
    assert (tmp_path / "model" / "misclassified.png").exists()
    assert "N=10)" in result.output  # validation batches of 100 from a 10-image split: all of it


def test_streamed_training_batches_are_sharded_by_element_across_workers(tmp_path):
    # MultiWorkerMirroredStrategy rewrites each worker's dataset with its auto-shard policy; a generator
    # has no files to split, so the DATA policy must give each worker its own, disjoint batches.
    from tensorflow.python.data.experimental.ops.distribute import _AutoShardDataset
    split = _split(tmp_path / "bn", 1000)
    dataset = feature_stream.training_dataset(split, CLASSES, 10, seed=0, errors=feature_stream.StreamErrors(),
                                              shuffle_buffer=200)
    whole = [x.numpy() for x, _ in dataset.take(40)]
    for index in range(2):  # every worker streams the same sequence; worker i keeps batches i, i + 2, ...
        shard = _AutoShardDataset(dataset, num_workers=2, index=index, num_replicas=2)
        np.testing.assert_array_equal(np.stack([x.numpy() for x, _ in shard.take(20)]),
                                      np.stack(whole[index::2]))
    assert len({tuple(np.round(batch[0], 5)) for batch in whole}) == 40  # and the batches differ
