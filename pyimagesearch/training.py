"""Training helpers: the chapter's learning-rate decay in Keras 3, a lean input
pipeline with optional augmentation, a callback that stops training cleanly on
Ctrl-C or a diverged loss, weight averaging over the last epochs, and a training
loop for several machines at once."""

import math
import os
import signal

import keras
import numpy as np
import tensorflow as tf

NUM_CLASSES = 10


def keras2_decay(init_lr, decay):
    """The Keras 2 ``SGD(decay=...)`` rule as a Keras 3 schedule.

    Keras 2 used ``lr_t = init_lr / (1 + decay * t)`` for update ``t`` (0, 1, 2, ...),
    which is exactly ``InverseTimeDecay`` with ``decay_steps=1``.
    """
    return keras.optimizers.schedules.InverseTimeDecay(
        initial_learning_rate=init_lr, decay_steps=1, decay_rate=decay)


def make_dataset(images, labels, batch_size, shuffle=False, seed=None, augment=False,
                 max_shift=2, erase_rate=0.5):
    """A ``tf.data`` pipeline of (float images in [0, 1], one-hot labels) batches.

    ``images`` stay uint8 in memory, a quarter of a float32 copy, and are not
    copied into TensorFlow either: each batch is gathered from the NumPy array,
    then scaled and one-hot encoded on the fly while the previous batch trains.
    ``images`` are (n, 28, 28), or already carry their channel axis. With
    ``shuffle``, the order changes every epoch, as ``model.fit`` on arrays does.
    With ``augment``, every batch goes through :func:`augment_batch` (with
    ``max_shift`` and ``erase_rate``) with fresh random draws each epoch; ``seed``
    fixes both the order and the draws.
    """
    channels_first = keras.backend.image_data_format() == "channels_first"
    if images.ndim == 3:
        images = np.expand_dims(images, 1 if channels_first else -1)  # a view, not a copy
    labels = np.asarray(labels, dtype=np.uint8)
    image_shape = (None, *images.shape[1:])

    def gather(index):
        return images[index], labels[index]

    def load_batch(index, key=None):
        x, y = tf.numpy_function(gather, [index], (tf.uint8, tf.uint8), stateful=False)
        x = tf.cast(tf.ensure_shape(x, image_shape), tf.float32) / 255.0
        if key is not None:
            x = augment_batch(x, key, channels_first, max_shift=max_shift,
                              erase_rate=erase_rate)
        y = tf.one_hot(tf.ensure_shape(y, (None,)), NUM_CLASSES)
        return x, y

    count = len(images)
    dataset = tf.data.Dataset.range(count)
    if shuffle:
        dataset = dataset.shuffle(count, seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    if augment:
        # one random key per batch, new ones every epoch; the augmentation itself is
        # stateless, so its result does not depend on how the batches are scheduled
        keys = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
        dataset = tf.data.Dataset.zip(dataset, keys.batch(2))
    return (dataset.map(load_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
            .prefetch(tf.data.AUTOTUNE))


def augment_batch(images, key, channels_first=False, max_shift=2, erase_size=10, erase_rate=0.5):
    """Randomly flip, shift and erase a batch of images in [0, 1], each image on its own.

    Each image is mirrored left-right with probability 1/2, moved by up to
    ``max_shift`` pixels in each direction (the border fills with black, the
    background of Fashion-MNIST), and, with probability ``erase_rate``, a square of
    ``erase_size`` pixels centred anywhere on it is blacked out (cutout / random
    erasing). ``key`` is two integers; the same key gives the same result.
    """
    if channels_first:
        images = tf.transpose(images, [0, 2, 3, 1])
    seeds = tf.random.experimental.stateless_split(tf.cast(key, tf.int64), 4)
    shape = tf.shape(images)
    n, height, width = shape[0], shape[1], shape[2]

    flip = tf.random.stateless_uniform([n], seeds[0]) < 0.5
    images = tf.where(flip[:, None, None, None], tf.reverse(images, axis=[2]), images)

    padded = tf.pad(images, [[0, 0], [max_shift, max_shift], [max_shift, max_shift], [0, 0]])
    offsets = tf.random.stateless_uniform([n, 2], seeds[1], 0, 2 * max_shift + 1, tf.int32)
    rows = offsets[:, :1] + tf.range(height)[None, :]
    cols = offsets[:, 1:] + tf.range(width)[None, :]
    images = tf.gather(tf.gather(padded, rows, batch_dims=1), cols, axis=2, batch_dims=1)

    centre = tf.random.stateless_uniform([n, 2], seeds[2], 0, 1) * tf.cast([height, width],
                                                                           tf.float32)
    erase = tf.random.stateless_uniform([n], seeds[3]) < erase_rate

    def inside(length, centres):  # (n, length): which pixels lie in the square along one axis
        pixel_centres = tf.cast(tf.range(length), tf.float32)[None, :] + 0.5
        return tf.abs(pixel_centres - centres) < erase_size / 2

    hole = (inside(height, centre[:, :1])[:, :, None] & inside(width, centre[:, 1:])[:, None, :]
            & erase[:, None, None])
    images = tf.where(hole[..., None], tf.zeros_like(images), images)

    if channels_first:
        images = tf.transpose(images, [0, 3, 1, 2])
    return images


def fuse_batch_norm(model):
    """Make the BatchNormalization layers of ``model`` train with TensorFlow's fused kernel.

    In training, Keras 3 computes batch norm from ``tf.nn.moments`` and
    ``tf.nn.batch_normalization`` and lets autodiff derive the backward pass: about
    twenty ops over the whole activation tensor, which on a CPU take about as long as
    the convolutions. The fused kernel (``FusedBatchNormV3``, oneDNN's or Eigen's on a
    CPU) computes the same formula forward and backward in one op each, and takes
    bfloat16 or float16 in and out directly, its statistics in float32.

    It rounds differently: in float32 its gradients over MiniVGGNet are on average 1.5
    to 2 times as far from a float64 computation as Keras's own (both under 1%, and
    Keras's own distance varies more than that from batch to batch); in bfloat16 they
    are about as far from float32's as Keras's own bfloat16 gradients
    (tests/test_training.py).

    The layers keep their class, weights and config, so a saved model is a plain Keras
    model; inference, masks, and inputs that are not 4-D channels-last keep Keras's
    own code. Returns ``model``.
    """
    if keras.backend.backend() != "tensorflow":
        return model
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization) and not layer.renorm:
            layer.call = _training_call(layer, layer.call)
    return model


def _training_call(layer, keras_call):
    def call(inputs, training=None, mask=None):
        if (not (training and layer.trainable) or mask is not None or len(inputs.shape) != 4
                or layer.axis not in (-1, 3) or not (layer.center and layer.scale)):
            return keras_call(inputs, training=training, mask=mask)
        gamma, beta = tf.cast(layer.gamma, tf.float32), tf.cast(layer.beta, tf.float32)
        y, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            inputs, gamma, beta, epsilon=layer.epsilon, is_training=True)
        # the kernel returns the unbiased variance (n - 1 in the denominator); Keras's
        # moving variance averages the biased one
        n = tf.cast(tf.reduce_prod(tf.shape(inputs)[:3]), tf.float32)
        variance *= (n - 1.0) / n
        momentum = layer.momentum
        layer.moving_mean.assign(layer.moving_mean * momentum + mean * (1.0 - momentum))
        layer.moving_variance.assign(layer.moving_variance * momentum + variance * (1.0 - momentum))
        return tf.cast(y, layer.compute_dtype)

    return call


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


class WeightAverage(keras.callbacks.Callback):
    """Stochastic weight averaging (Izmailov et al., 2018): the mean of the trainable
    weights as they stand at the end of every epoch from ``first_epoch`` (0-based) on.

    ``fit`` leaves the model with its last weights; :meth:`apply` then puts the mean in
    their place. Batch norm's running statistics belong to the last weights, not to the
    mean: follow with :func:`recompute_batch_norm`.
    """

    def __init__(self, first_epoch):
        super().__init__()
        self.first_epoch = first_epoch
        self.count = 0
        self._sums = None

    def on_epoch_end(self, epoch, logs=None):
        if epoch < self.first_epoch:
            return
        weights = [np.asarray(w.numpy(), np.float64) for w in self.model.trainable_weights]
        self._sums = weights if self._sums is None else [
            total + w for total, w in zip(self._sums, weights)]
        self.count += 1

    def apply(self):
        """Set the model's trainable weights to their mean. Returns how many epochs it holds."""
        if self.count:
            for weight, total in zip(self.model.trainable_weights, self._sums):
                weight.assign((total / self.count).astype(weight.dtype))
        return self.count


def recompute_batch_norm(model, batches):
    """Set every batch norm layer's running mean and variance to their averages over
    ``batches`` (of (images, labels)), as training computes them, with dropout on: what
    the layers would hold had they been trained with the model's present weights. One
    forward pass; no weight but those statistics changes."""
    layers = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    if not layers:
        return
    momenta = [layer.momentum for layer in layers]
    sums = [[np.zeros(layer.moving_mean.shape), np.zeros(layer.moving_variance.shape)]
            for layer in layers]
    seen = 0
    try:
        for layer in layers:
            layer.momentum = 0.0  # the running statistics become each batch's own
        forward = tf.function(lambda x: model(x, training=True))  # traced with momentum 0
        for x, _ in batches:
            forward(x)
            n = int(tf.shape(x)[0])
            for (mean, variance), layer in zip(sums, layers):
                mean += n * layer.moving_mean.numpy()
                variance += n * layer.moving_variance.numpy()
            seen += n
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
    if not seen:
        raise ValueError("recompute_batch_norm needs at least one batch")
    for (mean, variance), layer in zip(sums, layers):
        layer.moving_mean.assign((mean / seen).astype(layer.moving_mean.dtype))
        layer.moving_variance.assign((variance / seen).astype(layer.moving_variance.dtype))


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
    ``test_data`` on its own, as ``fit`` does with ``validation_data``. ``guard`` (an entered
    :class:`TrainingGuard`) ends training as it ends ``fit``; when it stops one worker (Ctrl-C
    there), every worker stops after the same step.
    Returns the history, as ``fit``'s ``History.history``.
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
        progress = keras.utils.Progbar(steps, stateful_metrics=[
            "loss", "accuracy", "val_loss", "val_accuracy"])
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
        steps = steps or step + 1
        average_statistics()  # so that every worker holds the same model
        probabilities = model.predict(test_data, verbose=0)
        logs["val_loss"] = float(model.loss(labels, probabilities))
        logs["val_accuracy"] = float(np.mean(probabilities.argmax(1) == labels.argmax(1)))
        progress.update(step + 1, [(name, logs[name]) for name in ("val_loss", "val_accuracy")],
                        finalize=True)
        guard.on_epoch_end(epoch)
        for name, value in logs.items():
            history.setdefault(name, []).append(value)
        if stopping:
            break
    return history


def cpu_supports_bfloat16():
    """Whether the CPU has native bfloat16 arithmetic (AVX512_BF16 or AMX-BF16).
    Read from /proc/cpuinfo; on systems without it the answer is a safe no."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            flags = set(cpuinfo.read().split())
    except OSError:
        return False
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def choose_precision(mixed):
    """The Keras dtype policy to train with, and a note for the user (or None).

    With ``mixed``: ``mixed_float16`` on a GPU, ``mixed_bfloat16`` on a CPU with
    bfloat16 instructions, and float32 otherwise (emulated bfloat16 is slower).
    """
    if not mixed:
        return "float32", None
    if tf.config.list_physical_devices("GPU"):
        return "mixed_float16", "mixed precision: float16 on the GPU, float32 weights and softmax"
    if cpu_supports_bfloat16():
        return "mixed_bfloat16", "mixed precision: bfloat16 on the CPU, float32 weights and softmax"
    return "float32", ("--mixed-precision ignored: this CPU has no bfloat16 instructions "
                       "(AVX512_BF16 or AMX), where it would be slower; training in float32")


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
