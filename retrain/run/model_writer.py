"""Writing a run's model folder: one writer for every family.

The folder holds the frozen graph, labels, SavedModel, run_config.json, splits.json, the training
curves and, written last as the mark of a complete folder, model_info.json with this run's id. What a
previous run exported into the folder is removed first: a stale model.tflite must never be served or
shipped beside a new SavedModel (retrain/model_folder/contract.py holds the generation rule).
"""

from __future__ import annotations

import dataclasses
import os

from common.progress import echo
from common.writable import write_errors
from retrain.model_folder import contract


def write_model_folder(config, trained, out_dir: str, run_id: str) -> dict:
    """Writes `trained` (a retrain/families/base.TrainedModel) into `out_dir`.

    Args:
      config: the run's TrainConfig (a non-chief worker's points every output into its own folder).
      trained: what the family's training returned.
      out_dir: the model folder.
      run_id: this run's id (contract.new_run_id), recorded in model_info.json.

    Returns:
      The model_info.json written.

    Raises:
      OutputError: a write failed (full disk, read-only folder); model_info.json, written last, is
        then absent, so export refuses the half-written folder.
    """
    with write_errors(out_dir, "--output_dir"):
        return _write(config, trained, out_dir, run_id)


def _write(config, trained, out_dir: str, run_id: str) -> dict:
    from retrain.evaluation import plots
    from retrain.model_folder.frozen_graph import write_frozen_graph
    from retrain.model_folder.locate import pointer_info
    from retrain.model_folder.saved_model import save_serving_model
    os.makedirs(out_dir, exist_ok=True)
    removed = contract.retire_previous_run(out_dir)
    if removed:
        echo(f"Removed what the previous run in {out_dir} exported ({', '.join(removed)}): it described "
             f"another model. Export again from this one (qdretrain export --model_dir {out_dir}).")
    marker = os.path.join(out_dir, contract.MODEL_INFO_FILE)
    copies = []  # folders outside out_dir that get a graph or SavedModel: each gets a model_info.json

    def elsewhere(option: str, name: str) -> bool:
        return bool(getattr(config, option)) and \
            os.path.abspath(config.path(option)) != os.path.abspath(os.path.join(out_dir, name))

    classifier = trained.classifier
    echo(f"Writing the model folder {out_dir}: frozen graph, SavedModel, labels, model_info.json...")
    graph_path = os.path.join(out_dir, "retrained_graph.pb")
    write_frozen_graph(classifier, graph_path, output_node_name=config.final_tensor_name)
    if elsewhere("output_graph", "retrained_graph.pb"):
        os.makedirs(os.path.dirname(os.path.abspath(config.path("output_graph"))), exist_ok=True)
        with open(graph_path, "rb") as handle:
            contract.atomic_write_bytes(config.path("output_graph"), handle.read())
        copies.append(os.path.dirname(os.path.abspath(config.path("output_graph"))))
    contract.write_labels(trained.labels, os.path.join(out_dir, contract.LABELS_FILE))
    if elsewhere("output_labels", contract.LABELS_FILE):
        contract.write_labels(trained.labels, config.path("output_labels"))
    save_serving_model(classifier, os.path.join(out_dir, "saved_model"))
    if elsewhere("saved_model_dir", "saved_model"):
        save_serving_model(classifier, config.path("saved_model_dir"))
        copies.append(os.path.abspath(config.path("saved_model_dir")))
    contract.write_json({**dataclasses.asdict(config), **trained.run_config},
                        os.path.join(out_dir, contract.RUN_CONFIG_FILE))
    contract.write_json(trained.splits, os.path.join(out_dir, contract.SPLITS_FILE))
    if trained.skipped:
        contract.atomic_write_bytes(os.path.join(out_dir, "skipped_files.txt"),
                                    "".join(f"{p}\t{why}\n" for p, why in trained.skipped).encode())
    if trained.history is not None:
        contract.atomic_write_bytes(os.path.join(out_dir, "training_curves.png"),
                                    plots.plot_training_curves(
                                        trained.history.history, list(trained.history.steps),
                                        title=f"{config.architecture}, {len(trained.labels)} classes, "
                                              f"{os.path.abspath(out_dir)}"))
        contract.write_json({"steps": list(trained.history.steps), **trained.history.history,
                             "seconds": trained.history.seconds},
                            os.path.join(out_dir, "training_history.json"))
    family_info = dict(trained.model_info)
    module = {key: family_info.pop(key, "") for key in ("module_handle", "module_fingerprint")}
    info = {**contract.model_info(trained.spec, list(trained.labels), quantization="none", **module),
            **family_info, "output_tensor": config.final_tensor_name,
            # Already inside every artifact: the app sends the input contract above, nothing more.
            "input_preprocessing": trained.spec.input_preprocessing,
            contract.RUN_ID: run_id}
    intermediate = getattr(config, "intermediate_output_graphs_dir", None) and \
        os.path.abspath(config.path("intermediate_output_graphs_dir"))
    if intermediate and os.path.isdir(intermediate) and \
            not intermediate.startswith(os.path.abspath(out_dir) + os.sep):
        copies.append(intermediate)  # inside out_dir, the model folder's own model_info.json is near
    for folder in dict.fromkeys(copies):
        if folder != os.path.abspath(out_dir):
            contract.write_json(pointer_info(info, out_dir), os.path.join(folder, contract.MODEL_INFO_FILE))
    contract.write_json(info, marker)  # last: it marks the folder complete
    return info
