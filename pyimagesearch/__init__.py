"""The chapter's reusable pieces: the MiniVGGNet model, an offline Fashion-MNIST
loader, the training input pipeline and the prediction montage.

``MiniVGGNet`` is imported on first use, so that ``pyimagesearch.datasets``
(which needs only NumPy) loads without starting TensorFlow.
"""

__all__ = ["MiniVGGNet"]


def __getattr__(name):
    if name == "MiniVGGNet":
        from .minivggnet import MiniVGGNet

        return MiniVGGNet
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
