"""The input pipeline: batches of scaled images and one-hot labels, made as training
consumes them, with optional augmentation (flips, shifts, erasing)."""

import keras
import numpy as np
import tensorflow as tf

NUM_CLASSES = 10


def make_dataset(images, labels, batch_size, shuffle=False, seed=None, epochs=None,
                 augment=None):
    """A ``tf.data`` pipeline of (float images in [0, 1], one-hot labels) batches.

    ``images`` stay uint8 in memory, a quarter of a float32 copy, and are not copied
    into TensorFlow either: each batch is gathered from the NumPy array, then scaled
    and one-hot encoded on the fly while the previous batch trains. ``images`` are
    (n, 28, 28), or already carry their channel axis.

    ``epochs``, a range of epoch numbers, makes the dataset hold those epochs one
    after the other, each in its own order and with its own augmentation, both drawn
    from (``seed``, epoch) alone: a run resumed at epoch k gets the batches of a run
    that never stopped. Without it the dataset is one epoch, in a new order (and with
    new augmentation) each time it is iterated, as ``model.fit`` on arrays shuffles.
    ``augment`` is None, or a function of (a batch of images, a key of two integers
    unique to the batch), such as :func:`augment_batch`, applied to every batch.
    """
    if images.ndim == 3:
        channels_first = keras.backend.image_data_format() == "channels_first"
        images = np.expand_dims(images, 1 if channels_first else -1)  # a view, not a copy
    labels = np.asarray(labels, dtype=np.uint8)
    image_shape = (None, *images.shape[1:])
    count = len(images)
    if seed is None:
        seed = int(np.random.default_rng().integers(2**32))
    fold_in = tf.random.experimental.stateless_fold_in
    base_key = tf.constant([seed, 0], tf.int64)

    def gather(index):
        return images[index], labels[index]

    def load_batch(index, key=None):
        x, y = tf.numpy_function(gather, [index], (tf.uint8, tf.uint8), stateful=False)
        x = tf.cast(tf.ensure_shape(x, image_shape), tf.float32) / 255.0
        if key is not None:
            x = augment(x, key)
        y = tf.one_hot(tf.ensure_shape(y, (None,)), NUM_CLASSES)
        return x, y

    def one_epoch(epoch_key):
        order = tf.range(count, dtype=tf.int64)
        if shuffle:
            draws = tf.random.stateless_uniform([count], fold_in(epoch_key, 0))
            order = tf.cast(tf.argsort(draws, stable=True), tf.int64)
        batches = tf.data.Dataset.from_tensor_slices(order).batch(batch_size)
        if augment is None:
            return batches
        # the augmentation is stateless: its result does not depend on how the
        # batches are scheduled, only on the batch's key
        return batches.enumerate().map(lambda i, index: (index, fold_in(epoch_key, i + 1)))

    if epochs is None:
        draws = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(1)
        epoch_keys = draws.map(lambda draw: fold_in(base_key, draw))
    else:
        numbers = tf.data.Dataset.from_tensor_slices(np.asarray(list(epochs), np.int64))
        epoch_keys = numbers.map(lambda epoch: fold_in(base_key, epoch))
    batches_per_epoch = -(-count // batch_size)
    dataset = epoch_keys.flat_map(one_epoch).apply(tf.data.experimental.assert_cardinality(
        batches_per_epoch * (1 if epochs is None else len(epochs))))  # for Keras's progress bar
    return (dataset.map(load_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
            .prefetch(tf.data.AUTOTUNE))


def augment_batch(images, key, max_shift=2, erase_size=10, erase_rate=0.5):
    """Randomly flip, shift and erase a batch of images in [0, 1], each image on its own.

    Each image is mirrored left-right with probability 1/2, moved by up to
    ``max_shift`` pixels in each direction (the border fills with black, the
    background of Fashion-MNIST), and, with probability ``erase_rate``, a square of
    ``erase_size`` pixels centred anywhere on it is blacked out (cutout / random
    erasing). ``key`` is two integers; the same key gives the same result. The images
    are channels first or last as ``keras.backend.image_data_format()`` says.
    """
    channels_first = keras.backend.image_data_format() == "channels_first"
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
