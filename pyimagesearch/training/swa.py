"""Stochastic weight averaging (Izmailov et al., 2018): the mean of the weights of the
last epochs, and batch norm's statistics recomputed for that mean."""

import keras
import numpy as np


class WeightAverage(keras.callbacks.Callback):
    """Stochastic weight averaging (Izmailov et al., 2018): the mean of the trainable
    weights as they stand at the end of every epoch from ``first_epoch`` (0-based) on.

    ``fit`` leaves the model with its last weights; :meth:`apply` then puts the mean in
    their place. Batch norm's running statistics belong to the last weights, not to the
    mean: follow with :func:`recompute_batch_norm`.
    """

    def __init__(self, first_epoch, state=None):
        super().__init__()
        self.first_epoch = first_epoch
        self._sums, self.count = state or (None, 0)  # ``state``: from :meth:`get_state`

    def on_epoch_end(self, epoch, logs=None):
        if epoch < self.first_epoch:
            return
        weights = [np.asarray(w, np.float64) for w in self.model.trainable_weights]
        self._sums = weights if self._sums is None else [
            total + w for total, w in zip(self._sums, weights)]
        self.count += 1

    def get_state(self):
        """The running sums and their count, for a backup."""
        return self._sums, self.count

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
        forward = lambda x: model(x, training=True)  # noqa: E731
        if keras.backend.backend() == "tensorflow":  # traced (with momentum 0): faster
            import tensorflow as tf

            forward = tf.function(forward)
        for x, _ in batches:
            forward(x)
            n = len(x)
            for (mean, variance), layer in zip(sums, layers):
                mean += n * np.asarray(layer.moving_mean)
                variance += n * np.asarray(layer.moving_variance)
            seen += n
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
    if not seen:
        raise ValueError("recompute_batch_norm needs at least one batch")
    for (mean, variance), layer in zip(sums, layers):
        layer.moving_mean.assign((mean / seen).astype(layer.moving_mean.dtype))
        layer.moving_variance.assign((variance / seen).astype(layer.moving_variance.dtype))
