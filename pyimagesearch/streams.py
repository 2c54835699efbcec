"""Standard output and error that outlive their reader: a closed pipe (``| head``), a
quit pager or a closed terminal never ends a run, and a closed descriptor (``2>&-``)
never swallows a file opened later."""

import contextlib
import os
import sys


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


class SurvivingStream:
    """A text stream whose writes never raise. When its reader is gone (``| head``
    has exited, ``less`` was quit, the terminal was closed), what is written is
    dropped and the program goes on; the file descriptor is pointed at the null
    device, so that nothing else fails on it either (Python's own flush at exit)."""

    def __init__(self, stream):
        self.stream = stream
        self.lost = False

    def write(self, text):
        if not self.lost:
            try:
                return self.stream.write(text)
            except (OSError, ValueError):
                self._lose()
        return len(text)

    def flush(self):
        if not self.lost:
            try:
                self.stream.flush()
            except (OSError, ValueError):
                self._lose()

    def _lose(self):
        self.lost = True
        with contextlib.suppress(OSError, ValueError, AttributeError):
            point_at_null_device(self.stream.fileno())

    def __getattr__(self, name):  # isatty, fileno, encoding, ... as the stream has them
        return getattr(self.stream, name)


@contextlib.contextmanager
def surviving_streams():
    """Within the block, ``sys.stdout`` and ``sys.stderr`` are :class:`SurvivingStream`\\ s."""
    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = (SurvivingStream(stream or open(os.devnull, "w"))  # closed: None
                              for stream in streams)
    try:
        yield sys.stdout, sys.stderr
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        sys.stdout, sys.stderr = streams
