"""Training on several devices or machines: the choice of ``tf.distribute`` strategy,
and a training loop for several machines, where Keras 3's ``fit`` does not run."""

import os

import keras
import numpy as np
import tensorflow as tf

from pyimagesearch.safety.streams import progress_bars


def choose_strategy(distribute):
    """The ``tf.distribute`` strategy to build and train under.

    Without ``distribute``: TensorFlow's default (one GPU if there is one, else the CPU).
    With it: ``MultiWorkerMirroredStrategy`` when ``TF_CONFIG`` names a cluster of
    workers, else ``MirroredStrategy`` over every local GPU, or every logical CPU device
    when there is no GPU; each replica takes a batch of the chapter's size.
    """
    if not distribute:
        return tf.distribute.get_strategy()
    if os.environ.get("TF_CONFIG"):
        return tf.distribute.MultiWorkerMirroredStrategy()
    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    return tf.distribute.MirroredStrategy([device.name for device in devices])


def is_multi_worker(strategy):
    """Whether ``strategy`` trains across several processes (``TF_CONFIG``'s cluster)."""
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def fit_across_workers(model, make_shard, test_data, epochs, guard):
    """``model.fit`` for ``MultiWorkerMirroredStrategy``, under which Keras 3's own ``fit``
    does not run (keras-team/keras#20585). Every worker calls it with the same arguments.

    ``make_shard(index, count)`` returns worker ``index``'s batches (of ``count`` workers),
    the same number on each: a step trains on one batch from every worker, with their
    gradients summed. After each epoch, batch norm's running statistics, which each worker
    updates from its own batches, are averaged over the workers, and every worker evaluates
    ``test_data`` on its own, as ``fit`` does with ``validation_data``. ``guard`` (a
    :class:`TrainingGuard`) ends training as it ends ``fit``; when it stops one worker (Ctrl-C
    there), every worker stops after the same step.
    Returns the history of the epochs that ran to their end, as ``fit``'s ``History.history``.
    """
    strategy = model.distribute_strategy
    batches = strategy.distribute_datasets_from_function(
        lambda context: make_shard(context.input_pipeline_id, context.num_input_pipelines))
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
