"""Keep a training process's resident memory down on Linux, where glibc's malloc holds on
to what it frees.

glibc gives each thread that allocates its own heap ("arena"), up to eight per core, and
returns freed memory to the system only from the top of a heap. TensorFlow runs many
threads, so a long run slowly collects memory it no longer uses. Both functions do nothing
where the C library is not glibc (Windows, macOS, musl), and change no result.
"""

import ctypes
import functools
import gc
import sys

M_ARENA_MAX = -8  # mallopt's parameter number for the arena limit, from glibc's <malloc.h>


@functools.cache
def glibc():
    """The C library when it is glibc, whose malloc these functions tune; else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None


def limit_malloc_arenas(count=2):
    """Let malloc keep at most ``count`` heaps, shared by all threads. Call it first thing,
    before TensorFlow starts its threads: a heap, once made, stays. Returns whether it could."""
    libc = glibc()
    return libc is not None and libc.mallopt(M_ARENA_MAX, count) == 1


def release_freed_memory():
    """Collect Python's garbage, then hand every whole page malloc has free back to the
    system. Returns whether malloc could be asked to."""
    gc.collect()
    libc = glibc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True
