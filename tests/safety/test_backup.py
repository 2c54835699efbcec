"""The backup after every epoch: written whole or not at all, refused for another run's
settings, and a run killed with SIGKILL continued to the very model of a run never killed."""

import signal

import keras
import numpy as np
import pytest

from conftest import run_main, start_training
from pyimagesearch import cli
from pyimagesearch.errors import UserError, plural
from pyimagesearch.safety import backup

SETTINGS = {"epochs": 4, "seed": 3}


def small_model(seed):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dropout(0.5),
                              keras.layers.BatchNormalization(), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss="mse")
    model.fit(np.ones((8, 4)), np.ones((8, 2)), epochs=1, verbose=0)  # momentum, seeds moved
    return model


def values(variables):
    return [np.asarray(v).copy() for v in variables]


def test_a_backup_restores_every_variable_and_the_state(tmp_path):
    path = tmp_path / "backup.npz"
    model = small_model(1)
    sums = [np.full((4, 3), 2.0)]
    backup.save(path, model, backup.State(3, {"loss": [1.0, 0.5, 0.25]}, 77, (sums, 2), SETTINGS))

    other = small_model(2)
    state = backup.load(path, SETTINGS)
    assert (state.epoch, state.history, state.data_seed) == (3, {"loss": [1.0, 0.5, 0.25]}, 77)
    np.testing.assert_array_equal(state.swa[0][0], sums[0])
    assert state.swa[1] == 2
    backup.restore(other, state)
    # weights, batch norm's statistics, dropout's random state, momentum, update count
    for a, b in zip(values(model.variables) + values(model.optimizer.variables),
                    values(other.variables) + values(other.optimizer.variables)):
        np.testing.assert_array_equal(a, b)


def test_a_failed_write_leaves_the_previous_backup_whole(tmp_path, monkeypatch):
    path = tmp_path / "backup.npz"
    model = small_model(1)
    backup.save(path, model, backup.State(1, {}, 5, None, SETTINGS))
    before = path.read_bytes()

    def die_half_way(file, **arrays):  # as a kill or a full disk would, mid-write
        file.write(b"PK half a zip")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", die_half_way)
    with pytest.raises(OSError):
        backup.save(path, model, backup.State(2, {}, 5, None, SETTINGS))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["backup.npz"]  # no temporary left


def test_another_runs_backup_is_refused_with_what_differs(tmp_path):
    path = tmp_path / "backup.npz"
    backup.save(path, small_model(1), backup.State(1, {}, 5, None, SETTINGS))
    with pytest.raises(UserError, match=r"other settings \(epochs 4 then, 9 now\).*--restart"):
        backup.load(path, {**SETTINGS, "epochs": 9})
    assert backup.load(tmp_path / "none.npz", SETTINGS) is None


def test_a_damaged_backup_is_refused(tmp_path):
    path = tmp_path / "backup.npz"
    path.write_bytes(b"not a backup")
    with pytest.raises(UserError, match="not a backup this program can read.*--restart"):
        backup.load(path, SETTINGS)
    backup.save(path, small_model(1), backup.State(1, {}, 5, None, SETTINGS))
    path.write_bytes(path.read_bytes()[:-100])  # cut short, as by a disk that failed
    with pytest.raises(UserError, match="not a backup this program can read"):
        backup.load(path, SETTINGS)


def kill_after(tmp_path, epochs_done, epochs, flags):
    """Start a seeded run on 1,000 images and SIGKILL it once its backup holds
    ``epochs_done`` epochs (as the next epoch begins: it takes about a second)."""
    process = start_training(tmp_path, epochs=epochs, flags=["--seed", "3", *flags],
                             wait_for=f"Epoch {epochs_done + 1}/{epochs}", n_train=1000)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL
    return tmp_path / "out"


def same_run(a, b):
    import keras

    assert (a / "montage.png").read_bytes() == (b / "montage.png").read_bytes()
    assert (a / "plot.png").read_bytes() == (b / "plot.png").read_bytes()  # the same history
    weights = [keras.models.load_model(folder / "fashion_mnist.keras").get_weights()
               for folder in (a, b)]
    assert all(np.array_equal(x, y) for x, y in zip(*weights))


@pytest.mark.slow  # three runs, one in a new process, killed: CI's slow set
@pytest.mark.parametrize("flags, done", [
    ([], 1),
    # killed inside weight averaging (its first epoch done): the sums, the augmentation and
    # the schedule carry on
    pytest.param(["--augment", "--swa", "2", "--schedule", "cosine"], 2, marks=pytest.mark.slow),
])
def test_a_killed_run_continues_to_the_same_model(tmp_path, capsys, flags, done):
    out = kill_after(tmp_path, done, 3, flags)
    assert (out / "fashion_mnist-backup.npz").is_file()
    assert not (out / "fashion_mnist.keras").exists()

    data = tmp_path / "data"
    again = run_main(capsys, "--dataset-dir", data, "--epochs", "3", "--seed", "3", *flags,
                     "--output", out)
    assert again.code == 0, again.stderr
    assert "continuing an interrupted run from its backup" in again.stdout
    assert f"{plural(done, 'epoch')} of 3 done" in again.stdout
    assert f"Epoch {done + 1}/3" in again.stdout and "Epoch 1/3" not in again.stdout
    assert f"trained {plural(3 - done, 'epoch')}" in again.stdout
    assert not (out / "fashion_mnist-backup.npz").exists()  # a finished run removes it

    whole = run_main(capsys, "--dataset-dir", data, "--epochs", "3", "--seed", "3", *flags,
                     "--output", tmp_path / "whole")
    assert whole.code == 0, whole.stderr
    same_run(out, tmp_path / "whole")


@pytest.mark.slow  # three runs in a row
def test_restart_and_other_settings(tmp_path, capsys):
    out = kill_after(tmp_path, 1, 3, [])
    data = tmp_path / "data"
    other = run_main(capsys, "--dataset-dir", data, "--epochs", "5", "--seed", "3",
                     "--output", out)
    assert other.code == 1 and "Traceback" not in other.stderr
    assert "other settings (epochs 3 then, 5 now)" in other.stderr
    assert "--restart" in other.stderr.splitlines()[-1]
    assert (out / "fashion_mnist-backup.npz").is_file()  # refused: nothing changed

    fresh = run_main(capsys, "--dataset-dir", data, "--epochs", "2", "--seed", "3", "--restart",
                     "--output", out)
    assert fresh.code == 0, fresh.stderr
    assert "continuing" not in fresh.stdout and "Epoch 1/2" in fresh.stdout
    assert not (out / "fashion_mnist-backup.npz").exists()
    assert "--restart" in cli.make_parser().format_help()
