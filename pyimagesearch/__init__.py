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

__all__ = ["MiniVGGNet"]


def __getattr__(name):
    if name == "MiniVGGNet":
        from .minivggnet import MiniVGGNet

        return MiniVGGNet
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
