"""The input pipeline: batches of scaled images and one-hot labels, made as training
consumes them, with optional augmentation (flips, shifts, erasing). NumPy only, so that
every backend Keras runs on (TensorFlow, JAX, PyTorch) gets the very same batches."""

import keras
import numpy as np

from pyimagesearch.datasets import mirrored, scaled

NUM_CLASSES = 10
EVAL_BS = 64  # evaluation's batch: the predictions do not depend on it, memory does


def add_channel_axis(images):
    """``images`` (n, height, width) with the channel axis the network takes: (n, height,
    width, 1), or (n, 1, height, width) where Keras is set to "channels_first"; a view,
    not a copy."""
    channels_first = keras.config.image_data_format() == "channels_first"
    return np.expand_dims(images, 1 if channels_first else -1)


class Batches(keras.utils.PyDataset):
    """What :func:`make_dataset` returns: a Keras ``PyDataset`` of (float images in [0, 1],
    one-hot labels) batches, or of images alone without ``labels``, each made when it is
    asked for; iterating it gives them in turn."""

    def __init__(self, images, labels, batch_size, shuffle, seed, epochs, augment):
        super().__init__()
        if images.ndim == 3:
            images = add_channel_axis(images)
        self.images = images
        self.labels = None if labels is None else np.asarray(labels, np.uint8)
        self.batch_size, self.shuffle, self.augment = batch_size, shuffle, augment
        self.seed = int(np.random.default_rng().integers(2**32)) if seed is None else seed
        self.epochs = epochs
        self.steps = -(-len(images) // batch_size)  # batches in an epoch, the last partial
        self._draw = 0  # without ``epochs``: how many times the one epoch was gone through
        self._order = None, None  # (epoch key, order of the images) of the last batch made

    def __len__(self):
        return self.steps * (1 if self.epochs is None else len(self.epochs))

    def _key(self, index):
        """The numbers that a batch's order and augmentation are drawn from, alone."""
        if self.epochs is None:
            return (self.seed, 2**32 + self._draw)  # never an epoch number
        return (self.seed, self.epochs[index // self.steps])

    def __getitem__(self, index):
        key, step = self._key(index), index % self.steps
        if self._order[0] != key:  # a new epoch: its own order
            order = np.arange(len(self.images))
            if self.shuffle:
                order = np.random.default_rng(key).permutation(len(self.images))
            self._order = key, order
        chosen = self._order[1][step * self.batch_size:(step + 1) * self.batch_size]
        x = scaled(self.images[chosen])
        if self.augment is not None:  # from the batch's own numbers: the same in any order
            x = self.augment(x, np.random.default_rng([*key, step]))
        if self.labels is None:
            return (x,)
        return x, np.eye(NUM_CLASSES, dtype=np.float32)[self.labels[chosen]]

    def on_epoch_end(self):
        self._draw += 1

    def __iter__(self):
        for index in range(len(self)):
            yield self[index]
        self.on_epoch_end()


def make_dataset(images, labels, batch_size, shuffle=False, seed=None, epochs=None,
                 augment=None):
    """Batches of (float images in [0, 1], one-hot labels), as a :class:`Batches` that
    ``model.fit``, ``evaluate`` and ``predict`` take on every backend (``labels`` None:
    images alone, for ``predict``).

    ``images`` stay uint8 in memory, a quarter of a float32 copy: each batch is gathered,
    then scaled and one-hot encoded, when it is asked for. ``images`` are (n, 28, 28), or
    already carry their channel axis.

    ``epochs``, a range of epoch numbers, makes the dataset hold those epochs one after
    the other, each in its own order and with its own augmentation, both drawn from
    (``seed``, epoch) alone: a run resumed at epoch k gets the batches of a run that never
    stopped. Without it the dataset is one epoch, in a new order (and with new
    augmentation) each time it is gone through, as ``model.fit`` on arrays shuffles.
    ``augment`` is None, or a function of (a batch of images, a NumPy random generator of
    the batch's own), such as :func:`augment_batch`, applied to every batch.
    """
    return Batches(images, labels, batch_size, shuffle, seed, epochs, augment)


def predict(model, images, tta=False):
    """The probability of each class for each of ``images`` (uint8, with or without the
    channel axis), a batch at a time. With ``tta``, the probabilities for each image and for
    its left-right mirror image are averaged."""
    def probabilities(images):
        return model.predict(make_dataset(images, None, EVAL_BS), verbose=0)

    scores = probabilities(images)
    if tta:
        channels_first = images.ndim == 4 and keras.config.image_data_format() == "channels_first"
        scores = (scores + probabilities(mirrored(images, channels_first))) / 2
    return scores


def augment_batch(images, rng, max_shift=2, erase_size=10, erase_rate=0.5):
    """Randomly flip, shift and erase a batch of images in [0, 1], each image on its own.

    Each image is mirrored left-right with probability 1/2, moved by up to
    ``max_shift`` pixels in each direction (the border fills with black, the
    background of Fashion-MNIST), and, with probability ``erase_rate``, a square of
    ``erase_size`` pixels centred anywhere on it is blacked out (cutout / random
    erasing). ``rng`` (a NumPy ``Generator``) draws it all: the same state gives the same
    result. The images are channels first or last as ``image_data_format()`` says.
    """
    channels_first = keras.config.image_data_format() == "channels_first"
    if channels_first:
        images = images.transpose(0, 2, 3, 1)
    n, height, width = images.shape[:3]
    flip = rng.random(n) < 0.5
    offsets = rng.integers(0, 2 * max_shift + 1, size=(n, 2))
    centre = rng.random((n, 2)) * [height, width]
    erase = rng.random(n) < erase_rate

    images = np.where(flip[:, None, None, None], images[:, :, ::-1], images)
    padded = np.pad(images, [(0, 0), (max_shift, max_shift), (max_shift, max_shift), (0, 0)])
    rows = offsets[:, :1] + np.arange(height)  # (n, height): the rows each image takes
    cols = offsets[:, 1:] + np.arange(width)
    images = padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]

    def inside(length, centres):  # (n, length): which pixels lie in the square along one axis
        return np.abs(np.arange(length) + 0.5 - centres) < erase_size / 2

    hole = (inside(height, centre[:, :1])[:, :, None] & inside(width, centre[:, 1:])[:, None, :]
            & erase[:, None, None])
    images = np.where(hole[..., None], np.float32(0), images)

    if channels_first:
        images = images.transpose(0, 3, 1, 2)
    return images
