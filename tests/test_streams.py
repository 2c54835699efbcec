"""Standard output that outlives its reader: a write to a closed pipe is dropped, once
and quietly, and the program goes on."""

import io
import os
import subprocess
import sys

from conftest import ROOT
from pyimagesearch.streams import SurvivingStream, surviving_streams


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
    code = ("from pyimagesearch.streams import open_standard_streams\n"
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
