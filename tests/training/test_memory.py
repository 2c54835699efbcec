"""The malloc tuning of pyimagesearch.training.memory, each checked in a fresh Python process against
the same process without it (glibc only: these calls do nothing elsewhere)."""

import subprocess
import sys
import textwrap

import pytest

from conftest import ROOT
from pyimagesearch.training.memory import glibc

pytestmark = pytest.mark.skipif(glibc() is None, reason="tunes glibc's malloc, which this is not")


def run_python(code, *args):
    """Run ``code`` in a fresh interpreter that can import pyimagesearch; return its output."""
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], cwd=ROOT,
                            capture_output=True, text=True, timeout=60, check=True)
    return result.stdout, result.stderr


ARENAS = """
    import sys, threading
    from pyimagesearch.training.memory import glibc, limit_malloc_arenas

    if sys.argv[1] == "limit":
        assert limit_malloc_arenas()
    started = threading.Barrier(6)

    def allocate():  # blocks over 512 bytes come from malloc, not from Python's own allocator
        blocks = [bytearray(100_000) for _ in range(10)]
        started.wait()

    threads = [threading.Thread(target=allocate) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    glibc().malloc_stats()  # one "Arena N:" section per heap, on stderr
"""


def count_arenas(mode):
    _, stats = run_python(ARENAS, mode)
    return sum(line.startswith("Arena ") for line in stats.splitlines())


def test_threads_share_two_heaps_after_limit_malloc_arenas():
    assert count_arenas("none") > 2  # glibc's default: a heap for each new thread
    assert count_arenas("limit") == 2


FRAGMENTS = """
    import sys
    from pyimagesearch.training.memory import release_freed_memory

    def resident_kib():
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))

    blocks = [bytearray(4000) for _ in range(50_000)]  # 200 MB from malloc's main heap
    kept = blocks[::50]  # what is freed lies between these, not at the heap's top
    del blocks
    before = resident_kib()
    if sys.argv[1] == "release":
        assert release_freed_memory()
    print(before - resident_kib())
"""


def released_kib(mode):
    out, _ = run_python(FRAGMENTS, mode)
    return int(out)


def test_release_freed_memory_hands_free_pages_back():
    assert released_kib("none") < 10_000  # free() alone keeps them
    assert released_kib("release") > 150_000  # of the 196 MB freed
