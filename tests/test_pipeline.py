"""The input pipeline: scaled images and one-hot labels, reshuffled every epoch, and
--augment's flips, shifts and erasing (with --max-shift and --erase-rate); the same batches
on every backend, which take them in fit."""

import keras
import numpy as np
import pytest

from conftest import fake_fashion_mnist
from pyimagesearch.pipeline import Batches, augment_batch, make_dataset


def images_of(dataset):
    return np.concatenate([x for x, _ in dataset])


def augmented(images, seed=1, **options):
    """``augment_batch`` on (n, 28, 28) images in [0, 1]; returns (n, 28, 28)."""
    batch = images[..., None].astype(np.float32)
    return augment_batch(batch, np.random.default_rng(seed), **options)[..., 0]


def test_flips_are_left_right_and_random():
    images = np.random.default_rng(0).random((64, 28, 28), np.float32)
    out = augmented(images, max_shift=0, erase_rate=0.0)
    kept = [np.array_equal(a, b) for a, b in zip(out, images)]
    mirrored = [np.array_equal(a, b[:, ::-1]) for a, b in zip(out, images)]
    assert all(k != m for k, m in zip(kept, mirrored))  # each image is one or the other
    assert 16 < sum(mirrored) < 48


@pytest.mark.parametrize("max_shift", [0, 1, 2, 3])
def test_shifts_move_each_image_by_at_most_max_shift_pixels(max_shift):
    images = np.zeros((1024, 28, 28), np.float32)
    images[:, 14, 10] = 1.0  # one bright pixel, off the vertical axis of symmetry
    out = augmented(images, max_shift=max_shift, erase_rate=0.0)
    moves = set()
    for image in out:
        (row,), (col,) = np.nonzero(image)
        col = col if abs(col - 10) <= max_shift else 27 - col  # undo a flip
        moves.add((row - 14, col - 10))
    # every move within the square, and each of its (2 * max_shift + 1)^2 moves turns up
    assert moves == {(r, c) for r in range(-max_shift, max_shift + 1)
                     for c in range(-max_shift, max_shift + 1)}


def test_erasing_blacks_out_a_square_in_about_half_the_images():
    out = augmented(np.ones((200, 28, 28), np.float32), max_shift=0)
    erased = (out == 0).sum(axis=(1, 2))
    assert set(np.unique(out)) == {0.0, 1.0}
    assert 60 < np.count_nonzero(erased) < 140
    assert erased.max() == 100 and erased[erased > 0].min() >= 25  # 10x10, clipped at the edges
    untouched = augmented(np.ones((200, 28, 28), np.float32), max_shift=0, erase_rate=0.0)
    assert (untouched == 1).all()  # --erase-rate 0 turns erasing off


def test_augmentation_changes_training_images_only_when_asked():
    (trainX, trainY), _ = fake_fashion_mnist(n_train=96, n_test=10)
    plain = images_of(make_dataset(trainX, trainY, 32))
    np.testing.assert_array_equal(plain[..., 0], trainX / np.float32(255))
    changed = images_of(make_dataset(trainX, trainY, 32, augment=augment_batch, seed=1))
    assert changed.shape == plain.shape and changed.dtype == np.float32
    assert 0.0 <= changed.min() and changed.max() <= 1.0
    differs = [not np.array_equal(a, b) for a, b in zip(changed, plain)]
    assert sum(differs) > 80  # nearly every image moved, flipped or lost a square


def test_augmentation_is_reproducible_with_a_seed_and_new_every_epoch():
    (trainX, trainY), _ = fake_fashion_mnist(n_train=64, n_test=10)

    def two_epochs(seed):
        data = make_dataset(trainX, trainY, 32, shuffle=True, seed=seed, augment=augment_batch)
        return images_of(data), images_of(data)

    first, second = two_epochs(7)
    again_first, again_second = two_epochs(7)
    np.testing.assert_array_equal(first, again_first)
    np.testing.assert_array_equal(second, again_second)
    assert not np.array_equal(first, second)
    assert not np.array_equal(first, two_epochs(8)[0])


def test_pipeline_scales_and_one_hot_encodes():
    (trainX, trainY), _ = fake_fashion_mnist(n_train=70, n_test=10)
    batches = list(make_dataset(trainX, trainY, 32))
    assert [len(x) for x, _ in batches] == [32, 32, 6]  # the last partial batch is kept
    x = np.concatenate([x for x, _ in batches])
    y = np.concatenate([y for _, y in batches])
    assert x.dtype == np.float32 and x.shape == (70, 28, 28, 1)
    np.testing.assert_array_equal(x[..., 0], trainX.astype(np.float32) / 255.0)
    np.testing.assert_array_equal(y.argmax(axis=1), trainY)
    assert y.shape == (70, 10) and set(np.unique(y)) == {0.0, 1.0}


def test_pipeline_reshuffles_every_epoch():
    (trainX, trainY), _ = fake_fashion_mnist(n_train=200, n_test=10)
    data = make_dataset(trainX, trainY, 200, shuffle=True, seed=3)
    first, second = [list(data)[0][1].argmax(axis=1) for _ in range(2)]
    assert sorted(first) == sorted(trainY) and not np.array_equal(first, second)


def test_epochs_are_drawn_from_the_seed_and_their_number_alone():
    (trainX, trainY), _ = fake_fashion_mnist(n_train=64, n_test=10)

    def epochs(numbers):
        data = make_dataset(trainX, trainY, 16, shuffle=True, seed=5, epochs=numbers,
                            augment=augment_batch)
        return images_of(data), np.concatenate([y.argmax(1) for _, y in data])

    images, labels = epochs(range(3))
    assert len(images) == 3 * 64  # three epochs, one after the other
    for epoch in range(3):
        part = slice(64 * epoch, 64 * (epoch + 1))
        assert sorted(labels[part]) == sorted(trainY)  # each a whole, reshuffled epoch
    # a run resumed at epoch 2 gets the very batches of a run that never stopped
    resumed_images, resumed_labels = epochs(range(2, 3))
    np.testing.assert_array_equal(resumed_images, images[128:])
    np.testing.assert_array_equal(resumed_labels, labels[128:])
    assert not np.array_equal(labels[:64], labels[64:128])


def test_fit_takes_the_epochs_in_turn_on_this_backend():
    """Keras's adapter for this backend asks for every batch of every epoch, once each, in
    order (it may look at the first ones twice, to learn their shape)."""
    (trainX, trainY), _ = fake_fashion_mnist(n_train=96, n_test=10)
    asked = []

    class Recorded(Batches):
        def __getitem__(self, index):
            asked.append(index)
            return super().__getitem__(index)

    data = Recorded(trainX, trainY, 32, shuffle=True, seed=1, epochs=range(1, 4), augment=None)
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile("sgd", "categorical_crossentropy")
    model.fit(data, steps_per_epoch=data.steps, initial_epoch=1, epochs=4, verbose=0,
              shuffle=False)
    first = asked.index(0, 1) if asked.count(0) > 1 else 0  # after any peek
    assert asked[first:] == list(range(9))
