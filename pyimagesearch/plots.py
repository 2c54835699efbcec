"""The figures a run saves: the chapter's training plot and a confusion matrix."""

import textwrap

import matplotlib.style
import numpy as np
from matplotlib.figure import Figure
from sklearn.metrics import ConfusionMatrixDisplay

from pyimagesearch.safety.atomic import replaced_atomically


def set_title(axes, title, subtitle):
    """Title a plot, with ``subtitle`` wrapped on the lines below it in a smaller font."""
    if subtitle:
        axes.set_title("\n".join([title, *textwrap.wrap(subtitle, 72)]), fontsize="medium")
    else:
        axes.set_title(title)


def plot_history(history, subtitle=""):
    """The chapter's training plot: loss and accuracy, train and validation, per epoch.
    ``subtitle`` names what the run changed from the chapter's recipe."""
    epochs = np.arange(1, len(history["loss"]) + 1)
    with matplotlib.style.context("ggplot"):
        figure = Figure(layout="constrained" if subtitle else None)
        axes = figure.subplots()
        axes.plot(epochs, history["loss"], label="train_loss")
        axes.plot(epochs, history["val_loss"], label="val_loss")
        axes.plot(epochs, history["accuracy"], label="train_acc")
        axes.plot(epochs, history["val_accuracy"], label="val_acc")
        set_title(axes, "Training Loss and Accuracy on Dataset", subtitle)
        axes.set_xlabel("Epoch #")
        axes.set_ylabel("Loss/Accuracy")
        axes.legend(loc="lower left")
    return figure


def plot_confusion(matrix, label_names, subtitle=""):
    """The confusion matrix as a figure (scikit-learn's ``ConfusionMatrixDisplay``)."""
    figure = Figure(figsize=(8, 7), layout="constrained")
    axes = figure.subplots()
    ConfusionMatrixDisplay(matrix, display_labels=label_names).plot(
        ax=axes, cmap="Blues", xticks_rotation=45, colorbar=False)
    accuracy = np.trace(matrix) / matrix.sum()
    set_title(axes, f"Confusion matrix on the {matrix.sum():,} test images "
                    f"(accuracy {accuracy:.4f})", subtitle)
    return figure


def format_matrix(matrix, label_names):
    """The confusion matrix as text, one row per true label."""
    width = max(len(str(matrix.max())), 5)
    label_width = max(map(len, label_names)) + 1
    header = " " * (label_width + 1) + " ".join(name[:width].rjust(width) for name in label_names)
    rows = [name.rjust(label_width) + " " + " ".join(str(count).rjust(width) for count in row)
            for name, row in zip(label_names, matrix)]
    return "\n".join([header, *rows])


def save_figure(figure, path):
    """Save a Matplotlib figure as a PNG at ``path``, atomically."""
    with replaced_atomically(path) as temporary:
        figure.savefig(temporary, format="png")
