"""The 4x4 montage of test images, each labelled with the network's prediction, and the
sheet of your own pictures with theirs."""

from pathlib import Path

import cv2
import numpy as np
from imutils import build_montages

from pyimagesearch.safety.atomic import replaced_atomically

GREEN = (0, 255, 0)  # OpenCV colours are BGR
RED = (0, 0, 255)
YELLOW = (0, 255, 255)  # a prediction for a picture whose label nobody gave
TILE = (96, 96)
FONT, SCALE, THICKNESS = cv2.FONT_HERSHEY_SIMPLEX, 0.75, 2  # the chapter's label
SHEET_COLUMNS = 5  # pictures a row of the sheet (each beside what the network saw)
SHEET_PICTURES = 100  # the most a sheet shows


def annotate(image, label, correct, fit=False):
    """Return a 96x96 BGR copy of a 28x28 grayscale uint8 ``image`` with ``label`` drawn on it,
    green when the prediction is ``correct``, red when it is not, yellow when it is None
    (not known). With ``fit``, the label is made smaller where it would not fit in the tile
    (the chapter's montage cuts "ankle boot" short)."""
    image = cv2.merge([image] * 3)
    image = cv2.resize(image, TILE, interpolation=cv2.INTER_LINEAR)
    colour = YELLOW if correct is None else GREEN if correct else RED
    scale = SCALE
    if fit:
        (width, _), _ = cv2.getTextSize(label, FONT, SCALE, THICKNESS)
        scale = min(SCALE, SCALE * (TILE[0] - 10) / width)
    cv2.putText(image, label, (5, 20), FONT, scale, colour, THICKNESS)
    return image


def prediction_montage(images, predictions, truths, label_names, grid=(4, 4)):
    """Tile annotated ``images`` (28x28 uint8) into one montage, ``grid`` = (columns, rows).

    ``predictions`` and ``truths`` are class indices; 16 images give a 384x384x3 montage.
    """
    tiles = [annotate(np.asarray(image), label_names[pred], pred == truth)
             for image, pred, truth in zip(images, predictions, truths)]
    return build_montages(tiles, TILE, grid)[0]


def pick_images(count, total, seed=None):
    """Indices of ``count`` different random images of ``total`` (all of them, if fewer):
    the same ones for the same seed."""
    return np.random.default_rng(seed).choice(total, size=min(count, total), replace=False)


def classified_sheet(pictures, images, labels):
    """Each of ``pictures`` (96x96 BGR) beside the 28x28 image the network saw, labelled
    with its prediction in the montage's style (yellow: nobody said what it is), up to
    ``SHEET_COLUMNS`` pictures a row; the first ``SHEET_PICTURES`` of them only."""
    tiles = []
    for picture, image, label in list(zip(pictures, images, labels))[:SHEET_PICTURES]:
        tiles += [picture, annotate(image, label, correct=None, fit=True)]
    columns = min(len(tiles) // 2, SHEET_COLUMNS)
    return build_montages(tiles, TILE, (2 * columns, -(-len(tiles) // (2 * columns))))[0]


def save_image(image, path, params=()):
    """Save an OpenCV image at ``path``, atomically, in the format its suffix names (PNG,
    JPEG, ...), with OpenCV's ``params``. Raises ``OSError`` when it cannot be written.
    OpenCV encodes it in memory and Python writes the file: OpenCV never sees the name,
    which may be in any encoding."""
    try:
        encoded, data = cv2.imencode(Path(path).suffix, image, list(params))
    except cv2.error:
        encoded = False
    if not encoded:
        raise OSError(f"OpenCV cannot write a picture named {Path(path).name}")
    with replaced_atomically(path) as temporary:
        temporary.write_bytes(data.tobytes())
