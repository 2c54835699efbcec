"""The chapter's window: a picture shown in an OpenCV window titled "Fashion MNIST" until a
key is pressed, where there is a display to show it on; where there is none, a line that
says why and where the picture's file is. In a notebook (Jupyter, Colab), pictures are shown
inline instead, with nothing to wait for."""

import os
import subprocess
import sys

import cv2

from pyimagesearch.errors import shown
from pyimagesearch.safety.streams import in_notebook

WINDOW_TITLE = "Fashion MNIST"


def why_no_window():
    """Why ``cv2.imshow`` cannot open a window here, or None if it can. Without a display,
    OpenCV's window backend aborts the whole process, so on X11/Wayland systems it is
    tried first in a throw-away child process."""
    if sys.platform.startswith(("win", "darwin")):
        return None
    name = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    if not name:
        return "no display found"
    probe = "import cv2; cv2.namedWindow('probe'); cv2.destroyAllWindows()"
    try:
        opened = subprocess.run([sys.executable, "-c", probe], capture_output=True,
                                timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        opened = False
    return None if opened else f"OpenCV could not open a window on display {name}"


# the window, in a process of its own: OpenCV's window toolkit ends the process that
# opened a window when the display goes (a dropped ssh -X), which must not be the run; it
# closes when the run is gone (its parent changes: on Linux and macOS, not on Windows)
WINDOW = """
import os, signal, sys
import cv2, numpy as np
signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the run's, which closes the window
# the window goes with the run, even one killed (kill -9); on Windows a process keeps its
# parent's number, and a virtual environment's python.exe starts another in between
run = int(sys.argv[2]) if os.name == "posix" else None
image = cv2.imdecode(np.frombuffer(sys.stdin.buffer.read(), np.uint8), cv2.IMREAD_UNCHANGED)
try:
    cv2.imshow(sys.argv[1], image)
    seen = False  # the window may show some time after imshow: closed only once it was seen
    while cv2.waitKey(100) == -1 and run in (None, os.getppid()):
        visible = cv2.getWindowProperty(sys.argv[1], cv2.WND_PROP_VISIBLE) >= 1
        if seen and not visible:  # closed by its user
            break
        seen = seen or visible
except cv2.error:
    sys.exit(3)
"""
NO_WINDOWS = 3  # the window's exit code where OpenCV has no window support


def show_until_key(title, image, run=None):
    """Show ``image`` in a window until a key is pressed, the window is closed or a stop
    signal has come to ``run`` (its ``stop_asked``). Returns why it could not be shown, or
    ended early (a sentence fragment), else None."""
    window = subprocess.Popen([sys.executable, "-c", WINDOW, title, str(os.getpid())],
                              stdin=subprocess.PIPE,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)  # Qt's notes; the terminal's Ctrl-C
    try:
        try:
            window.stdin.write(cv2.imencode(".png", image)[1].tobytes())
            window.stdin.close()
        except OSError:  # it ended before reading it: said below
            pass
        while window.poll() is None:
            if getattr(run, "stop_asked", False):
                window.terminate()
            try:
                window.wait(timeout=0.1)
            except subprocess.TimeoutExpired:
                pass
    finally:
        if window.poll() is None:  # a second stop signal: the run ends, and so does this
            window.kill()
    if window.returncode == NO_WINDOWS:
        return ("this OpenCV has no window support (opencv-python-headless?), so no window "
                "was opened")
    if window.returncode and not getattr(run, "stop_asked", False):
        return "the window closed as its display went away"
    return None


def show(title, image, run=None):
    """Show ``image`` until a key is pressed (see :func:`show_until_key`), where a window
    can open; otherwise return why it could not (a sentence fragment), else None."""
    reason = why_no_window()
    if reason:
        return f"{reason}, so no window was opened"
    return show_until_key(title, image, run)


def show_inline(image):
    """Show ``image`` (an OpenCV image, or a picture file's path) in the notebook's output."""
    from IPython.display import Image, display

    if isinstance(image, (str, os.PathLike)):
        display(Image(filename=str(image)))
    else:
        display(Image(data=cv2.imencode(".png", image)[1].tobytes(), format="png"))


def show_window(image, path, run=None):
    """Show ``image`` (saved at ``path``) in the chapter's window until a key is pressed or a
    stop signal comes; where no window can open, say why and where its file is. In a
    notebook, show it inline."""
    if in_notebook():
        show_inline(image)
        return
    if run is not None:
        run.showing()
    reason = show(WINDOW_TITLE, image, run)
    if reason:
        print(f"[INFO] {reason}; open {shown(path)} to see it")
