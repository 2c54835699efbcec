"""A private temporary folder for the run (TensorFlow's autograph writes files there),
removed however the run ends; the folders of killed runs are removed by the next."""

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from pyimagesearch.safety.atomic import holds

PREFIX = "fashion_mnist-"  # fashion_mnist-PID-XXXXXXXX
MARKER = ".made-by-fashion_mnist"  # written in each private folder: the proof it is one


@contextlib.contextmanager
def private_temporary_folder():
    """Within the block, ``tempfile`` makes its files in a folder of this process's own,
    removed at the end, Ctrl-C included (a kill -9 leaves it: the next run removes it)."""
    system_temp, previous = Path(tempfile.gettempdir()), tempfile.tempdir
    remove_stale_folders(system_temp)
    private = tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=system_temp)
    tempfile.tempdir = private
    try:
        Path(private, MARKER).write_text(f"a temporary folder of process {os.getpid()}\n")
        yield Path(private)
    finally:
        tempfile.tempdir = previous
        shutil.rmtree(private, ignore_errors=True)


def remove_stale_folders(folder):
    """Remove the private temporary folders of runs that were killed (their process is
    gone): only folders that hold the marker a run writes, never one whose name merely
    looks like a run's. Only where a process can be asked whether it lives without harming
    it."""
    if os.name != "posix":
        return
    for stale in Path(folder).glob(f"{PREFIX}*-*"):
        pid = stale.name[len(PREFIX):].split("-")[0]
        ours = not stale.is_symlink() and holds(stale, MARKER)
        if ours and pid.isdigit() and not alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)


def alive(pid):
    """Whether the process ``pid`` exists (POSIX)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists, as another user's
        return True
    return True
