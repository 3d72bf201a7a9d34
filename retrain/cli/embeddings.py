"""`qdretrain similar` and `qdretrain audit`: parse options, call retrain/embeddings, print.

TensorFlow is imported inside the commands, so `qdretrain --help` stays fast.
"""

from __future__ import annotations

import os

import click

from common.cli_options import flag, user_errors
from common.errors import ConfigError, DatasetError


def _config(model_dir, **overrides):
    """The run config of --model_dir, or one built from --image_dir/--quickdraw_dir + --architecture."""
    from retrain.families.config import TrainConfig
    from retrain.embeddings.extract import load_run_config
    try:
        if model_dir:
            return load_run_config(model_dir, **overrides)
        return TrainConfig(**{k: v for k, v in overrides.items() if v is not None})
    except ConfigError as error:
        raise click.UsageError(str(error)) from None


def _query_drawing(strokes: str):
    """--strokes FILE[:LINE] -> its drawing (convert.sources' bounded, checked reader).

    Raises:
      DatasetError: one line: unreadable, LINE out of range or unparsable.
    """
    from convert.sources import SourceError, numbered_drawings, split_strokes_spec
    try:
        path, number = split_strokes_spec(strokes)
        (_, found), = numbered_drawings(path, number or 1, 1)[0]
    except SourceError as error:
        text = str(error)
        prefix = "" if text.startswith("--strokes") else f"--strokes {strokes}: "
        raise DatasetError(f"{prefix}{text} Pass FILE.ndjson[:LINE] with LINE counted from 1.") from None
    return found


def _query_image(image, strokes, size: int):
    """--image or --strokes FILE[:LINE] -> one model-input image [size, size, 3]."""
    from retrain.data import quickdraw_source
    from retrain.data.images import load_image_file, pixels_to_input
    if image:
        try:
            return load_image_file(image, size)
        except (OSError, ValueError) as error:  # what check_query_image cannot see from the header
            raise DatasetError(f"--image {image}: {error}. Pass a JPEG/PNG/BMP/GIF drawing.") from None
    drawing = _query_drawing(strokes).strokes
    return pixels_to_input(quickdraw_source.render(drawing), size).numpy()


@click.command("similar")
@flag("--model_dir", type=click.Path(exists=True, file_okay=False), required=True,
      help="A `qdretrain train` output folder; its training split is searched.")
@flag("--image", type=click.Path(exists=True, dir_okay=False), help="Query: an image file.")
@flag("--strokes", help="Query: a QuickDraw .ndjson file, optionally :LINE (from 1; default 1).")
@flag("--class", "class_name", help="Query: a drawing of the dataset, by class name ...")
@flag("--index", type=int, default=0, show_default=True, help="... and its position in that class.")
@flag("--k", type=click.IntRange(min=1), default=8, show_default=True, help="Neighbours to show.")
@flag("--metric", type=click.Choice(["cosine", "l2"]), default="cosine", show_default=True)
@flag("--search", type=click.Choice(["auto", "exact", "hnsw"]), default="auto", show_default=True,
      help="auto: exact up to 200k drawings, then hnswlib (the `ann` extra).")
@flag("--bottleneck_dir", default=None, help="Bottleneck cache [the one training used].")
@flag("--output", default="similar.png", show_default=True, help="PNG grid of the query and neighbours.")
@user_errors
def similar_command(model_dir, image, strokes, class_name, index, k, metric, search, bottleneck_dir, output):
    """Find the training drawings most like a query drawing.

    \b
      qdretrain similar --model_dir model --image x.png
      qdretrain similar --model_dir model --strokes cat.ndjson:12
      qdretrain similar --model_dir model --class cat --index 3
    """
    if sum(bool(x) for x in (image, strokes, class_name)) != 1:
        raise click.UsageError("Give exactly one query: --image, --strokes or --class (with --index).")
    if image:
        # The same checks label_image and the dataset scan apply (format, header-read pixel limit), before
        # the model is loaded and the dataset embedded: a bomb or a non-image costs nothing.
        from retrain.data.dataset import check_image_file
        problem = check_image_file(image)
        if problem:
            raise DatasetError(f"--image {image}: {problem}. Pass a JPEG/PNG/BMP/GIF drawing.")
    from retrain.embeddings import extract, report
    from retrain.embeddings import search as search_lib
    from retrain.data.images import load_record_images
    if strokes:
        _query_drawing(strokes)  # a bad --strokes is one line now, not after the whole extraction
    config = _config(model_dir, bottleneck_dir=bottleneck_dir)
    extractor = extract.extractor_for(model_dir, config)
    data, labels = extract.dataset_embeddings(config, extractor, progress=False)
    train = [i for i, s in enumerate(data.splits) if s == "training"]
    if class_name is not None:
        members = [i for i, r in enumerate(data.records) if r.label == class_name]
        if not members:
            raise click.BadParameter(f"no drawings of class {class_name!r}; classes: {', '.join(labels)}",
                                     param_hint="--class")
        if not 0 <= index < len(members):
            raise click.BadParameter(f"{class_name!r} has {len(members)} drawings (0-{len(members) - 1})",
                                     param_hint="--index")
        chosen = members[index]
        query_vector = data.vectors[chosen:chosen + 1]
        query_image = load_record_images([data.records[chosen]], 64)[0]
        query_name = data.records[chosen].relpath
        train = [i for i in train if i != chosen]
    else:
        query_image = _query_image(image, strokes, extractor.input_size)
        query_vector = extractor.embed_images(query_image[None])
        query_name = image or strokes
        if image:  # a training drawing asked about by its file: not its own nearest neighbour
            same = os.path.realpath(image)
            train = [i for i in train if data.records[i].row is not None
                     or os.path.realpath(data.records[i].source) != same]
    found = search_lib.build_index(data.vectors[train], search).search(query_vector, k)
    hits = [train[i] for i in found.indices[0]]
    distances = found.distance(metric)[0]
    click.echo(f"{len(hits)} nearest of {len(train)} training drawings to {query_name} ({metric} distance):")
    for rank, (i, d) in enumerate(zip(hits, distances), 1):
        click.echo(f"{rank:3d}. {d:.4f}  {data.records[i].label:20s} {data.records[i].relpath}")
    images = load_record_images([data.records[i] for i in hits], 64)
    cells = [(query_image, f"query: {query_name}")] + [
        (img, f"{rank}. {data.records[i].label}, {metric} {d:.3f}\n{data.records[i].relpath}")
        for rank, (img, i, d) in enumerate(zip(images, hits, distances), 1)]
    from retrain.model_folder.contract import atomic_write_bytes
    atomic_write_bytes(output, report.grid_png(
        [cells[j:j + 5] for j in range(0, len(cells), 5)],
        f"The {len(hits)} training drawings nearest to {query_name} ({metric} distance on "
        f"{os.path.abspath(model_dir)}'s embeddings; the query itself left out). Captions: rank, label, "
        f"distance, the drawing's name in splits.json."))
    click.echo(f"Wrote {output}")


@click.command("audit")
@flag("--model_dir", type=click.Path(exists=True, file_okay=False),
      help="A `qdretrain train` output folder (its data, split and backbone).")
@flag("--image_dir", type=click.Path(exists=True, file_okay=False), help="Or: folders of images ...")
@flag("--quickdraw_dir", type=click.Path(exists=True), help="... or QuickDraw files, with --architecture.")
@flag("--quickdraw_per_class", type=int, default=None, help="Drawings per class from --quickdraw_dir.")
@flag("--architecture", default=None, help="Backbone for --image_dir/--quickdraw_dir [mobilenet_0.25_224].")
@flag("--tfhub_module", default=None, help="Custom module folder or handle.")
@flag("--input_size", type=int, default=None, help="Input side of a custom --tfhub_module.")
@flag("--bottleneck_dir", default=None, help="Bottleneck cache [the model's, or ./bottlenecks].")
@flag("--output_dir", default="audit_report", show_default=True,
      help="Report folder: audit.json, summary.txt, a PNG per finding type.")
@flag("--exclude_list", default=None,
      help="Also write this file, for `qdretrain train --exclude_list`: duplicates' extra copies and "
           "leaks, and only the label errors chosen with --max_exclude / --exclude_min_score.")
@flag("--max_exclude", type=click.IntRange(min=0), default=None,
      help="Put the top N ranked label errors in --exclude_list [none].")
@flag("--exclude_min_score", type=click.FloatRange(0, 1), default=None,
      help="Put the label errors with score >= this in --exclude_list [none]; with --max_exclude, both apply.")
@flag("--exclude_outliers/--keep_outliers", default=False, show_default=True,
      help="Put outliers in --exclude_list too.")
@flag("--k", type=click.IntRange(min=2), default=10, show_default=True, help="Neighbours per drawing.")
@flag("--near_duplicate_ratio", type=click.FloatRange(0, 1), default=0.25, show_default=True,
      help="Near copy: its distance at most this share of the drawing's distance to its k-th "
           "neighbour (re-encoded copies measured <= 0.21, ordinary neighbours >= 0.30; docs/embeddings.md).")
@flag("--near_duplicate_cosine", type=click.FloatRange(0, 1), default=0.95, show_default=True,
      help="Near copy: cosine at least this too (1.0: exact copies only).")
@flag("--folds", type=click.IntRange(min=2), default=5, show_default=True,
      help="Label errors: k-fold heads on the embeddings give each drawing out-of-sample probabilities.")
@flag("--label_error_score", type=click.FloatRange(0, 1), default=0.95, show_default=True,
      help="Report a confident-learning label issue from this score (1 - p(given label)) up (docs/audit.md).")
@flag("--label_engine", type=click.Choice(["auto", "cleanlab", "builtin"]), default="auto", show_default=True,
      help="Confident learning by cleanlab (the `audit` extra) or the built-in NumPy rule; auto: cleanlab "
           "if installed.")
@flag("--outlier_z", type=float, default=3.5, show_default=True)
@flag("--search", type=click.Choice(["auto", "exact", "hnsw"]), default="auto", show_default=True)
@user_errors
def audit_command(model_dir, image_dir, quickdraw_dir, quickdraw_per_class, architecture, tfhub_module,
                  input_size, bottleneck_dir, output_dir, exclude_list, max_exclude, exclude_min_score,
                  exclude_outliers, k, near_duplicate_ratio, near_duplicate_cosine, folds, label_error_score,
                  label_engine, outlier_z, search):
    """Find duplicates, train/test leaks, label errors (ranked) and outliers in a dataset.

    \b
      qdretrain audit --model_dir model                  # review audit_report/label_error.png
      qdretrain audit --model_dir model --exclude_list flagged.txt --max_exclude 50
      qdretrain --image_dir Output --exclude_list flagged.txt ...   # retrain without them
    """
    if not model_dir and not (image_dir or quickdraw_dir):
        raise click.UsageError("Pass --model_dir, or --image_dir/--quickdraw_dir (with --architecture).")
    from retrain.embeddings import audit, exclude_choice, extract, report
    from common.writable import check_writable, write_errors
    choice = exclude_choice.ExcludeChoice(max_exclude, exclude_min_score)
    # Probed before minutes of feature extraction: a read-only or full folder is one line.
    check_writable(output_dir, "--output_dir")
    if exclude_list:
        check_writable(os.path.dirname(os.path.abspath(exclude_list)), "--exclude_list")
    config = _config(model_dir, image_dir=image_dir, quickdraw_dir=quickdraw_dir,
                     quickdraw_per_class=quickdraw_per_class, architecture=architecture,
                     tfhub_module=tfhub_module, input_size=input_size, bottleneck_dir=bottleneck_dir)
    extractor = extract.extractor_for(model_dir, config)
    data, labels = extract.dataset_embeddings(config, extractor)
    keys = extractor.cache.record_keys(list(data.records)) if hasattr(extractor, "cache") else None
    audit_config = audit.AuditConfig(k=k, near_duplicate_ratio=near_duplicate_ratio,
                                     near_duplicate_cosine=near_duplicate_cosine, folds=folds,
                                     label_error_score=label_error_score, label_engine=label_engine,
                                     outlier_z=outlier_z, search=search)
    result = audit.audit(data.vectors, [r.label_index for r in data.records], len(labels), data.splits,
                         keys, audit_config)
    source = config.image_dir or config.quickdraw_dir
    with write_errors(output_dir, "--output_dir"):
        written = report.write_audit_report(result, data.records, data.splits, labels, output_dir,
                                            audit_config, source)
    click.echo(open(written["summary"], encoding="utf-8").read())
    click.echo(f"Wrote the report to {output_dir}")
    if exclude_list:
        from retrain.data.exclude import write_exclude_list
        chosen = exclude_choice.choose(result.label_errors, choice)
        indices = audit.exclusions(result, data.splits, exclude_outliers, chosen)
        names = [data.records[i].relpath for i in indices]
        with write_errors(os.path.dirname(os.path.abspath(exclude_list)), "--exclude_list"):
            write_exclude_list(names, exclude_list, header=f"qdretrain audit of {source}: {len(names)} drawings")
        click.echo(exclude_choice.closing_line(exclude_list, indices, chosen, len(result.label_errors), choice,
                                               data.records, exclude_outliers))
