"""TFLite conversion of the tf_keras classifier at four precisions.

  float32  the reference TFLite model;
  float16  weights stored as float16 (half the size; GPU delegates run it natively);
  dynamic  weights int8, activations float (dynamic-range quantization; CPU only);
  int8     full-integer: weights and activations int8, calibrated on real training images, with uint8
           input and output so an app feeds raw 0-255 RGB pixels and reads scores in 0-255.

The converter works from a concrete function traced on the tf_keras model with a fixed batch of 1
(the Android Task Library requires [1, H, W, 3]); a Keras-3 model path is never used, since one of
those converts without error and then gives wrong outputs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import threading
from typing import Callable, Iterable, Optional

import numpy as np

PRECISIONS = ("float32", "float16", "dynamic", "int8")


WORK_DIR_PREFIX = ".tmp-tflite-"


def clean_stale_work_dirs(output_dir: str) -> list[str]:
    """Removes converter work folders that a killed export left in `output_dir` (their pid is gone).

    Returns:
      The folders removed.
    """
    removed = []
    if not os.path.isdir(output_dir):
        return removed
    for name in os.listdir(output_dir):
        if not name.startswith(WORK_DIR_PREFIX):
            continue
        pid = name[len(WORK_DIR_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and _alive(int(pid)):
            continue  # another export is running there now
        shutil.rmtree(os.path.join(output_dir, name), ignore_errors=True)
        removed.append(os.path.join(output_dir, name))
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def _conversion_guard(work_parent: Optional[str]):
    """Keeps the converter's temporary files in `work_parent` and Ctrl-C from being lost.

    The TFLite converter writes its intermediate files through `tempfile` (into /tmp, where a killed
    export leaves them); here they go into a `.tmp-tflite-<pid>-*` folder of the output folder, removed
    afterwards (and by the next export if this one is killed). A Ctrl-C that lands while the converter
    runs the calibration generator from C++ is printed as "Exception ignored" and dropped, and the
    conversion runs on; so during conversion Ctrl-C only sets a flag, calibration stops at the next
    image, and KeyboardInterrupt is raised as soon as the converter returns.
    """
    interrupted = threading.Event()
    previous_handler = None
    if threading.current_thread() is threading.main_thread():
        previous_handler = signal.signal(signal.SIGINT, lambda *_: interrupted.set())
    previous_tempdir = tempfile.tempdir
    work = None
    if work_parent:
        os.makedirs(work_parent, exist_ok=True)
        work = tempfile.mkdtemp(prefix=f"{WORK_DIR_PREFIX}{os.getpid()}-", dir=work_parent)
        tempfile.tempdir = work
    try:
        yield interrupted
    finally:
        tempfile.tempdir = previous_tempdir
        if work:
            shutil.rmtree(work, ignore_errors=True)
        if previous_handler is not None:
            signal.signal(signal.SIGINT, previous_handler)
    if interrupted.is_set():
        raise KeyboardInterrupt


def convert(model, precision: str,
            calibration_images: Optional[Callable[[], Iterable[np.ndarray]]] = None,
            work_dir: Optional[str] = None) -> bytes:
    """Converts a classifier to a .tflite flatbuffer (no metadata yet).

    Args:
      model: the tf_keras classifier (`input` float32 [b, H, W, 3] in [-1, 1]).
      precision: one of PRECISIONS.
      calibration_images: for "int8", a callable returning an iterable of float32 [H, W, 3] images in
        [-1, 1] (a few hundred real training images); the converter may call it more than once.
      work_dir: where the converter's temporary files go (a hidden folder inside it); None: /tmp.

    Returns:
      The .tflite bytes.

    Raises:
      ValueError: unknown precision, or "int8" without calibration images.
      KeyboardInterrupt: Ctrl-C during the conversion (raised once the converter returns).
    """
    from common.tfcompat import captured_stderr
    with _conversion_guard(work_dir) as interrupted, captured_stderr():
        return _convert(model, precision, calibration_images, interrupted)


def _convert(model, precision, calibration_images, interrupted: threading.Event) -> bytes:
    from retrain.model_folder.frozen_graph import serving_function
    from common.tfcompat import tf

    if precision not in PRECISIONS:
        raise ValueError(f"Unknown TFLite precision '{precision}'; choose one of {', '.join(PRECISIONS)}.")
    concrete = serving_function(model, batch_size=1)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], model)
    if precision == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif precision == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif precision == "int8":
        if calibration_images is None:
            raise ValueError("int8 conversion needs calibration images (real training images).")

        def representative_dataset():
            # An all-black and an all-white image first pin the input range to exactly [-1, 1], so
            # the uint8 input's scale is 2/255 with zero point ~128: an app then feeds raw 0-255
            # pixels, whatever pixel values the calibration images happen to contain.
            first = np.asarray(next(iter(calibration_images())), np.float32)
            for value in (-1.0, 1.0):
                yield [np.full((1, *first.shape), value, np.float32)]
            for image in calibration_images():
                if interrupted.is_set():
                    return  # Ctrl-C: end calibration now; _conversion_guard raises afterwards
                yield [np.asarray(image, np.float32)[None]]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative_dataset
        # Integer-only kernels, so the model runs on int8-only accelerators (Edge TPU, NNAPI DSPs) too.
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.uint8
    converted = bytes(converter.convert())
    if precision == "int8":
        check_raw_pixel_input(converted)
    return converted


RAW_PIXEL_SCALE = 2.0 / 255.0


def check_raw_pixel_input(model_bytes: bytes) -> None:
    """The int8 model's uint8 input must mean raw pixels: scale 2/255 and zero point 127 or 128.

    Raises:
      ExportVerificationError: calibration did not pin the range (an app feeding raw bytes would get
        wrong answers).
    """
    from ai_edge_litert.interpreter import Interpreter

    from common.errors import ExportVerificationError
    details = Interpreter(model_content=model_bytes).get_input_details()[0]
    scale, zero_point = details["quantization"]
    if abs(scale - RAW_PIXEL_SCALE) > 0.01 * RAW_PIXEL_SCALE or zero_point not in (127, 128):
        raise ExportVerificationError(
            f"The int8 model's input quantization is scale {scale:.6f}, zero point {zero_point}; an app "
            f"feeding raw 0-255 pixels needs scale {RAW_PIXEL_SCALE:.6f} and zero point 127/128. "
            f"Re-export; if it persists, report it with your calibration images.")
