"""What a user is told when a file operation fails: the reason in a few words."""

import errno

from pyimagesearch.safety.errors import UserError, reason


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
