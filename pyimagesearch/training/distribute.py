"""Training on several devices or machines (--distribute), with ``fit`` as it is: Keras's
own distribution API on JAX (``DataParallel`` over every device, across machines with
``initialize``), and TensorFlow's ``MirroredStrategy`` on the devices of one machine.
Keras 3's ``fit`` does not run under TensorFlow's strategies for several machines
(keras-team/keras#20585): a TensorFlow cluster is told to use JAX."""

import contextlib
import os

import keras

from pyimagesearch.errors import UserError, plural


class Placement:
    """Where a run trains: build the model within ``scope()``; ``replicas`` devices each
    take a batch of --batch-size at every step, in ``workers`` processes of which this is
    number ``worker``."""

    def __init__(self, scope=contextlib.nullcontext, replicas=1, worker=0, workers=1):
        self.scope, self.replicas, self.worker, self.workers = scope, replicas, worker, workers

    def check_share(self, images):
        """Raise ``UserError`` where ``images`` training images are too few to give every
        process one."""
        if images < self.workers:
            raise UserError(f"{plural(images, 'training image')} cannot be shared among "
                            f"{self.workers} processes; give --limit {self.workers} at least")

    def on_this_process(self, model):
        """``model`` as this process alone holds it, to evaluate and predict with: itself,
        or, trained by several JAX processes, a copy on this process's devices (an output
        spread over the devices of several processes cannot be read in one)."""
        if self.workers == 1:
            return model
        keras.distribution.set_distribution(None)
        copy = keras.models.clone_model(model)
        copy.set_weights(model.get_weights())
        return copy

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
    as Keras started). TensorFlow: ``MirroredStrategy`` over every local GPU, or every
    logical CPU device when there is no GPU; a cluster (``TF_CONFIG``) is refused. PyTorch:
    Keras has no distribution for it."""
    if not distribute:
        return Placement()
    backend = keras.backend.backend()
    if backend == "jax":
        return _keras_data_parallel()
    if backend != "tensorflow":
        raise UserError("--distribute trains with Keras's distribution API, which runs on JAX "
                        "(or with TensorFlow's strategies): set KERAS_BACKEND=jax or tensorflow")
    import tensorflow as tf

    if os.environ.get("TF_CONFIG"):
        raise UserError("Keras 3 does not train across machines on TensorFlow (TF_CONFIG is "
                        "set); use JAX, with KERAS_BACKEND=jax and the KERAS_DISTRIBUTION_* "
                        "variables (see the README), or unset TF_CONFIG to train on this "
                        "machine's devices")
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
