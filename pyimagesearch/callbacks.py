"""A callback that ends training cleanly, so that what was learned is kept: on Ctrl-C,
or when the loss is no longer a finite number."""

import math
import signal

import keras


class TrainingGuard(keras.callbacks.Callback):
    """Ends ``fit`` after the current batch when Ctrl-C is pressed or the loss is no
    longer finite, so that what was learned can still be evaluated and saved.

    Use as a context manager around ``fit``: it owns the SIGINT handler while
    training. A second Ctrl-C raises ``KeyboardInterrupt`` at once.
    After ``fit``, ``interrupted`` or ``diverged`` says why training stopped and
    ``epochs_done`` how many epochs ran to the end.
    """

    def __init__(self):
        super().__init__()
        self.interrupted = False
        self.diverged = False
        self.epochs_done = 0
        self._cut_short = False
        self._previous_handler = None

    def __enter__(self):
        self._previous_handler = signal.signal(signal.SIGINT, self._on_sigint)
        return self

    def __exit__(self, *exc_info):
        signal.signal(signal.SIGINT, self._previous_handler)
        return False

    def _on_sigint(self, signum, frame):
        if self.interrupted:
            raise KeyboardInterrupt
        self.interrupted = True
        print("\n[INFO] Ctrl-C: stopping after this batch (press Ctrl-C again to quit at once)",
              flush=True)

    @property
    def stopped(self):
        return self.interrupted or self.diverged

    def stop(self):
        """End the epoch after the current batch, as Ctrl-C does: a stop decided elsewhere."""
        if not self.stopped:
            self.interrupted = True
        self._cut_short = True

    def on_epoch_begin(self, epoch, logs=None):
        self._cut_short = False

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.diverged = True
        if self.stopped:
            self.model.stop_training = True
            self._cut_short = True

    def on_epoch_end(self, epoch, logs=None):
        if not self._cut_short:
            self.epochs_done = epoch + 1
