"""TensorFlow's start-up lines stay off the user's screen unless asked for (issue 8, first-run polish)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import REPO_ROOT

NOISE = ("oneDNN", "cuInit", "cudart_stub", "absl::InitializeLog", "E0000")
SCRIPT = "import common.tfcompat as t; print('ok', t.tf.__version__)"


def _run(extra_env: dict) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("QDRETRAIN_VERBOSE", "TF_CPP_MIN_LOG_LEVEL")}
    env.update(extra_env)
    return subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def test_tensorflow_import_prints_no_start_up_noise():
    result = _run({})
    assert result.returncode == 0 and result.stdout.startswith("ok"), result.stderr
    assert not [word for word in NOISE if word in result.stderr], result.stderr


def test_verbose_shows_tensorflow_start_up_lines():
    # The same import with QDRETRAIN_VERBOSE=1 lets TensorFlow's own lines through, which proves the
    # quiet test above looks at the stream where they would appear.
    result = _run({"QDRETRAIN_VERBOSE": "1", "TF_CPP_MIN_LOG_LEVEL": "0"})
    assert result.returncode == 0
    assert any(word in result.stderr for word in NOISE), result.stderr


def test_verbose_flag_is_not_taken_for_a_train_option(monkeypatch):
    from click.testing import CliRunner

    from retrain.cli.main import cli
    monkeypatch.delenv("QDRETRAIN_VERBOSE", raising=False)
    result = CliRunner().invoke(cli, ["--verbose", "architectures"])
    assert result.exit_code == 0, result.output
    assert os.environ.get("QDRETRAIN_VERBOSE") == "1"
    assert "quickdraw_cnn" in result.output


def test_opening_a_tflite_model_prints_no_xnnpack_info_line(tmp_path):
    """LiteRT's "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." (C++, fd 2) is silenced where
    qdretrain opens an interpreter (export verification, label_image, serve)."""
    import subprocess
    import sys
    script = (
        "import numpy as np\n"
        "from common.tfcompat import tf\n"
        "m = tf.keras.Sequential([tf.keras.Input((8, 8, 3)), tf.keras.layers.Flatten(), tf.keras.layers.Dense(2)])\n"
        "data = tf.lite.TFLiteConverter.from_keras_model(m).convert()\n"
        "from android_export.runners import TFLiteRunner\n"
        "print(TFLiteRunner(data).predict(np.zeros((1, 8, 8, 3), np.float32)).shape)\n")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    # Without QDRETRAIN_VERBOSE (an earlier test's in-process `--verbose` may have set it here).
    env = {k: v for k, v in os.environ.items() if k != "QDRETRAIN_VERBOSE"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=root,
                            env={**env, "PYTHONPATH": root}, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "XNNPACK" not in result.stdout + result.stderr
