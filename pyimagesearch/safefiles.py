"""Writing files so that a crash, a full disk or Ctrl-C never leaves a half-written one
where a good one was, and checking folders before hours of training depend on them."""

import contextlib
import os
import tempfile
from pathlib import Path

import cv2

from pyimagesearch.errors import UserError


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


@contextlib.contextmanager
def replaced_atomically(path):
    """Yield a temporary path next to ``path``; on success it replaces ``path`` in one step,
    so a crash or a full disk never leaves a half-written file where a good one was."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=path.suffix)
    os.close(handle)
    try:
        yield Path(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def save_figure(figure, path):
    """Save a Matplotlib figure as a PNG at ``path``, atomically."""
    with replaced_atomically(path) as temporary:
        figure.savefig(temporary, format="png")


def save_image(image, path):
    """Save an OpenCV image as a PNG at ``path``, atomically."""
    with replaced_atomically(path) as temporary:
        if not cv2.imwrite(str(temporary), image):
            raise UserError(f"could not write {path}; check the free disk space")
