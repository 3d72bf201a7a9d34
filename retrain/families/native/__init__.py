"""Doodle-native networks: small CNNs trained from random initialisation on 28x28 drawings.

The "native" model family (retrain.families.architectures.FAMILIES): unlike the TF-Hub family it needs no
backbone or bottleneck cache; it trains end to end on drawings streamed from disk (stream.py), with its
own schedules, augmentation and optimizers (train.py), and exports with the same input contract as
every other qdretrain model (RGB [1, H, W, 3] in [-1, 1]; the gray conversion is inside the model).
"""
