"""A backup of a training run, written after every epoch, from which a killed run
continues: the same command, run again, picks up after the last finished epoch.

Keras's ``BackupAndRestore`` callback is the model for this, but it does not fit here:
it writes the weights and its epoch counter as two files, in place, so a kill between
or during the two writes leaves a backup that is torn or does not match its counter;
and it keeps neither the training history nor the state of weight averaging. This
backup is one file (NumPy's ``.npz``) written beside its final name and renamed over it,
so a kill at any instant leaves either the previous backup or the new one, whole. It
holds every variable of the model (weights, batch norm's statistics, and the state of
the dropout layers' random generators; on PyTorch, its global random state, from which
those layers draw), every variable of the optimizer (momentum, the
update count the learning-rate schedule follows), the history, the seed of the input
pipeline, and weight averaging's running sums.
"""

import json
import os
import stat

import keras
import numpy as np

from pyimagesearch.errors import UserError, reason
from pyimagesearch.safety.atomic import failures_cleaned_up_quietly, replaced_atomically

class State:
    """What a backup holds: ``epoch`` (epochs finished), ``history`` (as ``History.history``),
    ``data_seed``, ``swa`` (weight averaging's sums and count, or None), the run's
    ``settings``, and, once loaded, the variables' values as ``arrays``."""

    def __init__(self, epoch, history, data_seed, swa, settings, arrays=None):
        self.epoch, self.history, self.data_seed = epoch, history, data_seed
        self.swa, self.settings, self.arrays = swa, settings, arrays
        self.random_state = []  # the backend's global one, where a run draws on it


class Backup(keras.callbacks.Callback):
    """Writes the backup at ``path`` (None: none) after every epoch that ran to its end,
    as ``guard`` (a :class:`~pyimagesearch.safety.guard.TrainingGuard` listed before it) says.

    ``state`` is what the run started from (a fresh run: epoch 0, an empty history).
    ``averager`` (a :class:`~pyimagesearch.training.swa.WeightAverage`, or None) is saved with it.
    :attr:`history` is the whole run's, earlier runs' epochs included. When the backup
    cannot be written (a full disk), training goes on, and ``on_failure`` is called with
    the error, the first time only.
    """

    def __init__(self, path, state, guard, averager=None, on_failure=None):
        super().__init__()
        self.path, self.state, self.guard, self.averager = path, state, guard, averager
        self.on_failure = on_failure
        self.failed = False

    @property
    def history(self):
        """The epochs that ran to their end, as ``History.history``."""
        return self.state.history

    def on_train_batch_begin(self, batch, logs=None):
        # the global random state as the killed run left it, put back only now: starting
        # to train draws on it (PyTorch's data loader takes a seed from it), which a run
        # never stopped did not do here
        if self.state.random_state:
            _set_global_random_state(self.state.random_state)
            self.state.random_state = []

    def on_epoch_end(self, epoch, logs=None):
        if self.guard.epochs_done != epoch + 1:  # cut short: its weights are mid-epoch
            return
        for name, value in (logs or {}).items():
            self.history.setdefault(name, []).append(float(value))
        self.state.epoch = epoch + 1
        if self.path is None:  # history only: this run keeps no backup
            return
        if self.averager is not None:
            self.state.swa = self.averager.get_state()
        with failures_cleaned_up_quietly():
            try:
                save(self.path, self.model, self.state)
            except OSError as error:
                if not self.failed and self.on_failure is not None:
                    self.on_failure(reason(error))
                self.failed = True  # not the error: it would keep NumPy's zip file open


def save(path, model, state):
    """Write ``model``'s and its optimizer's variables and ``state`` to ``path`` atomically."""
    arrays = {**_numbered("model", model.variables),
              **_numbered("optimizer", model.optimizer.variables),
              **_numbered("rng", _global_random_state())}
    swa_count = 0
    if state.swa is not None:
        sums, swa_count = state.swa
        arrays.update(_numbered("swa", sums or []))
    meta = {"epoch": state.epoch, "history": state.history, "data_seed": state.data_seed,
            "settings": state.settings, "swa_count": swa_count}
    arrays["meta"] = np.array(json.dumps(meta))
    with replaced_atomically(path) as temporary, open(temporary, "wb") as file:
        np.savez(file, **arrays)
        file.flush()
        _sync(file)


def _numbered(prefix, values):
    """``values`` as NumPy arrays named prefix_0, prefix_1, ... for the archive."""
    return {f"{prefix}_{i}": np.asarray(value) for i, value in enumerate(values)}


def _unnumbered(arrays, prefix):
    """What :func:`_numbered` named, back in order."""
    return [arrays[f"{prefix}_{i}"] for i in range(sum(n.startswith(f"{prefix}_") for n in arrays))]


def _sync(file):
    """Make the bytes durable before the rename makes them the backup (a power cut)."""
    try:
        os.fsync(file.fileno())
    except OSError:  # a file system that cannot sync; the rename still keeps it whole
        pass


def backup_path(model_path):
    """Where the backup of the run that saves its model at ``model_path`` is kept: beside it."""
    return model_path.with_name(f"{model_path.stem}-backup.npz")


def start(model, path, settings, seed=None):
    """The :class:`State` to train from: the backup's at ``path``, its variables put into
    ``model``, when it is the backup of a run with the same ``settings``; else (or with
    ``path`` None) the first epoch's, whose input pipeline takes ``seed`` (or a random
    one). Raises ``UserError`` for the backup of a run with other settings."""
    state = None if path is None else load(path, settings)
    if state is None:
        seed = seed if seed is not None else int(np.random.default_rng().integers(2**32))
        return State(0, {}, seed, None, settings)
    restore(model, state)
    return state


# what the metadata of a backup holds, and of what type
META = {"epoch": int, "history": dict, "data_seed": int, "settings": dict, "swa_count": int}


def load(path, settings):
    """The :class:`State` in the backup at ``path``, or None if there is none. Raises
    ``UserError`` if it is the backup of a run with other ``settings``, or unreadable in
    any way (empty, cut short, damaged, a folder, a named pipe or a link, another program's
    file)."""
    if not os.path.lexists(path):
        return None
    regular = stat.S_ISREG(os.lstat(path).st_mode)  # a named pipe would be read forever
    arrays, meta = _read(path) if regular else (None, None)
    if arrays is None:
        raise UserError(f"{path} is not a backup this program can read (it is damaged, or not "
                        f"one of this program's); delete it, or add --restart to train from "
                        f"the first epoch")
    changed = [f"{name} {meta['settings'].get(name)!r} then, {value!r} now"
               for name, value in settings.items() if meta["settings"].get(name) != value]
    if changed:
        raise UserError(f"{path} is the backup of an interrupted run with other settings "
                        f"({'; '.join(changed)}); run that command again to continue it, or "
                        f"add --restart to train from the first epoch")
    swa = None
    if meta["swa_count"]:
        swa = (_unnumbered(arrays, "swa"), meta["swa_count"])
    return State(meta["epoch"], meta["history"], meta["data_seed"], swa, meta["settings"], arrays)


def _read(path):
    """The arrays and the metadata of the backup at ``path``, checked to be whole; (None,
    None) for anything else. NumPy's own errors are not passed on: they would advise
    loading with ``allow_pickle``, which a backup never needs."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
        meta = json.loads(str(arrays.pop("meta")))
    except Exception:  # noqa: BLE001 - whatever the file is, the answer is the same
        return None, None
    if not (isinstance(meta, dict)
            and all(isinstance(meta.get(key), kind) for key, kind in META.items())):
        return None, None
    for prefix in ("model", "optimizer", "swa", "rng"):  # numbered 0, 1, ... none missing
        count = sum(name.startswith(f"{prefix}_") for name in arrays)
        if any(f"{prefix}_{i}" not in arrays for i in range(count)):
            return None, None
    if not any(name.startswith("model_") for name in arrays):
        return None, None
    return arrays, meta


def restore(model, state):
    """Put the variables of ``state`` (from :func:`load`) into ``model`` and its optimizer."""
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    for prefix, variables in (("model", model.variables),
                              ("optimizer", model.optimizer.variables)):
        saved = _unnumbered(state.arrays, prefix)
        if len(saved) != len(variables) or any(
                a.shape != tuple(v.shape) for a, v in zip(saved, variables)):
            raise UserError("the backup does not fit this model; add --restart to train from "
                            "the first epoch")
        for variable, value in zip(variables, saved):
            variable.assign(value)
    state.random_state = _unnumbered(state.arrays, "rng")  # put back as training begins
    state.arrays = None  # the memory they held


def _global_random_state():
    """The backend's global random state, where a run's randomness draws on it: PyTorch's
    (Keras's dropout takes its masks from it when its layers were given no seed, as
    MiniVGGNet's are; TensorFlow and JAX draw them from the layers' own seed variables)."""
    if keras.backend.backend() != "torch":
        return []
    import torch

    states = [torch.get_rng_state()]
    if torch.cuda.is_available():
        states += torch.cuda.get_rng_state_all()
    return [state.numpy() for state in states]


def _set_global_random_state(arrays):
    """Put back what :func:`_global_random_state` gave, if anything."""
    if not arrays or keras.backend.backend() != "torch":
        return
    import torch

    torch.set_rng_state(torch.from_numpy(arrays[0]))
    if torch.cuda.is_available() and len(arrays) - 1 == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([torch.from_numpy(state) for state in arrays[1:]])


def remove(path):
    """Delete the backup at ``path``, if there is one. Raises ``OSError`` if it cannot be
    (a folder in its place, a file this user may not delete)."""
    path.unlink(missing_ok=True)
