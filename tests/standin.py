"""Tiny stand-in TF-Hub image modules, built by the tests themselves (tests never touch the network).

Same contract as a real feature-vector module: float32 [b, H, W, 3] in [0, 1] -> [b, D], a TF2
SavedModel that `hub.KerasLayer` loads and can fine-tune.
"""

from __future__ import annotations

import os


def make_standin_module(path: str, input_size: int = 32, feature_size: int = 8, seed: int = 0) -> str:
    """Saves a small conv net as a TF-Hub-format module at `path` and returns `path`."""
    from common.tfcompat import keras, tf

    keras.utils.set_random_seed(seed)
    image = keras.Input(shape=(input_size, input_size, 3), dtype=tf.float32)
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(image)
    x = keras.layers.Conv2D(feature_size, 3, strides=2, activation="relu")(x)
    # The mean colour goes in too, so tests' colour-coded classes are separable by a head, as real
    # classes are on real features.
    pooled = keras.layers.Concatenate()([keras.layers.GlobalAveragePooling2D()(x),
                                         keras.layers.GlobalAveragePooling2D()(image)])
    features = keras.layers.Dense(feature_size)(pooled)
    model = keras.Model(image, features)

    # A Keras SavedModel implements TF-Hub's "reusable SavedModel" API (__call__ with `training`,
    # variables, trainable_variables), like the real modules, so hub.KerasLayer can fine-tune it.
    os.makedirs(path, exist_ok=True)
    tf.saved_model.save(model, path)
    return path
