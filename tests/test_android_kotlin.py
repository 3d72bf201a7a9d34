"""The Kotlin the Android bundle ships compiles as written (issue 18).

Debian's `kotlinc` (set up by .ci/setup_kotlin) compiles every ```kotlin block of the bundle's README
(for a float and an int8 model) and DrawingRenderer.kt against tests/android_stubs/: stubs of the
Android, LiteRT, MediaPipe Tasks and Task Library classes with their documented signatures (there is no
Android SDK here). That checks syntax, imports and types of what we ship; not behaviour on a device.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

STUBS = Path(__file__).parent / "android_stubs"
RENDERER = Path(__file__).resolve().parent.parent / "android_export" / "DrawingRenderer.kt"
INFO = {"input_height": 224, "input_width": 224, "input_mean": 127.5, "input_std": 127.5, "label_count": 13,
        "architecture": "mobilenet_0.25_224", "input_preprocessing": "bitmap28_ink"}
INT8_IO = {"input_dtype": "uint8", "output_dtype": "uint8", "input_scale": 1.0, "input_zero_point": 0,
           "output_scale": 0.00390625, "output_zero_point": 0, "accuracy": 0.86, "top1_agreement": 0.99,
           "min_runtime_versions": {"LiteRT": "2.3.0", "MediaPipe Tasks": "0.10.21"}}


def kotlin_blocks(readme: str) -> list[str]:
    """The README's ```kotlin blocks that are whole files (a `package` line), in order."""
    blocks = re.findall(r"```kotlin\n(.*?)```", readme, re.S)
    return [b for b in blocks if b.lstrip().startswith("package ")]


def _compile(sources: list[Path], out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["kotlinc", *map(str, sources), *map(str, sorted(STUBS.glob("*.kt"))),
                           "-d", str(out)], capture_output=True, text=True, timeout=900)


def test_the_readme_has_a_complete_file_per_runtime():
    from android_export.android import android_readme
    for io in ({}, INT8_IO):
        blocks = kotlin_blocks(android_readme(INFO, "float32", io))
        assert len(blocks) == 3  # LiteRT, MediaPipe Tasks, the deprecated Task Library
        assert all("import android.content.Context" in b for b in blocks)
        uses = "ByteBuffer" if io else "CompiledModel"
        assert f"import {'java.nio.ByteBuffer' if io else 'com.google.ai.edge.litert.CompiledModel'}" in blocks[0], uses


def test_the_readme_states_this_models_numbers_and_the_runtime_guidance():
    from android_export.android import LITERT_ANDROID, android_readme
    text = android_readme(INFO, "int8", INT8_IO, {"top1": 0.868, "top5": 0.97, "map_at_3": 0.91, "count": 385})
    assert "86.8% top-1" in text and "385 held-back images" in text and "86.0% top-1" in text
    assert "MediaPipe Tasks 0.10.21" in text and LITERT_ANDROID in text
    assert "Deprecated" in text and "16 KB" in text


@pytest.mark.skipif(shutil.which("kotlinc") is None,
                    reason="kotlinc is absent (.ci/setup_kotlin installs Debian's kotlin): the bundle's "
                           "Kotlin is not compile-checked here")
def test_the_bundles_kotlin_compiles(tmp_path):
    from android_export.android import android_readme
    sources = [RENDERER]
    for name, io in (("float", {}), ("int8", INT8_IO)):
        for i, block in enumerate(kotlin_blocks(android_readme(INFO, "float32", io))):
            path = tmp_path / f"{name}_{i}.kt"
            # Each README block is its own file; the int8 and float ones would clash in one package.
            path.write_text(block.replace("package qdretrain", f"package qdretrain.{name}{i}", 1))
            sources.append(path)
    result = _compile(sources, tmp_path / "classes")
    assert result.returncode == 0, result.stderr[-4000:]
    # The check can fail: a snippet with an import missing does not compile.
    broken = tmp_path / "broken.kt"
    broken.write_text(kotlin_blocks(android_readme(INFO, "float32", INT8_IO))[0]
                      .replace("import java.nio.ByteOrder\n", ""))
    assert _compile([broken], tmp_path / "broken_classes").returncode != 0
