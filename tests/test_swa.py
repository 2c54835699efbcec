"""--swa: the mean of the weights of the last epochs, with batch norm's statistics
recomputed for it, and the learning rate held at lr / 10 while averaging."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import fake_fashion_mnist, run_script
from pyimagesearch.training import (WeightAverage, fuse_batch_norm, make_dataset,
                                    recompute_batch_norm)


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


def test_swa_holds_the_rate_at_a_tenth_while_averaging():
    import fashion_mnist

    strategy = tf.distribute.get_strategy()
    model = fashion_mnist.build_model(0.05, 10, strategy, "cosine", steps_per_epoch=100, swa=3)
    lr = model.optimizer._learning_rate
    assert float(lr(100)) == pytest.approx(0.05)  # after the warm-up epoch
    assert float(lr(400)) == pytest.approx(0.0275, rel=1e-3)  # half way down, to 0.005
    for step in (700, 850, 1000):  # the last 3 epochs
        assert float(lr(step)) == pytest.approx(0.005)


def test_swa_run_says_so_and_reports_the_averaged_model(tmp_path, tiny_data):
    out = tmp_path / "out"
    result = run_script("--dataset-dir", tiny_data, "--epochs", "3", "--swa", "2",
                        "--schedule", "cosine", "--seed", "1", "--output", out, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "mean of the weights after each of the last 2 epochs" in result.stdout
    assert "weights averaged over the last 2 epochs" in result.stdout
    reported = result.stdout.split("[INFO] test accuracy: ")[1].split()[0]

    # the saved model is the averaged one: loaded again, it gives the report's accuracy
    again = run_script("--dataset-dir", tiny_data, "--load", out / "fashion_mnist.keras",
                       "--output", tmp_path / "again", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert f"[INFO] test accuracy: {reported}" in again.stdout


@pytest.mark.parametrize("flags, phrase", [
    (["--epochs", "3", "--swa", "3"], "--swa 3 would average every epoch of the 3"),
    (["--epochs", "3", "--swa", "1", "--distribute"], "leave out --distribute"),
])
def test_swa_that_cannot_work_is_refused_before_training(tmp_path, tiny_data, flags, phrase):
    result = run_script("--dataset-dir", tiny_data, *flags, cwd=tmp_path)
    assert result.returncode == 1
    assert phrase in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]
