"""Export a retrained model for Android and beyond (TFLite, frozen graph, ONNX, SavedModel), verified."""
