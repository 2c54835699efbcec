"""What a user is told: the reason a file operation failed in a few words, and the small
pieces of wording the program's messages share."""

import errno

from pyimagesearch.errors import UserError, article, plural, reason


def test_the_reason_of_an_os_error_is_its_own_words():
    assert reason(OSError(errno.ENOSPC, "No space left on device")) == "No space left on device"
    assert reason(OSError("OpenCV could not write it")) == "OpenCV could not write it"
    assert reason(PermissionError()) == "PermissionError"
    try:
        open("/no/such/folder/file", "w")
    except OSError as error:
        assert reason(error) == "No such file or directory"


def test_a_user_error_is_its_message():
    assert str(UserError("use a smaller number")) == "use a smaller number"


def test_plural():
    assert [plural(n, "epoch") for n in (0, 1, 2)] == ["0 epochs", "1 epoch", "2 epochs"]
    assert plural(1000, "picture") == "1,000 pictures"


def test_article():
    assert article("output folder") == "an output folder"
    assert article("model folder") == "a model folder"
