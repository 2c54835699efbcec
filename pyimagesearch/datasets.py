"""Load Fashion-MNIST from local IDX files, with no internet needed.

Keras's own loader downloads the data from a host that offline and firewalled
machines cannot reach. ``load_fashion_mnist`` first looks for the four IDX
files, gzipped or not, in the folders a user is likely to have them in, and
only then falls back to the download.
"""

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

from pyimagesearch.errors import UserError, shown, summary

LABEL_NAMES = ["top", "trouser", "pullover", "dress", "coat",
               "sandal", "shirt", "sneaker", "bag", "ankle boot"]

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

KERAS_CACHE_DIR = Path.home() / ".keras" / "datasets" / "fashion-mnist"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")

INSTALL_HINT = (
    "download the four files from https://github.com/zalandoresearch/fashion-mnist "
    "into a folder and pass it with --dataset-dir (or set FASHION_MNIST_DIR), "
    "or on Debian/Ubuntu run 'apt-get install dataset-fashion-mnist'"
)

# magic number -> (what the file must hold, number of dimensions)
_IDX_KINDS = {0x0803: ("images", 3), 0x0801: ("labels", 1)}
MAX_IDX_BYTES = 2**30  # Fashion-MNIST's largest file holds 47 MB


class DatasetError(UserError):
    """The data could not be found or is not valid Fashion-MNIST; the message says what to do."""


def scaled(images):
    """uint8 images as the network takes them: float32 in [0, 1]."""
    return images.astype(np.float32) / np.float32(255)


def mirrored(images, channels_first=False):
    """A batch of images (n, height, width, ...), or (n, 1, height, width) ``channels_first``,
    each mirrored left to right: what test-time augmentation predicts beside each image."""
    return np.flip(images, axis=3 if channels_first else 2)


def read_idx(path):
    """Read one IDX file of unsigned bytes (gzipped or not) into a uint8 array.

    The header's magic number, dimensions and the payload's length are all checked, and no
    more is read or decompressed than the header announces (at most ``MAX_IDX_BYTES``);
    anything wrong raises ``DatasetError`` naming the file.
    """
    path = Path(path)
    try:
        with path.open("rb") as file:
            gzipped = file.read(2) == b"\x1f\x8b"
        with (gzip.open if gzipped else open)(path, "rb") as file:
            magic = int.from_bytes(file.read(4), "big")
            if magic not in _IDX_KINDS:
                raise DatasetError(f"{shown(path)} is not an IDX file of unsigned bytes (bad "
                                   f"header)")
            _, ndim = _IDX_KINDS[magic]
            dimensions = file.read(4 * ndim)
            if len(dimensions) < 4 * ndim:
                raise DatasetError(f"{shown(path)} is truncated: its header is incomplete")
            shape = tuple(int.from_bytes(dimensions[i:i + 4], "big") for i in range(0, 4 * ndim, 4))
            size = math.prod(shape)  # Python ints: no overflow past 2**63
            if size > MAX_IDX_BYTES:
                raise DatasetError(f"{shown(path)} announces {size:,} bytes for shape {shape}, "
                                   f"more than any Fashion-MNIST file holds")
            payload = file.read(size + 1)  # one byte more tells a file that is too long
    except (OSError, EOFError, zlib.error) as error:
        raise DatasetError(f"cannot read {shown(path)}: {error}") from None
    if len(payload) != size:
        header = 4 + 4 * ndim
        holds = "more" if len(payload) > size else f"{header + len(payload):,}"
        raise DatasetError(f"{shown(path)} should hold {header + size:,} bytes for shape "
                           f"{shape} but holds {holds}")
    return np.frombuffer(payload, dtype=np.uint8).reshape(shape)


def _find_file(folder, name):
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _load_folder(folder):
    """Read and check the four files in ``folder``."""
    arrays = {}
    for key, name in FILES.items():
        path = _find_file(folder, name)
        if path is None:
            raise DatasetError(f"{folder} has no {name} (nor {name}.gz)")
        arrays[key] = (path, read_idx(path))

    for split in ("train", "test"):
        image_path, images = arrays[f"{split}_images"]
        label_path, labels = arrays[f"{split}_labels"]
        if images.ndim == 1 and labels.ndim == 3:
            raise DatasetError(f"{image_path} holds labels and {label_path} images: the two "
                               f"files are swapped; give each the other's name")
        if images.ndim == 1:
            raise DatasetError(f"{image_path} is a labels file, not an images file")
        if images.ndim != 3 or images.shape[1:] != (28, 28):
            raise DatasetError(f"{image_path} holds images of shape {images.shape[1:]}, not 28x28")
        if labels.ndim != 1:
            raise DatasetError(f"{label_path} is an image file, not a labels file")
        if len(labels) != len(images):
            raise DatasetError(
                f"{label_path} has {len(labels):,} labels but {image_path} has "
                f"{len(images):,} images"
            )
        if len(labels) and labels.max() >= len(LABEL_NAMES):
            raise DatasetError(f"{label_path} has label {labels.max()}; Fashion-MNIST labels "
                               f"are 0-9")
    return ((arrays["train_images"][1], arrays["train_labels"][1]),
            (arrays["test_images"][1], arrays["test_labels"][1]))


def candidate_dirs(dataset_dir=None):
    """The folders searched, in order, each with whether the user named it explicitly."""
    found = []
    if dataset_dir:
        found.append((Path(dataset_dir), True))
    if os.environ.get("FASHION_MNIST_DIR"):
        found.append((Path(os.environ["FASHION_MNIST_DIR"]), True))
    found.append((KERAS_CACHE_DIR, False))
    found.append((DEBIAN_DIR, False))
    return found


def load_fashion_mnist(dataset_dir=None, download=True, limit=None):
    """Return ``(((trainX, trainY), (testX, testY)), source)``: the arrays Keras's
    ``fashion_mnist.load_data()`` returns (with ``limit``, the first ``limit`` training
    images only), and where they came from (a folder, or "the Keras download").

    Images are uint8 arrays of shape (n, 28, 28), labels uint8 arrays of shape
    (n,). Folders are tried in this order: ``dataset_dir``, ``$FASHION_MNIST_DIR``,
    the Keras cache (``~/.keras/datasets/fashion-mnist``), then
    ``/usr/share/datasets/fashion-mnist`` (Debian's ``dataset-fashion-mnist``).
    A folder the user named must exist and hold the files; the two standard
    folders are skipped when empty. When none has them and ``download`` is true,
    ``keras.datasets.fashion_mnist.load_data()`` is tried last. Raises
    :class:`DatasetError`, in one sentence, when there is no valid data, and
    :class:`UserError` (naming ``--limit``, the flag that passes it) when ``limit`` is more
    than the training images.
    """
    ((trainX, trainY), test), source = _load(dataset_dir, download)
    if limit is not None:
        if limit > len(trainX):
            raise UserError(f"--limit {limit} is more than the {len(trainX):,} training images; "
                            f"use a smaller number")
        trainX, trainY = trainX[:limit], trainY[:limit]
    return ((trainX, trainY), test), source


def _load(dataset_dir, download):
    for folder, explicit in candidate_dirs(dataset_dir):
        if explicit and folder.is_file():
            raise DatasetError(f"the dataset folder {folder} is a file, not a folder; pass the "
                               f"folder that holds the four files instead")
        if explicit and not folder.is_dir():
            raise DatasetError(f"the dataset folder {folder} does not exist; {INSTALL_HINT}")
        has_any = folder.is_dir() and any(_find_file(folder, name) for name in FILES.values())
        if explicit and not has_any:
            raise DatasetError(f"{folder} holds no Fashion-MNIST IDX files; {INSTALL_HINT}")
        if has_any:
            (trainX, trainY), (testX, testY) = _load_folder(folder)
            if not (len(trainX) and len(testX)):
                raise DatasetError(f"the data in {folder} has {len(trainX)} training and "
                                   f"{len(testX)} test images; it needs some of each")
            return ((trainX, trainY), (testX, testY)), str(folder)

    if not download:
        raise DatasetError(f"no Fashion-MNIST files were found; {INSTALL_HINT}")
    try:
        import keras

        return keras.datasets.fashion_mnist.load_data(), "the Keras download"
    except Exception as error:  # any network, HTTP or file error looks the same to the user
        raise DatasetError(
            f"no Fashion-MNIST files were found and the download failed ({summary(error)}); "
            f"to work offline, {INSTALL_HINT}"
        ) from None
