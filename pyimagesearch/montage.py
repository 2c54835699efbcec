"""The 4x4 montage of test images, each labelled with the network's prediction."""

import cv2
import numpy as np
from imutils import build_montages

GREEN = (0, 255, 0)  # OpenCV colours are BGR
RED = (0, 0, 255)
TILE = (96, 96)


def annotate(image, label, correct):
    """Return a 96x96 BGR copy of a 28x28 grayscale uint8 ``image`` with ``label`` drawn on it,
    green when the prediction is ``correct``, red when it is not."""
    image = cv2.merge([image] * 3)
    image = cv2.resize(image, TILE, interpolation=cv2.INTER_LINEAR)
    cv2.putText(image, label, (5, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.75,
                GREEN if correct else RED, 2)
    return image


def prediction_montage(images, predictions, truths, label_names, grid=(4, 4)):
    """Tile annotated ``images`` (28x28 uint8) into one montage, ``grid`` = (columns, rows).

    ``predictions`` and ``truths`` are class indices; 16 images give a 384x384x3 montage.
    """
    tiles = [annotate(np.asarray(image), label_names[pred], pred == truth)
             for image, pred, truth in zip(images, predictions, truths)]
    return build_montages(tiles, TILE, grid)[0]


def pick_images(count, total, seed=None):
    """Indices of ``count`` different random images of ``total``: the same ones for the
    same seed."""
    return np.random.default_rng(seed).choice(total, size=count, replace=False)
