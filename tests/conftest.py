"""Shared fixtures: stand-in modules, tiny image folders, and the ../shared locator."""

from __future__ import annotations

import signal
from pathlib import Path

import numpy as np
import pytest

# A test run started in the background by a shell without job control (`cmd &`, some CI runners) inherits
# SIGINT ignored, and so would every process the Ctrl-C tests start: they would test nothing. Restore
# Python's own handler, which exec'd children see as the default disposition.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = REPO_ROOT.parent / "shared"


def shared_path(*parts: str) -> Path:
    """A path under ../shared, or a pytest skip (with the reason) where a clone has none.

    ../shared is the project's store of real data (full Quick, Draw! files) and downloaded weights, kept
    beside the repository on the machines that run the slow checks; nothing a user runs needs it (the
    embedded sample and module ship in the package)."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent: ../shared holds real Quick, Draw! data and weights beside the repo "
                    f"for these slow checks; a user's clone does not need it")
    return path


@pytest.fixture(scope="session")
def standin_module(tmp_path_factory) -> str:
    """A 32x32 -> 8-feature stand-in TF-Hub module, built once per test session."""
    from tests.standin import make_standin_module
    return make_standin_module(str(tmp_path_factory.mktemp("standin") / "module"), 32, 8)


def make_image_folder(root: Path, classes: dict[str, int], size: int = 40, seed: int = 0) -> Path:
    """Writes `count` distinct JPGs per class: each class a different dominant colour pattern, so a
    head on stand-in features can tell them apart."""
    from PIL import Image
    rng = np.random.default_rng(seed)
    for index, (label, count) in enumerate(sorted(classes.items())):
        folder = root / label
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            pixels = rng.integers(0, 60, size=(size, size, 3), dtype=np.uint8)
            pixels[..., index % 3] += np.uint8(120 + 40 * (index // 3 % 3))
            Image.fromarray(pixels).save(folder / f"img_{i:04d}.jpg", quality=95)
    return root


@pytest.fixture
def image_folder(tmp_path) -> Path:
    """Three classes (one with a space in its name) of 20 small JPGs each."""
    return make_image_folder(tmp_path / "images", {"cat": 20, "sea turtle": 20, "apple": 20})
