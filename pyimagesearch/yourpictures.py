"""Your own pictures (--classify): read, classified, printed, written as classified.png
and shown; and the montage's window. This is the part of the driver that must also run
without TensorFlow: with a model exported to .tflite or .onnx, ``fashion_mnist.py --load
MODEL --classify PICTURES`` comes here before TensorFlow is imported (see :func:`wanted`).
"""

import platform
import sys
from importlib.metadata import PackageNotFoundError, version

import numpy as np

from pyimagesearch import cli, display, photos
from pyimagesearch.datasets import LABEL_NAMES
from pyimagesearch.errors import UserError
from pyimagesearch.montage import SHEET_PICTURES, classified_sheet, save_image
from pyimagesearch.portable import RUNTIMES, PortableModel, is_portable
from pyimagesearch.supervisor import Supervisor

WINDOW_TITLE = "Fashion MNIST"


def show_window(image, path, no_display, signals):
    """Show ``image`` (saved at ``path``) until a key is pressed or a stop signal comes."""
    reason = None if no_display else display.show(WINDOW_TITLE, image, signals)
    if reason:
        print(f"[INFO] {reason}, so no window was opened; open {path} to see it")


def read(paths, run):
    """Your own pictures (--classify), read before anything else, so that a bad one is named
    at once; returns those that can be classified (if none can, the run is refused)."""
    pictures, problems = photos.prepare(paths) if paths else ([], [])
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if paths and not pictures:
        raise UserError("none of the pictures given to --classify can be classified")
    if problems:
        run.problems.append("some pictures could not be classified")
    return pictures


def classify(probabilities, pictures, args, run):
    """Print the three likeliest labels of each of your ``pictures`` (``probabilities``
    gives them for 28x28 uint8 images), write classified.png and show it."""
    paths, thumbnails, images = zip(*pictures)
    scores = probabilities(np.stack(images))
    for path, score in zip(paths, scores):
        best = np.argsort(score)[::-1][:3]
        print(f"[INFO] {path}: " + ", ".join(f"{LABEL_NAMES[k]} {score[k]:.2f}" for k in best))
    sheet = classified_sheet(thumbnails, images, [LABEL_NAMES[k] for k in scores.argmax(1)])
    if len(paths) > SHEET_PICTURES:
        print(f"[INFO] classified.png shows the first {SHEET_PICTURES} of {len(paths):,} pictures")
    path = args.output / "classified.png"
    run.write([("your pictures, as the network saw them,", path, lambda: save_image(sheet, path))])
    show_window(sheet, path, args.no_display, run.signals)


def wanted(argv):
    """Whether the command line ``argv`` classifies pictures with a .tflite or .onnx model,
    which :func:`main` does without TensorFlow. It only looks (the driver, which does the
    same with TensorFlow imported, says what is wrong with a command line)."""
    values = {}
    for number, word in enumerate(argv):
        name, _, value = word.partition("=")
        if name in ("--load", "--classify", "--help", "-h", "--version"):
            following = argv[number + 1] if number + 1 < len(argv) else ""
            values[name] = value or following
    return ("--classify" in values and is_portable(values.get("--load", ""))
            and not {"--help", "-h", "--version"} & set(values))


def portable_probabilities(model, images, tta=False):
    """The probabilities ``model`` (a :class:`PortableModel`) gives 28x28 uint8 ``images``;
    with ``tta``, averaged with their mirror images'."""
    x = images[..., None].astype(np.float32) / 255
    scores = model.predict(x)
    return (scores + model.predict(x[:, :, ::-1])) / 2 if tta else scores


def main(argv=None):
    """``fashion_mnist.py --load MODEL.tflite|MODEL.onnx --classify PICTURES``, with the
    model's own runtime and no TensorFlow. Returns the exit code."""
    args = cli.parse_args(argv)
    if args.export:
        raise UserError("--export needs a Keras model (.keras) to export; --load one")
    with Supervisor(args, ["classified.png"]) as run:
        _, package = RUNTIMES[args.load.suffix.lower()]
        try:
            runtime = f"{package} {version(package)}"
        except PackageNotFoundError:
            runtime = package
        print(f"[INFO] running with {runtime}, Python {platform.python_version()} "
              f"(no TensorFlow)")
        pictures = read(args.classify, run)
        print(f"[INFO] loading model {args.load}...")
        model = PortableModel(args.load)
        run.prepare_folders()
        classify(lambda images: portable_probabilities(model, images, args.tta), pictures,
                 args, run)
        return run.end()
