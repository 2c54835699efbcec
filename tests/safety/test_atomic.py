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
        assert temporary.parent.parent == tmp_path and temporary.name == "plot.png"
        assert temporary.parent.name.startswith(".plot.png.writing-")
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


def killed_write(path):
    """What a write of ``path`` killed half-way leaves: its scratch folder, marker and all."""
    with pytest.raises(KeyboardInterrupt), atomic.replaced_atomically(path) as temporary:
        scratch = temporary.parent
        temporary.write_bytes(b"half a file")
        os.rename(scratch, scratch.with_name(scratch.name + "-kept"))  # as kill -9 keeps it
        raise KeyboardInterrupt
    return scratch.with_name(scratch.name + "-kept")


def test_stale_temporaries_are_this_programs_only(tmp_path):
    stale = [killed_write(tmp_path / "plot.png"), killed_write(tmp_path / "fashion_mnist.keras")]
    kept = [".plot-holiday1.png", ".montage-20241207.png", "plot.png", ".plot.png.writing-mine"]
    for name in kept[:-1]:
        (tmp_path / name).write_bytes(b"the user's")
    (tmp_path / kept[-1]).mkdir()  # a folder with our name, but not our marker
    removed = atomic.remove_stale_temporaries([tmp_path / "plot.png",
                                               tmp_path / "fashion_mnist.keras",
                                               tmp_path / "montage.png",
                                               tmp_path / "missing" / "montage.png"])
    assert sorted(removed) == sorted(stale)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept)


def test_a_failed_write_is_cleaned_up_without_noise(capsys):
    class Leaky:
        def __del__(self):
            raise OSError("closing a half-written zip file failed too")

    with atomic.failures_cleaned_up_quietly():
        leaky = Leaky()
        del leaky  # its error is "unraisable": Python would print it with a traceback
    assert capsys.readouterr().err == ""


def test_a_folder_replacement_cut_short_puts_the_old_one_back(tmp_path, monkeypatch):
    folder = tmp_path / "m-savedmodel"
    folder.mkdir()
    (folder / "saved_model.pb").write_bytes(b"the old one")
    replace, calls = os.replace, []

    def killed_between(source, destination):
        calls.append(destination)
        if len(calls) == 2:  # the earlier folder is aside, the new one not yet in place
            raise KeyboardInterrupt
        replace(source, destination)

    monkeypatch.setattr(os, "replace", killed_between)
    with pytest.raises(KeyboardInterrupt), atomic.folder_replaced(folder) as temporary:
        (temporary / "saved_model.pb").write_bytes(b"the new one")
    monkeypatch.undo()
    assert (folder / "saved_model.pb").read_bytes() == b"the old one"
    assert [path.name for path in tmp_path.iterdir()] == ["m-savedmodel"]
    with atomic.folder_replaced(folder) as temporary:
        (temporary / "saved_model.pb").write_bytes(b"the new one")
    assert (folder / "saved_model.pb").read_bytes() == b"the new one"
    assert [path.name for path in tmp_path.iterdir()] == ["m-savedmodel"]
