"""What can go wrong in a run of fashion_mnist.py, in the hands of one object: the stop
signals, the training guard, the backup, the problems met, the last words and the exit
code. The driver tells the chapter's story; the :class:`Supervisor` keeps the run safe.
(What needs Keras, training and saving, imports it where it is used: classifying pictures
with a .tflite or .onnx model never imports TensorFlow.)

A stop signal (Ctrl-C, SIGTERM, SIGHUP) means something different in each phase:

- before the folders are prepared (the flags, the data, TensorFlow, the model are read
  or built), it ends the run at once: nothing has been written;
- while training, it ends training after the current batch; the model is then saved
  and its results written;
- while the model and its results are written, it lets them be finished.

In the last two, a second signal ends the run at once, saying what was not written.
"""

import contextlib
import errno
import os
import sys
import time
from pathlib import Path

from pyimagesearch.errors import UserError, plural, reason, shown
from pyimagesearch.safety import interrupts
from pyimagesearch.safety.atomic import remove_stale_temporaries
from pyimagesearch.safety.folders import check_folder, create_folder, missing_folders
from pyimagesearch.safety.lock import Locked, RunLock, holder
from pyimagesearch.safety.streams import surviving_streams
from pyimagesearch.safety.tempfolder import private_temporary_folder

TRAINING = "{signal}: stopping after this batch ({again} to quit at once)"
SAVING = "{signal}: writing the model and its results first ({again} to quit at once)"
RESULTS = "{signal}: writing the results first ({again} to quit at once)"
EXPORTING = "{signal}: stopping after this export ({again} to quit at once)"
SHOWING = "{signal}: closing the window; everything above is written"
# a finished training's backup is kept until its results are all written
WRITE_AGAIN = "the same command writes them from the finished training's backup, without training"


class RunEnded(Exception):
    """The run ended early and has said why; ``code`` is its exit code."""

    def __init__(self, code):
        super().__init__(code)
        self.code = code


class Supervisor:
    """The fault state of one run, whose files are ``files`` (its outputs, anywhere) in the
    folder ``output``, and, when it trains a model or exports one, the model file ``model``
    and what lies beside it (its backup, its exports). Use it as a context manager around
    the run: leaving it restores the signal handlers.

    Made before anything is read, it checks the folders (:class:`UserError` if the run
    cannot write there, or another live run holds them). Then: :meth:`prepare_folders`
    (which locks them for this run), :meth:`start_training` (``guard`` says how training
    ends), :meth:`save` (or, for a model trained before, :meth:`load`), :meth:`write`, and
    :meth:`end`, which gives the exit code.
    """

    def __init__(self, output, files=(), model=None, trains=False):
        self.output, self.files, self.model_path = Path(output), list(files), model
        self.trains = trains  # whether the run trains the model (else it loads one)
        self.signals = None  # the stop signals, deferred once the folders are prepared
        self._phase = None  # what a first stop signal does now (TRAINING, SAVING, RESULTS)
        self.guard = None  # how training ended, once it has begun
        self.problems = []  # sentences for the run's last words
        self._missing = False  # whether the model or a result could not be written
        self._exits = contextlib.ExitStack()
        self._started = self._settings = None
        self._keeps_backup = True
        for folder, what in self._folders():
            check_folder(folder, what)
        for path, flag in self._locks():  # a live run's folder: refused at once
            other = holder(path)
            if other:
                self._refuse(path, flag, other)

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        self._exits.close()
        if isinstance(error, interrupts.Interrupted) and self._phase is None and self.trains:
            error.note = error.note or f"{error}: stopped before training, nothing was written"

    @property
    def backup_path(self):
        """Where the backup of the model this run trains is kept (None: it trains none)."""
        if self.model_path is None:
            return None
        from pyimagesearch.safety.backup import backup_path  # Keras: only a trained model's

        return backup_path(self.model_path)

    def _folders(self):
        folders = {self.output.absolute(): "output folder"}
        if self.model_path is not None:  # the model, or its exports, go there
            folders.setdefault(self.model_path.parent.absolute(), "model folder")
        return folders.items()

    def _locks(self):
        """The lock files of this run (removed at its end), each with the flag that moves it:
        one in the output folder, one beside the model."""
        locks = {(self.output / "fashion_mnist.lock").absolute(): "--output"}
        if self.model_path is not None:
            locks.setdefault(self.model_path.with_suffix(".lock").absolute(), "--model")
        return locks.items()

    def _refuse(self, path, flag, holder):
        what = "its model" if flag == "--model" else "its files"
        raise UserError(f"another run ({holder}) is writing {what} where this one would "
                        f"({shown(path.parent)}); wait for it to end, or choose another {flag}")

    def prepare_folders(self, model=None):
        """Create the folders once all are checked, with room for ``model`` and its backup
        when it is to be trained (in the model's folder: the model, its backup and one
        temporary copy, less what an earlier run left there to be replaced); remove what
        killed runs left half-written in them. From here on a stop signal lets the run
        finish what it is doing."""
        needed = 0
        if model is not None:
            from pyimagesearch.safety.modelfile import file_size

            there = [path for path in (self.model_path, self.backup_path) if path.is_file()]
            needed = max(0, 3 * file_size(model) - sum(path.stat().st_size for path in there))
        model_folder = self.model_path.parent.absolute() if self.model_path else None
        for folder, what in self._folders():
            room = needed if folder == model_folder else 0
            check_folder(folder, what + (", for the model and its backup," if room else ""),
                         room)
        for folder, what in self._folders():
            new = missing_folders(folder)
            create_folder(folder, what)
            self._exits.callback(_remove_if_empty, new)  # after the locks: nothing written
        for path, flag in self._locks():
            try:
                self._exits.callback(RunLock(path).acquire().release)
            except Locked as locked:
                self._refuse(path, flag, locked.holder)
            except OSError as error:  # a folder in its place, a file this user may not open
                remedy = ("free some space" if error.errno == errno.ENOSPC
                          else "move what is there away")
                raise UserError(f"cannot make the lock file {path} ({reason(error)}); {remedy}, "
                                f"or choose another {flag}") from None
        trained = [self.model_path, self.backup_path] if model is not None else []
        remove_stale_temporaries([*trained, *self.files])
        self._phase = RESULTS if model is None else TRAINING
        self.signals = self._exits.enter_context(interrupts.deferred(
            self._acknowledge, "interrupted twice: stopped at once, nothing more was written"))
        if not interrupts.can_catch():
            print("[WARNING] this run was started outside the main thread, which alone receives "
                  "stop signals: Ctrl-C or SIGTERM cannot stop it cleanly", file=sys.stderr)

    def exporting(self):
        """From now on a first stop signal ends the exports after the current one."""
        self._phase = EXPORTING

    def showing(self):
        """From now on (until the next :meth:`write`) a window is shown, after what it shows
        was written: a first stop signal closes it."""
        self._phase = SHOWING

    @property
    def stop_asked(self):
        """Whether a stop signal has come since the folders were prepared."""
        return self.signals is not None and self.signals.signum is not None

    def problem(self, sentence):
        """Note a problem for the run's last words: the run goes on, and ends with 1."""
        self.problems.append(sentence)

    def _acknowledge(self, signum):
        """Say what a first stop signal does in this phase (called by its handler)."""
        print("\n[INFO] " + self._phase.format(signal=interrupts.describe(signum),
                                               again=interrupts.again(signum)),
              file=sys.stderr, flush=True)

    # training

    def start_training(self, model, settings, restart=False, keep_backup=True):
        """Begin training ``model`` with ``settings`` (what its backup must match: the
        training flags' values, the number of training images): from the backup of an
        interrupted run with the same settings (its variables put into the model), else, or
        with ``restart``, afresh. Without ``keep_backup`` (several processes, each holding
        a part of the devices) there is no backup, to read or to write. Returns the
        :class:`backup.State` to train from; :attr:`guard` watches the training."""
        from pyimagesearch.safety import backup
        from pyimagesearch.safety.guard import TrainingGuard

        self._settings, self._keeps_backup = settings, keep_backup
        fresh = restart or not keep_backup
        state = backup.start(model, None if fresh else self.backup_path, settings,
                             settings.get("seed"))
        epochs = settings["epochs"]
        if state.epoch:
            print(f"[INFO] continuing an interrupted run from its backup "
                  f"{shown(self.backup_path)}: {plural(state.epoch, 'epoch')} of {epochs} done")
        self.guard = TrainingGuard(self.signals, epochs)
        self.guard.continue_from(state.epoch)
        self._phase = TRAINING
        self.signals.quit_note = lambda: (
            "interrupted twice: stopped at once, nothing more was saved"
            + ("; run the same command again to continue" if self.backup_path.exists() else ""))
        self._started = time.perf_counter()
        return state

    def backup(self, state, averager=None):
        """The callback that writes the backup after every epoch (none without
        ``keep_backup``)."""
        from pyimagesearch.safety import backup

        return backup.Backup(self.backup_path if self._keeps_backup else None, state,
                             self.guard, averager, on_failure=self._backup_failed)

    def _backup_failed(self, reason):
        print(f"\n[WARNING] could not write the backup {shown(self.backup_path)} ({reason}); "
              f"training goes on, but a killed run could not continue from here", flush=True)

    def load(self, path):
        """The model an earlier run saved at ``path``, checked to fit Fashion-MNIST."""
        from pyimagesearch.safety.modelfile import load_model

        print(f"[INFO] loading model {path}...")
        return load_model(path)

    def save(self, model):
        """End training: say how it went, and save ``model`` (somewhere else if it cannot be
        where asked). Raises :class:`RunEnded` if nothing worth saving was trained, or if a
        fresh run was interrupted where an earlier run's model lies (it is kept)."""
        from pyimagesearch.safety.modelfile import save_model_somewhere

        guard, epochs = self.guard, self.guard.epochs
        if guard.diverged:
            problem = self._remove_backup()
            print(f"[ERROR] the loss became NaN or infinite: training diverged and nothing was "
                  f"saved; try a smaller learning rate than --lr {self._settings['lr']:g}"
                  + (f"; {problem}" if problem else ""), file=sys.stderr)
            raise RunEnded(1)
        if guard.epochs_done == 0:
            print(f"[INFO] {interrupts.describe(guard.signum)} before the first epoch ended: "
                  f"nothing was saved or written", file=sys.stderr)
            raise RunEnded(interrupts.exit_code(guard.signum))
        if guard.interrupted and guard.first_epoch == 0 and self.model_path.exists():
            # another run's model (a finished one, say): never replaced by a less-trained one
            print(f"[INFO] interrupted by {interrupts.describe(guard.signum)} after "
                  f"{guard.epochs_done} of {epochs} epochs: {shown(self.model_path)} and its "
                  f"results, from an earlier run, are kept; this run's backup holds its epochs: "
                  f"run the same command again to continue it", file=sys.stderr)
            raise RunEnded(interrupts.exit_code(guard.signum))
        trained = guard.epochs_done - guard.first_epoch
        seconds = time.perf_counter() - self._started
        if guard.first_epoch == epochs:
            print(f"[INFO] the backup holds all {plural(epochs, 'epoch')}: nothing was left "
                  f"to train; the finished model is saved and its results written from it")
        else:
            print(f"[INFO] trained {plural(trained, 'epoch')} in {seconds:.0f} s "
                  f"({seconds / max(trained, 1):.1f} s per epoch)")

        self._phase = SAVING
        saved, problem = save_model_somewhere(model, self.model_path)
        if saved == self.model_path:
            print(f"[INFO] model saved to {shown(self.model_path)}")
        elif saved is None and self.backup_path.exists() and not guard.finished:
            problem += "; free some space and run the same command again to continue"
        if problem:
            self.problems.append(problem)
            self._missing = saved != self.model_path

    def _remove_backup(self):
        """Remove the backup; a sentence if it cannot be, else None."""
        from pyimagesearch.safety import backup

        try:
            backup.remove(self.backup_path)
        except OSError as error:
            return (f"could not remove the backup {self.backup_path} ({reason(error)}); remove "
                    f"it yourself")
        return None

    @property
    def _trained_and_kept(self):
        """Whether training has finished and its backup is kept until the results are all
        written: a run killed meanwhile writes them again from it, without training."""
        return (self.guard is not None and self.guard.finished and self._keeps_backup
                and self.backup_path.exists())

    # results

    def write(self, files, then=()):
        """Write ``files``, (what, path, function that writes it) triples, in turn, saying
        each; one that cannot be written is said and skipped. A second stop signal
        meanwhile names those not written, and the paths ``then`` to be written after them.
        Returns the paths written."""
        failed, written = [], []
        if self._phase == SHOWING:
            self._phase = RESULTS
        for number, (what, path, write) in enumerate(files):
            try:
                write()
                written.append(path)
                print(f"[INFO] {what} saved to {shown(path)}")
            except OSError as error:
                print(f"[WARNING] could not write {shown(path)} ({reason(error)})", file=sys.stderr)
                failed.append(path.name)
            except interrupts.Interrupted as stop:
                unwritten = failed + [path.name for _, path, _ in files[number:]] + [
                    path.name for path in then]
                stop.note = (f"interrupted twice: stopped at once; not written: "
                             f"{', '.join(unwritten)} (any there are from an earlier run)"
                             + (f"; {WRITE_AGAIN}" if self._trained_and_kept else ""))
                raise
        if failed:
            self.problems.append(f"could not write {', '.join(failed)}")
            self._missing = True
        return written

    def end(self):
        """The run's last words: how training ended, and what went wrong. Returns the exit
        code: 1 after a problem, the signal's code after a stop signal, else 0."""
        guard = self.guard
        interrupted = guard is not None and guard.interrupted
        if interrupted:
            print(f"[INFO] interrupted by {interrupts.describe(guard.signum)} after "
                  f"{guard.epochs_done} of {guard.epochs} epochs; the model and results "
                  f"above are from where training stopped; run the same command again to "
                  f"continue", file=sys.stderr)
        elif guard is not None and guard.finished and guard.signum:
            print(f"[INFO] {interrupts.describe(guard.signum)} came as the last epoch ended: "
                  f"every epoch had run ({guard.epochs_done} of {guard.epochs}), so the run is "
                  f"finished", file=sys.stderr)
        if self._trained_and_kept and self._missing:
            self.problems.append(WRITE_AGAIN)
        elif self._trained_and_kept:  # every result is written: the backup has done its work
            self.problems += filter(None, [self._remove_backup()])
        if self.problems:
            print(f"error: {'; '.join(self.problems)}", file=sys.stderr)
            return 1
        signum = (guard and guard.signum) or (self.signals and self.signals.signum)
        return interrupts.exit_code(signum) if signum else 0


def supervise(main, argv=None):
    """Run ``main(argv)`` as a program, from the command line or a notebook alike (a wrong
    flag's ``SystemExit`` becomes its exit code): stop signals raise, output to a reader
    that is gone is dropped instead of ending the run, temporary files go to a private
    folder; a :class:`UserError` or a stop becomes one line on stderr. Output that cannot be
    written for another reason (a full disk) is said once, and the run ends with 1 at the
    least. Returns the exit code."""
    with interrupts.installed(), surviving_streams(_output_failed) as (out, _), \
            private_temporary_folder():
        interrupts.raised()  # one before this run is not this run's
        try:
            code = main(argv)
        except SystemExit as exit:  # argparse's: --help (0), a wrong flag (2)
            code = exit.code if isinstance(exit.code, int) else int(exit.code is not None)
        except UserError as error:
            print(f"error: {error}", file=sys.stderr)
            code = 1
        except RunEnded as ended:
            code = ended.code
        except interrupts.Interrupted as stop:
            code = _stopped(stop)
        except OSError as error:  # a path that cannot even be looked at: not this user's, say
            where = (f" for {shown(error.filename)}; check the path, or choose another"
                     if error.filename else "")
            print(f"error: {reason(error)}{where}", file=sys.stderr)
            code = 1
        except Exception:  # a stop signal's, that C code turned into an error of its own
            stop = interrupts.raised()
            if stop is None:
                raise
            code = _stopped(stop)
        return code or (1 if out.failure else 0)


def _stopped(stop):
    """Say how the :class:`~pyimagesearch.safety.interrupts.Interrupted` ``stop`` ended the
    run, in one line; returns its exit code."""
    print(f"\n[INFO] {stop.note or f'{stop}: stopped, nothing was written'}", file=sys.stderr)
    return interrupts.exit_code(stop.signum)


def leave(code):
    """End the program with the exit ``code`` :func:`supervise` returned: at once after a stop
    signal (see :func:`exit_at_once`), through the normal shutdown otherwise. Run inside
    IPython (a notebook's ``%run``), it only raises ``SystemExit``: the kernel lives on."""
    if code > 128 and not interrupts.in_ipython():
        exit_at_once(code)
    sys.exit(code)


def exit_at_once(code):
    """Leave with ``code`` without the interpreter's shutdown. Ctrl-C can leave
    TensorFlow's threads mid-step, and a normal shutdown under them now and then crashes
    (SIGSEGV); call this only once every file is closed."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _remove_if_empty(folders):
    """Remove each of ``folders`` (the innermost first) that a run created and left empty."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:  # not empty: something was written there
            return


def _output_failed(reason):
    print(f"[WARNING] could not write to the standard output ({reason}); the run goes on and "
          f"its files are written, but the rest of what it prints is lost", file=sys.stderr,
          flush=True)
