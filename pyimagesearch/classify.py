"""Your own pictures, classified: read and converted (:mod:`pyimagesearch.photos`), the
three likeliest labels of each printed, classified.png written and shown. fashion_mnist.py
does it with the Keras model (``--classify``); run as a program, this module does it with a
model exported to .tflite or .onnx, in that model's own runtime, without TensorFlow:

    python -m pyimagesearch.classify fashion_mnist-int8.tflite boot.jpg shirts/
"""

import argparse
import os
import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from pyimagesearch.datasets import LABEL_NAMES, mirrored, scaled
from pyimagesearch.errors import UserError, shown
from pyimagesearch.portable.runtimes import RUNTIMES, PortableModel, is_portable
from pyimagesearch.safety.supervisor import Supervisor, leave, supervise
from pyimagesearch.training.backend import check_opencv_settings

SHEET = "classified.png"


def read(paths, run):
    """Your own pictures, read before anything else, so that a bad one is named at once;
    returns those that can be classified (if none can, the run is refused)."""
    from pyimagesearch import photos  # OpenCV: once a run has checked its settings

    pictures, problems, notes = photos.prepare(paths) if paths else ([], [], [])
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    for note in notes:
        print(f"[WARNING] {note}", file=sys.stderr)
    if paths and not pictures:
        raise UserError("none of the pictures given can be classified")
    if problems:
        run.problem("some pictures could not be classified")
    return pictures


def classify(probabilities, pictures, output, run, window=True):
    """Print the three likeliest labels of each of your ``pictures`` (``probabilities``
    gives them for 28x28 uint8 images), write classified.png into ``output`` and, with
    ``window``, show it."""
    from pyimagesearch import display
    from pyimagesearch.montage import SHEET_PICTURES, classified_sheet, save_image

    paths, thumbnails, images = zip(*pictures)
    scores = probabilities(np.stack(images))
    for path, score in zip(paths, scores):
        best = np.argsort(score)[::-1][:3]
        print(f"[INFO] {shown(path)}: " + ", ".join(f"{LABEL_NAMES[k]} {score[k]:.2f}"
                                                   for k in best))
    sheet = classified_sheet(thumbnails, images, [LABEL_NAMES[k] for k in scores.argmax(1)])
    if len(paths) > SHEET_PICTURES:
        print(f"[INFO] {SHEET} shows the first {SHEET_PICTURES} of {len(paths):,} pictures")
    path = output / SHEET
    written = run.write([("your pictures, as the network saw them,", path,
                          lambda: save_image(sheet, path))])
    if window and path in written:  # one that could not be written (a full disk) was said
        display.show_window(sheet, path, run)


def portable_probabilities(model, images, tta=False):
    """The probabilities ``model`` (a :class:`PortableModel`) gives 28x28 uint8 ``images``;
    with ``tta``, averaged with their mirror images'."""
    x = scaled(images[..., None])
    scores = model.predict(x)
    return (scores + model.predict(mirrored(x))) / 2 if tta else scores


def exported_model(text):
    if not is_portable(text):
        raise argparse.ArgumentTypeError(
            f"must be a model exported by fashion_mnist.py --export (.tflite or .onnx), not "
            f"{text!r}; a .keras model classifies with fashion_mnist.py --load MODEL --classify")
    return Path(text)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m pyimagesearch.classify",
        description="Classify your own pictures with a model exported by fashion_mnist.py "
                    "--export, in its own runtime (LiteRT or ONNX Runtime), without TensorFlow.")
    parser.add_argument("model", type=exported_model, help="a .tflite or .onnx model")
    parser.add_argument("pictures", type=Path, nargs="+", metavar="PICTURE",
                        help="pictures, or folders of them")
    parser.add_argument("--output", type=Path, default=Path("."),
                        help=f"folder for {SHEET} (default: the current folder)")
    parser.add_argument("--tta", action="store_true",
                        help="average each picture's probabilities with its mirror image's")
    parser.add_argument("--no-display", action="store_true",
                        help=f"do not open a window for {SHEET}")
    args = parser.parse_args(argv)
    for picture in args.pictures:
        try:
            os.lstat(picture)  # may raise for a folder this user may not look in: said as such
        except FileNotFoundError:
            raise UserError(f"{shown(picture)} does not exist; check the path") from None
    return args


def main(argv=None):
    """Classify the pictures the command line ``argv`` names; returns the exit code."""
    args = parse_args(argv)
    check_opencv_settings()
    with Supervisor(args.output, [args.output / SHEET]) as run:
        _, package = RUNTIMES[args.model.suffix.lower()]
        try:
            runtime = f"{package} {version(package)}"
        except PackageNotFoundError:
            runtime = f"{package} (not installed)"
        print(f"[INFO] running with {runtime}, Python {platform.python_version()} "
              f"(no TensorFlow)")
        pictures = read(args.pictures, run)
        print(f"[INFO] loading model {args.model}...")
        model = PortableModel(args.model)
        run.prepare_folders()
        classify(lambda images: portable_probabilities(model, images, args.tta), pictures,
                 args.output, run, window=not args.no_display)
        return run.end()


if __name__ == "__main__":
    leave(supervise(main))
