"""The `qdretrain` command (also `python -m retrain`).

`qdretrain --architecture mobilenet_1.0_224 --image_dir Output ...` retrains, as retrain.py did:
with no subcommand name, the arguments go to `qdretrain train`. The other steps are subcommands.
Only this layer reads options; everything below takes a TrainConfig or explicit arguments.
TensorFlow is imported inside the commands that need it, so `--help` and `convert` start fast.
"""

from __future__ import annotations

import os

import click

from android_export.cli import android_command, export_command, label_image_command
from convert.cli import convert_command, preview_command
from retrain import __version__
from retrain.families import architectures
from retrain.cli.cache import cache_command
from retrain.cli.options import data_and_module_options
from common.cli_options import FINITE_FLOAT, SectionedCommand, apply_options, flag, user_errors
from retrain.families.config import CLASS_WEIGHTS, OPTIMIZERS, STRATEGIES
from common.errors import ConfigError
from retrain.cli.embeddings import audit_command, similar_command
from retrain.distribution.launch import launch_command
from retrain.cli.native_options import native_options
from retrain.families.options import NATIVE_DEFAULTS, build_config, defaults
from retrain.families.native.native_config import DEFAULT_PASSES, MAX_DEFAULT_STEPS

# Every flag's default comes from here: TrainConfig's (and NativeConfig's) fields, which the Python
# API (qdretrain.train) uses too.
DEFAULTS = defaults()
from serve.cli import serve_command


class DefaultToTrainGroup(click.Group):
    """A group whose default subcommand is `train`, so retrain.py command lines work unchanged."""

    def parse_args(self, ctx, args):
        # `--verbose` anywhere before the command: TensorFlow's own start-up lines are shown (see
        # common/tfcompat.py); it must be set before TensorFlow is imported, so it is read here.
        while args and args[0] == "--verbose":
            os.environ["QDRETRAIN_VERBOSE"] = "1"
            args = args[1:]
        # Only options fall through to `train`: a mistyped command name stays "No such command".
        if args and args[0].startswith("-") and args[0] not in ("--help", "-h", "--version"):
            args = ["train", *args]
        return super().parse_args(ctx, args)


@click.group(cls=DefaultToTrainGroup, context_settings={"help_option_names": ["-h", "--help"],
                                                        "max_content_width": 100})
@click.version_option(__version__, prog_name="qdretrain")
def cli():
    """Retrain an image classifier on Quick, Draw! doodles (or any image folders) and ship it.

    \b
    The workflow:
      qdretrain convert quickdraw/*.npy --output_dir Output   # drawings -> Output/<label>/*.jpg
      qdretrain preview Output --output preview.png            # look at the data
      qdretrain --image_dir Output --architecture mobilenet_1.0_224 --output_dir model
      qdretrain export --model_dir model                       # TFLite / ONNX / .pb, verified
      qdretrain android --model_dir model --output app_assets  # what an Android app needs

    With no command name, arguments go to `qdretrain train` (retrain.py's flags work).
    `qdretrain --verbose COMMAND ...` (or QDRETRAIN_VERBOSE=1) also shows TensorFlow's start-up lines.
    """


def _train_options(func):
    """retrain.py's flags (underscore and dashed spellings) plus what later tools added."""
    options = data_and_module_options() + [
        flag("--how_many_training_steps", type=int, default=DEFAULTS["how_many_training_steps"], show_default=True,
             help=f"Training steps (batches). Native nets given neither this nor --epochs train "
                  f"{DEFAULT_PASSES} passes over the data, at least this many steps and at most "
                  f"{MAX_DEFAULT_STEPS} (the run says which on screen)."),
        flag("--learning_rate", type=FINITE_FLOAT, default=DEFAULTS["learning_rate"], show_default=True,
             help=f"Native nets: {NATIVE_DEFAULTS['learning_rate']} unless given."),
        flag("--train_batch_size", type=int, default=DEFAULTS["train_batch_size"], show_default=True),
        flag("--eval_step_interval", type=int, default=DEFAULTS["eval_step_interval"], show_default=True,
             help="Evaluate on a validation batch (and log) every N steps."),
        flag("--validation_batch_size", type=int, default=DEFAULTS["validation_batch_size"], show_default=True,
             help="Validation images per evaluation; -1 for the whole validation set."),
        flag("--test_batch_size", type=int, default=DEFAULTS["test_batch_size"], show_default=True,
             help="Test images for the final evaluation; -1 for the whole test set."),
        flag("--exclude_list", type=click.Path(exists=True, dir_okay=False), default=DEFAULTS["exclude_list"],
             help="File of image names (as in splits.json) to leave out of every split, e.g. "
                  "`qdretrain audit --exclude_list`'s output."),
        flag("--testing_percentage", type=int, default=DEFAULTS["testing_percentage"], show_default=True),
        flag("--validation_percentage", type=int, default=DEFAULTS["validation_percentage"], show_default=True),
        flag("--optimizer", type=click.Choice(OPTIMIZERS), default=DEFAULTS["optimizer"], show_default=True,
             help=f"sgd is retrain.py's plain gradient descent. Native nets: {NATIVE_DEFAULTS['optimizer']} "
                  f"unless given."),
        flag("--label_smoothing", type=FINITE_FLOAT, default=DEFAULTS["label_smoothing"], show_default=True),
        flag("--dropout", type=FINITE_FLOAT, default=DEFAULTS["dropout"], show_default=True,
             help=f"Dropout rate on the bottleneck while training the head; native nets: before their "
                  f"classifier, {NATIVE_DEFAULTS['dropout']} unless given (0 turns it off)."),
        flag("--class_weights", type=click.Choice(CLASS_WEIGHTS), default=DEFAULTS["class_weights"], show_default=True,
             help="balanced: weight each class by 1/frequency (for unbalanced folders)."),
        flag("--seed", type=int, default=DEFAULTS["seed"], show_default=True,
             help="Seed for initialisers, shuffling and augmentation."),
        flag("--renderings", type=int, default=DEFAULTS["renderings"], show_default=True,
             help="Cached renderings per training drawing (1 canonical + random stroke width, resampling, "
                  "blur, binarisation, position/scale, JPEG), one bottleneck each. Drawings only "
                  "(--quickdraw_dir, or an --image_dir that looks like drawings); photos get none. "
                  "1: no rendering augmentation."),
        flag("--fine_tune/--no_fine_tune", default=DEFAULTS["fine_tune"], show_default=True,
             help="After training the head on bottlenecks, fine-tune backbone and head together on "
                  "augmented images (slow on CPU: no cache in that phase)."),
        flag("--fine_tune_steps", type=int, default=DEFAULTS["fine_tune_steps"], show_default=True,
             help="Steps of the fine-tuning phase."),
        flag("--fine_tune_batch_size", type=int, default=DEFAULTS["fine_tune_batch_size"], show_default=True,
             help="Images per fine-tuning step (per replica)."),
        flag("--fine_tune_learning_rate", type=FINITE_FLOAT, default=DEFAULTS["fine_tune_learning_rate"],
             help="Learning rate while fine-tuning; default learning_rate / 10."),
        flag("--augment/--no_augment", default=DEFAULTS["augment"], show_default=False,
             help="Random rotations, shifts and zoom (and flips). Default: on while fine-tuning (--fine_tune); "
                  "off for native nets unless given (measured 14.7 points of macro top-1 better without it "
                  "on 69 classes)."),
        flag("--flip_left_right/--no_flip_left_right", default=DEFAULTS["flip_left_right"], show_default=True,
             help="Mirror images while fine-tuning (turn off for classes that differ by direction)."),
        flag("--strategy", type=click.Choice(STRATEGIES), default=DEFAULTS["strategy"], show_default=True,
             help="auto: TF_CONFIG set -> multi_worker; several GPUs -> mirrored; else default."),
        flag("--output_dir", default=DEFAULTS["output_dir"],
             help="The model folder: every output unless set one by one below, and what `export` / "
                  "`android` read. Default: the parent of --saved_model_dir, else the folder of "
                  "--output_graph, else of --output_labels; retrain_output/ when none names a folder."),
        flag("--output_graph", default=DEFAULTS["output_graph"], help="Frozen graph [<output_dir>/retrained_graph.pb]."),
        flag("--output_labels", default=DEFAULTS["output_labels"], help="Labels [<output_dir>/retrained_labels.txt]."),
        flag("--saved_model_dir", default=DEFAULTS["saved_model_dir"], help="SavedModel [<output_dir>/saved_model]."),
        flag("--summaries_dir", default=DEFAULTS["summaries_dir"], help="TensorBoard logs [<output_dir>/summaries]."),
        flag("--checkpoint_dir", default=DEFAULTS["checkpoint_dir"], help="Checkpoints [<output_dir>/checkpoints]."),
        flag("--resume/--no_resume", default=DEFAULTS["resume"], show_default=True,
             help="Continue from the last checkpoint in --checkpoint_dir."),
        flag("--intermediate_store_frequency", type=int, default=DEFAULTS["intermediate_store_frequency"], show_default=True,
             help="Every N steps also write a frozen graph (0: never)."),
        flag("--intermediate_output_graphs_dir", default=DEFAULTS["intermediate_output_graphs_dir"],
             help="Where intermediate graphs go [<output_dir>/intermediate_graphs]."),
        flag("--final_tensor_name", default=DEFAULTS["final_tensor_name"], show_default=True,
             help="Name of the output node in the frozen graph."),
        flag("--temperature_scaling/--no_temperature_scaling", default=DEFAULTS["temperature_scaling"], show_default=True,
             help="Fit one number (a temperature) on validation drawings so the model's confidence matches "
                  "how often it is right; top-1 and rankings do not change, the model folder and every "
                  "export carry it (docs/train.md#confidence-calibration)."),
        flag("--print_misclassified_test_images", is_flag=True, default=DEFAULTS["print_misclassified_test_images"],
             help="List every misclassified test image."),
        # retrain.py's distortion flags: accepted so old command lines get advice, not "no such option".
        flag("--random_crop", type=int, default=None, hidden=True),
        flag("--random_scale", type=int, default=None, hidden=True),
        flag("--random_brightness", type=int, default=None, hidden=True),
        flag("--export", "export_formats", default="",
             help="After training, also export these formats, comma-separated "
                  "(tflite,tflite_fp16,tflite_dynamic,tflite_int8,onnx) and verify them."),
    ] + native_options()
    return apply_options(options, func)


RETRAIN_PY_DISTORTIONS = ("random_crop", "random_scale", "random_brightness")


def _check_distortion_flags(ctx: click.Context, options: dict) -> None:
    """retrain.py distorted images for the head; here augmentation belongs to --fine_tune."""
    given = [name for name in RETRAIN_PY_DISTORTIONS if options.pop(name) not in (None, 0)]
    flip_given = ctx.get_parameter_source("flip_left_right") == click.core.ParameterSource.COMMANDLINE
    if (given or (flip_given and options["flip_left_right"])) and not options["fine_tune"]:
        names = ", ".join(f"--{n}" for n in given + (["flip_left_right"] if flip_given else []))
        raise click.UsageError(
            f"{names}: retrain.py distorted images while training the head (and then could not cache "
            f"bottlenecks). qdretrain augments while fine-tuning instead: add --fine_tune (rotations, "
            f"shifts, zoom and, unless --no_flip_left_right, flips).")
    if given:
        click.echo(f"Note: {', '.join('--' + n for n in given)} are replaced by --fine_tune's fixed "
                   f"augmentation (rotation, shift, zoom, flip); their values are ignored.", err=True)


@cli.command("train", cls=SectionedCommand)
@_train_options
@click.pass_context
@user_errors
def train_command(ctx, export_formats, **options):
    """Retrain a new softmax head (optionally the backbone too) on your images.

    \b
    Steps: split the images (stable hash of each path relative to --image_dir), compute bottlenecks
    once into --bottleneck_dir, train the head, evaluate on the test split, and write
    retrained_graph.pb (input `input`, output `final_result`), retrained_labels.txt, a SavedModel,
    model_info.json (the input contract) and run_config.json into --output_dir.
    """
    _check_distortion_flags(ctx, options)
    options["export_formats"] = export_formats
    given = {name for name in options
             if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE}
    try:
        config, note = build_config(options, given)
        config.check_outputs_outside_data()  # before anything is written (the run story checks it too)
    except ConfigError as error:
        raise click.UsageError(str(error)) from None
    if note:  # only once the options are known to be valid (a usage error comes alone)
        click.echo(note, err=True)
    click.echo("Starting TensorFlow...", err=True)  # its import alone takes seconds on a busy machine
    from retrain.run.story import run  # imports TensorFlow
    run(config)


@cli.command("architectures")
def architectures_command():
    """List the registered architectures: input size, feature size, TF-Hub handle."""
    for name in architectures.names():
        spec = architectures.get(name)
        if spec.is_native:
            from retrain.families.native.registry import ENTRIES
            line = next(e.description for e in ENTRIES if e.name == name)
            click.echo(f"{name:30s} {spec.input_size:4d}px {spec.feature_size:5d} embedding {spec.channels}ch "
                       f"native, trained from scratch: {line}")
            continue
        shipped = "  (ships with qdretrain)" if spec.embedded_module else ""
        click.echo(f"{name:30s} {spec.input_size:4d}px {spec.feature_size:5d} features  {spec.handle}{shipped}")


@cli.command("predict")
@click.option("--model_dir", required=True, type=click.Path(exists=True, file_okay=False),
              help="A training run's --output_dir.")
@click.option("--input", "input_csv", required=True, type=click.Path(exists=True, dir_okay=False),
              help="Kaggle test_simplified.csv (key_id,countrycode,drawing).")
@click.option("--output", "output_csv", default="submission.csv", show_default=True)
@user_errors
def predict_command(model_dir, input_csv, output_csv):
    """Write a Kaggle submission: key_id,word with the top 3 words (spaces as underscores)."""
    from retrain.families.native.predict import predict_csv
    predict_csv(model_dir, input_csv, output_csv, echo=lambda m: click.echo(m, err=True))


for _command in (convert_command, preview_command, cache_command, export_command, android_command,
                 label_image_command, launch_command, serve_command, similar_command,
                 audit_command):
    cli.add_command(_command)

# One line each in `qdretrain --help`: Click would cut the docstrings' first sentences mid-phrase.
SHORT_HELP = {
    "android": "Write the Android assets: model.tflite, labels, renderer, README.",
    "architectures": "List the architectures: input size, features, family.",
    "audit": "Find duplicates, train/test leaks, likely mislabels, outliers.",
    "cache": "Compute and cache the bottlenecks of every image (resumable).",
    "convert": "QuickDraw .npy/.ndjson/.csv -> OUTPUT_DIR/<label>/*.jpg.",
    "export": "Export TFLite/ONNX/frozen graph/SavedModel, each verified.",
    "label_image": "Classify images with any exported artifact.",
    "launch": "Train with N local worker processes (multi-worker).",
    "predict": "Write a Kaggle submission (top-3 words) for a CSV.",
    "preview": "PNG grid of sample drawings and mean images per class.",
    "serve": "Draw on the exported model in the browser.",
    "similar": "Find the training drawings most like a query drawing.",
    "train": "Retrain a head on a TF-Hub backbone, or a native net from scratch.",
}
for _name, _text in SHORT_HELP.items():
    cli.commands[_name].short_help = _text


def main():
    cli(prog_name="qdretrain")
