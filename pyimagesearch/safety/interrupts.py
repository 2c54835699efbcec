"""Ctrl-C, SIGTERM and SIGHUP: one way to ask a run to stop, whichever sends it (a key
press, ``docker stop``, a batch scheduler, ``timeout``, a closed SSH session).

By default each raises :class:`Interrupted` wherever the program is, as Ctrl-C raises
``KeyboardInterrupt``. Where stopping at once would lose work, :func:`deferred` lets the
first one only be noted, so the work can end cleanly; a second raises at once.
Where the platform has no such signal (SIGHUP on Windows), it is left out. After a
stop signal, the supervisor's ``leave`` ends the process with the shell's exit code for
it.

Python hands signals to its main thread only: in any other (a web app's worker, a notebook
extension's), nothing here changes a handler, and a run cannot be stopped cleanly by them.
"""

import contextlib
import signal
import sys
import threading

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


last = None  # the last Interrupted a stop signal raised in this process: see :func:`raised`


def _interrupt(signum, note=None):
    """Raise :class:`Interrupted` for ``signum``, remembered in :data:`last`."""
    global last
    last = Interrupted(signum)
    last.note = note
    raise last


def raised():
    """The :class:`Interrupted` a stop signal raised since the last call, or None. C code that
    a signal interrupts (TensorFlow's, say) can turn the exception into another of its own
    (``SystemError: bad argument to internal function``): what it raises is then the stop."""
    global last
    stop, last = last, None
    return stop


def _raise(signum, frame):
    _interrupt(signum)


def install():
    """From now on, every stop signal raises :class:`Interrupted`. Call it from the main
    thread, as early as possible. Returns the handlers it replaced."""
    return {signum: signal.signal(signum, _raise) for signum in STOP_SIGNALS}


@contextlib.contextmanager
def held():
    """Within the block (a few steps that must all happen, such as putting a stream back),
    stop signals wait, and arrive as it ends (where the platform can hold them: POSIX)."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def can_catch():
    """Whether this thread can catch stop signals: only Python's main thread can."""
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def installed():
    """Within the block, every stop signal raises :class:`Interrupted` (see :func:`install`);
    outside the main thread, the block runs as it is."""
    if not can_catch():
        yield
        return
    previous = install()
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


class Deferred:
    """What :func:`deferred` yields. ``signum`` is the first stop signal received, or None;
    ``on_first`` is called with it when it comes (to say what the work does now), and
    ``quit_note`` is the :attr:`Interrupted.note` of the second (or a function that returns
    it): both can change as the protected work goes from one step to the next."""

    def __init__(self, on_first, quit_note):
        self.signum = None
        self.on_first, self.quit_note = on_first, quit_note

    def _handle(self, signum, frame):
        if self.signum is not None:
            _interrupt(signum, self.quit_note() if callable(self.quit_note) else self.quit_note)
        self.signum = signum
        if self.on_first is not None:
            self.on_first(signum)


def again(signum):
    """How to send ``signum`` a second time: "press Ctrl-C again" or "send it again"."""
    return "press Ctrl-C again" if signum == signal.SIGINT else "send it again"


@contextlib.contextmanager
def deferred(on_first=None, quit_note=None):
    """Within the block, the first stop signal is noted in the yielded object's ``signum``
    (and ``on_first`` called with it); the work goes on, and is expected to look there and
    end early if it can. A second raises :class:`Interrupted` at once. Outside the main
    thread no signal is ever noted."""
    pending = Deferred(on_first, quit_note)
    if not can_catch():
        yield pending
        return
    previous = {signum: signal.signal(signum, pending._handle) for signum in STOP_SIGNALS}
    try:
        yield pending
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def in_ipython():
    """Whether this program runs inside IPython: a notebook's kernel, or its shell."""
    shell = sys.modules.get("IPython")
    return shell is not None and shell.get_ipython() is not None
