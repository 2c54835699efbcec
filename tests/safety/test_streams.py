"""Standard output that outlives its reader: a write to a closed pipe is dropped, once
and quietly, and the program goes on."""

import io
import os
import subprocess
import sys

from conftest import ROOT, user_env
from pyimagesearch.safety.streams import SurvivingStream, surviving_streams


class GoneReader(io.StringIO):
    """A stream whose reader has left, as a pipe after ``| head`` has exited."""

    def write(self, text):
        raise BrokenPipeError(32, "Broken pipe")

    def fileno(self):
        raise io.UnsupportedOperation("no file descriptor")


def test_writes_to_a_reader_that_is_gone_are_dropped():
    stream = SurvivingStream(GoneReader())
    assert stream.write("epoch 1\n") == len("epoch 1\n")
    assert stream.lost
    stream.write("epoch 2\n")
    stream.flush()  # no error either


def test_a_stream_that_works_passes_everything_through():
    inner = io.StringIO()
    stream = SurvivingStream(inner)
    stream.write("[INFO] loading\n")
    stream.flush()
    assert inner.getvalue() == "[INFO] loading\n" and not stream.lost
    assert stream.getvalue() == inner.getvalue()  # the rest is the stream's own


def test_surviving_streams_wrap_and_restore(capsys):
    before = sys.stdout, sys.stderr
    with surviving_streams() as (out, err):
        assert sys.stdout is out and isinstance(out, SurvivingStream)
        print("seen")
    assert (sys.stdout, sys.stderr) == before
    assert capsys.readouterr().out == "seen\n"


def test_a_closed_descriptor_is_pointed_at_the_null_device(tmp_path):
    # a fresh Python with its standard output closed (2>&- style): the file opened next
    # must not take descriptor 1 and receive what is printed
    code = ("from pyimagesearch.safety.streams import open_standard_streams\n"
            "open_standard_streams()\n"
            "import os, sys\n"
            "file = open(sys.argv[1], 'w')\n"
            "print('printed', flush=True)\n"
            "file.write(f'{file.fileno()}'); file.close()\n")
    target = tmp_path / "file.txt"
    subprocess.run([sys.executable, "-c", code, str(target)], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL, preexec_fn=lambda: os.close(1))
    written = target.read_text()
    assert written.isdigit() and written != "1", written  # nothing printed went into it


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bars_and_colour_only_where_a_terminal_can_show_them(monkeypatch):
    from pyimagesearch.safety import streams

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert streams.is_terminal(Terminal()) and streams.wants_colour(Terminal())
    assert not streams.is_terminal(io.StringIO())  # a log file, a pipe
    monkeypatch.setenv("NO_COLOR", "1")
    assert streams.is_terminal(Terminal()) and not streams.wants_colour(Terminal())
    monkeypatch.setenv("TERM", "dumb")
    assert not streams.is_terminal(Terminal())


def test_colour_codes_are_left_out_where_unwanted():
    inner = io.StringIO()
    SurvivingStream(inner, colour=False).write("\x1b[1m8/8\x1b[0m \x1b[32m━━\x1b[0m - loss: 0.5\n")
    assert inner.getvalue() == "8/8 ━━ - loss: 0.5\n"


def test_a_full_disk_is_reported_once_and_a_gone_reader_not_at_all():
    import errno

    class Full(io.StringIO):
        def write(self, text):
            raise OSError(errno.ENOSPC, "No space left on device")

    said = []
    stream = SurvivingStream(Full(), on_failure=said.append)
    stream.write("a")
    stream.write("b")
    assert said == ["No space left on device"] and stream.failure == said[0]
    gone = SurvivingStream(GoneReader(), on_failure=said.append)
    gone.write("a")
    assert gone.lost and gone.failure is None and len(said) == 1


def test_characters_the_encoding_lacks_are_replaced(tmp_path):
    code = ("from pyimagesearch.safety.streams import surviving_streams\n"
            "with surviving_streams():\n"
            "    print('[INFO] 셔츠.jpg: shirt 0.91')\n"
            "    print('[INFO] the next line')\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            env={**os.environ, "PYTHONIOENCODING": "latin-1"})
    assert result.stdout.decode("latin-1").splitlines() == ["[INFO] ??.jpg: shirt 0.91",
                                                             "[INFO] the next line"]


def test_while_native_stderr_is_muted_python_still_reaches_the_real_one():
    script = ("import os, sys\nfrom pyimagesearch.safety.streams import native_stderr_muted\n"
              "with native_stderr_muted():\n"
              "    os.write(2, b'from C++\\n')\n"
              "    print('from Python', file=sys.stderr)\n")
    env = user_env()
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stderr == "from Python\n"
