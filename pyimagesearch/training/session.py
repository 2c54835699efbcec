"""What the chapter's ``model.fit`` needs beyond its arguments, in one place: batches that
are reshuffled (and augmented) anew every epoch, the callbacks that keep a run safe and
average its last weights, the epoch an interrupted run continues from, and, once ``fit``
is done, the averaged weights put in and the memory training freed handed back."""

from functools import partial

from pyimagesearch import pipeline
from pyimagesearch.errors import plural
from pyimagesearch.safety.streams import progress_bars
from pyimagesearch.training.memory import release_freed_memory
from pyimagesearch.training.swa import WeightAverage, recompute_batch_norm


class TrainingSession:
    """Training ``model`` on ``trainX`` and ``trainY`` as ``args`` asks, for ``run`` (a
    :class:`~pyimagesearch.safety.supervisor.Supervisor`) on the devices of ``place``:
    ``batches`` (None when a finished run's backup leaves nothing to train),
    ``initial_epoch``, ``callbacks`` and ``verbose`` go to ``fit``; :meth:`finish` follows
    it."""

    def __init__(self, model, args, trainX, trainY, run, place):
        print(f"[INFO] training model on {len(trainX):,} images for "
              f"{plural(args.epochs, 'epoch')}...")
        self.model, self.args, self.trainX, self.trainY = model, args, trainX, trainY
        state = run.start_training(model, {**args.settings, "training images": len(trainX)},
                                   restart=args.restart, keep_backup=place.workers == 1)
        self.guard, self.initial_epoch, self._seed = run.guard, state.epoch, state.data_seed
        self.averager = WeightAverage(first_epoch=args.epochs - args.swa, state=state.swa)
        self.backup = run.backup(state, self.averager if args.swa else None)
        self.callbacks = [run.guard, self.averager, self.backup]
        self.verbose = 1 if progress_bars() else 2  # a log file: a line an epoch
        self.batches = None
        if state.epoch < args.epochs:
            share = len(trainX) // place.workers  # this process's share, as many as any other's
            self.batches = self._batches(trainX[place.worker::place.workers][:share],
                                         trainY[place.worker::place.workers][:share],
                                         args.batch_size * place.batch_scale,
                                         range(state.epoch, args.epochs))

    def _batches(self, images, labels, size, epochs):
        """``images`` and ``labels`` in batches of ``size``, each of ``epochs`` reshuffled and
        augmented anew."""
        args = self.args
        augment = (partial(pipeline.augment_batch, max_shift=args.max_shift,
                           erase_rate=args.erase_rate) if args.augment else None)
        return pipeline.make_dataset(images, labels, size, shuffle=True, seed=self._seed,
                                     epochs=epochs, augment=augment)

    def finish(self):
        """After ``fit``: with --swa and every epoch run, the model takes the mean of the last
        epochs' weights (batch norm's statistics recomputed for them). Returns the history of
        the epochs that ran to the end."""
        args = self.args
        if args.swa and self.guard.finished:
            self.averager.apply()
            recompute_batch_norm(self.model, self._batches(self.trainX, self.trainY,
                                                           args.batch_size, [args.epochs]))
            print(f"[INFO] the model holds the mean of the weights after each of the last "
                  f"{plural(args.swa, 'epoch')}, with batch norm's statistics recomputed for it")
        release_freed_memory()  # what training freed, so that evaluating does not add to it
        return self.backup.history
