"""Files written whole or not at all: a crash, a full disk or Ctrl-C never leaves a
half-written file where a good one was."""

import contextlib
import gc
import os
import secrets
import shutil
import sys
import tempfile
from pathlib import Path


def _umask():
    mask = os.umask(0o022)  # reading the umask means setting it: put it straight back
    os.umask(mask)
    return mask


def file_mode():
    """The mode a new file gets from the umask (0644 under the usual 022). Read anew at
    each call: the umask can change while a program runs."""
    return 0o666 & ~_umask()


def temporary_name(path):
    """The pattern of the temporary files (or folders) :func:`replaced_atomically` (or
    :func:`folder_replaced`) makes for ``path``."""
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
        _cleaned_up(temporary)


def remove_stale_temporaries(paths):
    """Delete what :func:`replaced_atomically` left beside each of ``paths`` when a run
    was killed mid-write. Returns the files removed."""
    removed = []
    for path in map(Path, paths):
        if path.parent.is_dir():
            for stale in path.parent.glob(temporary_name(path)):
                with contextlib.suppress(OSError):
                    if stale.is_dir() and not stale.is_symlink():  # a folder's (folder_replaced)
                        shutil.rmtree(stale)
                    else:
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


@contextlib.contextmanager
def folder_replaced(path):
    """Yield a temporary folder next to ``path``; on success it takes the place of the
    folder ``path`` (the old one is removed after the swap), so that ``path`` never holds a
    half-written folder."""
    path = Path(path)
    # named first and made inside the ``try``: a stop signal just after it is made still
    # has it removed (mkdtemp could be stopped between making it and returning its name)
    temporary = path.with_name(f".{path.name}-{secrets.token_hex(4)}")
    try:
        os.mkdir(temporary, 0o700)
        yield temporary
        os.chmod(temporary, 0o777 & ~_umask())  # made 0700: now the umask's mode
        old = None
        if path.exists():
            old = path.with_name(f".{path.name}-{secrets.token_hex(4)}")  # if left: stale
            os.replace(path, old)
        os.replace(temporary, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        _cleaned_up(temporary)


def _cleaned_up(temporary):
    """Remove ``temporary`` (a file or a folder), if it is still there; a stop signal
    (KeyboardInterrupt) in the middle lets it finish, then goes on."""
    def remove():
        if os.path.isdir(temporary) and not os.path.islink(temporary):
            shutil.rmtree(temporary, ignore_errors=True)
        elif os.path.lexists(temporary):
            os.remove(temporary)

    try:
        remove()
    except KeyboardInterrupt:
        remove()
        raise
