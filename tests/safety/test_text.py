"""The small pieces of wording in the program's messages."""

from pyimagesearch.safety.text import article, plural


def test_plural():
    assert [plural(n, "epoch") for n in (0, 1, 2)] == ["0 epochs", "1 epoch", "2 epochs"]
    assert plural(1000, "picture") == "1,000 pictures"


def test_article():
    assert article("output folder") == "an output folder"
    assert article("model folder") == "a model folder"
