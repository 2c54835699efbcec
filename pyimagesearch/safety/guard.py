"""A callback that ends training cleanly, so that what was learned is kept: after a stop
signal (Ctrl-C, SIGTERM or SIGHUP), or when the loss is no longer a finite number."""

import keras


class TrainingGuard(keras.callbacks.TerminateOnNaN):
    """Ends ``fit`` after the current batch when a stop signal has come or the loss is no
    longer finite (Keras's ``TerminateOnNaN`` checks it), so that what was learned can
    still be evaluated and saved.

    ``signals`` says whether a stop signal has come: its ``signum``, set by the handler
    of :func:`pyimagesearch.safety.interrupts.deferred`, which should be active around ``fit``.
    After ``fit``, ``epochs_done`` says how many of the ``epochs`` have run to the end
    (``first_epoch`` of them before this run, when it continues an earlier one), and
    ``finished`` whether all have: a stop signal during the last epoch's validation leaves
    the run finished. Otherwise ``signum`` (the signal) or ``diverged`` says why it stopped.
    """

    def __init__(self, signals, epochs):
        super().__init__()
        self.signals, self.epochs = signals, epochs
        self.signum = None
        self.diverged = False
        self.first_epoch = self.epochs_done = 0
        self._cut_short = False
        self._batches = 0

    def continue_from(self, epoch):
        """Count the ``epoch`` epochs an earlier run finished as done."""
        self.first_epoch = self.epochs_done = epoch

    @property
    def finished(self):
        return self.epochs_done == self.epochs and not self.diverged

    @property
    def interrupted(self):
        return self.signum is not None and not self.finished

    @property
    def stopped(self):
        return self.interrupted or self.diverged

    def _signalled(self):
        if self.signum is None and self.signals.signum is not None:
            self.signum = self.signals.signum
        return self.signum is not None

    def on_epoch_begin(self, epoch, logs=None):
        self._cut_short = False
        self._batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self._batches = batch + 1
        super().on_batch_end(batch, logs)  # a NaN or infinite loss: stop_training
        self.diverged = self.diverged or self.model.stop_training and not self._signalled()
        if self._signalled() or self.diverged:
            self.model.stop_training = True
            self._cut_short = True

    def on_epoch_end(self, epoch, logs=None):
        if not self._cut_short:
            self.epochs_done = epoch + 1
        elif self.params and self.params.get("steps"):  # Keras's line shows the whole count
            print(f"[INFO] epoch {epoch + 1} was cut short after {self._batches} of "
                  f"{self.params['steps']} batches: the figures above are for those batches, "
                  f"and the epoch does not count", flush=True)
        if self._signalled():  # during validation: this epoch is whole, the next not begun
            self.model.stop_training = True
