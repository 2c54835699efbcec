"""Writing files so that a crash, a full disk or Ctrl-C never leaves a half-written one
where a good one was, and checking folders before hours of training depend on them."""

import contextlib
import gc
import os
import shutil
import sys
import tempfile
from pathlib import Path

import cv2

from pyimagesearch.errors import UserError
from pyimagesearch.interrupts import Interrupted


def _umask():
    mask = os.umask(0o022)  # reading the umask means setting it: put it straight back
    os.umask(mask)
    return mask


# the mode a new file gets from the umask (0644 under the usual 022); mkstemp's
# temporary files are 0600 whatever the umask, so each gets this before it replaces a file
FILE_MODE = 0o666 & ~_umask()


def check_writable_folder(folder, what):
    """Raise ``UserError`` unless ``folder`` exists or could be created, as a writable folder.
    Nothing is created here."""
    folder = Path(folder).absolute()
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(f"cannot create the {what} {folder}: {existing} is a file, not a folder; "
                        f"choose another path")
    if not os.access(existing, os.W_OK):
        raise UserError(f"cannot write in {existing}; choose a {what} you can write to")


def create_writable_folder(folder, what):
    """Create ``folder`` if needed and prove that a file can be written in it."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise UserError(f"cannot write in the {what} {folder} ({error.strerror}); "
                        f"choose another path") from None


def check_free_space(folder, needed, what):
    """Raise ``UserError`` unless the disk holding ``folder`` has ``needed`` bytes free."""
    folder = Path(folder).absolute()
    while not folder.exists():
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise UserError(f"only {free / 1e6:.1f} MB are free in {folder}, and the {what} needs "
                        f"about {needed / 1e6:.0f} MB; free some space or choose another folder")


def temporary_name(path):
    """The pattern of the temporary files :func:`replaced_atomically` makes for ``path``."""
    return f".{path.stem}-????????{path.suffix}"


@contextlib.contextmanager
def replaced_atomically(path):
    """Yield a temporary path next to ``path``; on success it replaces ``path`` in one step,
    so a crash or a full disk never leaves a half-written file where a good one was.
    The new file gets the mode the umask gives, as a file written in place would."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-",
                                         suffix=path.suffix)
    os.close(handle)
    try:
        yield Path(temporary)
        os.chmod(temporary, FILE_MODE)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
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


def save_figure(figure, path):
    """Save a Matplotlib figure as a PNG at ``path``, atomically."""
    with replaced_atomically(path) as temporary:
        figure.savefig(temporary, format="png")


def save_image(image, path):
    """Save an OpenCV image as a PNG at ``path``, atomically."""
    with replaced_atomically(path) as temporary:
        try:
            written = cv2.imwrite(str(temporary), image)
        except cv2.error:
            written = False
        if not written:
            raise UserError("OpenCV could not write it; check the free disk space")


def write_all(files):
    """Write ``files``, (what, path, function that writes it) triples, in turn, saying
    each; one that cannot be written is said and skipped. Returns the names of those not
    written. A stop signal (``Interrupted``) meanwhile is given a note that names them."""
    failed = []
    for number, (what, path, write) in enumerate(files):
        try:
            write()
            print(f"[INFO] {what} saved to {path}")
        except (OSError, UserError) as error:
            reason = getattr(error, "strerror", None) or error
            print(f"[WARNING] could not write {path} ({reason})", file=sys.stderr)
            failed.append(path.name)
        except Interrupted as stop:
            unwritten = failed + [path.name for _, path, _ in files[number:]]
            stop.note = (f"interrupted twice: stopped at once; not written: "
                         f"{', '.join(unwritten)} (any there are from an earlier run)")
            raise
    return failed
