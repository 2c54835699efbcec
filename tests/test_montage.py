"""The montage: 96x96 tiles, green label when right, red when wrong."""

import numpy as np

from pyimagesearch.datasets import LABEL_NAMES
from pyimagesearch.montage import GREEN, RED, annotate, pick_images, prediction_montage


def label_pixels(tile, colour):
    return int(np.all(tile[:30] == colour, axis=-1).sum())


def test_right_prediction_is_green_and_wrong_is_red():
    image = np.zeros((28, 28), np.uint8)
    right = annotate(image, "bag", correct=True)
    wrong = annotate(image, "bag", correct=False)
    assert right.shape == wrong.shape == (96, 96, 3)
    assert label_pixels(right, GREEN) > 50 and label_pixels(right, RED) == 0
    assert label_pixels(wrong, RED) > 50 and label_pixels(wrong, GREEN) == 0


def test_sixteen_tiles_make_a_4x4_montage():
    images = np.full((16, 28, 28), 128, np.uint8)
    truths = np.arange(16) % 10
    preds = truths.copy()
    preds[5] = (truths[5] + 1) % 10  # tile 5 (row 1, column 1) is wrong
    montage = prediction_montage(images, preds, truths, LABEL_NAMES)
    assert montage.shape == (384, 384, 3) and montage.dtype == np.uint8
    tiles = [montage[r * 96:(r + 1) * 96, c * 96:(c + 1) * 96] for r in range(4) for c in range(4)]
    for index, tile in enumerate(tiles):
        colour, other = (RED, GREEN) if index == 5 else (GREEN, RED)
        assert label_pixels(tile, colour) > 50 and label_pixels(tile, other) == 0, index
    # the image itself fills the tile beneath the label
    assert np.all(tiles[0][60:] == 128)


def test_pick_images_is_random_without_a_seed():
    assert len(set(pick_images(16, 10_000))) == 16
    np.testing.assert_array_equal(pick_images(16, 10_000, 3), pick_images(16, 10_000, 3))
    assert not np.array_equal(pick_images(16, 10_000), pick_images(16, 10_000))
    assert sorted(pick_images(16, 12)) == list(range(12))  # fewer images: all of them


def test_the_sheet_is_a_grid_and_every_label_fits():
    from pyimagesearch.montage import YELLOW, classified_sheet

    pictures = [np.full((96, 96, 3), 255, np.uint8)] * 7
    images = [np.zeros((28, 28), np.uint8)] * 7
    sheet = classified_sheet(pictures, images, ["ankle boot"] * 7)
    assert sheet.shape == (2 * 96, 5 * 2 * 96, 3)  # 5 pictures a row, each with its image
    label = sheet[:96, 96:192]  # the first picture's image, labelled
    columns = np.nonzero(np.all(label == YELLOW, axis=-1).any(axis=0))[0]
    assert columns.min() >= 4 and columns.max() <= 92  # "ankle boot", whole
    chapter = annotate(np.zeros((28, 28), np.uint8), "ankle boot", correct=True)
    assert np.all(chapter == GREEN, axis=-1)[:, 95].any()  # the chapter's own is cut at the edge
    many = classified_sheet(pictures * 20, images * 20, ["bag"] * 140)
    assert many.shape == (20 * 96, 5 * 2 * 96, 3)  # the first 100 of 140
