"""The training guard: a stop signal ends training after the current batch, a NaN loss
ends it too, and the epochs that ran to their end are counted."""

import signal
from types import SimpleNamespace

import keras
import numpy as np

from pyimagesearch.safety.guard import TrainingGuard


class SignalAt(keras.callbacks.Callback):
    """Plays the signal handler: sets ``signals.signum`` at one batch of one phase."""

    def __init__(self, signals, epoch, batch, phase="train"):
        super().__init__()
        self.signals, self.at, self.phase, self.epoch = signals, (epoch, batch), phase, None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.phase == "train" and (self.epoch, batch) == self.at:
            self.signals.signum = signal.SIGTERM

    def on_test_batch_end(self, batch, logs=None):
        if self.phase == "validation" and (self.epoch, batch) == self.at:
            self.signals.signum = signal.SIGTERM


def fit(guard, lr=0.01, extra=(), epochs=5, initial_epoch=0):
    """Fit a small model for ``epochs`` epochs of 4 batches, validating on 2; returns how
    many batches were trained."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.SGD(lr), loss="mse")
    x, y = np.ones((16, 3), np.float32), np.ones((16, 2), np.float32)
    model.fit(x, y, batch_size=4, epochs=epochs, initial_epoch=initial_epoch,
              validation_data=(x[:8], y[:8]), callbacks=[*extra, guard], verbose=0)
    return int(model.optimizer.iterations)


def test_a_stop_signal_ends_training_after_the_batch():
    signals = SimpleNamespace(signum=None)
    guard = TrainingGuard(signals, epochs=5)
    batches = fit(guard, extra=[SignalAt(signals, epoch=2, batch=1)])
    assert batches == 2 * 4 + 2  # two whole epochs, then two batches of the third
    assert guard.epochs_done == 2 and guard.signum == signal.SIGTERM
    assert guard.interrupted and guard.stopped and not guard.diverged


def test_a_signal_during_validation_keeps_that_epoch_whole():
    signals = SimpleNamespace(signum=None)
    guard = TrainingGuard(signals, epochs=5)
    batches = fit(guard, extra=[SignalAt(signals, epoch=1, batch=0, phase="validation")])
    assert batches == 2 * 4 and guard.epochs_done == 2  # the next epoch never began
    assert guard.interrupted and not guard.finished


def test_a_signal_during_the_last_validation_leaves_the_run_finished():
    signals = SimpleNamespace(signum=None)
    guard = TrainingGuard(signals, epochs=5)
    fit(guard, extra=[SignalAt(signals, epoch=4, batch=1, phase="validation")])
    assert guard.epochs_done == 5 and guard.signum == signal.SIGTERM
    assert guard.finished and not guard.interrupted and not guard.stopped


def test_a_loss_that_is_not_finite_ends_training():
    guard = TrainingGuard(SimpleNamespace(signum=None), epochs=5)
    fit(guard, lr=1e30)
    assert guard.diverged and guard.stopped and not guard.interrupted
    assert guard.epochs_done == 0


def test_a_run_that_continues_counts_the_earlier_epochs():
    guard = TrainingGuard(SimpleNamespace(signum=None), epochs=5)
    guard.continue_from(3)
    assert (guard.first_epoch, guard.epochs_done) == (3, 3)
    fit(guard, initial_epoch=3)
    assert guard.epochs_done == 5 and not guard.stopped


def test_an_epoch_cut_short_is_said_to_be_so(capsys):
    signals = SimpleNamespace(signum=None)
    guard = TrainingGuard(signals, epochs=5)
    fit(guard, extra=[SignalAt(signals, epoch=0, batch=1)])
    assert guard.epochs_done == 0
    assert ("[INFO] epoch 1 was cut short after 2 of 4 batches: the figures above are for "
            "those batches, and the epoch does not count") in capsys.readouterr().out
