"""The run's private temporary folder: used, removed, and a killed run's found again."""

import os
import subprocess
import tempfile

import pytest

from pyimagesearch.safety import tempfolder


def test_temporary_files_go_to_a_private_folder_removed_at_the_end(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(KeyboardInterrupt):
        with tempfolder.private_temporary_folder() as private:
            assert private.parent == tmp_path and private.name.startswith("fashion_mnist-")
            with tempfile.NamedTemporaryFile(delete=False) as file:
                assert file.name.startswith(str(private))
            raise KeyboardInterrupt  # Ctrl-C: removed all the same
    assert list(tmp_path.iterdir()) == []


def run_folder(folder):
    """A private folder as a run makes it, marker included."""
    folder.mkdir()
    (folder / tempfolder.MARKER).write_text("a temporary folder of process 1\n")
    return folder


def test_the_folders_of_dead_runs_are_removed_and_live_ones_kept(tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    run_folder(tmp_path / f"fashion_mnist-{dead.pid}-abcdefgh")
    live = run_folder(tmp_path / f"fashion_mnist-{os.getpid()}-abcdefgh")
    (tmp_path / "fashion_mnist-notes").mkdir()  # not one of ours
    tempfolder.remove_stale_folders(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, "fashion_mnist-notes"])


def test_a_folder_of_the_users_that_looks_like_a_runs_is_never_removed(tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    notes = tmp_path / "fashion_mnist-2024-12-07"  # "2024": no such process
    notes.mkdir()
    (notes / "notes.txt").write_text("mine")
    (tmp_path / f"fashion_mnist-{dead.pid}-results").mkdir()  # a dead pid, but no marker
    elsewhere = run_folder(tmp_path / "elsewhere")
    (tmp_path / f"fashion_mnist-{dead.pid}-link").symlink_to(elsewhere)  # a link to one
    tempfolder.remove_stale_folders(tmp_path)
    assert (notes / "notes.txt").read_text() == "mine"
    assert (tmp_path / f"fashion_mnist-{dead.pid}-results").is_dir()
    assert (elsewhere / tempfolder.MARKER).is_file()
