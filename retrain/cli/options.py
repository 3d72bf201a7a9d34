"""Options shared by `train` and `cache`, built from the registries below the CLI."""

from __future__ import annotations

import click

from common.cli_options import flag


def data_and_module_options() -> list:
    """The options `train` and `cache` share: where the images are, which module, where the cache is.

    One definition, so both commands accept the same spellings, defaults and help.
    """
    from retrain.families.options import defaults
    from retrain.model_folder import input_preprocessing
    DEFAULTS = defaults()  # the one definition, shared with the Python API (qdretrain.train)
    return [
        flag("--image_dir", type=click.Path(exists=True, file_okay=False), default=DEFAULTS["image_dir"],
             help="Folder of labelled images: one subfolder per label (JPEG, PNG, BMP, GIF)."),
        flag("--quickdraw_dir", type=click.Path(exists=True), default=DEFAULTS["quickdraw_dir"],
             help="Instead of --image_dir: QuickDraw .npy/.ndjson files (or a folder of them), read "
                  "directly with no JPGs written."),
        flag("--quickdraw_per_class", type=int, default=DEFAULTS["quickdraw_per_class"], show_default=True,
             help="Drawings per class taken from --quickdraw_dir; 0 takes every drawing. TF-Hub heads "
                  "use this default (each drawing costs a cached bottleneck); native nets take every "
                  "drawing unless the option is given (they stream, so more data costs no memory)."),
        flag("--architecture", default=DEFAULTS["architecture"], show_default=True,
             help="Backbone name from the registry (`qdretrain architectures` lists them). "
                  "mobilenet_0.25_224 ships with qdretrain and works offline."),
        flag("--tfhub_module", default=DEFAULTS["tfhub_module"],
             help="TF-Hub handle or local module folder; overrides the architecture's handle. "
                  "Downloads go to $TFHUB_CACHE_DIR."),
        flag("--input_size", type=int, default=DEFAULTS["input_size"],
             help="Input side in pixels, only for a --tfhub_module whose size differs from the "
                  "architecture's."),
        flag("--bottleneck_dir", default=DEFAULTS["bottleneck_dir"], show_default=True,
             help="Cache of feature vectors, reused across runs and safe to share."),
        flag("--cache_batch_size", type=int, default=DEFAULTS["cache_batch_size"], show_default=True,
             help="Images per forward pass while caching bottlenecks."),
        flag("--input_preprocessing", type=click.Choice(input_preprocessing.CHOICES), default=DEFAULTS["input_preprocessing"],
             show_default=True,
             help="What the model does to its input before the backbone, inside every exported "
                  "artifact. auto: for drawings, bring any input down to 28 px (QuickDraw's scale), "
                  "stretch the ink to black, back up (bitmap28_ink) - the app may then send nearest- or "
                  "bilinear-scaled bitmaps or thin canvas strokes; for photos none. Part of the cache key."),
    ]
