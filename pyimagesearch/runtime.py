"""The process around TensorFlow: set up before it is imported, kept quiet while it
starts, and left at once when a run is interrupted.

Nothing here imports TensorFlow at module level: its settings must come first.
"""

import contextlib
import os
import platform
import sys
import tempfile

from pyimagesearch.memory import limit_malloc_arenas

EXIT_INTERRUPTED = 130  # the shell's code for a process stopped by Ctrl-C


@contextlib.contextmanager
def native_stderr_muted():
    """Hide what TensorFlow's C++ core (or OpenCV's window toolkit) prints on start-up,
    which would bury the [INFO] lines. Shown again if something fails; set
    TF_CPP_MIN_LOG_LEVEL=0 to always see it."""
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "0":
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as log:
        os.dup2(log.fileno(), 2)
        try:
            yield
        except Exception:  # a failure, not Ctrl-C: what it printed may say why
            os.dup2(saved, 2)
            log.seek(0)
            sys.stderr.write(log.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def prefer_onednn():
    """Ask TensorFlow for its oneDNN kernels on every x86 CPU. On Linux it turns them on by
    itself only on CPUs with VNNI, AVX512_BF16 or AMX; on others they train this network
    faster and in less memory (docs/performance.md), computing the same thing up to float
    rounding. Must run before TensorFlow is imported; a TF_ENABLE_ONEDNN_OPTS already in
    the environment wins."""
    if platform.machine().lower() in ("x86_64", "amd64"):
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")


@contextlib.contextmanager
def tensorflow_start():
    """Wrap the ``import keras`` of a program: malloc's arenas limited (before
    TensorFlow's threads start), oneDNN asked for, TensorFlow's start-up notices and
    device probing muted, and Ctrl-C during the slow import a clean exit."""
    limit_malloc_arenas()
    prefer_onednn()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        with native_stderr_muted():
            yield
            import tensorflow as tf

            tf.config.list_physical_devices()  # device probing logs here, while muted
    except KeyboardInterrupt:
        print("\n[INFO] interrupted while starting TensorFlow: nothing was done",
              file=sys.stderr)
        exit_at_once(EXIT_INTERRUPTED)


def leave(code):
    """End the program with ``code``: at once after an interruption (see
    :func:`exit_at_once`), through the normal shutdown otherwise."""
    if code == EXIT_INTERRUPTED:
        exit_at_once(code)
    sys.exit(code)


def exit_at_once(code):
    """Leave with ``code`` without the interpreter's shutdown. Ctrl-C can leave
    TensorFlow's threads mid-step, and a normal shutdown under them now and then crashes
    (SIGSEGV); call this only once every file is closed."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
