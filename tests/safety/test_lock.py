"""The lock that says a live run owns its folder: held by one process at a time, naming
it, and free again once that process is gone, whatever killed it."""

import errno
import signal
import subprocess
import sys

import pytest

from conftest import ROOT
from pyimagesearch.safety import lock
from pyimagesearch.safety.lock import Locked, RunLock, holder


def test_one_holder_at_a_time_and_it_says_who(tmp_path):
    path = tmp_path / "fashion_mnist.lock"
    first = RunLock(path).acquire()
    assert holder(path).startswith("process ") and " on " in holder(path)
    with pytest.raises(Locked) as refused:
        RunLock(path).acquire()
    assert refused.value.holder == holder(path)
    first.release()
    assert not path.exists() and holder(path) is None
    RunLock(path).acquire().release()


def test_a_killed_holder_leaves_a_lock_that_no_longer_blocks(tmp_path):
    path = tmp_path / "fashion_mnist.lock"
    code = ("import sys, time\nfrom pyimagesearch.safety.lock import RunLock\n"
            "RunLock(sys.argv[1]).acquire()\nprint('held', flush=True)\ntime.sleep(600)\n")
    process = subprocess.Popen([sys.executable, "-c", code, str(path)], cwd=ROOT,
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline() == "held\n"
    assert holder(path).startswith(f"process {process.pid} on ")
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert path.exists() and holder(path) is None  # the file stays; the lock died with it
    RunLock(path).acquire().release()


def test_a_lock_that_cannot_be_written_leaves_no_file(tmp_path, monkeypatch):
    def full_disk(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(lock.os, "write", full_disk)
    with pytest.raises(OSError, match="No space left"):
        RunLock(tmp_path / "run.lock").acquire()
    assert list(tmp_path.iterdir()) == []  # not an empty lock file, nor one still held


@pytest.mark.skipif(not hasattr(__import__("os"), "O_NOFOLLOW"), reason="POSIX's links")
def test_a_lock_file_that_is_a_link_is_refused_and_what_it_points_to_kept(tmp_path):
    from pyimagesearch.errors import UserError
    from pyimagesearch.safety.supervisor import Supervisor

    victim = tmp_path / "victim.txt"
    victim.write_text("the user's own")
    out = tmp_path / "out"
    out.mkdir()
    (out / "fashion_mnist.lock").symlink_to(victim)
    with pytest.raises(OSError):
        RunLock(out / "fashion_mnist.lock").acquire()
    assert holder(out / "fashion_mnist.lock") is None
    with Supervisor(out) as run, pytest.raises(UserError, match="^cannot make the lock file "
                                                               ".*; move what is there away"):
        run.prepare_folders()
    assert victim.read_text() == "the user's own"
    assert (out / "fashion_mnist.lock").is_symlink()  # not removed either
