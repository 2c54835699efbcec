"""Ctrl-C, SIGTERM and SIGHUP: one way to ask a run to stop, whichever sends it (a key
press, ``docker stop``, a batch scheduler, ``timeout``, a closed SSH session).

By default each raises :class:`Interrupted` wherever the program is, as Ctrl-C raises
``KeyboardInterrupt``. Where stopping at once would lose work, :func:`deferred` lets the
first one only be noted, so the work can end cleanly; a second raises at once.
Where the platform has no such signal (SIGHUP on Windows), it is left out.
"""

import contextlib
import signal
import sys

STOP_SIGNALS = [getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP")
                if hasattr(signal, name)]


def describe(signum):
    """"Ctrl-C" for SIGINT, the signal's name otherwise."""
    return "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name


def exit_code(signum):
    """The shell's code for a process ended by ``signum``: 130 for Ctrl-C, 143 for SIGTERM."""
    return 128 + signum


class Interrupted(KeyboardInterrupt):
    """A stop signal ended the run at once; ``signum`` says which. Code that knows what
    the stop left undone may say so in ``note``, for the user."""

    def __init__(self, signum):
        super().__init__(describe(signum))
        self.signum = signum
        self.note = None


def _raise(signum, frame):
    raise Interrupted(signum)


def install():
    """From now on, every stop signal raises :class:`Interrupted`. Call it from the main
    thread, as early as possible."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, _raise)


class Deferred:
    """What :func:`deferred` yields. ``signum`` is the first stop signal received, or None;
    ``message`` is what the first prints (with ``{signal}`` and ``{again}`` filled in) and
    ``quit_note`` the :attr:`Interrupted.note` of the second (or a function that returns
    it): both can change as the protected work goes from one step to the next."""

    def __init__(self, message, quit_note):
        self.signum = None
        self.message, self.quit_note = message, quit_note

    def _handle(self, signum, frame):
        if self.signum is not None:
            stop = Interrupted(signum)
            stop.note = self.quit_note() if callable(self.quit_note) else self.quit_note
            raise stop
        self.signum = signum
        again = "press Ctrl-C again" if signum == signal.SIGINT else "send it again"
        print(f"\n[INFO] {self.message.format(signal=describe(signum), again=again)}",
              file=sys.stderr, flush=True)


@contextlib.contextmanager
def deferred(message="{signal}: finishing first ({again} to quit at once)", quit_note=None):
    """Within the block, the first stop signal prints ``message`` and is noted in the
    yielded object's ``signum``; the work goes on, and is expected to look there and end
    early if it can. A second raises :class:`Interrupted` at once."""
    pending = Deferred(message, quit_note)
    previous = {signum: signal.signal(signum, pending._handle) for signum in STOP_SIGNALS}
    try:
        yield pending
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
