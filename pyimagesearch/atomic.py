"""Files written whole or not at all: a crash, a full disk or Ctrl-C never leaves a
half-written file where a good one was."""

import contextlib
import gc
import os
import sys
import tempfile
from pathlib import Path


def file_mode():
    """The mode a new file gets from the umask (0644 under the usual 022). Read anew at
    each call: the umask can change while a program runs."""
    mask = os.umask(0o022)  # reading the umask means setting it: put it straight back
    os.umask(mask)
    return 0o666 & ~mask


def temporary_name(path):
    """The pattern of the temporary files :func:`replaced_atomically` makes for ``path``."""
    return f".{path.stem}-????????{path.suffix}"


@contextlib.contextmanager
def replaced_atomically(path):
    """Yield a temporary path next to ``path``; on success it replaces ``path`` in one step.
    The new file gets the mode the umask gives, as a file written in place would (mkstemp's
    own files are 0600 whatever the umask)."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-",
                                         suffix=path.suffix)
    os.close(handle)
    try:
        yield Path(temporary)
        os.chmod(temporary, file_mode())
        os.replace(temporary, path)
    finally:
        if os.path.lexists(temporary):
            os.remove(temporary)


def remove_stale_temporaries(paths):
    """Delete what :func:`replaced_atomically` left beside each of ``paths`` when a run
    was killed mid-write. Returns the files removed."""
    removed = []
    for path in map(Path, paths):
        if path.parent.is_dir():
            for stale in path.parent.glob(temporary_name(path)):
                with contextlib.suppress(OSError):
                    stale.unlink()
                    removed.append(stale)
    return removed


@contextlib.contextmanager
def failures_cleaned_up_quietly():
    """Around a write that may fail half-way (a full disk): the failure can leave a zip file
    open (Keras's model file, NumPy's .npz), which Python closes when it frees it; that
    fails as well, and Python prints a traceback, noise about a failure already reported.
    Put the ``try``/``except`` that handles the failure inside this block: what it held is
    freed, quietly, before the block ends."""
    hook = sys.unraisablehook
    sys.unraisablehook = lambda unraisable: None
    try:
        yield
    finally:
        gc.collect()
        sys.unraisablehook = hook
