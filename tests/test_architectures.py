"""The registry, entry by entry, and module resolution (offline)."""

from __future__ import annotations

import re

import pytest

from retrain.families import architectures

from retrain.families.hub_head import hub_modules
from common.errors import ModuleUnavailableError

V1_WIDTH_TAGS = {"1.0": "100", "0.75": "075", "0.50": "050", "0.25": "025"}


@pytest.mark.parametrize("name", [n for n in architectures.names() if not architectures.get(n).is_native])
def test_entry_is_consistent_with_its_name(name):  # native entries: tests/test_native.py
    spec = architectures.get(name)
    assert spec.name == name
    assert spec.handle.startswith("https://tfhub.dev/google/imagenet/")
    assert spec.handle.endswith("/feature_vector/5")
    assert spec.module_range == (0.0, 1.0)
    if name == "inception_v3":
        assert (spec.input_size, spec.feature_size, spec.family) == (299, 2048, "inception_v3")
        return
    size = int(re.search(r"_(\d+)(?:_quantized)?$", name).group(1))
    assert spec.input_size == size
    assert f"_{size}/" in spec.handle
    if spec.family == "mobilenet_v1":
        width = re.match(r"mobilenet_(\d\.\d+)_", name).group(1)
        assert f"mobilenet_v1_{V1_WIDTH_TAGS[width]}_{size}/" in spec.handle
        assert spec.feature_size == int(1024 * float(width))
        assert spec.quantized == name.endswith("_quantized")
    elif spec.family == "mobilenet_v2":
        assert "/mobilenet_v2_" in spec.handle and spec.feature_size in (1280, 1664, 1792)
    else:
        variant = "small" if "small" in name else "large"
        assert f"/mobilenet_v3_{variant}_" in spec.handle
        assert spec.feature_size == (1024 if variant == "small" else 1280)


def test_every_retrain_py_name_is_registered():
    for width in ("1.0", "0.75", "0.50", "0.25"):
        for size in (224, 192, 160, 128):
            for suffix in ("", "_quantized"):
                architectures.get(f"mobilenet_{width}_{size}{suffix}")
    architectures.get("inception_v3")
    architectures.get("mobilenet_v2_1.0_224")
    architectures.get("mobilenet_v3_small_1.0_224")
    architectures.get("mobilenet_v3_large_1.0_224")


def test_unknown_name_suggests_close_ones():
    with pytest.raises(KeyError, match="mobilenet_1.0_224"):
        architectures.get("mobilenet_1.0_244")


def test_default_architecture_ships_with_the_package_and_works_offline():
    spec = architectures.get(architectures.DEFAULT_ARCHITECTURE)
    module = hub_modules.resolve_module(spec)
    assert module.path.startswith(str(hub_modules.EMBEDDED_MODULES_DIR))
    assert hub_modules.probe_feature_size(module, spec.input_size) == spec.feature_size == 256


def test_unreachable_handle_gives_advice_not_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "hubcache"))
    spec = architectures.get("inception_v3")
    # .invalid never resolves (RFC 2606), so this fails offline and online alike.
    with pytest.raises(ModuleUnavailableError) as error:
        hub_modules.resolve_module(spec, "https://tfhub.invalid/google/imagenet/inception_v3/feature_vector/5")
    message = str(error.value)
    assert "tfhub.invalid" in message
    assert str(tmp_path / "hubcache") in message
    assert "--tfhub_module /path/to/module" in message


def test_local_module_path_errors_are_specific(tmp_path):
    spec = architectures.get("inception_v3")
    with pytest.raises(ModuleUnavailableError, match="does not exist"):
        hub_modules.resolve_module(spec, str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModuleUnavailableError, match="not a SavedModel"):
        hub_modules.resolve_module(spec, str(tmp_path / "empty"))


def test_fingerprint_changes_with_module_contents(tmp_path, standin_module):
    from tests.standin import make_standin_module
    other = make_standin_module(str(tmp_path / "other"), 32, 8, seed=1)
    assert hub_modules.fingerprint_module(standin_module) == hub_modules.fingerprint_module(standin_module)
    assert hub_modules.fingerprint_module(standin_module) != hub_modules.fingerprint_module(other)


@pytest.mark.parametrize("family_name", ["mobilenet_1.0_224", "mobilenet_v2_1.0_224",
                                         "mobilenet_v3_small_1.0_224", "inception_v3"])
def test_classifier_builds_for_each_family_with_a_standin(tmp_path, family_name):
    """Each family's classifier: input `input` in [-1, 1], output `final_result` probabilities."""
    import numpy as np

    from retrain.families.hub_head import model
    from tests.standin import make_standin_module
    spec = architectures.get(family_name)
    # A stand-in with the entry's real input and feature sizes.
    path = make_standin_module(str(tmp_path / "m"), spec.input_size, spec.feature_size)
    module = hub_modules.resolve_module(spec, path)
    head = model.build_head(spec.feature_size, 4)
    classifier = model.build_classifier(spec, module, head)
    assert classifier.input.name == "input"
    assert classifier.output.name.startswith("final_result")
    out = classifier(np.zeros((2, spec.input_size, spec.input_size, 3), np.float32)).numpy()
    assert out.shape == (2, 4)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)
