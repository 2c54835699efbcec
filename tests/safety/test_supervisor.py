"""The supervisor of a run, on its own: what each phase does with a stop signal, how
training's end is judged, what is written and said, and the exit code."""

import os
import shutil
import signal
from functools import partial

import keras
import pytest

from pyimagesearch import cli
from pyimagesearch.errors import UserError
from pyimagesearch.portable.export import leftovers
from pyimagesearch.safety import atomic, interrupts
from pyimagesearch.safety.supervisor import RunEnded, Supervisor, supervise


def small_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss="mse")
    return model


def supervisor(tmp_path, *flags):
    """The Supervisor of ``fashion_mnist.py --output tmp_path/out flags``."""
    return Supervisor(*cli.written(cli.parse_args(["--output", str(tmp_path / "out"), *flags])))


def send(signum):
    os.kill(os.getpid(), signum)  # handled at once, between two bytecodes of this thread


def test_the_checks_write_nothing(tmp_path):
    with supervisor(tmp_path) as run:
        assert run.backup_path == tmp_path / "out" / "fashion_mnist-backup.npz"
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "file").write_text("")
    with pytest.raises(UserError, match="is a file, not a folder"):
        Supervisor(tmp_path / "file" / "out")


def test_before_the_folders_a_signal_stops_at_once_after_it_is_deferred(tmp_path, capsys):
    with interrupts.installed(), supervisor(tmp_path) as run:
        with pytest.raises(interrupts.Interrupted):
            send(signal.SIGINT)
        run.prepare_folders(small_model())
        assert (tmp_path / "out").is_dir()
        send(signal.SIGTERM)  # noted, and the work goes on
        assert run.signals.signum == signal.SIGTERM
        assert "SIGTERM: stopping after this batch" in capsys.readouterr().err
        with pytest.raises(interrupts.Interrupted):
            send(signal.SIGTERM)  # the second: at once


def killed_write(path):
    """The scratch folder a write of ``path`` killed half-way leaves, with its marker."""
    stale = path.parent / f".{path.name}.writing-abcdefgh"
    stale.mkdir()
    (stale / atomic.MARKER).touch()
    (stale / path.name).write_bytes(b"half")
    return stale


def test_the_files_of_a_killed_write_are_removed(tmp_path):
    (tmp_path / "out").mkdir()
    stale = killed_write(tmp_path / "out" / "montage.png")
    with supervisor(tmp_path) as run:
        run.prepare_folders()
    assert not stale.exists()


def test_a_training_run_removes_what_a_killed_export_left(tmp_path):
    (tmp_path / "out").mkdir()
    stale = killed_write(tmp_path / "out" / "fashion_mnist-savedmodel")  # a killed export's
    with supervisor(tmp_path, "--epochs", "3") as run:  # no --export: it trains
        run.prepare_folders()
    assert not stale.exists()


def test_an_export_removes_what_a_killed_export_of_another_format_left(tmp_path):
    (tmp_path / "out").mkdir()
    stale = killed_write(tmp_path / "out" / "fashion_mnist.tflite")  # a killed litert export's
    model = tmp_path / "out" / "fashion_mnist.keras"
    with Supervisor(tmp_path / "out", leftovers(model), model) as run:  # --export saved-model
        run.prepare_folders()
    assert not stale.exists()


def train(run, model, epochs_done, epochs=25, diverged=False):
    """What training leaves behind: the guard's verdict."""
    run.start_training(model, {"epochs": epochs, "lr": 0.01})
    run.guard.epochs_done, run.guard.diverged = epochs_done, diverged


def test_a_diverged_run_saves_nothing_and_ends_with_1(tmp_path, capsys):
    with supervisor(tmp_path) as run:
        run.prepare_folders(model := small_model())
        train(run, model, 1, diverged=True)
        with pytest.raises(RunEnded) as ended:
            run.save(model)
    assert ended.value.code == 1
    assert "training diverged and nothing was saved" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # the folder it made, empty, is gone too


def test_a_run_stopped_in_its_first_epoch_saves_nothing(tmp_path, capsys):
    with supervisor(tmp_path) as run:
        run.prepare_folders(model := small_model())
        train(run, model, 0)
        run.guard.signum = signal.SIGTERM
        with pytest.raises(RunEnded) as ended:
            run.save(model)
    assert ended.value.code == 143
    assert "SIGTERM before the first epoch ended" in capsys.readouterr().err


def test_a_finished_run_is_saved_and_its_backup_removed(tmp_path, capsys):
    with supervisor(tmp_path, "--epochs", "2") as run:
        run.prepare_folders(model := small_model())
        train(run, model, 2, epochs=2)
        run.backup_path.write_bytes(b"the last epoch's backup")
        run.save(model)
        assert run.end() == 0
    out = capsys.readouterr().out
    assert "trained 2 epochs in" in out and "model saved to" in out
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["fashion_mnist.keras"]


def test_files_that_cannot_be_written_are_named_and_the_rest_written(tmp_path, capsys):
    def cannot():
        raise OSError(28, "No space left on device")

    with supervisor(tmp_path) as run:
        run.prepare_folders()
        written = []
        run.write([("training plot", tmp_path / "plot.png", cannot),
                   ("montage", tmp_path / "montage.png", lambda: written.append(1))])
        assert written == [1]
        assert run.end() == 1
    err = capsys.readouterr().err
    assert "could not write" in err and "(No space left on device)" in err
    assert err.strip().splitlines()[-1] == "error: could not write plot.png"


def test_a_second_signal_while_writing_names_what_is_not_written(tmp_path):
    with interrupts.installed(), supervisor(tmp_path) as run:
        run.prepare_folders()
        send(signal.SIGINT)
        with pytest.raises(interrupts.Interrupted) as stop:
            run.write([("plot", tmp_path / "plot.png", lambda: send(signal.SIGINT)),
                       ("montage", tmp_path / "montage.png", lambda: None)])
    assert stop.value.note == ("interrupted twice: stopped at once; not written: plot.png, "
                               "montage.png (any there are from an earlier run)")


def test_a_second_signal_between_writes_says_nothing_more_was_written(tmp_path):
    with interrupts.installed(), supervisor(tmp_path, "--load", __file__) as run:
        run.prepare_folders()
        send(signal.SIGINT)
        with pytest.raises(interrupts.Interrupted) as stop:
            send(signal.SIGINT)  # checking an export, say: no file is being written
    assert stop.value.note == "interrupted twice: stopped at once, nothing more was written"


def test_a_signal_after_training_gives_its_exit_code(tmp_path):
    with interrupts.installed(), supervisor(tmp_path, "--load", __file__) as run:
        run.prepare_folders()
        send(signal.SIGHUP)
        assert run.end() == 129


def test_a_stop_that_c_code_turned_into_an_error_of_its_own_is_still_a_stop(capsys):
    # a second Ctrl-C inside TensorFlow's tracing came out as "SystemError: bad argument to
    # internal function" (Python 3.10, TensorFlow 2.16.1, in a CI run of the notebook's test)
    def main(argv):
        with interrupts.deferred(quit_note="interrupted twice: stopped at once"):
            send(signal.SIGINT)
            try:
                send(signal.SIGINT)
            except interrupts.Interrupted:
                raise SystemError("bad argument to internal function") from None
        return 0

    assert supervise(main) == 130
    err = capsys.readouterr().err
    assert "interrupted twice: stopped at once" in err and "SystemError" not in err

    def bug(argv):
        raise SystemError("a bug")

    with pytest.raises(SystemError):  # an error with no stop signal behind it is not one
        supervise(bug)


def test_supervise_turns_errors_and_stops_into_one_line(tmp_path, capsys):
    def refused(argv):
        raise UserError("use a smaller number")

    def stopped(argv, trains=False):
        with Supervisor(tmp_path / "out", trains=trains):  # before anything is written
            send(signal.SIGTERM)

    assert supervise(refused) == 1
    assert capsys.readouterr().err == "error: use a smaller number\n"
    assert supervise(partial(stopped, trains=True)) == 143
    assert capsys.readouterr().err == ("\n[INFO] SIGTERM: stopped before training, nothing was "
                                       "written\n")
    assert supervise(stopped) == 143  # a run that loads its model, or classifies: no training
    assert capsys.readouterr().err == "\n[INFO] SIGTERM: stopped, nothing was written\n"
    assert signal.getsignal(signal.SIGTERM) is not interrupts._raise  # handlers put back


def test_a_backup_that_cannot_be_removed_is_one_sentence_and_exit_1(tmp_path, capsys,
                                                                  monkeypatch):
    from pyimagesearch.safety import backup

    def may_not(path):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(backup, "remove", may_not)
    with supervisor(tmp_path, "--epochs", "2") as run:
        run.prepare_folders(model := small_model())
        train(run, model, 2, epochs=2)
        run.backup_path.write_bytes(b"the last epoch's backup")
        run.save(model)
        assert run.end() == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: could not remove the backup {run.backup_path} (Operation not permitted); "
        f"remove it yourself")
    assert (tmp_path / "out" / "fashion_mnist.keras").is_file()  # saved all the same


def test_a_backup_with_every_epoch_done_has_nothing_left_to_train(tmp_path, capsys):
    from pyimagesearch.safety import backup

    with supervisor(tmp_path, "--epochs", "2") as run:
        run.prepare_folders(model := small_model())
        model.optimizer.build(model.trainable_variables)  # as after an epoch of training
        backup.save(run.backup_path, model, backup.State(2, {"loss": [1.0, 0.5]}, 5, None,
                                                         {"epochs": 2}))
        assert run.start_training(model, {"epochs": 2}).epoch == 2
        run.save(model)
        assert run.end() == 0
    out = capsys.readouterr().out
    assert "continuing an interrupted run from its backup" in out
    assert "the backup holds all 2 epochs: nothing was left to train" in out
    assert "trained 0 epochs" not in out
    assert not run.backup_path.exists()  # finished: removed


def test_a_live_runs_folder_is_refused_at_once(tmp_path):
    from pyimagesearch.safety.lock import RunLock

    (tmp_path / "out").mkdir()
    lock = RunLock(tmp_path / "out" / "fashion_mnist.lock").acquire()
    try:
        with pytest.raises(UserError, match=r"another run \(process \d+ on .*\) is writing its "
                                            r"files where this one would .*another --output"):
            supervisor(tmp_path)
    finally:
        lock.release()
    assert list((tmp_path / "out").iterdir()) == []
    with supervisor(tmp_path) as run:  # free again
        run.prepare_folders()
        assert (tmp_path / "out" / "fashion_mnist.lock").is_file()
    assert list((tmp_path / "out").iterdir()) == []  # removed at the end


def test_a_lock_file_that_cannot_be_made_is_one_sentence(tmp_path):
    (tmp_path / "out" / "fashion_mnist.lock").mkdir(parents=True)
    with supervisor(tmp_path) as run:
        with pytest.raises(UserError, match="cannot make the lock file .*fashion_mnist.lock "
                                            r"\(Is a directory\); move what is there away"):
            run.prepare_folders()


def test_a_finished_trainings_backup_stays_until_every_result_is_written(tmp_path, capsys):
    def cannot():
        raise OSError(28, "No space left on device")

    with supervisor(tmp_path, "--epochs", "2") as run:
        run.prepare_folders(model := small_model())
        train(run, model, 2, epochs=2)
        run.backup_path.write_bytes(b"the last epoch's backup")
        run.save(model)
        assert run.backup_path.exists()  # a kill from here on loses no training
        run.write([("montage", tmp_path / "out" / "montage.png", cannot)])
        assert run.end() == 1
    assert run.backup_path.exists()
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "error: could not write montage.png; the same command writes them from the finished "
        "training's backup, without training")


def test_room_is_asked_only_where_the_model_goes_and_only_for_what_is_new(tmp_path,
                                                                          monkeypatch):
    from pyimagesearch.safety import folders
    from pyimagesearch.safety.modelfile import file_size

    model = small_model()
    need = 3 * file_size(model)
    usage = shutil.disk_usage(tmp_path)
    free = need // 2  # too little for a model, its backup and a copy, from nothing
    monkeypatch.setattr(folders.shutil, "disk_usage", lambda path: usage._replace(free=free))
    out, models = tmp_path / "out", tmp_path / "models"
    with Supervisor(out, [out / "plot.png"], models / "m.keras") as run, \
            pytest.raises(UserError, match=r"MB are free in .*, and the model folder, "
                                           r"for the model and its backup, needs"):
        run.prepare_folders(model)  # the output folder is not asked for the model's room
    models.mkdir()  # a finished run's model and backup, which this run replaces
    (models / "m.keras").write_bytes(bytes(need // 3))
    (models / "m-backup.npz").write_bytes(bytes(need // 3))
    with Supervisor(out, [out / "plot.png"], models / "m.keras") as run:
        run.prepare_folders(model)
