"""TFLite model metadata for image classifiers, as the Android Task Library's `ImageClassifier` reads it.

What goes in: the input is an RGB image with NormalizationOptions (mean, std), the output is a
feature vector of probabilities whose TENSOR_AXIS_LABELS associated file (labels.txt) names each score.
The file layout is the official one (tflite_support / MediaPipe `MetadataPopulator`):
  1. the metadata flatbuffer (file identifier "M001") is stored in a model buffer, referenced by a
     `Model.metadata` entry named "TFLITE_METADATA";
  2. the associated files are appended after the model as a zip archive, so the .tflite file is also a
     zip that holds labels.txt.

Why written here: no maintained writer installs beside the pinned stack (tflite-support 0.4.4 pins
protobuf<4; MediaPipe 1.2.2's metadata writers need a C++ extension its wheel lacks). The flatbuffers
are built with the official generated classes (metadata_schema_py_generated.py, vendored) and
ai_edge_litert's TFLite schema, not by hand.
"""

from __future__ import annotations

import dataclasses
import io
import zipfile
from typing import Optional

import flatbuffers

from android_export import metadata_schema_py_generated as meta_fb

METADATA_FIELD_NAME = "TFLITE_METADATA"
METADATA_FILE_IDENTIFIER = b"M001"
TFLITE_FILE_IDENTIFIER = b"TFL3"
# Only fields of metadata schema 1.0.0 are written, so parsers from 1.0.0 on read everything.
MIN_PARSER_VERSION = "1.0.0"
LABELS_FILE_NAME = "labels.txt"


@dataclasses.dataclass(frozen=True)
class ClassifierMetadata:
    """What the metadata says about an image classifier.

    Attributes:
      name: model name shown by tools (e.g. "qdretrain mobilenet_0.25_224").
      description: one or two sentences on what the model classifies.
      labels: class names in output order.
      input_mean: per-channel mean the app subtracts from [0, 255] pixels (float inputs).
      input_std: per-channel std the app divides by.
      version: model version string.
      author: who made it.
      license: licence of the model (and of the data it was trained on).
      input_name / output_name: tensor names to give the model's input and output.
    """

    name: str
    description: str
    labels: tuple
    input_mean: float
    input_std: float
    version: str = "1"
    author: str = "qdretrain"
    license: str = ""
    input_name: str = "input"
    output_name: str = "final_result"


def _schema():
    # The TFLite model schema ships with the pinned ai-edge-litert (the runtime the models are checked with).
    from ai_edge_litert import schema_py_generated as schema_fb
    return schema_fb


def _tensor_type_name(tensor_type: int) -> str:
    names = {v: k for k, v in vars(_schema().TensorType).items() if not k.startswith("_")}
    return names.get(tensor_type, str(tensor_type)).lower()


def _input_metadata(info: ClassifierMetadata, is_float: bool) -> meta_fb.TensorMetadataT:
    image = meta_fb.ImagePropertiesT()
    image.colorSpace = meta_fb.ColorSpaceType.RGB
    content = meta_fb.ContentT()
    content.contentPropertiesType = meta_fb.ContentProperties.ImageProperties
    content.contentProperties = image
    normalization = meta_fb.NormalizationOptionsT()
    normalization.mean = [float(info.input_mean)]
    normalization.std = [float(info.input_std)]
    unit = meta_fb.ProcessUnitT()
    unit.optionsType = meta_fb.ProcessUnitOptions.NormalizationOptions
    unit.options = normalization
    stats = meta_fb.StatsT()
    # The range of values the tensor holds: normalised pixels for float, raw pixels for uint8 input.
    if is_float:
        stats.max = [(255.0 - info.input_mean) / info.input_std]
        stats.min = [(0.0 - info.input_mean) / info.input_std]
    else:
        stats.max, stats.min = [255.0], [0.0]
    tensor = meta_fb.TensorMetadataT()
    tensor.name = "image"
    tensor.description = (f"RGB image. Float models take (pixel - {info.input_mean:g}) / {info.input_std:g}; "
                          f"uint8 models take the raw 0-255 pixels.")
    tensor.content = content
    tensor.processUnits = [unit]
    tensor.stats = stats
    return tensor


def _output_metadata(info: ClassifierMetadata) -> meta_fb.TensorMetadataT:
    content = meta_fb.ContentT()
    content.contentPropertiesType = meta_fb.ContentProperties.FeatureProperties
    content.contentProperties = meta_fb.FeaturePropertiesT()
    stats = meta_fb.StatsT()
    stats.max, stats.min = [1.0], [0.0]
    labels = meta_fb.AssociatedFileT()
    labels.name = LABELS_FILE_NAME
    labels.description = "Labels of the output scores, one a line, in output order."
    labels.type = meta_fb.AssociatedFileType.TENSOR_AXIS_LABELS
    tensor = meta_fb.TensorMetadataT()
    tensor.name = "probability"
    tensor.description = f"Softmax probabilities of the {len(info.labels)} labels."
    tensor.content = content
    tensor.stats = stats
    tensor.associatedFiles = [labels]
    return tensor


def _metadata_buffer(info: ClassifierMetadata, input_is_float: bool) -> bytes:
    subgraph = meta_fb.SubGraphMetadataT()
    subgraph.inputTensorMetadata = [_input_metadata(info, input_is_float)]
    subgraph.outputTensorMetadata = [_output_metadata(info)]
    model = meta_fb.ModelMetadataT()
    model.name = info.name
    model.description = info.description
    model.version = info.version
    model.author = info.author
    model.license = info.license
    model.subgraphMetadata = [subgraph]
    model.minParserVersion = MIN_PARSER_VERSION
    builder = flatbuffers.Builder(0)
    builder.Finish(model.Pack(builder), METADATA_FILE_IDENTIFIER)
    return bytes(builder.Output())


def add_metadata(model_bytes: bytes, info: ClassifierMetadata) -> bytes:
    """Returns the model with classifier metadata, its I/O tensors renamed, and labels.txt attached.

    Args:
      model_bytes: a .tflite flatbuffer with one subgraph, one image input [1, H, W, 3] and one
        [1, classes] output.
      info: what to write.

    Returns:
      The new .tflite bytes (flatbuffer followed by a zip holding labels.txt). Metadata or files
      attached before are replaced.

    Raises:
      ValueError: the model does not have one input and one output, or the label count does not
        match the output width.
    """
    schema_fb = _schema()
    model = schema_fb.ModelT.InitFromObj(schema_fb.Model.GetRootAsModel(model_bytes, 0))
    if len(model.subgraphs) != 1:
        raise ValueError(f"expected a model with one subgraph, got {len(model.subgraphs)}")
    graph = model.subgraphs[0]
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise ValueError(f"expected one input and one output tensor, got {len(graph.inputs)} and "
                         f"{len(graph.outputs)}")
    input_tensor = graph.tensors[graph.inputs[0]]
    output_tensor = graph.tensors[graph.outputs[0]]
    classes = int(list(output_tensor.shape)[-1])
    if classes != len(info.labels):
        raise ValueError(f"the model outputs {classes} scores but {len(info.labels)} labels were given")
    # Sensible names for apps using the plain Interpreter (the converter's are "serving_default_input:0"
    # and "StatefulPartitionedCall:0").
    input_tensor.name = info.input_name
    output_tensor.name = info.output_name
    input_is_float = input_tensor.type == schema_fb.TensorType.FLOAT32

    buffer = schema_fb.BufferT()
    buffer.data = list(_metadata_buffer(info, input_is_float))
    model.buffers = list(model.buffers or [])
    kept = [entry for entry in (model.metadata or []) if entry.name not in
            (METADATA_FIELD_NAME, METADATA_FIELD_NAME.encode())]
    model.buffers.append(buffer)
    entry = schema_fb.MetadataT()
    entry.name = METADATA_FIELD_NAME
    entry.buffer = len(model.buffers) - 1
    model.metadata = kept + [entry]

    builder = flatbuffers.Builder(0)
    builder.Finish(model.Pack(builder), TFLITE_FILE_IDENTIFIER)
    stream = io.BytesIO()
    stream.write(bytes(builder.Output()))
    # Stored (not deflated), as MetadataPopulator writes it: the Task Library maps the file directly.
    with zipfile.ZipFile(stream, "a", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(LABELS_FILE_NAME, "\n".join(info.labels) + "\n")
    return stream.getvalue()


def read_metadata(model_bytes: bytes) -> Optional[dict]:
    """Reads the classifier metadata back (what an app or the Task Library would see).

    Args:
      model_bytes: a .tflite file's bytes.

    Returns:
      None when the model has no metadata; else a dict with name, description, version, author,
      license, min_parser_version, input_mean, input_std, color_space, labels (from the attached
      labels file), label_file, input_name, output_name, input_type, output_type.
    """
    schema_fb = _schema()
    model = schema_fb.Model.GetRootAsModel(model_bytes, 0)
    metadata_buffer = None
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        if entry.Name().decode() == METADATA_FIELD_NAME:
            metadata_buffer = model.Buffers(entry.Buffer()).DataAsNumpy().tobytes()
    if metadata_buffer is None:
        return None
    if not meta_fb.ModelMetadata.ModelMetadataBufferHasIdentifier(metadata_buffer, 0):
        raise ValueError("the TFLITE_METADATA buffer is not a metadata flatbuffer (identifier M001)")
    meta = meta_fb.ModelMetadataT.InitFromObj(meta_fb.ModelMetadata.GetRootAsModelMetadata(metadata_buffer, 0))
    subgraph = meta.subgraphMetadata[0]
    image = subgraph.inputTensorMetadata[0]
    normalization = next(u.options for u in image.processUnits or []
                         if u.optionsType == meta_fb.ProcessUnitOptions.NormalizationOptions)
    label_file = next(f.name.decode() for f in subgraph.outputTensorMetadata[0].associatedFiles
                      if f.type == meta_fb.AssociatedFileType.TENSOR_AXIS_LABELS)
    with zipfile.ZipFile(io.BytesIO(model_bytes)) as archive:
        labels = [line for line in archive.read(label_file).decode("utf-8").splitlines() if line.strip()]
    graph = model.Subgraphs(0)
    input_tensor = graph.Tensors(graph.Inputs(0))
    output_tensor = graph.Tensors(graph.Outputs(0))

    def text(value):
        return value.decode() if isinstance(value, bytes) else value

    color = {v: k for k, v in vars(meta_fb.ColorSpaceType).items() if not k.startswith("_")}
    return {
        "name": text(meta.name), "description": text(meta.description), "version": text(meta.version),
        "author": text(meta.author), "license": text(meta.license),
        "min_parser_version": text(meta.minParserVersion),
        "input_mean": [float(v) for v in normalization.mean],
        "input_std": [float(v) for v in normalization.std],
        "color_space": color.get(image.content.contentProperties.colorSpace),
        "labels": labels, "label_file": label_file,
        "input_name": input_tensor.Name().decode(), "output_name": output_tensor.Name().decode(),
        "input_type": _tensor_type_name(input_tensor.Type()),
        "output_type": _tensor_type_name(output_tensor.Type()),
    }
