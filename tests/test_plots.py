"""The figures: the chapter's training plot, the confusion matrix, and its text form."""

import cv2
import numpy as np

from pyimagesearch import plots
from pyimagesearch.datasets import LABEL_NAMES

HISTORY = {"loss": [1.0, 0.6, 0.4], "val_loss": [0.8, 0.5, 0.45],
           "accuracy": [0.6, 0.8, 0.85], "val_accuracy": [0.7, 0.82, 0.84]}


def test_the_training_plot_is_the_chapters():
    figure = plots.plot_history(HISTORY)
    axes = figure.axes[0]
    assert axes.get_title() == "Training Loss and Accuracy on Dataset"
    assert (axes.get_xlabel(), axes.get_ylabel()) == ("Epoch #", "Loss/Accuracy")
    assert [text.get_text() for text in axes.get_legend().get_texts()] == [
        "train_loss", "val_loss", "train_acc", "val_acc"]
    assert axes.get_legend()._loc == 3  # "lower left"
    np.testing.assert_array_equal(axes.lines[3].get_xdata(), [1, 2, 3])  # epochs from 1
    np.testing.assert_array_equal(axes.lines[3].get_ydata(), HISTORY["val_accuracy"])


def test_a_changed_recipe_is_named_under_the_title():
    title = plots.plot_history(HISTORY, "epochs 3, batch 128").axes[0].get_title()
    assert title == "Training Loss and Accuracy on Dataset\nepochs 3, batch 128"


def test_the_confusion_matrix_figure_and_text():
    matrix = np.diag(np.full(10, 90)) + 1  # 100 a row, 900 of 1,000 right
    figure = plots.plot_confusion(matrix, LABEL_NAMES)
    assert figure.axes[0].get_title() == "Confusion matrix on the 1,000 test images (accuracy 0.9100)"
    text = plots.format_matrix(matrix, LABEL_NAMES).splitlines()
    assert text[0].split() == ["top", "trous", "pullo", "dress", "coat", "sanda", "shirt",
                               "sneak", "bag", "ankle"]
    assert text[1].split() == ["top", "91"] + ["1"] * 9
    assert text[10].split()[:2] == ["ankle", "boot"] and text[10].split()[-1] == "91"


def test_a_figure_is_saved_as_a_png(tmp_path):
    plots.save_figure(plots.plot_history(HISTORY), tmp_path / "plot.png")
    assert cv2.imread(str(tmp_path / "plot.png")).shape == (480, 640, 3)
    assert [p.name for p in tmp_path.iterdir()] == ["plot.png"]
