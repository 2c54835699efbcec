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

from pyimagesearch.safety.errors import UserError, summary

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


class DatasetError(UserError):
    """The data could not be found or is not valid Fashion-MNIST; the message says what to do."""


def read_idx(path):
    """Read one IDX file of unsigned bytes (gzipped or not) into a uint8 array.

    The header's magic number, dimensions and the payload's length are all
    checked; anything wrong raises ``DatasetError`` naming the file.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as error:
        raise DatasetError(f"cannot read {path}: {error}") from None

    magic = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else None
    if magic not in _IDX_KINDS:
        raise DatasetError(f"{path} is not an IDX file of unsigned bytes (bad header)")
    _, ndim = _IDX_KINDS[magic]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(f"{path} is truncated: its header is incomplete")
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    expected = header + math.prod(shape)  # Python ints: no overflow past 2**63
    if len(raw) != expected:
        raise DatasetError(
            f"{path} should hold {expected:,} bytes for shape {shape} but holds {len(raw):,}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


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


def load_fashion_mnist(dataset_dir=None, download=True):
    """Return ``(((trainX, trainY), (testX, testY)), source)``: the arrays Keras's
    ``fashion_mnist.load_data()`` returns, and where they came from (a folder, or "the Keras
    download").

    Images are uint8 arrays of shape (n, 28, 28), labels uint8 arrays of shape
    (n,). Folders are tried in this order: ``dataset_dir``, ``$FASHION_MNIST_DIR``,
    the Keras cache (``~/.keras/datasets/fashion-mnist``), then
    ``/usr/share/datasets/fashion-mnist`` (Debian's ``dataset-fashion-mnist``).
    A folder the user named must exist and hold the files; the two standard
    folders are skipped when empty. When none has them and ``download`` is true,
    ``keras.datasets.fashion_mnist.load_data()`` is tried last. Raises
    :class:`DatasetError`, in one sentence, when there is no valid data.
    """
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
