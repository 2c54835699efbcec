"""Batch normalization trained with TensorFlow's fused kernel: faster on a CPU, and in
bfloat16 without casts (docs/performance.md has the measurements). TensorFlow's own speed-up,
kept here: on JAX and PyTorch the layers train as Keras made them."""

import keras


def fuse_batch_norm(model):
    """Make the BatchNormalization layers of ``model`` train with TensorFlow's fused kernel.

    In training, Keras 3 computes batch norm from ``tf.nn.moments`` and
    ``tf.nn.batch_normalization`` and lets autodiff derive the backward pass: about
    twenty ops over the whole activation tensor. The fused kernel (``FusedBatchNormV3``,
    oneDNN's or Eigen's on a CPU) computes the same formula forward and backward in one
    op each, and takes bfloat16 or float16 in and out directly, its statistics in float32.
    It rounds differently; tests/training/test_batchnorm.py holds its gradients to float32's (and
    bfloat16's) own rounding error.

    The layers keep their class, weights and config, so a saved model is a plain Keras
    model; inference, masks, and inputs that are not 4-D channels-last keep Keras's
    own code. Returns ``model``.
    """
    if keras.backend.backend() != "tensorflow":
        return model
    for layer in model.layers:
        renorm = getattr(layer, "renorm", False)  # Keras 3.0 has no batch renormalization
        if isinstance(layer, keras.layers.BatchNormalization) and not renorm:
            layer.call = _training_call(layer, layer.call)
    return model


def _training_call(layer, keras_call):
    import tensorflow as tf

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
