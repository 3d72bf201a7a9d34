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


def android_readme(info: dict, precision: str, tflite_io: dict) -> str:
    """The app-side instructions, filled in with this model's numbers."""
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
        buffer_code = f"""val input = ByteBuffer.allocateDirect({h} * {w} * 3).order(ByteOrder.nativeOrder())
for (p in pixels) {{            // ARGB ints
    input.put(((p shr 16) and 0xFF).toByte())   // R
    input.put(((p shr 8) and 0xFF).toByte())    // G
    input.put((p and 0xFF).toByte())            // B
}}
val output = Array(1) {{ ByteArray({labels}) }}
interpreter.run(input, output)
val scores = output[0].map {{ ((it.toInt() and 0xFF) - {tflite_io['output_zero_point']}) * {tflite_io['output_scale']:.6f}f }}"""
    else:
        feed = (f"Feed float32 [1, {h}, {w}, 3], RGB order, each channel (pixel - {mean:g}) / {std:g} "
                f"(so values are in [-1, 1]). Scores come out as float32 [1, {labels}] softmax "
                f"probabilities in labels.txt order.")
        buffer_code = f"""val input = ByteBuffer.allocateDirect(4 * {h} * {w} * 3).order(ByteOrder.nativeOrder())
for (p in pixels) {{            // ARGB ints
    input.putFloat((((p shr 16) and 0xFF) - {mean:g}f) / {std:g}f)   // R
    input.putFloat((((p shr 8) and 0xFF) - {mean:g}f) / {std:g}f)    // G
    input.putFloat(((p and 0xFF) - {mean:g}f) / {std:g}f)            // B
}}
val output = Array(1) {{ FloatArray({labels}) }}
interpreter.run(input, output)
val scores = output[0]"""
    preprocessing_note = ""
    if info.get("input_preprocessing", "none") != "none":
        preprocessing_note = (
            f"\nThe model brings its input down to 28 px itself (`input_preprocessing`: "
            f"{info['input_preprocessing']}, its first layer), so nearest-, bilinear- or area-scaled bitmaps "
            f"and pale thin strokes reach the backbone nearly alike; the steps above still give the best "
            f"accuracy.\n")
    return f"""# Android assets (qdretrain)

Copy these files into `app/src/main/assets/` (and add `aaptOptions {{ noCompress "tflite" }}`, or
`androidResources {{ noCompress += "tflite" }}`, so the model can be memory-mapped).

| file | what |
|---|---|
| `model.tflite` | {precision} TFLite model, with metadata (normalisation + labels.txt inside) |
| `labels.txt` | {labels} labels, one a line, in output order |
| `retrained_graph.pb` | frozen TF graph for the old TensorFlow Android app: feed `input`, fetch `{info.get('output_tensor', 'final_result')}` |
| `model_info.json` | the input contract below, machine-readable |

## Input contract
Architecture `{info.get('architecture')}`. {feed}

From a camera frame: take the RGB bitmap (not BGR, not YUV), centre-crop to a square if you want the
whole object, scale to {w} x {h} with bilinear filtering, then fill the buffer as below.
From a drawing canvas (Quick, Draw! doodles): draw black strokes on a **white** background, as the
training drawings are, and give the grayscale image to the model as three equal channels
(R = G = B = gray); do not invert it and do not pass one channel.

## Gradle dependencies (app/build.gradle.kts)
```kotlin
dependencies {{
    implementation("org.tensorflow:tensorflow-lite-task-vision:0.4.4")  // Task Library ImageClassifier
    implementation("org.tensorflow:tensorflow-lite-support:0.4.4")      // FileUtil, TensorImage
    implementation("com.google.ai.edge.litert:litert:1.4.0")            // LiteRT Interpreter
}}
android {{ androidResources {{ noCompress += "tflite" }} }}  // so the model can be memory-mapped
```

## Task Library (reads the metadata: resize, normalisation and labels are done for you)
```kotlin
import org.tensorflow.lite.support.image.TensorImage
import org.tensorflow.lite.task.vision.classifier.ImageClassifier

val options = ImageClassifier.ImageClassifierOptions.builder().setMaxResults(5).build()
val classifier = ImageClassifier.createFromFileAndOptions(context, "model.tflite", options)
val results = classifier.classify(TensorImage.fromBitmap(bitmap))   // ARGB_8888 bitmap, any size
val top = results[0].categories  // label + score, best first
```

## Plain Interpreter
```kotlin
import android.graphics.Bitmap
import android.util.Log
import org.tensorflow.lite.Interpreter
import org.tensorflow.lite.support.common.FileUtil

val interpreter = Interpreter(FileUtil.loadMappedFile(context, "model.tflite"),
                              Interpreter.Options().setNumThreads(4))
val labels = context.assets.open("labels.txt").bufferedReader().readLines().filter {{ it.isNotBlank() }}
val scaled = Bitmap.createScaledBitmap(bitmap, {w}, {h}, true)        // bilinear
val pixels = IntArray({w} * {h}).also {{ scaled.getPixels(it, 0, {w}, 0, 0, {w}, {h}) }}
{buffer_code}
val best = scores.indices.maxByOrNull {{ scores[it] }}!!
Log.i("qdretrain", "${{labels[best]}} ${{scores[best]}}")
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
{preprocessing_note}"""


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
                               android_readme(info, precision, tflite_io).encode("utf-8"))
    written.append(os.path.join(output, "README.md"))
    return written


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
