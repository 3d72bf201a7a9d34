"""`qdretrain android`: the folder an Android app copies into `app/src/main/assets/`.

model.tflite (the chosen precision, with Task Library metadata), labels.txt, retrained_graph.pb,
model_info.json and a README.md with the exact preprocessing in Kotlin and how to load the model.
Artifacts come from a finished `qdretrain export`; a missing TFLite precision is exported (and verified)
first.
"""

from __future__ import annotations

import os
import shutil

from android_export.exporter import TFLITE_FORMATS, ExportConfig, read_model_dir, run_export
from retrain.model_folder import contract as outputs
from common.errors import QdretrainError

PRECISION_FORMATS = {precision: name for name, (_, precision) in TFLITE_FORMATS.items()}


# What the bundle's README pins and states. LiteRT is what qdretrain verifies every export in
# (ai-edge-litert 2.3.0 in Python); its Android artifacts are 16 KB page-size aligned since 1.4.0.
LITERT_ANDROID = "com.google.ai.edge.litert:litert:2.3.0"
LITERT_16KB_SINCE = "1.4.0"
# The oldest MediaPipe Tasks the guide supports; the real-client tests run 0.10.21 and 1.2.3 (Python).
MEDIAPIPE_ANDROID = "com.google.mediapipe:tasks-vision:0.10.21"
TASK_LIBRARY_ANDROID = ("org.tensorflow:tensorflow-lite-task-vision:0.4.4",
                        "org.tensorflow:tensorflow-lite-support:0.4.4")


def _percent(value) -> str:
    return f"{100 * value:.1f}%" if isinstance(value, (int, float)) else "n/a"


def _numbers_section(info: dict, precision: str, tflite_io: dict, evaluation: dict) -> str:
    """This model's own numbers: the final evaluation, the shipped file's check, the runtimes it runs in."""
    lines = [f"- Architecture `{info.get('architecture')}`, {info['label_count']} labels, "
             f"{info['input_width']}x{info['input_height']} input."]
    if evaluation.get("top1") is not None:
        lines.append(f"- Training's final evaluation on {evaluation.get('count', '?')} held-back images: "
                     f"{_percent(evaluation['top1'])} top-1, {_percent(evaluation.get('top5'))} top-5, "
                     f"MAP@3 {_percent(evaluation.get('map_at_3'))}.")
    if tflite_io.get("accuracy") is not None:
        lines.append(f"- This `model.tflite` ({precision}), run by LiteRT on the held-back images at export: "
                     f"{_percent(tflite_io['accuracy'])} top-1, agreeing with the trained model on "
                     f"{_percent(tflite_io.get('top1_agreement'))} of them.")
    versions = tflite_io.get("min_runtime_versions") or {}
    if versions:
        shown = ", ".join(f"{name} {version}" if version else f"{name}: does not run"
                          for name, version in versions.items())
        lines.append(f"- Runs in (the oldest version checked of each): {shown}.")
    return "\n".join(lines)


def _litert_kotlin(h: int, w: int, mean: float, std: float, labels: int, tflite_io: dict) -> str:
    """A complete Kotlin file: load model.tflite with LiteRT, feed the input contract, read the scores."""
    if tflite_io.get("input_dtype") == "uint8":
        # Full-integer model: uint8 in and out, through the Interpreter API (kept by LiteRT for
        # compatibility; the same artifact), which takes a ByteBuffer of raw bytes.
        return f"""package qdretrain

import android.content.Context
import android.graphics.Bitmap
import java.nio.ByteBuffer
import java.nio.ByteOrder
import org.tensorflow.lite.Interpreter

/** Scores in labels.txt order for a bitmap of any size (a camera frame, or DrawingRenderer's drawing). */
fun classifyInt8(context: Context, bitmap: Bitmap): FloatArray {{
    val bytes = context.assets.open("model.tflite").use {{ it.readBytes() }}
    val model = ByteBuffer.allocateDirect(bytes.size).order(ByteOrder.nativeOrder()).put(bytes)
    model.rewind()
    val interpreter = Interpreter(model, Interpreter.Options().setNumThreads(4))
    try {{
        val scaled = Bitmap.createScaledBitmap(bitmap, {w}, {h}, true)      // bilinear
        val pixels = IntArray({w} * {h})
        scaled.getPixels(pixels, 0, {w}, 0, 0, {w}, {h})
        val input = ByteBuffer.allocateDirect({h} * {w} * 3).order(ByteOrder.nativeOrder())
        for (p in pixels) {{            // ARGB ints -> raw R, G, B bytes (uint8, no normalisation)
            input.put(((p shr 16) and 0xFF).toByte())
            input.put(((p shr 8) and 0xFF).toByte())
            input.put((p and 0xFF).toByte())
        }}
        input.rewind()
        val output = Array(1) {{ ByteArray({labels}) }}
        interpreter.run(input, output)
        return FloatArray({labels}) {{ ((output[0][it].toInt() and 0xFF) - {tflite_io['output_zero_point']}) * {tflite_io['output_scale']:.6f}f }}
    }} finally {{
        interpreter.close()
    }}
}}
"""
    return f"""package qdretrain

import android.content.Context
import android.graphics.Bitmap
import com.google.ai.edge.litert.Accelerator
import com.google.ai.edge.litert.CompiledModel

/** Scores in labels.txt order for a bitmap of any size (a camera frame, or DrawingRenderer's drawing). */
fun classifyFloat(context: Context, bitmap: Bitmap): FloatArray {{
    val model = CompiledModel.create(context.assets, "model.tflite", CompiledModel.Options(Accelerator.CPU))
    try {{
        val inputs = model.createInputBuffers()
        val outputs = model.createOutputBuffers()
        val scaled = Bitmap.createScaledBitmap(bitmap, {w}, {h}, true)      // bilinear
        val pixels = IntArray({w} * {h})
        scaled.getPixels(pixels, 0, {w}, 0, 0, {w}, {h})
        val input = FloatArray({h} * {w} * 3)
        for ((i, p) in pixels.withIndex()) {{      // ARGB ints -> R, G, B, each (pixel - {mean:g}) / {std:g}
            input[3 * i] = (((p shr 16) and 0xFF) - {mean:g}f) / {std:g}f
            input[3 * i + 1] = (((p shr 8) and 0xFF) - {mean:g}f) / {std:g}f
            input[3 * i + 2] = ((p and 0xFF) - {mean:g}f) / {std:g}f
        }}
        inputs[0].writeFloat(input)
        model.run(inputs, outputs)
        return outputs[0].readFloat()           // FloatArray({labels}): softmax, labels.txt order
    }} finally {{
        model.close()
    }}
}}
"""


MEDIAPIPE_KOTLIN = """package qdretrain

import android.content.Context
import android.graphics.Bitmap
import com.google.mediapipe.framework.image.BitmapImageBuilder
import com.google.mediapipe.tasks.core.BaseOptions
import com.google.mediapipe.tasks.vision.imageclassifier.ImageClassifier

/** (label, score) best first: MediaPipe reads the model's metadata (size, normalisation, labels). */
fun classifyWithMediaPipe(context: Context, bitmap: Bitmap): List<Pair<String, Float>> {
    val options = ImageClassifier.ImageClassifierOptions.builder()
        .setBaseOptions(BaseOptions.builder().setModelAssetPath("model.tflite").build())
        .setMaxResults(5)
        .build()
    val classifier = ImageClassifier.createFromOptions(context, options)
    try {
        val result = classifier.classify(BitmapImageBuilder(bitmap).build())   // ARGB_8888, any size
        return result.classificationResult().classifications()[0].categories()
            .map { it.categoryName() to it.score() }
    } finally {
        classifier.close()
    }
}
"""

TASK_LIBRARY_KOTLIN = """package qdretrain

import android.content.Context
import android.graphics.Bitmap
import java.nio.MappedByteBuffer
import org.tensorflow.lite.Interpreter
import org.tensorflow.lite.support.common.FileUtil
import org.tensorflow.lite.support.image.TensorImage
import org.tensorflow.lite.task.vision.classifier.ImageClassifier

/** Existing apps on the deprecated Task Library: (label, score) best first. */
fun classifyWithTaskLibrary(context: Context, bitmap: Bitmap): List<Pair<String, Float>> {
    val options = ImageClassifier.ImageClassifierOptions.builder().setMaxResults(5).build()
    val classifier = ImageClassifier.createFromFileAndOptions(context, "model.tflite", options)
    val results = classifier.classify(TensorImage.fromBitmap(bitmap))
    return results[0].categories.map { it.label to it.score }
}

/** The model memory-mapped from the assets (support library). */
fun mappedModel(context: Context): MappedByteBuffer = FileUtil.loadMappedFile(context, "model.tflite")

/** A plain Interpreter on it, as TensorFlow Lite apps made one (LiteRT keeps this API). */
fun interpreterFor(context: Context): Interpreter =
    Interpreter(mappedModel(context), Interpreter.Options().setNumThreads(4))
"""


def android_readme(info: dict, precision: str, tflite_io: dict, evaluation: dict = None) -> str:
    """The app-side instructions, filled in with this model's contract and numbers.

    Args:
      info: the model's model_info.json.
      precision: which TFLite model the bundle ships (float32, int8, ...).
      tflite_io: model_info.json's "exports" entry of that file (input/output types, quantization,
        accuracy, min_runtime_versions); {} when unknown.
      evaluation: the model folder's evaluation.json (its numbers go into the README); {} when absent.
    """
    evaluation = evaluation or {}
    h, w = info["input_height"], info["input_width"]
    mean, std = info["input_mean"], info["input_std"]
    labels = info["label_count"]
    quantized = tflite_io.get("input_dtype") == "uint8"
    if quantized:
        feed = (f"This model is full-integer (int8 weights, uint8 input/output). Feed the raw RGB bytes "
                f"0-255 ([1, {h}, {w}, 3] uint8, no normalisation: the input's scale "
                f"{tflite_io['input_scale']:.6f} / zero point {tflite_io['input_zero_point']} do it inside). "
                f"Scores come out as uint8: probability = (q - {tflite_io['output_zero_point']}) * "
                f"{tflite_io['output_scale']:.6f}.")
    else:
        feed = (f"Feed float32 [1, {h}, {w}, 3], RGB order, each channel (pixel - {mean:g}) / {std:g} "
                f"(so values are in [-1, 1]). Scores come out as float32 [1, {labels}] softmax "
                f"probabilities in labels.txt order.")
    preprocessing_note = ""
    if info.get("input_preprocessing", "none") != "none":
        preprocessing_note = (
            f"\nThe model brings its input down to 28 px itself (`input_preprocessing`: "
            f"{info['input_preprocessing']}, its first layer), so nearest-, bilinear- or area-scaled bitmaps "
            f"and pale thin strokes reach the backbone nearly alike; the steps above still give the best "
            f"accuracy.\n")
    litert_api = "the Interpreter API (uint8 in and out)" if quantized else "the CompiledModel API"
    return f"""# Android assets (qdretrain)

Copy these files into `app/src/main/assets/` (and keep the model uncompressed so it can be
memory-mapped: `androidResources {{ noCompress += "tflite" }}`).

| file | what |
|---|---|
| `model.tflite` | {precision} TFLite model, with metadata (normalisation + labels.txt inside) |
| `labels.txt` | {labels} labels, one a line, in output order |
| `retrained_graph.pb` | frozen TF graph for the old TensorFlow Android app: feed `input`, fetch `{info.get('output_tensor', 'final_result')}` |
| `model_info.json` | the input contract below, machine-readable |

## This model
{_numbers_section(info, precision, tflite_io, evaluation)}

## Input contract
Architecture `{info.get('architecture')}`. {feed}

From a camera frame: take the RGB bitmap (not BGR, not YUV), centre-crop to a square if you want the
whole object, scale to {w} x {h} with bilinear filtering, then fill the buffer as below.
From a drawing canvas (Quick, Draw! doodles): draw black strokes on a **white** background, as the
training drawings are, and give the grayscale image to the model as three equal channels
(R = G = B = gray); do not invert it and do not pass one channel.

## Which runtime
| runtime | Gradle artifact | status |
|---|---|---|
| **LiteRT** (recommended) | `{LITERT_ANDROID}` | TensorFlow Lite's successor. `CompiledModel` is its current API; the `Interpreter` API stays for compatibility. Native libraries 16 KB page-size aligned since LiteRT {LITERT_16KB_SINCE}. |
| **MediaPipe Tasks** `ImageClassifier` | `{MEDIAPIPE_ANDROID}` or newer | Reads the model's metadata (resize, normalisation, labels). qdretrain's tests run each default model in MediaPipe Tasks 0.10.21 and 1.2.3; for Google Play's 16 KB rule use a release whose native libraries are 16 KB aligned (Android Studio's APK Analyzer shows it). |
| TFLite Task Library | `{TASK_LIBRARY_ANDROID[0]}` | **Deprecated** (replaced by LiteRT and MediaPipe Tasks). Its 0.4.4 native libraries are **not** 16 KB aligned, so Google Play refuses new apps and updates that target Android 15+ with it (required since 1 November 2025). For existing apps only, below. |

## Gradle dependencies (app/build.gradle.kts)
```kotlin
dependencies {{
    implementation("{LITERT_ANDROID}")          // LiteRT: CompiledModel and Interpreter
    implementation("{MEDIAPIPE_ANDROID}")     // MediaPipe Tasks ImageClassifier (optional)
}}
android {{ androidResources {{ noCompress += "tflite" }} }}  // so the model can be memory-mapped
```

## LiteRT ({litert_api})
```kotlin
{_litert_kotlin(h, w, mean, std, labels, tflite_io).rstrip()}
```
Read the labels once with `context.assets.open("labels.txt").bufferedReader().readLines().filter {{ it.isNotBlank() }}`
and keep the model open between calls in a real app (this function opens it each time for clarity).

## MediaPipe Tasks (metadata-driven)
```kotlin
{MEDIAPIPE_KOTLIN.rstrip()}
```

## Existing apps: the deprecated TFLite Task Library
```kotlin
// app/build.gradle.kts, as such apps have it (not 16 KB aligned: move to LiteRT or MediaPipe Tasks)
// implementation("{TASK_LIBRARY_ANDROID[0]}")
// implementation("{TASK_LIBRARY_ANDROID[1]}")
```
```kotlin
{TASK_LIBRARY_KOTLIN.rstrip()}
```

## Old TensorFlow Android app (TensorFlowInferenceInterface)
`retrained_graph.pb` with INPUT_SIZE = {h}, IMAGE_MEAN = {float(mean)!r}f, IMAGE_STD = {float(std)!r}f, INPUT_NAME = "input",
OUTPUT_NAME = "{info.get('output_tensor', 'final_result')}", LABEL_FILE = "labels.txt".

## Drawings: draw what the model learned from
`DrawingRenderer.kt` is the drawing contract (`drawing_contract` in model_info.json) ported line by line:
keep the user's strokes and call `DrawingRenderer.render(strokes, contract)`, then feed that bitmap as above.
`golden/` holds strokes with the exact image the Python renderer draws: unit-test the port against them
(with a small tolerance: Android's anti-aliasing is not PIL's). With only a bitmap of the canvas, crop it
to the ink's bounding box first, pad it to a square with a white margin, then scale it — never feed the
whole canvas with thin strokes.
{preprocessing_note}
What was checked: every Kotlin block above and `DrawingRenderer.kt` compile with `kotlinc` against stubs of
the Android, LiteRT, MediaPipe and Task Library classes written from their documented signatures
(qdretrain's `tests/test_android_kotlin.py`); they were not built against the real SDKs or run on a device.
"""


def write_android_assets(model_dir: str, output: str, precision: str = "float32", **export_options) -> list[str]:
    """Writes the Android assets folder.

    Args:
      model_dir: a training output dir (exported or not).
      output: the assets folder to write (created; existing files of the same names are replaced).
      precision: which TFLite model becomes model.tflite: float32 | float16 | dynamic | int8.
      export_options: ExportConfig options used if that precision has to be exported first.

    Returns:
      The files written.

    Raises:
      QdretrainError: unknown precision, bad model dir, or a failed export.
    """
    if precision not in PRECISION_FORMATS:
        raise QdretrainError(f"--precision must be one of {', '.join(PRECISION_FORMATS)}.")
    from retrain.model_folder.locate import locate_model_dir
    model_dir = locate_model_dir(model_dir)
    if os.path.abspath(output) == os.path.abspath(model_dir):
        raise QdretrainError("--output must be a folder of its own (e.g. app_assets/), not the model dir: "
                             "the app's model.tflite would overwrite the exported float model.")
    model = read_model_dir(model_dir)
    from common.writable import check_writable, write_errors
    check_writable(output, "--output")  # before any export work: a read-only --output is one line
    format_name = PRECISION_FORMATS[precision]
    tflite_path = os.path.join(model_dir, TFLITE_FORMATS[format_name][0])
    info = outputs.read_model_info(model_dir)
    # Rebuilt when missing, left by an earlier training run, or changed since it was verified.
    if not os.path.exists(tflite_path) or format_name not in info.get("exports", {}) or \
            outputs.artifact_problem(info, tflite_path):
        run_export(ExportConfig(model_dir=model_dir, formats=(format_name, "frozen_graph"), **export_options))
        info = outputs.read_model_info(model_dir)
    graph_path = os.path.join(model_dir, "retrained_graph.pb")
    if not os.path.exists(graph_path):
        run_export(ExportConfig(model_dir=model_dir, formats=("frozen_graph",), **export_options))
    # What ships must be the file export verified: checked again after any re-export.
    problem = outputs.artifact_problem(info, tflite_path) if os.path.exists(tflite_path) else \
        f"{os.path.basename(tflite_path)} was not written"
    if problem:
        raise QdretrainError(f"Not shipping {tflite_path}: {problem}")
    tflite_io = info["exports"][format_name]
    with write_errors(output, "--output"):
        return _write_assets(model, info, precision, tflite_io, tflite_path, graph_path, output)


def _write_assets(model, info, precision, tflite_io, tflite_path, graph_path, output) -> list[str]:
    os.makedirs(output, exist_ok=True)
    written = []

    def place(source: str, name: str, sha256: str) -> None:
        # Copy next to the target, check the copy is byte for byte what was verified, then rename: an
        # interrupted run or a full disk never leaves a half-copied model in the app's assets.
        target = os.path.join(output, name)
        tmp = target + ".tmp"
        try:
            shutil.copyfile(source, tmp)
            if outputs.sha256_of(tmp) != sha256:
                raise QdretrainError(f"The copy of {source} in {output} differs from the verified file (disk "
                                     f"full or failing?); nothing was shipped. Free space and run it again.")
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        written.append(target)

    place(tflite_path, "model.tflite", tflite_io.get("sha256") or outputs.sha256_of(tflite_path))
    place(graph_path, "retrained_graph.pb", outputs.sha256_of(graph_path))
    outputs.write_labels(model.labels, os.path.join(output, "labels.txt"))
    written.append(os.path.join(output, "labels.txt"))
    app_info = dict(info, labels_file="labels.txt", android={"model": "model.tflite", "precision": precision,
                                                            **{k: v for k, v in tflite_io.items() if k != "file"}})
    outputs.write_json(app_info, os.path.join(output, outputs.MODEL_INFO_FILE))
    written.append(os.path.join(output, outputs.MODEL_INFO_FILE))
    written += _place_drawing_renderer(output)
    outputs.atomic_write_bytes(os.path.join(output, "README.md"),
                               android_readme(info, precision, tflite_io, _evaluation(model.path)).encode("utf-8"))
    written.append(os.path.join(output, "README.md"))
    return written


def _evaluation(model_dir: str) -> dict:
    """The model folder's evaluation.json (training's final evaluation), {} when it has none."""
    path = os.path.join(model_dir, "evaluation.json")
    try:
        return outputs.read_json(path) if os.path.exists(path) else {}
    except (OSError, ValueError):
        return {}


KOTLIN_RENDERER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "DrawingRenderer.kt")


def _place_drawing_renderer(output: str) -> list[str]:
    """The drawing contract's Kotlin port and its golden files (strokes + the exact PNG the Python
    renderer makes), so the app can unit-test its drawing code against what the model learned from."""
    from convert.make_golden import GOLDEN_DIR
    written = []
    shutil.copyfile(KOTLIN_RENDERER, os.path.join(output, "DrawingRenderer.kt"))
    written.append(os.path.join(output, "DrawingRenderer.kt"))
    os.makedirs(os.path.join(output, "golden"), exist_ok=True)
    for name in sorted(os.listdir(GOLDEN_DIR)):
        if name.endswith((".json", ".png")):
            shutil.copyfile(os.path.join(GOLDEN_DIR, name), os.path.join(output, "golden", name))
            written.append(os.path.join(output, "golden", name))
    return written
