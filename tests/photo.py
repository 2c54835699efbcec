"""Photo-like pictures made from Fashion-MNIST images, the way a photo differs from the
data: a dark object on a light background, many times larger, off-centre on a larger
canvas, with a little noise, saved as JPEG. The tests of pyimagesearch/photos.py use it,
and so can you, to have a picture to classify:

    python tests/photo.py 0 shirt.jpg    # test image 0, as a photo
"""

import sys
from pathlib import Path

import cv2
import numpy as np


def make_photo(image, path, rng):
    """Write ``image`` (28x28 uint8, light on black) to ``path`` as a photo-like JPEG."""
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
    if not cv2.imwrite(str(path), photo, [cv2.IMWRITE_JPEG_QUALITY, 90]):
        raise OSError(f"could not write {path}")
    return path


def main():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from pyimagesearch.datasets import LABEL_NAMES, load_fashion_mnist

    index, path = int(sys.argv[1]), Path(sys.argv[2])
    (_, (testX, testY)), _ = load_fashion_mnist()
    make_photo(testX[index], path, np.random.default_rng(index))
    print(f"{path}: test image {index} ({LABEL_NAMES[testY[index]]}), as a photo")


if __name__ == "__main__":
    main()
