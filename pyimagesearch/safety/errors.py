"""The errors a user can fix. The program prints their message, one sentence that says
what to do, instead of a traceback."""


class UserError(Exception):
    """A problem the user can fix; its message says how."""


def reason(error):
    """Why an ``OSError`` happened, in a few words: "No space left on device" (its
    ``strerror``), else its message, else the name of its kind."""
    return error.strerror or str(error) or type(error).__name__


def summary(error):
    """Any exception in a few words, for a sentence: the first line of its message, else
    the name of its kind."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
