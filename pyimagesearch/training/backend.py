"""Keras's backend (TensorFlow), started: set up before it is imported, and kept quiet
while it starts.

Nothing here imports TensorFlow at module level: its settings must come first.
"""

import contextlib
import os
import platform
import signal
import sys

from pyimagesearch.safety import interrupts
from pyimagesearch.safety.streams import native_stderr_muted, open_standard_streams
from pyimagesearch.training.memory import limit_malloc_arenas


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
    device probing muted, Ctrl-C during the slow import a clean exit, and an OpenCV
    that cannot load its system libraries one sentence that says what to install."""
    open_standard_streams()
    limit_malloc_arenas()
    prefer_onednn()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        with native_stderr_muted():
            yield
            import tensorflow as tf

            tf.config.list_physical_devices()  # device probing logs here, while muted
        import cv2  # noqa: F401
    except KeyboardInterrupt:
        print("\n[INFO] interrupted while starting TensorFlow: nothing was done",
              file=sys.stderr)
        interrupts.exit_at_once(interrupts.exit_code(signal.SIGINT))
    except ImportError as error:
        if "cv2" not in repr(error) and ".so" not in str(error):
            raise
        sys.exit(f"error: OpenCV cannot load ({error}); on Debian or Ubuntu run 'apt-get install "
                 f"libgl1 libglib2.0-0', or, on a machine that never shows a window, "
                 f"'pip install opencv-python-headless' in place of opencv-python")


def versions():
    """The versions this program runs with: "TensorFlow 2.21.0, Keras 3.15.1, Python 3.11.7"."""
    import keras
    import tensorflow as tf

    return (f"TensorFlow {tf.__version__}, Keras {keras.__version__}, "
            f"Python {platform.python_version()}")
