"""qdretrain's Python API, for notebooks and scripts (docs/api.md).

    import qdretrain
    model = qdretrain.train(image_dir="Output", architecture="mobilenet_0.25_224",
                            how_many_training_steps=500)
    model.evaluate()                       # top-1 / top-5 / per class on the held-back test split
    model.predict("cat.png")               # or an image array, or a drawing's strokes
    model.export(formats=["tflite"])       # verified against the trained model, as `qdretrain export`
    model = qdretrain.load("retrain_output")

`train` takes the options of `qdretrain train` by their Python names (`qdretrain.train_options()`
lists them with their defaults) and runs the same code the command runs.
"""

from qdretrain.api import Model, Prediction, load, train, train_options

__all__ = ["Model", "Prediction", "load", "train", "train_options"]
