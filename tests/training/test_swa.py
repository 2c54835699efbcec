"""--swa: the mean of the weights of the last epochs, with batch norm's statistics
recomputed for it, and the learning rate held at lr / 10 while averaging."""

import keras
import numpy as np

from conftest import fake_fashion_mnist
from pyimagesearch.pipeline import make_dataset
from pyimagesearch.training.batchnorm import fuse_batch_norm
from pyimagesearch.training.swa import WeightAverage, recompute_batch_norm


def small_model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(4, 3),
                              keras.layers.BatchNormalization(), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer=keras.optimizers.SGD(0.1))
    return model


class Snapshots(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append([w.numpy().copy() for w in self.model.trainable_weights])


def test_weight_average_is_the_mean_of_the_last_epochs():
    (trainX, trainY), _ = fake_fashion_mnist(n_train=64, n_test=10)
    model = small_model()
    snapshots, averager = Snapshots(), WeightAverage(first_epoch=2)
    model.fit(make_dataset(trainX, trainY, 16, shuffle=True, seed=1), epochs=5, shuffle=False,
              callbacks=[snapshots, averager], verbose=0)
    last = [w.numpy().copy() for w in model.trainable_weights]
    np.testing.assert_array_equal(last[0], snapshots.weights[-1][0])  # fit leaves the last ones

    assert averager.apply() == 3
    for i, weight in enumerate(model.trainable_weights):
        expected = np.mean([epoch[i] for epoch in snapshots.weights[2:]], axis=0)
        np.testing.assert_allclose(weight.numpy(), expected, rtol=1e-6, atol=1e-7)
    assert not np.allclose(model.trainable_weights[0].numpy(), last[0])  # the weights did move


def test_recompute_batch_norm_sets_the_statistics_of_the_present_weights():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6, 6, 2)), keras.layers.BatchNormalization(),
                              keras.layers.Flatten(), keras.layers.Dense(3)])
    fuse_batch_norm(model)  # the training path's own batch norm
    layer = model.layers[0]
    x = np.random.default_rng(0).normal(3.0, 2.0, (10, 6, 6, 2)).astype(np.float32)
    batches = [x[:4], x[4:8], x[8:]]  # uneven: the last batch counts for less
    dense_before = [w.numpy().copy() for w in model.layers[-1].weights]

    recompute_batch_norm(model, [(b, None) for b in batches])

    sizes = np.array([len(b) for b in batches])[:, None]
    means = np.array([b.mean(axis=(0, 1, 2)) for b in batches])
    variances = np.array([b.var(axis=(0, 1, 2)) for b in batches])  # biased, as batch norm's
    np.testing.assert_allclose(layer.moving_mean.numpy(), (sizes * means).sum(0) / 10, rtol=1e-5)
    np.testing.assert_allclose(layer.moving_variance.numpy(), (sizes * variances).sum(0) / 10,
                               rtol=1e-5)
    assert layer.momentum == 0.99  # restored
    for before, after in zip(dense_before, model.layers[-1].weights):
        np.testing.assert_array_equal(before, after.numpy())
