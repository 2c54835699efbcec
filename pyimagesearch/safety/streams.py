"""Standard output and error that outlive their reader, fit where they go, and say when
they fail.

A closed pipe (``| head``), a quit pager or a closed terminal never ends a run; a closed
descriptor (``2>&-``) never swallows a file opened later; characters the output's encoding
lacks are replaced; a log file or ``NO_COLOR`` gets no colour codes, and a log file one
line per epoch instead of progress bars; any other failure to write (``> /dev/full``) is
reported once, and the run goes on.
"""

import contextlib
import errno
import os
import re
import sys
import tempfile

from pyimagesearch.safety import interrupts

# a write error that means the reader has gone: a closed pipe or socket, a closed terminal
READER_GONE = {errno.EPIPE, errno.ECONNRESET, errno.EIO}
COLOUR_CODES = re.compile(r"\x1b\[[0-9;]*m")


def open_standard_streams():
    """Point a closed standard output or error (``2>&-``) at the null device, so that
    files opened later cannot take its number and receive what is written to it, and
    give Python a stream for it (it has None)."""
    for fd, name in ((1, "stdout"), (2, "stderr")):
        try:
            os.fstat(fd)
        except OSError:
            point_at_null_device(fd)
        if getattr(sys, name) is None:
            setattr(sys, name, open(fd, "w", closefd=False))


def point_at_null_device(fd):
    """Make the file descriptor ``fd`` write to the null device."""
    null = os.open(os.devnull, os.O_WRONLY)
    if null != fd:  # when ``fd`` was closed, the new one takes its number
        os.dup2(null, fd)
        os.close(null)


def is_terminal(stream):
    """Whether ``stream`` is a terminal that can redraw a line (not ``TERM=dumb``)."""
    try:
        return stream.isatty() and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError, OSError):
        return False


def in_notebook():
    """Whether this runs in a Jupyter kernel (Colab's included), whose front end draws
    Keras's progress bars and shows pictures inline."""
    if not interrupts.in_ipython():
        return False
    shell = sys.modules["IPython"].get_ipython()
    return "IPKernelApp" in getattr(shell, "config", {}) or "google.colab" in sys.modules


def progress_bars():
    """Whether standard output should get Keras's redrawn progress bars (``verbose=1``),
    rather than one line per epoch (``verbose=2``): in a terminal, and in a notebook."""
    return is_terminal(sys.stdout) or in_notebook()


def wants_colour(stream):
    """Whether colour codes belong in ``stream``: a terminal, and no ``NO_COLOR``."""
    return is_terminal(stream) and not os.environ.get("NO_COLOR")


class SurvivingStream:
    """A text stream whose writes never raise. When its reader is gone (``| head``
    has exited, ``less`` was quit, the terminal was closed), what is written is
    dropped and the program goes on; the file descriptor is pointed at the null
    device, so that nothing else fails on it either (Python's own flush at exit).
    Any other write error is dropped the same way, kept in ``failure`` and passed
    to ``on_failure`` (once). With ``colour`` false, colour codes are left out."""

    def __init__(self, stream, colour=True, on_failure=None):
        self.stream, self.colour, self.on_failure = stream, colour, on_failure
        self.lost = False
        self.failure = None

    def write(self, text):
        if not self.lost:
            text = text if self.colour else COLOUR_CODES.sub("", text)
            try:
                try:
                    self.stream.write(text)
                except UnicodeEncodeError:  # a stream that could not be told to replace
                    encoding = getattr(self.stream, "encoding", None) or "utf-8"
                    self.stream.write(text.encode(encoding, "backslashreplace").decode(encoding))
            except (OSError, ValueError) as error:  # ValueError: a closed file
                self._lose(error)
        return len(text)

    def flush(self):
        if not self.lost:
            try:
                self.stream.flush()
            except (OSError, ValueError) as error:
                self._lose(error)

    def _lose(self, error):
        self.lost = True
        with contextlib.suppress(OSError, ValueError, AttributeError):
            point_at_null_device(self.stream.fileno())
        if isinstance(error, OSError) and error.errno not in READER_GONE:
            self.failure = error.strerror or str(error)
            if self.on_failure is not None:
                self.on_failure(self.failure)

    def __getattr__(self, name):  # isatty, fileno, encoding, ... as the stream has them
        return getattr(self.stream, name)


@contextlib.contextmanager
def surviving_streams(on_failure=None):
    """Within the block, ``sys.stdout`` and ``sys.stderr`` are :class:`SurvivingStream`\\ s
    that replace the characters their encoding lacks; ``on_failure`` is called with the
    reason when standard output fails for another cause than a reader gone."""
    streams = sys.stdout, sys.stderr
    for stream in streams:
        with contextlib.suppress(AttributeError, ValueError, OSError):
            stream.reconfigure(errors="replace")  # "?" for what, say, Latin-1 lacks
    sys.stdout, sys.stderr = (
        SurvivingStream(stream or open(os.devnull, "w"), wants_colour(stream),  # closed: None
                        on_failure if stream is streams[0] else None)
        for stream in streams)
    try:
        yield sys.stdout, sys.stderr
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        sys.stdout, sys.stderr = streams


@contextlib.contextmanager
def native_stderr_muted():
    """Hide what TensorFlow's C++ core (or OpenCV's window toolkit) prints on start-up,
    which would bury the [INFO] lines. Shown again if something fails; set
    TF_CPP_MIN_LOG_LEVEL=0 to always see it."""
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "0":
        yield
        return
    with native_stderr_captured():
        yield


class Captured:
    """What :func:`native_stderr_captured` yields: ``text`` is what was printed, once the
    block has ended."""

    text = ""


@contextlib.contextmanager
def native_stderr_captured():
    """Within the block, what C and C++ code prints on the standard error (a library's own
    warnings) is kept from the user, in the yielded :class:`Captured`; shown if the block
    fails. Python's own lines (a signal's message, say) still reach the real stderr."""
    sys.stderr.flush()
    saved, python_stderr = os.dup(2), sys.stderr
    captured = Captured()
    with tempfile.TemporaryFile() as log, open(
            saved, "w", encoding=getattr(python_stderr, "encoding", None), errors="replace",
            closefd=False, buffering=1) as shown:
        os.dup2(log.fileno(), 2)
        sys.stderr = SurvivingStream(shown, getattr(python_stderr, "colour", True))
        try:
            yield captured
        except Exception:  # a failure, not Ctrl-C: what it printed may say why
            log.seek(0)
            sys.stderr.write(log.read().decode(errors="replace"))
            raise
        finally:
            with interrupts.held():  # a second Ctrl-C here must not leave stderr in the log
                sys.stderr.flush()
                sys.stderr = python_stderr
                os.dup2(saved, 2)
                os.close(saved)
            log.seek(0)
            captured.text = log.read().decode(errors="replace")
