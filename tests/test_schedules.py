"""The chapter's Keras 2 decay, reproduced by a Keras 3 schedule, and warm-up then cosine."""

import keras
import pytest

from conftest import fake_fashion_mnist
from pyimagesearch.minivggnet import MiniVGGNet
from pyimagesearch.pipeline import make_dataset
from pyimagesearch.schedules import keras2_decay, warmup_cosine

INIT_LR = 1e-2
DECAY = INIT_LR / 25


def keras2_lr(t):
    return INIT_LR / (1 + DECAY * t)


@pytest.mark.parametrize("t", [0, 1, 10, 1875, 25 * 1875])
def test_schedule_follows_keras2_formula(t):
    assert float(keras2_decay(INIT_LR, DECAY)(t)) == pytest.approx(keras2_lr(t), rel=1e-6)


def test_learning_rate_after_a_real_fit():
    (trainX, trainY), _ = fake_fashion_mnist(n_train=96, n_test=10)
    model = MiniVGGNet.build(28, 28, 1, 10)
    opt = keras.optimizers.SGD(learning_rate=keras2_decay(INIT_LR, DECAY), momentum=0.9)
    model.compile(loss="categorical_crossentropy", optimizer=opt, metrics=["accuracy"])
    assert float(opt.learning_rate) == pytest.approx(keras2_lr(0), rel=1e-6)
    model.fit(make_dataset(trainX, trainY, 32, shuffle=True), epochs=2, shuffle=False, verbose=0)
    assert int(opt.iterations) == 6
    assert float(opt.learning_rate) == pytest.approx(keras2_lr(6), rel=1e-6)


def test_warmup_then_cosine_to_zero():
    lr = warmup_cosine(0.05, epochs=10, steps_per_epoch=100)
    assert float(lr(0)) == pytest.approx(0.005)  # warm-up starts at a tenth
    assert float(lr(100)) == pytest.approx(0.05)  # and reaches --lr after one epoch
    assert float(lr(550)) == pytest.approx(0.025, rel=1e-3)  # half way down the cosine
    assert float(lr(1000)) == pytest.approx(0.0, abs=1e-7)


def test_cosine_holds_the_rate_at_a_tenth_while_averaging():
    lr = warmup_cosine(0.05, epochs=10, steps_per_epoch=100, hold_epochs=3)
    assert float(lr(100)) == pytest.approx(0.05)  # after the warm-up epoch
    assert float(lr(400)) == pytest.approx(0.0275, rel=1e-3)  # half way down, to 0.005
    for step in (700, 850, 1000):  # the last 3 epochs
        assert float(lr(step)) == pytest.approx(0.005)


def test_one_epoch_has_no_warm_up():
    lr = warmup_cosine(0.05, epochs=1, steps_per_epoch=100)
    assert float(lr(0)) == pytest.approx(0.05)
