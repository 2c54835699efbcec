"""The process around TensorFlow: set up before it is imported, kept quiet while it
starts, and left at once when a run is interrupted.

Nothing here imports TensorFlow at module level: its settings must come first.
"""

import contextlib
import os
import platform
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from pyimagesearch import interrupts
from pyimagesearch.memory import limit_malloc_arenas

TEMP_PREFIX = "fashion_mnist-"  # the private temporary folder: fashion_mnist-PID-XXXXXXXX


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
        exit_at_once(interrupts.exit_code(signal.SIGINT))
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


def open_standard_streams():
    """Point a closed standard output or error (``2>&-``) at the null device, so that
    files opened later cannot take its number and receive what is written to it, and
    give Python a stream for it (it has None)."""
    for fd, name in ((1, "stdout"), (2, "stderr")):
        try:
            os.fstat(fd)
        except OSError:
            point_at_null_device(fd)
        if getattr(sys, name) is None:
            setattr(sys, name, open(fd, "w", closefd=False))


def point_at_null_device(fd):
    """Make the file descriptor ``fd`` write to the null device."""
    null = os.open(os.devnull, os.O_WRONLY)
    if null != fd:  # when ``fd`` was closed, the new one takes its number
        os.dup2(null, fd)
        os.close(null)


class SurvivingStream:
    """A text stream whose writes never raise. When its reader is gone (``| head``
    has exited, ``less`` was quit, the terminal was closed), what is written is
    dropped and the program goes on; the file descriptor is pointed at the null
    device, so that nothing else fails on it either (Python's own flush at exit)."""

    def __init__(self, stream):
        self.stream = stream
        self.lost = False

    def write(self, text):
        if not self.lost:
            try:
                return self.stream.write(text)
            except (OSError, ValueError):
                self._lose()
        return len(text)

    def flush(self):
        if not self.lost:
            try:
                self.stream.flush()
            except (OSError, ValueError):
                self._lose()

    def _lose(self):
        self.lost = True
        with contextlib.suppress(OSError, ValueError, AttributeError):
            point_at_null_device(self.stream.fileno())

    def __getattr__(self, name):  # isatty, fileno, encoding, ... as the stream has them
        return getattr(self.stream, name)


@contextlib.contextmanager
def run_safely():
    """Around a program's run: stop signals (Ctrl-C, SIGTERM, SIGHUP) raise
    :class:`~pyimagesearch.interrupts.Interrupted`; output to a reader that is gone
    is dropped instead of ending the run; temporary files (TensorFlow's autograph
    writes some) go to a private folder, removed however the run ends, Ctrl-C
    included (a kill -9 leaves it, and the next run removes it)."""
    interrupts.install()
    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = (SurvivingStream(stream or open(os.devnull, "w"))  # closed: None
                              for stream in streams)
    system_temp = Path(tempfile.gettempdir())
    remove_stale_temp_folders(system_temp)
    private = tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-", dir=system_temp)
    tempfile.tempdir = private
    try:
        yield
    finally:
        tempfile.tempdir = None
        shutil.rmtree(private, ignore_errors=True)
        sys.stdout.flush()
        sys.stderr.flush()
        sys.stdout, sys.stderr = streams


def remove_stale_temp_folders(folder):
    """Remove the private temporary folders of runs that were killed (their process is
    gone). Only where a process can be asked whether it lives without harming it."""
    if os.name != "posix":
        return
    for stale in Path(folder).glob(f"{TEMP_PREFIX}*-*"):
        pid = stale.name[len(TEMP_PREFIX):].split("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists, as another user's
        return True
    return True


def leave(code):
    """End the program with ``code``: at once after a stop signal (see
    :func:`exit_at_once`), through the normal shutdown otherwise."""
    if code > 128:
        exit_at_once(code)
    sys.exit(code)


def exit_at_once(code):
    """Leave with ``code`` without the interpreter's shutdown. Ctrl-C can leave
    TensorFlow's threads mid-step, and a normal shutdown under them now and then crashes
    (SIGSEGV); call this only once every file is closed."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
