"""The opt-in recipe beyond the chapter: --augment (with --max-shift and --erase-rate),
--schedule, --weight-decay, --label-smoothing, --tta, and the confusion matrix every run
writes."""

import subprocess
import sys

import cv2
import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import fake_fashion_mnist, run_script
from pyimagesearch import training
from pyimagesearch.training import augment_batch, make_dataset


def images_of(dataset):
    return np.concatenate([x.numpy() for x, _ in dataset])


def augmented(images, key=(1, 2), **options):
    """``augment_batch`` on (n, 28, 28) images in [0, 1]; returns (n, 28, 28)."""
    batch = tf.constant(images[..., None], tf.float32)
    return augment_batch(batch, tf.constant(key, tf.int64), **options).numpy()[..., 0]


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
    changed = images_of(make_dataset(trainX, trainY, 32, augment=True, seed=1))
    assert changed.shape == plain.shape and changed.dtype == np.float32
    assert 0.0 <= changed.min() and changed.max() <= 1.0
    differs = [not np.array_equal(a, b) for a, b in zip(changed, plain)]
    assert sum(differs) > 80  # nearly every image moved, flipped or lost a square


def test_augmentation_is_reproducible_with_a_seed_and_new_every_epoch():
    (trainX, trainY), _ = fake_fashion_mnist(n_train=64, n_test=10)

    def two_epochs(seed):
        data = make_dataset(trainX, trainY, 32, shuffle=True, seed=seed, augment=True)
        return images_of(data), images_of(data)

    first, second = two_epochs(7)
    again_first, again_second = two_epochs(7)
    np.testing.assert_array_equal(first, again_first)
    np.testing.assert_array_equal(second, again_second)
    assert not np.array_equal(first, second)
    assert not np.array_equal(first, two_epochs(8)[0])


def test_only_training_batches_are_augmented(tmp_path, tiny_data, monkeypatch):
    import fashion_mnist

    calls, settings = [], []

    def spy(images, labels, batch_size, **options):
        calls.append((len(images), options.get("augment", False)))
        settings.append((options.get("max_shift"), options.get("erase_rate")))
        return make_dataset(images, labels, batch_size, **options)

    monkeypatch.setattr(training, "make_dataset", spy)
    assert fashion_mnist.main(["--dataset-dir", str(tiny_data), "--epochs", "1", "--augment",
                               "--max-shift", "1", "--erase-rate", "0.25", "--tta",
                               "--output", str(tmp_path / "out"), "--no-display"]) == 0
    assert (256, True) in calls  # the training images
    assert all(count == 100 and not augment  # validation, evaluation and both TTA passes
               for count, augment in calls if (count, augment) != (256, True))
    assert len(calls) == 4
    assert settings[calls.index((256, True))] == (1, 0.25)


def test_cosine_schedule_and_weight_decay_reach_the_optimizer():
    import fashion_mnist

    strategy = tf.distribute.get_strategy()
    model = fashion_mnist.build_model(0.05, 10, strategy, "cosine", steps_per_epoch=100,
                                      weight_decay=5e-4)
    opt = model.optimizer
    assert opt.weight_decay == pytest.approx(5e-4)
    lr = opt._learning_rate  # the schedule itself
    assert float(lr(0)) == pytest.approx(0.005)  # warm-up starts at a tenth
    assert float(lr(100)) == pytest.approx(0.05)  # and reaches --lr after one epoch
    assert float(lr(550)) == pytest.approx(0.025, rel=1e-3)  # half way down the cosine
    assert float(lr(1000)) == pytest.approx(0.0, abs=1e-7)

    chapter = fashion_mnist.build_model(0.01, 25, strategy).optimizer
    assert chapter.weight_decay is None
    assert isinstance(chapter._learning_rate, keras.optimizers.schedules.InverseTimeDecay)


def test_label_smoothing_reaches_the_loss():
    import fashion_mnist

    strategy = tf.distribute.get_strategy()
    y = np.eye(10, dtype=np.float32)[[3]]
    p = np.full((1, 10), 0.05, np.float32)
    p[0, 3] = 0.55
    smoothed = fashion_mnist.build_model(0.01, 25, strategy, label_smoothing=0.1).loss
    # the target becomes 0.91 for the true class and 0.01 for the nine others
    expected = -(0.91 * np.log(0.55) + 9 * 0.01 * np.log(0.05))
    assert float(smoothed(y, p)) == pytest.approx(expected, rel=1e-5)
    chapter = fashion_mnist.build_model(0.01, 25, strategy).loss
    assert float(chapter(y, p)) == pytest.approx(-np.log(0.55), rel=1e-5)


def test_tta_averages_each_image_with_its_mirror():
    import fashion_mnist

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    images = np.random.default_rng(1).integers(0, 256, (50, 28, 28), dtype=np.uint8)
    x = images[..., None] / np.float32(255)
    scores = model.predict(x, verbose=0) + model.predict(x[:, :, ::-1], verbose=0)
    np.testing.assert_array_equal(fashion_mnist.predict(model, images, tta=True),
                                  scores.argmax(axis=1))
    plain = model.predict(x, verbose=0).argmax(axis=1)
    np.testing.assert_array_equal(fashion_mnist.predict(model, images), plain)
    assert not np.array_equal(plain, scores.argmax(axis=1))  # the mirror did count


def printed_matrix(stdout):
    lines = stdout.split("columns: predicted label):\n")[1].splitlines()[1:11]
    return np.array([[int(n) for n in line.split()[-10:]] for line in lines])


def test_augmented_run_reports_its_recipe_and_saves_a_plain_model(tmp_path, tiny_data):
    out = tmp_path / "out"
    result = run_script("--dataset-dir", tiny_data, "--epochs", "2", "--augment",
                        "--schedule", "cosine", "--weight-decay", "1e-4",
                        "--label-smoothing", "0.1", "--tta", "--seed", "3", "--output", out,
                        cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert ("changed from the chapter's recipe: flip + 2 px shift + erase augmentation, cosine "
            "schedule, weight decay 0.0001, label smoothing 0.1, epochs 2, batch 32, lr 0.01, "
            "flip test-time augmentation") in result.stdout
    matrix = printed_matrix(result.stdout)
    assert matrix.sum(axis=1).tolist() == [10] * 10  # every test image, once
    accuracy = float(result.stdout.split("[INFO] test accuracy: ")[1].split()[0])
    assert np.trace(matrix) / 100 == pytest.approx(accuracy)
    assert cv2.imread(str(out / "confusion.png")).shape[2] == 3

    # the model file is a plain MiniVGGNet: Keras alone loads it, with no augmentation layer
    probe = ("import sys, keras, numpy as np; m = keras.models.load_model(sys.argv[1]); "
             "assert not [l for l in m.layers if 'Random' in type(l).__name__]; "
             "print(m.predict(np.zeros((2, 28, 28, 1)), verbose=0).shape)")
    loaded = subprocess.run([sys.executable, "-c", probe, str(out / "fashion_mnist.keras")],
                            cwd=tmp_path, capture_output=True, text=True)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() == "(2, 10)"

    again = run_script("--dataset-dir", tiny_data, "--load", out / "fashion_mnist.keras",
                       "--tta", "--output", tmp_path / "again", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    np.testing.assert_array_equal(printed_matrix(again.stdout), matrix)
