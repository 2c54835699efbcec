"""fashion_mnist.py when things go wrong, with real signals and real files: SIGTERM and
SIGHUP, a stop within the first epoch or while the results are written, a full disk, a
closed pipe, file modes, leftovers, and refusals that write nothing. Signals, limits and
closed descriptors are tried on a new process, as a user meets them; the rest in this one."""

import errno
import gzip
import os
import re
import shutil
import signal
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import (SCRIPT, assert_clean_failure, idx_bytes, on_backend, run_in_terminal,
                      run_main, run_script, start_training, user_env, wait_for_stderr,
                      write_dataset)
from pyimagesearch.safety import atomic, tempfolder

resource = pytest.importorskip("resource")  # POSIX's: these faults are a POSIX system's
OUTPUTS = ["plot.png", "confusion.png", "montage.png", "fashion_mnist.keras"]


@pytest.mark.slow  # a run in a new process: CI's slow set
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


@pytest.mark.slow  # a run in a new process: CI's slow set
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


@pytest.mark.slow  # a run in a new process: CI's slow set
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


@pytest.mark.slow  # a run in a new process: CI's slow set
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
    write_dataset(tmp_path / "data", n_train=500, n_test=10000)  # an evaluation of seconds
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


@pytest.mark.slow  # a long fault run
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
    from pyimagesearch.safety import modelfile

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
    # the backup of the finished training is kept: the same command writes the model there
    assert sorted(p.name for p in out.iterdir()) == ["confusion.png", "fashion_mnist-backup.npz",
                                                     "montage.png", "plot.png"]


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
        from pyimagesearch.safety import folders

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


@pytest.mark.slow  # a run in a new process: CI's slow set
@pytest.mark.parametrize("redirect", ["| head -n 3", "2>&- >&-"])
def test_a_closed_output_does_not_stop_the_run(tmp_path, tiny_data, redirect):
    command = (f"{sys.executable} -u {SCRIPT} --dataset-dir {tiny_data} --epochs 1 "
               f"--output {tmp_path / 'out'} {redirect}")
    assert shell(command, tmp_path) == 0
    for name in OUTPUTS:
        assert (tmp_path / "out" / name).is_file(), name


@pytest.mark.slow  # a run in a new process: CI's slow set
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


@pytest.mark.slow  # a run in a new process: CI's slow set
def test_leftovers_of_killed_runs_are_removed_and_a_run_leaves_none(tmp_path):
    out, temp = tmp_path / "out", tmp_path / "systemp"
    out.mkdir()
    temp.mkdir()
    for name in ["fashion_mnist.keras", "plot.png", "montage.png", "fashion_mnist-backup.npz"]:
        scratch = out / f".{name}.writing-k2j3h4g5"  # a killed write's, with its marker
        scratch.mkdir()
        (scratch / atomic.MARKER).touch()
        (scratch / name).write_bytes(b"half a file")
    for name in [".plot-notes.txt", ".plot-holiday1.png", ".montage-20241207.png"]:
        (out / name).write_text("the user's")  # not ours, whatever they look like: kept
    user_folder = out / ".plot.png.writing-mine"
    user_folder.mkdir()
    dead = subprocess.Popen(["true"])
    dead.wait()
    killed = temp / f"fashion_mnist-{dead.pid}-abcdefgh"  # a killed run's private folder
    killed.mkdir()
    (killed / tempfolder.MARKER).write_text("a temporary folder of process 1\n")

    process = start_training(tmp_path, env={"TMPDIR": str(temp)}, wait_for="Epoch 1/")
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=120)
    assert process.returncode == 130
    assert sorted(p.name for p in out.iterdir()) == [
        ".montage-20241207.png", ".plot-holiday1.png", ".plot-notes.txt", ".plot.png.writing-mine"]
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


@pytest.mark.slow  # a run in a new process: CI's slow set
def test_a_backup_that_cannot_be_removed_still_gives_every_result(tmp_path, tiny_data):
    out = tmp_path / "out"
    (out / "fashion_mnist-backup.npz").mkdir(parents=True)  # a folder where the backup goes
    result = run_script("--dataset-dir", tiny_data, "--epochs", "1", "--restart",
                        "--output", out, cwd=tmp_path)
    assert_clean_failure(result, "could not remove the backup", "remove it yourself")
    assert result.returncode == 1
    assert "could not write the backup" in result.stdout  # said once, and training went on
    assert "weighted avg" in result.stdout
    for name in OUTPUTS:
        assert (out / name).is_file(), name


def pickled(path):
    np.save(path, np.array([{"not": "a backup"}], dtype=object), allow_pickle=True)
    os.replace(f"{path}.npy", path)


def backup_like(path, drop=None, **meta):
    """An archive shaped like a backup, less ``drop`` (an array) or with ``meta`` changed."""
    import json

    arrays = {"model_0": np.zeros(3), "model_1": np.zeros(2), "optimizer_0": np.zeros(1)}
    arrays.pop(drop, None)
    info = {"epoch": 1, "history": {}, "data_seed": 5, "settings": {"epochs": 2},
            "swa_count": 0, **meta}
    with open(path, "wb") as file:
        np.savez(file, meta=np.array(json.dumps({k: v for k, v in info.items() if v != "-"})),
                 **arrays)


@pytest.mark.parametrize("damage", [
    lambda path: path.write_bytes(b""),  # empty
    lambda path: backup_like(path, drop="model_0"),  # an archive missing one of its arrays
    lambda path: backup_like(path, settings="-"),  # settings missing from its metadata
    lambda path: backup_like(path, epoch="three"),
    pickled,  # NumPy would advise loading it with allow_pickle
    lambda path: path.mkdir(),  # a folder
    lambda path: os.mkfifo(path),  # a named pipe: read, it would block the run forever
])
def test_every_unreadable_backup_is_refused_in_one_sentence(tmp_path, capsys, tiny_data, damage):
    out = tmp_path / "out"
    out.mkdir()
    damage(out / "fashion_mnist-backup.npz")
    result = run_main(capsys, "--dataset-dir", tiny_data, "--epochs", "2", "--output", out)
    assert_clean_failure(result, "fashion_mnist-backup.npz is not a backup this program can read",
                         "--restart")
    assert result.code == 1 and "allow_pickle" not in result.stderr
    assert result.stderr.strip().count("\n") == 0  # one line
    assert sorted(p.name for p in out.iterdir()) == ["fashion_mnist-backup.npz"]  # untouched


@pytest.mark.slow  # a run in a new process: CI's slow set
def test_an_empty_backup_is_refused_as_a_user_sees_it(tmp_path, tiny_data):
    out = tmp_path / "out"
    out.mkdir()
    (out / "fashion_mnist-backup.npz").write_bytes(b"")
    result = run_script("--dataset-dir", tiny_data, "--output", out, cwd=tmp_path)
    assert_clean_failure(result, "is not a backup this program can read", "--restart")
    assert "EOFError" not in result.stderr and result.returncode == 1


@pytest.mark.slow  # a long fault run
def test_a_live_runs_folder_is_its_own_and_a_dead_runs_lock_does_not_block(tmp_path):
    first = start_training(tmp_path, n_train=1000)  # into tmp_path/out, its first epoch done
    out = tmp_path / "out"
    assert (out / "fashion_mnist.lock").is_file()
    second = run_script("--dataset-dir", tmp_path / "data", "--epochs", "20", "--output", out,
                        cwd=tmp_path)
    assert_clean_failure(second, f"another run (process {first.pid} on ", "choose another --output")
    assert second.returncode == 1 and "loading Fashion MNIST" not in second.stdout
    assert first.poll() is None  # the first run goes on, its folder untouched
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=60)
    assert (out / "fashion_mnist.lock").is_file()  # left by the killed run, and not held
    third = start_training(tmp_path, wait_for="Epoch", n_train=1000)  # the same command
    assert "continuing an interrupted run from its backup" in third.seen
    third.send_signal(signal.SIGKILL)
    third.communicate(timeout=60)


@pytest.mark.slow  # a long fault run
def test_a_stop_during_the_last_validation_leaves_a_finished_run(tmp_path):
    write_dataset(tmp_path / "data", n_train=32, n_test=8000)  # a validation of seconds
    out = tmp_path / "out"

    def in_last_validation(output):  # the epoch's one training batch has been shown
        return "1/1" in output.split("[INFO] training model on")[-1]

    code, output = run_in_terminal("--dataset-dir", tmp_path / "data", "--epochs", "1",
                                   "--output", out, cwd=tmp_path, until=in_last_validation,
                                   signum=signal.SIGINT)
    assert code == 130 and "Traceback" not in output
    assert "Ctrl-C came as the last epoch ended: every epoch had run (1 of 1)" in output
    assert "interrupted by" not in output and "run the same command again" not in output
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUTS)  # no backup kept


@pytest.mark.slow  # a run in a new process: CI's slow set
def test_output_that_cannot_be_encoded_is_replaced_and_goes_on(tmp_path, trained_model):
    from pyimagesearch.testphoto import make_photo

    picture = make_photo(np.full((28, 28), 200, np.uint8), tmp_path / "셔츠.jpg",
                         np.random.default_rng(0))
    result = run_script("--load", trained_model.path, "--classify", picture,
                        "--output", tmp_path / "out", cwd=tmp_path,
                        env={"PYTHONIOENCODING": "ascii"})
    assert result.returncode == 0, result.stderr
    after = result.stdout.split(f"[INFO] {tmp_path / '??.jpg'}: ")[1]  # replaced, not silenced
    assert "as the network saw them, saved to" in after  # and what came after it is there


@pytest.mark.slow  # a run in a new process: CI's slow set
def test_a_write_error_on_standard_output_is_said_once_and_exits_non_zero(tmp_path, tiny_data):
    out = tmp_path / "out"
    result = subprocess.run(f"{sys.executable} {SCRIPT} --dataset-dir {tiny_data} --epochs 1 "
                            f"--output {out} > /dev/full", shell=True, cwd=tmp_path,
                            env=user_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.count("could not write to the standard output (No space left on "
                               "device)") == 1
    for name in OUTPUTS:
        assert (out / name).is_file(), name


def test_a_run_refused_for_space_creates_no_folder(tmp_path, capsys, tiny_data, monkeypatch):
    small = tmp_path / "small"
    if mount_tmpfs(small, "4m"):
        try:
            result = run_main(capsys, "--dataset-dir", tiny_data, "--output", small / "new" / "out")
            left = list(small.iterdir())
        finally:
            subprocess.run(["umount", str(small)], check=True)
    else:  # no mounting here: the disk is said to be nearly full
        from pyimagesearch.safety import folders

        usage = shutil.disk_usage(tmp_path)
        monkeypatch.setattr(folders.shutil, "disk_usage",
                            lambda path: usage._replace(free=4 << 20))
        result = run_main(capsys, "--dataset-dir", tiny_data, "--output", small / "new" / "out")
        left = list(small.iterdir())
    assert_clean_failure(result, "MB are free in", "free some space")
    assert left == []


@pytest.mark.slow  # a run in a new process: CI's slow set
@pytest.mark.parametrize("env, bars, colour", [
    ({}, True, True),  # at a prompt: the chapter's progress bars, in colour
    pytest.param({"NO_COLOR": "1"}, True, False, marks=pytest.mark.slow),
    pytest.param({"TERM": "dumb"}, False, False, marks=pytest.mark.slow),
])
def test_a_terminal_gets_progress_bars_unless_it_cannot_show_them(tmp_path, tiny_data, env, bars,
                                                                   colour):
    code, output = run_in_terminal("--dataset-dir", tiny_data, "--epochs", "1",
                                   "--output", tmp_path / "out", cwd=tmp_path, env=env)
    assert code == 0, output
    redrawn = re.search(r"\r(?!\n)", output) is not None  # a line drawn over
    assert (redrawn, "\x1b[" in output) == (bars, colour)
    assert "weighted avg" in output


@on_backend("tensorflow")  # the converters are TensorFlow's
def test_a_stop_during_an_export_leaves_no_partial_file(tmp_path, trained_model):
    from pyimagesearch.portable.export import missing_packages

    formats = ["saved-model", "litert", "onnx"]
    if missing_packages(formats):
        formats = ["saved-model"]  # written with TensorFlow alone
    process = subprocess.Popen(
        [sys.executable, "-u", str(SCRIPT), "--dataset-dir", str(trained_model.data), "--load",
         str(trained_model.path), "--export", *formats, "--output", str(tmp_path / "out")],
        cwd=tmp_path, env=user_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = ""
    while "[INFO] exporting the model as" not in seen or not seen.endswith("\n"):  # the line
        seen += process.stdout.read(1) or pytest.fail(f"ended early: {process.stderr.read()}")
    process.send_signal(signal.SIGINT)
    seen = wait_for_stderr(process, "stopping after this export")
    process.send_signal(signal.SIGINT)  # the second: at once, in the middle of the export
    stdout, stderr = process.communicate(timeout=300)
    stderr = seen + stderr
    assert process.returncode == 130 and "Traceback" not in stderr, (process.returncode, stdout,
                                                                      stderr)
    left = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert not [name for name in left if name.startswith(".")], left  # no temporary
    # where the second lands depends on timing: in the export ("not written: ..."), just
    # before or after it ("nothing more was written"), or after the run ended as the first
    # asked, after the export; the export is whole or not there
    assert ("interrupted twice: stopped at once" in stderr
            or f"stopped before exporting {', '.join(formats[1:])}" in stderr), stderr
    if "saved-model saved to" in stdout:
        assert (tmp_path / "out" / "fashion_mnist-savedmodel" / "saved_model.pb").is_file()
    else:
        assert "fashion_mnist-savedmodel" not in left  # the one stopped half-way
