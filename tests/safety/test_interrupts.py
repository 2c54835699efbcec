"""Stop signals: Ctrl-C, SIGTERM and SIGHUP raise Interrupted, or, in a deferred block,
are noted once and raise on the second. Real signals, sent to this process."""

import os
import signal

import pytest

from pyimagesearch.safety import interrupts

SIGNALS = [s for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s]


@pytest.fixture(autouse=True)
def restore_handlers():
    saved = {signum: signal.getsignal(signum) for signum in SIGNALS}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def send(signum):
    os.kill(os.getpid(), signum)  # handled at once, between two bytecodes of this thread


@pytest.mark.parametrize("signum", SIGNALS)
def test_each_stop_signal_raises_interrupted_once_installed(signum):
    interrupts.install()
    with pytest.raises(interrupts.Interrupted) as stop:
        send(signum)
    assert stop.value.signum == signum and isinstance(stop.value, KeyboardInterrupt)
    assert interrupts.exit_code(signum) == 128 + signum


@pytest.mark.parametrize("signum", SIGNALS)
def test_deferred_notes_the_first_and_raises_on_the_second(signum):
    interrupts.install()
    with pytest.raises(interrupts.Interrupted) as second:
        heard = []
        with interrupts.deferred(heard.append, quit_note="stopped") as pending:
            send(signum)
            assert pending.signum == signum and heard == [signum]  # noted; the work goes on
            pending.quit_note = lambda: "stopped, as the work now says"
            send(signal.SIGINT)
    assert second.value.note == "stopped, as the work now says"
    with pytest.raises(interrupts.Interrupted):  # outside the block: raised at once again
        send(signum)


def test_names_and_codes():
    assert interrupts.again(signal.SIGINT) == "press Ctrl-C again"
    assert interrupts.again(signal.SIGTERM) == "send it again"
    assert interrupts.describe(signal.SIGINT) == "Ctrl-C"
    assert interrupts.describe(signal.SIGTERM) == "SIGTERM"
    assert interrupts.exit_code(signal.SIGINT) == 130
    assert interrupts.exit_code(signal.SIGTERM) == 143


def test_installed_puts_the_handlers_back():
    before = {signum: signal.getsignal(signum) for signum in SIGNALS}
    with interrupts.installed():
        with pytest.raises(interrupts.Interrupted):
            send(signal.SIGTERM)
    assert {signum: signal.getsignal(signum) for signum in SIGNALS} == before
