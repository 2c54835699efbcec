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


def test_the_folders_of_dead_runs_are_removed_and_live_ones_kept(tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    (tmp_path / f"fashion_mnist-{dead.pid}-abcdefgh").mkdir()
    live = tmp_path / f"fashion_mnist-{os.getpid()}-abcdefgh"
    live.mkdir()
    (tmp_path / "fashion_mnist-notes").mkdir()  # not one of ours
    tempfolder.remove_stale_folders(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, "fashion_mnist-notes"])
