"""`qdretrain predict`: a Kaggle submission (key_id,word with the top 3 words) from a test CSV.

Rows stream through the model in batches (memory does not grow with the file); malformed rows are
skipped and counted, as in training. Words with spaces are written with underscores, as Kaggle expects.
"""

from __future__ import annotations

import csv
import os

import numpy as np

from common.errors import QdretrainError
from common.writable import write_errors


def submission_words(probabilities: np.ndarray, labels, k: int = 3) -> list[str]:
    """Per row: the top-k labels, best first, spaces -> underscores, joined by spaces."""
    from retrain.evaluation.metrics import top_k_indices
    return [" ".join(labels[i].replace(" ", "_") for i in row) for row in top_k_indices(probabilities, k)]


def predict_csv(model_dir: str, input_csv: str, output_csv: str, batch_size: int = 512, echo=print) -> dict:
    """Writes `output_csv` (key_id,word) for every well-formed row of `input_csv`.

    Returns:
      {"rows": written, "skipped": malformed}.

    Raises:
      QdretrainError: not a model dir, or a CSV without `drawing`/`key_id` columns.
    """
    from retrain.model_folder.saved_model import load_predictor
    from retrain.model_folder import contract as outputs
    from retrain.families.native import stream
    from retrain.families.native.augment import ink_to_contract
    from retrain.data.bitmap_ink import strokes_to_ink
    check_output_csv(input_csv, output_csv)
    info_path = os.path.join(model_dir, outputs.MODEL_INFO_FILE)
    if not os.path.exists(info_path):
        raise QdretrainError(f"{model_dir} has no model_info.json: pass the --output_dir of a training run.")
    info = outputs.read_model_info(info_path)  # one line on a damaged or impossible model_info.json
    labels = outputs.read_labels(os.path.join(model_dir, outputs.LABELS_FILE))
    if "key_id" not in stream.csv_header(input_csv):
        raise QdretrainError(f"{input_csv} has no key_id column; a Kaggle test_simplified.csv has "
                             f"key_id,countrycode,drawing.")
    model = load_predictor(os.path.join(model_dir, "saved_model"))  # graph ops only: no Python from the folder
    size = int(info["input_height"])
    bad = stream.BadRows()
    written = 0
    tmp = output_csv + ".tmp"
    folder = os.path.dirname(os.path.abspath(output_csv))
    try:
        with write_errors(folder, "--output"):
            written = _write_predictions(tmp, output_csv, input_csv, bad, model, labels, size, batch_size,
                                         strokes_to_ink, ink_to_contract, stream)
    finally:
        if os.path.exists(tmp):  # an interrupted or failed write leaves no .tmp behind
            os.remove(tmp)
    skipped = bad.counts.get(input_csv, 0)
    if skipped:
        echo(f"Warning: skipped {skipped} malformed row(s) of {input_csv}, first {bad.first[input_csv]}")
    for line in bad.lines()[1 if skipped else 0:]:
        echo(line)
    echo(f"Wrote {written} predictions to {output_csv}")
    return {"rows": written, "skipped": skipped}


def check_output_csv(input_csv: str, output_csv: str) -> None:
    """--output checked before the whole prediction: not the input, not a folder, in a folder that
    exists and takes writes.

    Raises:
      QdretrainError / OutputError: one line saying what to pass instead.
    """
    from common.writable import check_writable
    if os.path.exists(output_csv) and os.path.samefile(output_csv, input_csv) or \
            os.path.abspath(output_csv) == os.path.abspath(input_csv):
        raise QdretrainError(f"--output {output_csv} is the --input file: it would be overwritten. Pass "
                             f"another file name, e.g. --output submission.csv.")
    if os.path.isdir(output_csv):
        raise QdretrainError(f"--output {output_csv} is a folder; pass a file name, e.g. "
                             f"--output {os.path.join(output_csv, 'submission.csv')}.")
    folder = os.path.dirname(os.path.abspath(output_csv))
    if not os.path.isdir(folder):
        raise QdretrainError(f"--output {output_csv}: the folder {folder} does not exist; create it or "
                             f"pass a file in an existing folder.")
    check_writable(folder, "--output")


def _write_predictions(tmp, output_csv, input_csv, bad, model, labels, size, batch_size, strokes_to_ink,
                       ink_to_contract, stream) -> int:
    written = 0
    with open(tmp, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["key_id", "word"])
        keys, inks = [], []

        def flush():
            nonlocal written
            if not keys:
                return
            x = ink_to_contract(np.stack(inks)[..., None], size)
            for key_id, words in zip(keys, submission_words(model(x), labels)):
                writer.writerow([key_id, words])
            written += len(keys)
            keys.clear()
            inks.clear()

        for row, key_id, _, strokes in stream.iter_csv(input_csv, bad):
            try:
                inks.append(strokes_to_ink(strokes))
            except ValueError as error:
                bad.add(input_csv, f"row {row}", str(error))
                continue
            keys.append(key_id)
            if len(keys) >= batch_size:
                flush()
        flush()
    os.replace(tmp, output_csv)
    return written
