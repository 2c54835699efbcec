"""A lock file that says a live run owns its folder. It is held by the operating system
(``flock`` on POSIX, ``msvcrt.locking`` on Windows), so it dies with its process: after
``kill -9`` or a reboot the file may still be there, but it no longer blocks anyone."""

import contextlib
import os
import socket
import time
from pathlib import Path

from pyimagesearch.safety.atomic import file_mode

# a lock file is never a link: one would make the lock write into (and remove) what it points to
NO_LINK = getattr(os, "O_NOFOLLOW", 0)  # POSIX; Windows makes no links without privileges

if os.name == "nt":
    import msvcrt

    def _try_lock(fd):
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # its first byte; the text after it stays readable
else:
    import fcntl

    def _try_lock(fd):
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


class Locked(Exception):
    """Another live process holds the lock; ``holder`` says which, as it wrote itself."""

    def __init__(self, path, holder):
        super().__init__(f"{path} is held by {holder}")
        self.path, self.holder = Path(path), holder


def holder(path):
    """Who holds the lock at ``path`` ("process 4242 on host, since 10:02"), or None when
    no live process does. Takes nothing."""
    try:
        fd = os.open(path, os.O_RDWR | NO_LINK)
    except OSError:
        return None
    try:
        _try_lock(fd)
    except OSError:
        return _read_holder(fd)
    finally:
        os.close(fd)  # closing it lets go of the lock, if this took it
    return None


class RunLock:
    """The lock at ``path``: :meth:`acquire` takes it or raises :class:`Locked`;
    :meth:`release` lets go and removes the file."""

    def __init__(self, path):
        self.path = Path(path)
        self._fd = None

    def acquire(self):
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | NO_LINK, file_mode())
            try:
                _try_lock(fd)
            except OSError:
                holder = _read_holder(fd)
                os.close(fd)
                raise Locked(self.path, holder) from None
            if _same_file(fd, self.path):  # not one that its last holder has just removed
                break
            os.close(fd)
        started = time.strftime("%Y-%m-%d %H:%M:%S")
        text = f" process {os.getpid()} on {socket.gethostname()}, running since {started}\n"
        self._fd = fd
        try:
            os.ftruncate(fd, 0)
            os.write(fd, text.encode())
        except OSError:  # a full disk: no empty lock file is left to puzzle the next run
            self.release()
            raise
        return self

    def release(self):
        if self._fd is None:
            return
        if os.name != "nt":  # removed while still held: no other run can take a stale file
            with contextlib.suppress(OSError):
                os.unlink(self.path)
        os.close(self._fd)
        self._fd = None
        if os.name == "nt":  # Windows cannot remove a file that is open
            with contextlib.suppress(OSError):
                os.unlink(self.path)


def _same_file(fd, path):
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except OSError:
        return False


def _read_holder(fd):
    try:
        os.lseek(fd, 1, os.SEEK_SET)  # past the first byte, which Windows keeps locked
        text = os.read(fd, 500).decode(errors="replace").strip()
    except OSError:
        text = ""
    return text or "another process"
