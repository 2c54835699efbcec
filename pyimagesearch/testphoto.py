"""A photo-like picture of a Fashion-MNIST test image, to try ``--classify`` with, and to
test the conversion of :mod:`pyimagesearch.photos` against:

    python -m pyimagesearch.testphoto 0 boot.jpg    # test image 0, as a photo
"""

import sys
from pathlib import Path

import numpy as np

from pyimagesearch.errors import UserError


def make_photo(image, path, rng):
    """Write a photo-like JPEG of ``image`` (28x28 uint8, light on black) to ``path``: the
    way a photo differs from the data, a dark object on a light background, 5 to 20 times
    larger, off-centre on a larger canvas, with a little noise. Returns ``path``."""
    import cv2  # here, not above: main checks OpenCV's settings first

    from pyimagesearch.montage import save_image

    dark_on_light = 255 - image
    scale = rng.uniform(5, 20)
    side = round(28 * scale)
    large = cv2.resize(dark_on_light, (side, side), interpolation=cv2.INTER_CUBIC)
    height, width = round(side * rng.uniform(1.2, 2.0)), round(side * rng.uniform(1.2, 2.0))
    canvas = np.full((height, width), rng.uniform(225, 255), np.float32)
    top, left = rng.integers(0, height - side + 1), rng.integers(0, width - side + 1)
    canvas[top:top + side, left:left + side] = np.minimum(
        canvas[top:top + side, left:left + side], large)  # the light canvas shows through
    canvas += rng.normal(0, 3, canvas.shape)
    photo = cv2.cvtColor(np.clip(canvas, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)
    save_image(photo, path, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return path


def main(argv=None):
    """``python -m pyimagesearch.testphoto INDEX PATH``: test image INDEX as a photo-like
    picture, to try ``--classify`` with."""
    from pyimagesearch.datasets import LABEL_NAMES, load_fashion_mnist
    from pyimagesearch.training.backend import check_opencv_settings

    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2 or not (argv[0].isascii() and argv[0].isdigit() and len(argv[0]) < 9):
        sys.exit("usage: python -m pyimagesearch.testphoto TEST_IMAGE_NUMBER PICTURE.jpg")
    index, path = int(argv[0]), Path(argv[1])
    try:
        check_opencv_settings()
        (_, (testX, testY)), _ = load_fashion_mnist()
        if index >= len(testX):
            raise UserError(f"there are {len(testX):,} test images; give a number below that")
        make_photo(testX[index], path, np.random.default_rng(index))
    except (UserError, OSError) as error:
        sys.exit(f"error: {error}")
    print(f"{path}: test image {index} ({LABEL_NAMES[testY[index]]}), as a photo")


if __name__ == "__main__":
    main()
