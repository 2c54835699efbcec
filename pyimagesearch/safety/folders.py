"""Folders checked before hours of training depend on them: writable, with room enough,
and created only once every check has passed."""

import os
import shutil
import tempfile
from pathlib import Path

from pyimagesearch.errors import UserError, article, reason


def nearest_existing(path):
    """``path`` itself if it exists, else its closest ancestor that does."""
    path = Path(path).absolute()
    while not path.exists():
        path = path.parent
    return path


def missing_folders(path):
    """``path`` and those of its parents that do not exist yet, the innermost first."""
    path, existing = Path(path).absolute(), nearest_existing(path)
    return [folder for folder in [path, *path.parents] if existing in folder.parents]


def check_folder(folder, what, needed=0):
    """Raise ``UserError`` unless ``folder`` is, or could be created as, a folder this process
    can write in, on a disk with ``needed`` bytes free. Nothing is created."""
    folder = Path(folder).absolute()
    existing = nearest_existing(folder)
    if not existing.is_dir():
        raise UserError(f"cannot create the {what} {folder}: {existing} is a file, not a folder; "
                        f"choose another path")
    if not os.access(existing, os.W_OK):
        raise UserError(f"cannot write in {existing}; choose {article(what)} you can write to")
    free = shutil.disk_usage(existing).free
    if free < needed:
        raise UserError(f"only {free / 1e6:.1f} MB are free in {existing}, and the {what} needs "
                        f"about {needed / 1e6:.0f} MB; free some space or choose another folder")


def create_folder(folder, what):
    """Create ``folder`` if needed and prove that a file can be written in it."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise UserError(f"cannot write in the {what} {folder} ({reason(error)}); "
                        f"choose another path") from None
