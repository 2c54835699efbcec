"""Files written whole or not at all: a crash, a full disk or Ctrl-C never leaves a
half-written file where a good one was."""

import contextlib
import gc
import os
import shutil
import stat
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


MARKER = "made-by-fashion_mnist"  # in each scratch folder: the proof it is this program's


def scratch_prefix(path):
    """How the scratch folders of the writes of ``path`` begin: beside it, hidden."""
    return f".{path.name}.writing-"


@contextlib.contextmanager
def _scratch(path):
    """A folder of its own beside ``path`` for one write of it, holding :data:`MARKER`
    (written first, so that a killed write's folder can be proved this program's); removed
    at the end, whatever is left in it."""
    scratch = Path(tempfile.mkdtemp(prefix=scratch_prefix(path), dir=path.parent))
    try:
        (scratch / MARKER).touch()
        yield scratch
    finally:
        _cleaned_up(scratch)


@contextlib.contextmanager
def replaced_atomically(path):
    """Yield a temporary path next to ``path`` (in a scratch folder, with the same name); on
    success it replaces ``path`` in one step, with the mode the umask gives."""
    path = Path(path)
    with _scratch(path) as scratch:
        temporary = scratch / path.name
        yield temporary
        os.chmod(temporary, file_mode())
        os.replace(temporary, path)


def holds(folder, name):
    """Whether ``folder`` holds a file ``name`` this process can see (a folder it may not
    look into, another user's, holds nothing of this process's)."""
    try:
        return stat.S_ISREG(os.lstat(Path(folder) / name).st_mode)
    except OSError:
        return False


def remove_stale_temporaries(paths):
    """Delete what killed writes of each of ``paths`` left beside it: their scratch folders,
    each proved this program's by its marker (a file or folder of the user's, whatever its
    name, is kept). Returns the folders removed."""
    removed = []
    for path in map(Path, paths):
        if path.parent.is_dir():
            for stale in path.parent.glob(f"{scratch_prefix(path)}*"):
                if not stale.is_symlink() and holds(stale, MARKER):
                    shutil.rmtree(stale, ignore_errors=True)
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
    folder ``path`` (the old one is removed after the swap, or put back if the swap is cut
    short), so that ``path`` never holds a half-written folder."""
    path = Path(path)
    with _scratch(path) as scratch:
        temporary, old = scratch / path.name, scratch / "old"
        os.mkdir(temporary, 0o700)
        yield temporary
        os.chmod(temporary, 0o777 & ~_umask())  # made 0700: now the umask's mode
        if path.exists():
            os.replace(path, old)
        try:
            os.replace(temporary, path)
        except BaseException:  # Ctrl-C, or a failure, in between: the old one back
            if old.exists() and not path.exists():
                os.replace(old, path)
            raise


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
