"""Files written whole or not at all, with the umask's mode, and the leftovers of killed
writes found again."""

import os

import pytest

from pyimagesearch.safety import atomic


def test_a_file_is_replaced_only_when_the_new_one_is_whole(tmp_path):
    path = tmp_path / "plot.png"
    path.write_bytes(b"the good one")
    with pytest.raises(RuntimeError):
        with atomic.replaced_atomically(path) as temporary:
            temporary.write_bytes(b"half")
            raise RuntimeError("the disk filled up")
    assert path.read_bytes() == b"the good one"
    assert [p.name for p in tmp_path.iterdir()] == ["plot.png"]  # no temporary left
    with atomic.replaced_atomically(path) as temporary:
        assert temporary.parent == tmp_path and temporary.name.startswith(".plot-")
        temporary.write_bytes(b"the new one")
    assert path.read_bytes() == b"the new one"
    assert [p.name for p in tmp_path.iterdir()] == ["plot.png"]


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_the_new_file_gets_the_mode_of_the_umask_at_the_time(tmp_path, umask, mode):
    previous = os.umask(umask)  # set after the module was imported: the mode is read anew
    try:
        with atomic.replaced_atomically(tmp_path / "a.png") as temporary:
            temporary.write_bytes(b"x")
    finally:
        os.umask(previous)
    assert (tmp_path / "a.png").stat().st_mode & 0o777 == mode


def test_stale_temporaries_are_this_programs_only(tmp_path):
    stale = [".plot-abcd_123.png", ".fashion_mnist-k2j3h4g5.keras"]
    kept = [".plot-notes.txt", "plot.png", ".plot-toolong123.png"]
    for name in stale + kept:
        (tmp_path / name).write_bytes(b"")
    removed = atomic.remove_stale_temporaries([tmp_path / "plot.png",
                                               tmp_path / "fashion_mnist.keras",
                                               tmp_path / "missing" / "montage.png"])
    assert sorted(p.name for p in removed) == sorted(stale)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept)


def test_a_failed_write_is_cleaned_up_without_noise(capsys):
    class Leaky:
        def __del__(self):
            raise OSError("closing a half-written zip file failed too")

    with atomic.failures_cleaned_up_quietly():
        leaky = Leaky()
        del leaky  # its error is "unraisable": Python would print it with a traceback
    assert capsys.readouterr().err == ""


def test_a_folder_a_kill_left_aside_mid_replacement_is_stale(tmp_path, monkeypatch):
    folder = tmp_path / "m-savedmodel"
    folder.mkdir()
    replace, calls = os.replace, []

    def killed_between(source, destination):
        calls.append(destination)
        if len(calls) == 2:  # the earlier folder is aside, the new one not yet in place
            raise KeyboardInterrupt
        replace(source, destination)

    monkeypatch.setattr(os, "replace", killed_between)
    with pytest.raises(KeyboardInterrupt), atomic.folder_replaced(folder) as temporary:
        (temporary / "saved_model.pb").write_bytes(b"")
    monkeypatch.undo()
    assert [path.name for path in atomic.remove_stale_temporaries([folder])] == [calls[0].name]
    assert list(tmp_path.iterdir()) == []
