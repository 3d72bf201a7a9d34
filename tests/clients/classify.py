"""Classifies images with a real Android-side client, from the .tflite file alone; prints JSON.

Run by tests/test_real_clients.py inside a client's own venv (.ci/setup_clients), so it imports
nothing from qdretrain. No labels file and no mean/std are passed: the client reads them from the
model's metadata, as an app using the Task Library or MediaPipe Tasks does.

  python classify.py tflite_support|mediapipe MODEL IMAGE...
  -> [{"label": "cat", "score": 0.93}, ...]   (top-1 per image, in order)
"""

import json
import sys


def tflite_support_top1(model_path, image_paths):
    """TFLite Task Library's C++ ImageClassifier (what `tensorflow-lite-task-vision` links)."""
    from tflite_support.task import core, processor, vision
    options = vision.ImageClassifierOptions(
        base_options=core.BaseOptions(file_name=model_path),
        classification_options=processor.ClassificationOptions(max_results=1))
    classifier = vision.ImageClassifier.create_from_options(options)
    results = []
    for path in image_paths:
        category = classifier.classify(vision.TensorImage.create_from_file(path)).classifications[0].categories[0]
        results.append({"label": category.category_name, "score": float(category.score)})
    return results


def mediapipe_top1(model_path, image_paths):
    """MediaPipe Tasks' ImageClassifier."""
    import mediapipe as mp
    from mediapipe.tasks import python as mp_tasks
    from mediapipe.tasks.python import vision
    options = vision.ImageClassifierOptions(base_options=mp_tasks.BaseOptions(model_asset_path=model_path),
                                            max_results=1)
    results = []
    with vision.ImageClassifier.create_from_options(options) as classifier:
        for path in image_paths:
            category = classifier.classify(mp.Image.create_from_file(path)).classifications[0].categories[0]
            results.append({"label": category.category_name, "score": float(category.score)})
    return results


if __name__ == "__main__":
    client, model, *images = sys.argv[1:]
    top1 = {"tflite_support": tflite_support_top1, "mediapipe": mediapipe_top1}[client]
    print(json.dumps(top1(model, images)))
