"""qdretrain: retrain TF-Hub image classifiers on Quick, Draw! doodles and ship them to Android.

The packages:
  convert/         QuickDraw .npy / .ndjson -> per-class JPG folders (no TensorFlow needed)
  retrain/         architectures, TF-Hub modules, split, bottleneck cache, training, evaluation, CLI
  android_export/  TFLite / frozen graph / ONNX / SavedModel export, verification, Android assets
"""

__version__ = "0.1.0"
