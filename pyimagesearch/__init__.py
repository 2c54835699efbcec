"""The chapter's pieces, and what a working port needs around them.

At the top, what the chapter has, each where a reader with the book looks for it:
``minivggnet`` (the network), ``datasets`` (Fashion-MNIST, offline), ``pipeline`` (batches
scaled to [0, 1] with one-hot labels; augmentation), ``schedules`` (the chapter's Keras 2
decay), ``plots`` (the training plot), ``montage`` (the labelled 4x4 montage), ``display``
(the window); and beside them ``photos`` (your own pictures in Fashion-MNIST's style),
``classify`` (your pictures classified, also without TensorFlow), ``testphoto`` and ``cli``
(the driver's command line). Then three wings: ``training`` (beyond the chapter's ``fit``),
``safety`` (the run's safety net) and ``portable`` (the model for other runtimes).

``MiniVGGNet`` is imported on first use, so that the modules that need only NumPy load
without starting Keras's backend.
"""

import os

__all__ = ["MiniVGGNet"]

# the most pixels a picture of yours may decode to (150 MB in colour, 400 MB at 16 bits with
# alpha): OpenCV checks each picture's size against this before decoding it, whatever its
# format. It reads the setting once, as it loads: so it is set here, before any module of
# this package imports OpenCV (a setting of the user's own wins, if it is a number).
_limit = os.environ.get("OPENCV_IO_MAX_IMAGE_PIXELS", "")
if not (_limit.isascii() and _limit.isdigit()):
    os.environ["OPENCV_IO_MAX_IMAGE_PIXELS"] = "50000000"


def __getattr__(name):
    if name == "MiniVGGNet":
        from .minivggnet import MiniVGGNet

        return MiniVGGNet
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
