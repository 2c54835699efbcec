"""fashion_mnist.py when things go wrong, with real signals and real files: SIGTERM and
SIGHUP, a stop within the first epoch or while the results are written, a full disk, a
closed pipe, file modes, leftovers, and refusals that write nothing. Signals, limits and
closed descriptors are tried on a new process, as a user meets them; the rest in this one."""

import errno
import gzip
import os
import resource
import shutil
import signal
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import (SCRIPT, assert_clean_failure, idx_bytes, run_main, start_training,
                      user_env, wait_for_stderr, write_dataset)

OUTPUTS = ["plot.png", "confusion.png", "montage.png", "fashion_mnist.keras"]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_stop_after_the_batch_and_keep_everything(tmp_path, signum):
    process = start_training(tmp_path)
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=300)
    name = signal.Signals(signum).name
    assert process.returncode == 128 + signum, stderr
    assert "Traceback" not in stderr
    assert f"{name}: stopping after this batch" in stderr
    assert f"interrupted by {name} after 1 of 20 epochs" in stderr
    assert "weighted avg" in stdout
    for name in OUTPUTS + ["fashion_mnist-backup.npz"]:  # the backup: to continue later
        assert (tmp_path / "out" / name).is_file(), name


def test_a_second_sigterm_quits_at_once_and_keeps_the_backup(tmp_path):
    process = start_training(tmp_path)
    process.send_signal(signal.SIGTERM)
    seen = wait_for_stderr(process, "stopping after this batch")  # not two at once: one
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=120)
    stderr = seen + stderr
    assert process.returncode == 143 and "Traceback" not in stderr
    assert "interrupted twice: stopped at once" in stderr
    assert "run the same command again to continue" in stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["fashion_mnist-backup.npz"]


def test_a_stop_within_the_first_epoch_keeps_the_earlier_run(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    for name in OUTPUTS:
        (out / name).write_bytes(b"from an earlier run")
    process = start_training(tmp_path, wait_for="Epoch 1/")
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130 and "Traceback" not in stderr
    assert "Ctrl-C before the first epoch ended: nothing was saved or written" in stderr
    assert "Epoch 2/" not in stdout
    for name in OUTPUTS:
        assert (out / name).read_bytes() == b"from an earlier run", name
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUTS)


def test_ctrl_c_while_loading_writes_nothing(tmp_path):
    process = start_training(tmp_path, wait_for="[INFO] loading Fashion MNIST")
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130 and "Traceback" not in stderr
    assert "Ctrl-C: stopped before training, nothing was written" in stderr
    assert "twice" not in stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_ctrl_c_while_the_results_are_written_writes_them_all(tmp_path):
    write_dataset(tmp_path / "data", n_train=500, n_test=20000)  # a long evaluation
    process = start_training(tmp_path, epochs=1, wait_for="[INFO] model saved to")
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 130 and "Traceback" not in stderr
    assert "Ctrl-C: writing the model and its results first" in stderr, stderr
    assert "interrupted by" not in stderr  # training had ended: nothing was cut short
    assert "weighted avg" in stdout
    for name in OUTPUTS:
        assert (tmp_path / "out" / name).is_file(), name


def limit_file_size(limit):
    """For a child process: files larger than ``limit`` bytes cannot be written (EFBIG),
    as on a disk with that much room left, without the signal that would kill it."""
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_a_full_disk_at_save_time_still_gives_the_report_and_figures(tmp_path, tiny_data):
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--dataset-dir", str(tiny_data), "--epochs", "2",
         "--output", str(out)], cwd=tmp_path, env=user_env(), capture_output=True, text=True,
        timeout=600, preexec_fn=limit_file_size(2_000_000))  # room for the PNGs, not the model
    assert_clean_failure(result, f"could not write the model to {out / 'fashion_mnist.keras'}",
                         "File too large")
    assert result.returncode == 1
    assert "could not write the backup" in result.stdout  # said, and training went on
    assert "Epoch 2/2" in result.stdout and "weighted avg" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == ["confusion.png", "montage.png", "plot.png"]


def test_a_model_that_cannot_be_saved_where_asked_is_saved_elsewhere(tmp_path, tiny_data,
                                                                    monkeypatch):
    import fashion_mnist
    from pyimagesearch import modelfile

    out = tmp_path / "out"
    real_save = modelfile.save_model

    def full_disk(model, path):
        if path.parent == out:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_save(model, path)

    monkeypatch.setattr(modelfile, "save_model", full_disk)
    monkeypatch.chdir(tmp_path)
    code = fashion_mnist.main(["--dataset-dir", str(tiny_data), "--epochs", "1", "--output",
                               str(out)])
    assert code == 1
    rescued = tmp_path / "fashion_mnist-rescued.keras"
    assert rescued.stat().st_size > 1_000_000
    assert sorted(p.name for p in out.iterdir()) == ["confusion.png", "montage.png", "plot.png"]


def mount_tmpfs(folder, size):
    """Mount a tmpfs of ``size`` at ``folder``; False where this machine does not allow it."""
    folder.mkdir()
    if shutil.which("mount") is None or os.geteuid() != 0:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                          capture_output=True).returncode == 0


def test_too_little_free_space_is_refused_before_training(tmp_path, capsys, tiny_data,
                                                         monkeypatch):
    out = tmp_path / "small"
    if mount_tmpfs(out, "4m"):
        try:
            result = run_main(capsys, "--dataset-dir", tiny_data, "--output", out)
        finally:
            subprocess.run(["umount", str(out)], check=True)
    else:  # no mounting here: the same check, with the disk said to be nearly full
        from pyimagesearch import folders

        usage = shutil.disk_usage(tmp_path)
        monkeypatch.setattr(folders.shutil, "disk_usage",
                            lambda path: usage._replace(free=4 << 20))
        result = run_main(capsys, "--dataset-dir", tiny_data, "--output", out)
    assert_clean_failure(result, "MB are free in", "free some space or choose another")
    assert result.code == 1 and "Epoch 1/" not in result.stdout


def test_a_model_path_that_is_a_folder_is_refused_before_training(tmp_path, capsys, tiny_data):
    (tmp_path / "out" / "fashion_mnist.keras").mkdir(parents=True)
    result = run_main(capsys, "--dataset-dir", tiny_data, "--output", tmp_path / "out")
    assert_clean_failure(result, "fashion_mnist.keras is a folder", "--model")
    assert "loading Fashion MNIST" not in result.stdout


def shell(command, tmp_path):
    """Run ``command`` in bash; returns fashion_mnist.py's exit status (the pipe's first)."""
    status = tmp_path / "status"
    subprocess.run(["bash", "-c", f"{command}; echo ${{PIPESTATUS[0]}} > {status}"],
                   cwd=tmp_path, env=user_env(), capture_output=True, timeout=600)
    return int(status.read_text())


@pytest.mark.parametrize("redirect", ["| head -n 3", "2>&- >&-"])
def test_a_closed_output_does_not_stop_the_run(tmp_path, tiny_data, redirect):
    command = (f"{sys.executable} -u {SCRIPT} --dataset-dir {tiny_data} --epochs 2 "
               f"--output {tmp_path / 'out'} {redirect}")
    assert shell(command, tmp_path) == 0
    for name in OUTPUTS:
        assert (tmp_path / "out" / name).is_file(), name


def test_outputs_get_the_mode_the_umask_gives(tmp_path, capsys, tiny_data):
    out = tmp_path / "out"
    out.mkdir()
    (out / "plot.png").write_bytes(b"old")
    os.chmod(out / "plot.png", 0o644)
    for umask, mode in [(0o022, 0o644), (0o027, 0o640)]:
        previous = os.umask(umask)
        try:
            result = run_main(capsys, "--dataset-dir", tiny_data, "--epochs", "1", "--output", out)
        finally:
            os.umask(previous)
        assert result.code == 0, result.stderr
        for name in OUTPUTS:
            assert (out / name).stat().st_mode & 0o777 == mode, (name, oct(umask))


def test_leftovers_of_killed_runs_are_removed_and_a_run_leaves_none(tmp_path):
    out, temp = tmp_path / "out", tmp_path / "systemp"
    out.mkdir()
    temp.mkdir()
    stale = [".fashion_mnist-k2j3h4g5.keras", ".plot-abcd_123.png", ".montage-zzzzzzzz.png",
             ".fashion_mnist-backup-x1y2z3w4.npz"]
    for name in stale:
        (out / name).write_bytes(b"half a file")
    (out / ".plot-notes.txt").write_text("the user's")  # not ours: kept
    dead = subprocess.Popen(["true"])
    dead.wait()
    (temp / f"fashion_mnist-{dead.pid}-abcdefgh").mkdir()  # a killed run's private folder

    process = start_training(tmp_path, env={"TMPDIR": str(temp)}, wait_for="Epoch 1/")
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=120)
    assert process.returncode == 130
    assert sorted(p.name for p in out.iterdir()) == [".plot-notes.txt"]
    assert list(temp.iterdir()) == []  # nothing of TensorFlow's or ours, after Ctrl-C too


def test_data_without_images_is_refused_and_nothing_written(tmp_path, capsys):
    data = tmp_path / "data"
    write_dataset(data)
    for name, array in [("train-images-idx3-ubyte", np.zeros((0, 28, 28))),
                        ("train-labels-idx1-ubyte", np.zeros(0))]:
        (data / f"{name}.gz").write_bytes(gzip.compress(idx_bytes(array)))
    result = run_main(capsys, "--dataset-dir", data, "--output", tmp_path / "out")
    assert_clean_failure(result, "0 training and 100 test images", "needs some of each")
    assert result.code == 1 and not (tmp_path / "out").exists()


def test_a_load_that_is_not_a_model_writes_nothing(tmp_path, capsys, tiny_data):
    fake = tmp_path / "fake.keras"
    fake.write_text("hello")
    result = run_main(capsys, "--dataset-dir", tiny_data, "--load", fake,
                      "--output", tmp_path / "out")
    assert_clean_failure(result, "fake.keras is not a Keras model file")
    assert "File not found" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_montage_that_cannot_be_written_is_named(tmp_path, capsys, tiny_data):
    out = tmp_path / "out"
    (out / "montage.png").mkdir(parents=True)  # in the way: the file cannot replace a folder
    result = run_main(capsys, "--dataset-dir", tiny_data, "--epochs", "1", "--output", out)
    assert_clean_failure(result, "could not write montage.png")
    assert cv2.imread(str(out / "plot.png")) is not None
    assert (out / "fashion_mnist.keras").is_file()
