"""`qdretrain export`, `qdretrain android` and `qdretrain label_image`: parse options, call the library.

TensorFlow (and the ONNX packages) are imported inside the commands, so `qdretrain --help` stays fast.
"""

from __future__ import annotations

import functools

import click

from common.cli_options import FINITE_FLOAT, flag, user_errors

FORMAT_NAMES = ("tflite", "tflite_fp16", "tflite_dynamic", "tflite_int8", "onnx", "frozen_graph", "saved_model")
# Asked for by name only ("all" leaves it out: it needs LiteRT.js from npm, see docs/web.md).
EXTRA_FORMATS = ("web",)


def _formats(value: str) -> tuple:
    formats = tuple(f.strip() for f in value.split(",") if f.strip())
    if formats == ("all",):
        return FORMAT_NAMES
    unknown = [f for f in formats if f not in FORMAT_NAMES + EXTRA_FORMATS]
    if unknown or not formats:
        raise click.BadParameter(f"unknown format(s) {', '.join(unknown) or '(none)'}; choose from "
                                 f"{', '.join(FORMAT_NAMES + EXTRA_FORMATS)} (comma-separated) or 'all'.")
    return formats


def _export_options(func, onnx: bool = True):
    """The verification and calibration options; `onnx` adds --opset (not for `android`, which
    exports TFLite only)."""
    options = [
        flag("--opset", type=click.IntRange(9, 18), default=15, show_default=True,
             help="ONNX opset (tf2onnx 1.17 converts 9 to 18)."),
    ] if onnx else []
    options += [
        flag("--calibration_dir", type=click.Path(exists=True, file_okay=False), default=None,
             help="Images to calibrate int8 on when the training images (splits.json) are not here."),
        flag("--calibration_images", type=int, default=200, show_default=True,
             help="How many images calibrate int8."),
        flag("--test_dir", type=click.Path(exists=True, file_okay=False), default=None,
             help="Labelled images (one sub-folder per label) to verify on when the test split is not here."),
        flag("--max_test_images", type=int, default=500, show_default=True,
             help="At most this many held-back images in the verification."),
        flag("--embedding/--no_embedding", default=False, show_default=True,
             help="Also write embedding.tflite (input -> embedding, for on-device similar search), verified."),
        flag("--tolerance", type=FINITE_FLOAT, default=1e-3, show_default=True,
             help="Largest |probability difference| a float artifact may have from the trained model."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.command("export")
@flag("--model_dir", required=True, type=click.Path(exists=True, file_okay=False),
      help="A `qdretrain train` output dir (saved_model/, retrained_labels.txt, model_info.json).")
@flag("--output_dir", default=None, help="Where artifacts go [the model dir].")
@flag("--formats", default="all", show_default=True,
      help=f"Comma-separated: {', '.join(FORMAT_NAMES)}, or all; and web (a static page running "
           f"model.tflite in the browser, docs/web.md).")
@_export_options
@user_errors
def export_command(model_dir, output_dir, formats, **options):
    """Export to TFLite (float32/float16/dynamic/int8, with metadata), ONNX, frozen graph and SavedModel,
    then run each with its own runtime on the held-back test images and compare with the trained model.

    \b
    A float artifact that disagrees fails the export (it is renamed *.failed). A quantization report
    shows size, accuracy and agreement of float16/dynamic/int8 against float. Results go to
    export_report.json and the "exports" section of model_info.json.
    """
    from android_export.exporter import ExportConfig, run_export
    from common.errors import ConfigError
    try:
        config = ExportConfig(model_dir=model_dir, output_dir=output_dir, formats=_formats(formats), **options)
    except ConfigError as error:
        raise click.UsageError(str(error)) from None
    run_export(config)


@click.command("android")
@flag("--model_dir", required=True, type=click.Path(exists=True, file_okay=False),
      help="A `qdretrain train` output dir.")
@flag("--output", required=True, help="The assets folder to write (e.g. app_assets/).")
@flag("--precision", type=click.Choice(["float32", "float16", "dynamic", "int8"]), default="float32",
      show_default=True, help="Which TFLite model becomes model.tflite.")
@functools.partial(_export_options, onnx=False)
@user_errors
def android_command(model_dir, output, precision, **options):
    """Write what an Android app needs: model.tflite, labels.txt, retrained_graph.pb, model_info.json and
    a README.md with the exact preprocessing (Kotlin) and how to load the model.

    Exports (and verifies) the chosen precision first if `qdretrain export` has not made it yet.
    """
    from android_export.android import write_android_assets
    written = write_android_assets(model_dir, output, precision, **options)
    click.echo("Wrote " + ", ".join(written))


@click.command("label_image")
@flag("--graph", "--model", "graph", required=True, type=click.Path(exists=True),
      help="The artifact: .tflite, .pb (also retrain.py's), .onnx, or a SavedModel folder.")
@flag("--image", type=click.Path(exists=True, dir_okay=False), default=None, help="One image to classify.")
@flag("--image_dir", type=click.Path(exists=True, file_okay=False), default=None,
      help="Or a folder: every image under it.")
@flag("--strokes", default=None,
      help="Or drawings as strokes: a QuickDraw .ndjson or Kaggle .csv FILE[:N] (its N-th drawing, from 1; "
           "without :N its first --max_drawings), drawn by the model's drawing contract "
           "(model_info.json), as DrawingRenderer.kt draws them in the app.")
@flag("--max_drawings", type=click.IntRange(min=1), default=20, show_default=True,
      help="Drawings classified from a --strokes file without :N.")
@flag("--labels", type=click.Path(exists=True, dir_okay=False), default=None,
      help="Labels file [found beside the artifact, or in the TFLite metadata].")
@flag("--input_layer", default="input", show_default=True, help="Input node (.pb only).")
@flag("--output_layer", default="final_result", show_default=True, help="Output node (.pb only).")
@flag("--input_height", type=int, default=None, help="[model_info.json / the model's input shape / 224]")
@flag("--input_width", type=int, default=None, help="[model_info.json / the model's input shape / 224]")
@flag("--input_mean", type=FINITE_FLOAT, default=None, help="Subtracted from 0-255 pixels [model_info.json / metadata / 128]")
@flag("--input_std", type=FINITE_FLOAT, default=None, help="Then divided by this [model_info.json / metadata / 128]")
@flag("--top_k", type=int, default=5, show_default=True)
@flag("--num_threads", type=int, default=None, help="CPU threads [runtime default].")
@user_errors
def label_image_command(graph, image, image_dir, strokes, max_drawings, labels, input_layer, output_layer,
                        input_height, input_width, input_mean, input_std, top_k, num_threads):
    """Classify one image, a folder or stroke drawings with any artifact; print the top-k labels, scores
    and time per image."""
    import functools

    from android_export import label_image, runners
    from common.errors import QdretrainError
    if strokes and (image or image_dir):
        raise QdretrainError("Pass one of --image, --image_dir or --strokes.")
    paths = None if strokes else label_image.image_paths(image, image_dir)
    drawings = label_image.stroke_drawings(strokes, max_drawings) if strokes else None
    from retrain.model_folder.contract import exported_artifact_problem
    problem = exported_artifact_problem(graph)  # a stale or damaged export must not answer
    if problem:
        raise QdretrainError(problem)
    try:
        runner = runners.open_artifact(graph, input_layer, output_layer, num_threads)
    except (ValueError, FileNotFoundError) as error:
        raise QdretrainError(str(error)) from None
    contract = label_image.resolve_contract(graph, runner, input_height, input_width, input_mean, input_std)
    click.echo(contract.describe(), err=True)
    names = label_image.resolve_labels(graph, labels)
    if drawings is None:
        predictions = label_image.classify(runner, paths, names, contract, top_k)
    else:
        drawing_contract = label_image.drawing_contract_of(graph)
        click.echo("Drawing the strokes by " + ("the model's drawing contract (model_info.json)"
                                                if drawing_contract else "the default drawing contract"), err=True)
        predictions = label_image.classify_inputs(
            runner, [(name, functools.partial(label_image.drawing_pixels, d, contract, drawing_contract))
                     for name, d in drawings], names, contract, top_k)
    click.echo(label_image.format_predictions(predictions))
