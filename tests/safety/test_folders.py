"""Folders checked before training depends on them: nothing is created by a check, and a
refusal says what to do."""

import os
import shutil

import pytest

from pyimagesearch.errors import UserError
from pyimagesearch.safety import folders


def test_a_folder_that_could_be_made_passes_and_is_not_made(tmp_path):
    folders.check_folder(tmp_path / "a" / "b", "output folder", needed=1000)
    assert list(tmp_path.iterdir()) == []


def test_a_file_in_the_way_is_named(tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    with pytest.raises(UserError, match="a-file is a file, not a folder; choose another path"):
        folders.check_folder(tmp_path / "a-file" / "out", "output folder")


def test_a_folder_without_write_permission_is_refused(tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    if os.geteuid() == 0:  # root may write anywhere: this user may not
        monkeypatch.setattr(folders.os, "access", lambda path, mode: False)
    with pytest.raises(UserError, match=f"cannot write in {locked}; choose an output folder you "
                                        f"can write to"):
        folders.check_folder(locked / "out", "output folder")


def test_too_little_space_is_refused_before_anything_is_made(tmp_path, monkeypatch):
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(folders.shutil, "disk_usage", lambda path: usage._replace(free=4 << 20))
    with pytest.raises(UserError, match=r"only 4.2 MB are free in .*, and the model folder "
                                        r"needs about 14 MB; free some space"):
        folders.check_folder(tmp_path / "new", "model folder", needed=14_000_000)
    assert list(tmp_path.iterdir()) == []


def test_create_folder_makes_it_and_proves_it_writable(tmp_path):
    folders.create_folder(tmp_path / "a" / "b", "output folder")
    assert (tmp_path / "a" / "b").is_dir() and list((tmp_path / "a" / "b").iterdir()) == []
    (tmp_path / "file").write_text("")
    with pytest.raises(UserError, match="cannot write in the output folder .*file"):
        folders.create_folder(tmp_path / "file", "output folder")
