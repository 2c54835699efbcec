"""The 4x4 montage of test images, each labelled with the network's prediction, and the
sheet of your own pictures with theirs."""

import cv2
import numpy as np
from imutils import build_montages

from pyimagesearch.atomic import replaced_atomically

GREEN = (0, 255, 0)  # OpenCV colours are BGR
RED = (0, 0, 255)
YELLOW = (0, 255, 255)  # a prediction for a picture whose label nobody gave
TILE = (96, 96)


def annotate(image, label, correct):
    """Return a 96x96 BGR copy of a 28x28 grayscale uint8 ``image`` with ``label`` drawn on it,
    green when the prediction is ``correct``, red when it is not, yellow when it is None
    (not known)."""
    image = cv2.merge([image] * 3)
    image = cv2.resize(image, TILE, interpolation=cv2.INTER_LINEAR)
    colour = YELLOW if correct is None else GREEN if correct else RED
    cv2.putText(image, label, (5, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.75, colour, 2)
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


def classified_sheet(pictures, images, labels):
    """Each of ``pictures`` (96x96 BGR) beside the 28x28 image the network saw, labelled
    with its prediction in the montage's style (yellow: nobody said what it is), one
    picture a row."""
    tiles = []
    for picture, image, label in zip(pictures, images, labels):
        tiles += [picture, annotate(image, label, correct=None)]
    return build_montages(tiles, TILE, (2, len(pictures)))[0]


def save_image(image, path):
    """Save an OpenCV image as a PNG at ``path``, atomically. Raises ``OSError`` when it
    cannot be written."""
    with replaced_atomically(path) as temporary:
        try:
            written = cv2.imwrite(str(temporary), image)
        except cv2.error:
            written = False
        if not written:
            raise OSError("OpenCV could not write it; check the free disk space")
