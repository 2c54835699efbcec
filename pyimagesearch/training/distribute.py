"""Training on several devices or machines (--distribute): Keras's own distribution API
on JAX (``DataParallel`` over every device, across processes with ``initialize``), and
TensorFlow's strategies on TensorFlow, with a training loop of its own for several
machines, where Keras 3's ``fit`` does not run under them."""

import contextlib
import os

import keras
import numpy as np

from pyimagesearch.safety.errors import UserError
from pyimagesearch.safety.streams import progress_bars
from pyimagesearch.safety.text import plural


class Placement:
    """Where a run trains: build the model within ``scope()``; ``replicas`` devices each
    take a batch of --batch-size at every step, in ``workers`` processes of which this is
    number ``worker``; ``strategy`` is TensorFlow's across several machines (else None),
    which trains with :func:`fit_across_workers`."""

    def __init__(self, scope=contextlib.nullcontext, replicas=1, worker=0, workers=1,
                 strategy=None):
        self.scope, self.replicas, self.worker, self.workers = scope, replicas, worker, workers
        self.strategy = strategy

    def check_share(self, images):
        """Raise ``UserError`` where ``images`` training images are too few to give every
        process one."""
        if images < self.workers:
            raise UserError(f"{plural(images, 'training image')} cannot be shared among "
                            f"{self.workers} processes; give --limit {self.workers} at least")

    @property
    def batch_scale(self):
        """How many batches of --batch-size this process feeds at every step."""
        return self.replicas // self.workers


def choose(distribute):
    """Where to train: without ``distribute``, on the backend's default device (one GPU if
    there is one, else the CPU); with it, on every device of every process taking part.

    JAX: ``DataParallel`` over ``keras.distribution.list_devices()``: every device of every
    process, when the environment names several (``KERAS_DISTRIBUTION_JOB_ADDRESSES``,
    ``..._NUM_PROCESSES``, ``..._PROCESS_ID``: :func:`backend.join_processes` joined them
    as Keras started); ``fit`` runs unchanged. TensorFlow: ``MultiWorkerMirroredStrategy``
    when ``TF_CONFIG`` names a cluster of workers, else ``MirroredStrategy`` over every
    local GPU, or every logical CPU device when there is no GPU. PyTorch: Keras has no
    distribution for it."""
    if not distribute:
        return Placement()
    backend = keras.backend.backend()
    if backend == "jax":
        return _keras_data_parallel()
    if backend != "tensorflow":
        raise UserError("--distribute trains with Keras's distribution API, which runs on JAX "
                        "(or with TensorFlow's strategies): set KERAS_BACKEND=jax or tensorflow")
    import tensorflow as tf

    if os.environ.get("TF_CONFIG"):  # each worker feeds its own batches: see below
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        return Placement(strategy.scope, strategy.num_replicas_in_sync, strategy=strategy)
    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    strategy = tf.distribute.MirroredStrategy([device.name for device in devices])
    return Placement(strategy.scope, strategy.num_replicas_in_sync)


def _keras_data_parallel():
    import jax

    devices = keras.distribution.list_devices()
    distribution = keras.distribution.DataParallel(devices=devices)
    distribution.auto_shard_dataset = False  # each process feeds its own share of the images
    keras.distribution.set_distribution(distribution)
    return Placement(distribution.scope, len(devices), jax.process_index(), jax.process_count())


def on_this_process(model, place):
    """``model`` as this process alone holds it, to evaluate and predict with: itself, or,
    trained by several JAX processes, a copy on this process's devices (an output spread
    over the devices of several processes cannot be read in one)."""
    if place.workers == 1 or place.strategy is not None:
        return model
    keras.distribution.set_distribution(None)
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def fit_across_workers(model, make_shard, test_data, epochs, guard, strategy):
    """``model.fit`` for TensorFlow's ``MultiWorkerMirroredStrategy``, under which Keras 3's
    own ``fit`` does not run (keras-team/keras#20585). Every worker calls it with the same
    arguments.

    ``make_shard(index, count)`` returns worker ``index``'s batches (of ``count`` workers),
    the same number on each: a step trains on one batch from every worker, with their
    gradients summed. After each epoch, batch norm's running statistics, which each worker
    updates from its own batches, are averaged over the workers, and every worker evaluates
    ``test_data`` on its own, as ``fit`` does with ``validation_data``. ``guard`` (a
    :class:`TrainingGuard`) ends training as it ends ``fit``; when it stops one worker (Ctrl-C
    there), every worker stops after the same step.
    Returns the history of the epochs that ran to their end, as ``fit``'s ``History.history``.
    """
    import tensorflow as tf

    def shard(context):  # the worker's batches, as TensorFlow's input pipeline
        batches = make_shard(context.input_pipeline_id, context.num_input_pipelines)
        x, y = batches[0]
        signature = (tf.TensorSpec((None, *x.shape[1:]), tf.float32),
                     tf.TensorSpec((None, *y.shape[1:]), tf.float32))
        return tf.data.Dataset.from_generator(lambda: iter(batches), output_signature=signature)

    batches = strategy.distribute_datasets_from_function(shard)
    labels = np.concatenate([y for _, y in test_data])

    @tf.function
    def train_step(batch):
        strategy.run(model.train_step, args=(batch,))

    def any_worker(flag):
        votes = strategy.run(lambda: tf.constant(float(flag)))
        return float(strategy.reduce("SUM", votes, axis=None)) > 0

    def average_statistics():  # batch norm's running statistics follow each worker's batches
        for weight in model.non_trainable_weights:
            local = strategy.run(lambda weight=weight: tf.identity(weight.value))
            weight.assign(strategy.reduce("MEAN", local, axis=None))

    guard.set_model(model)
    history, steps = {}, None  # the number of steps per epoch is known after the first
    for epoch in range(epochs):
        print(f"Epoch {epoch + 1}/{epochs}")
        guard.on_epoch_begin(epoch)
        model.reset_metrics()
        # the logs are running means over the epoch already: the bar must not average them
        progress = keras.utils.Progbar(steps, verbose=1 if progress_bars() else 2,
                                       stateful_metrics=["loss", "accuracy", "val_loss",
                                                         "val_accuracy"])
        for step, batch in enumerate(batches):
            train_step(batch)
            # the metrics are summed over the workers when read: the same on each
            logs = {name: float(value) for name, value in model.get_metrics_result().items()}
            progress.update(step + 1, list(logs.items()), finalize=False)
            guard.on_train_batch_end(step, logs)  # a NaN loss, or Ctrl-C here, stops this worker
            stopping = any_worker(guard.stopped)  # and every other one, after the same step
            if stopping:
                if not guard.stopped:
                    print("\n[INFO] another worker stopped training: stopping too", flush=True)
                guard.stop()
                break
        steps = progress.target = steps or step + 1  # a log's line needs the target
        average_statistics()  # so that every worker holds the same model
        probabilities = model.predict(test_data, verbose=0)
        logs["val_loss"] = float(model.loss(labels, probabilities))
        logs["val_accuracy"] = float(np.mean(probabilities.argmax(1) == labels.argmax(1)))
        progress.update(step + 1, [(name, logs[name]) for name in ("val_loss", "val_accuracy")],
                        finalize=True)
        guard.on_epoch_end(epoch)
        for name, value in logs.items() if guard.epochs_done == epoch + 1 else ():
            history.setdefault(name, []).append(value)  # the epochs that ran to their end
        if stopping:
            break
    return history
