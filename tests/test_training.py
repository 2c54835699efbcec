"""The chapter's Keras 2 decay, reproduced by the Keras 3 schedule, the input pipeline, the
fused batch norm, and the choice of precision."""

import keras
import numpy as np
import pytest

from conftest import fake_fashion_mnist
from pyimagesearch.minivggnet import MiniVGGNet
from pyimagesearch.training import keras2_decay, make_dataset

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
    assert opt.momentum == 0.9


def test_pipeline_scales_and_one_hot_encodes():
    (trainX, trainY), _ = fake_fashion_mnist(n_train=70, n_test=10)
    batches = list(make_dataset(trainX, trainY, 32))
    assert [len(x) for x, _ in batches] == [32, 32, 6]  # the last partial batch is kept
    x = np.concatenate([x.numpy() for x, _ in batches])
    y = np.concatenate([y.numpy() for _, y in batches])
    assert x.dtype == np.float32 and x.shape == (70, 28, 28, 1)
    np.testing.assert_array_equal(x[..., 0], trainX.astype(np.float32) / 255.0)
    np.testing.assert_array_equal(y.argmax(axis=1), trainY)
    assert y.shape == (70, 10) and set(np.unique(y)) == {0.0, 1.0}


def test_pipeline_reshuffles_every_epoch():
    (trainX, trainY), _ = fake_fashion_mnist(n_train=200, n_test=10)
    data = make_dataset(trainX, trainY, 200, shuffle=True, seed=3)
    first, second = [next(iter(data))[1].numpy().argmax(axis=1) for _ in range(2)]
    assert sorted(first) == sorted(trainY) and not np.array_equal(first, second)


def model_gradients(fused, x, y, weights):
    """Gradients, moving statistics after one step, and inference output of MiniVGGNet
    without dropout, in the global dtype policy, with or without the fused batch norm."""
    import tensorflow as tf

    from pyimagesearch.training import fuse_batch_norm

    model = MiniVGGNet.build(28, 28, 1, 10)
    model.set_weights(weights)
    for layer in model.layers:  # no dropout, so that both see the same network
        if isinstance(layer, keras.layers.Dropout):
            layer.rate = 0.0
    if fused:
        fuse_batch_norm(model)
    x = tf.cast(x, model.compute_dtype)
    with tf.GradientTape() as tape:
        loss = keras.losses.categorical_crossentropy(y, model(x, training=True))
    grads = tape.gradient(loss, [v.value for v in model.trainable_variables])
    stats = [np.asarray(v.numpy(), np.float64) for layer in model.layers
             if isinstance(layer, keras.layers.BatchNormalization)
             for v in (layer.moving_mean, layer.moving_variance)]
    return ([np.asarray(g.numpy(), np.float64) for g in grads], stats,
            model(x, training=False).numpy())


def one_batch(seed):
    """32 fake training images as float tensors, their one-hot labels, and MiniVGGNet
    weights drawn with ``seed``."""
    import tensorflow as tf

    (trainX, trainY), _ = fake_fashion_mnist(n_train=32, n_test=10, seed=seed)
    keras.utils.set_random_seed(seed)
    weights = MiniVGGNet.build(28, 28, 1, 10).get_weights()
    return tf.constant(trainX[..., None] / 255.0, tf.float32), tf.one_hot(trainY, 10), weights


def distance(grads, reference):
    """Relative distance of one model's gradients from another's, averaged over layers."""
    return np.mean([np.linalg.norm(g - r) / np.linalg.norm(r) for g, r in zip(grads, reference)])


@pytest.fixture
def restore_policy():  # whatever policy a test sets, the next starts in float32
    yield
    keras.mixed_precision.set_global_policy("float32")


def test_fused_batch_norm_computes_what_keras_does(restore_policy):
    keras_errors, fused_errors = [], []
    for seed in range(4):
        x, y, weights = one_batch(seed)
        keras.mixed_precision.set_global_policy("float64")
        exact_grads, _, _ = model_gradients(False, x, y, [w.astype(np.float64) for w in weights])
        keras.mixed_precision.set_global_policy("float32")
        plain_grads, plain_stats, plain_out = model_gradients(False, x, y, weights)
        fused_grads, fused_stats, fused_out = model_gradients(True, x, y, weights)
        for plain, fused in zip(plain_stats, fused_stats):
            np.testing.assert_allclose(fused, plain, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(fused_out, plain_out, rtol=1e-5, atol=1e-6)
        keras_errors.append(distance(plain_grads, exact_grads))
        fused_errors.append(distance(fused_grads, exact_grads))
    # float32 rounding, amplified by the network: Keras's own gradients are 0.06% to 0.8%
    # from float64's depending on the batch, the fused kernel's 0.4% to 0.9% (measured);
    # a wrong gradient would be tens of percent away
    assert np.mean(fused_errors) <= 3 * np.mean(keras_errors)
    assert max(fused_errors) < 0.02


def test_bfloat16_batch_norm_errs_no_more_than_keras_own(restore_policy):
    x, y, weights = one_batch(0)
    keras.mixed_precision.set_global_policy("float32")
    exact_grads, exact_stats, _ = model_gradients(False, x, y, weights)
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    keras_grads, keras_stats, _ = model_gradients(False, x, y, weights)
    fused_grads, fused_stats, _ = model_gradients(True, x, y, weights)
    # Keras's own bfloat16 gradients are about 20% from float32's (measured: 0.20 for
    # Keras, 0.23 with the fused kernel); a gradient of zero would be 100% away
    assert distance(fused_grads, exact_grads) <= 1.5 * distance(keras_grads, exact_grads)
    for exact, keras_stat, fused in zip(exact_stats, keras_stats, fused_stats):
        keras_error = np.abs(keras_stat - exact).max()
        assert np.abs(fused - exact).max() <= 1.5 * keras_error + 1e-6


@pytest.mark.parametrize("policy, rtol", [("float32", 1e-5), ("mixed_bfloat16", 2e-2)])
def test_fused_batch_norm_averages_the_biased_variance(restore_policy, policy, rtol):
    import tensorflow as tf

    from pyimagesearch.training import fuse_batch_norm

    keras.mixed_precision.set_global_policy(policy)
    # n = 2 * 2 * 2 = 8 values per channel: unbiased and biased differ by 8/7; with
    # momentum 0 the moving variance is the batch's
    x = tf.constant(np.random.default_rng(0).normal(2.0, 3.0, (2, 2, 2, 3)), tf.float32)
    variances = []
    for fused in (False, True):
        model = keras.Sequential([keras.Input((2, 2, 3)),
                                  keras.layers.BatchNormalization(momentum=0.0)])
        if fused:
            fuse_batch_norm(model)
        graph = tf.function(lambda t: model(t, training=True)).get_concrete_function(x).graph
        assert any("FusedBatchNorm" in op.type for op in graph.get_operations()) == fused
        model(x, training=True)
        variances.append(model.layers[0].moving_variance.numpy())
    np.testing.assert_allclose(variances[1], variances[0], rtol=rtol)


def test_fused_batch_norm_keeps_the_layer_and_changes_the_graph():
    import tensorflow as tf

    from pyimagesearch.training import fuse_batch_norm

    x = tf.zeros((4, 6, 6, 8))
    for fused in (False, True):
        model = keras.Sequential([keras.Input((6, 6, 8)), keras.layers.BatchNormalization()])
        if fused:
            fuse_batch_norm(model)
        graph = tf.function(lambda t: model(t, training=True)).get_concrete_function(x).graph
        # Keras's autodiff path uses tf.nn.moments, whose variance is a SquaredDifference
        assert ("SquaredDifference" in {op.type for op in graph.get_operations()}) != fused
        assert type(model.layers[0]) is keras.layers.BatchNormalization


def test_mixed_precision_is_bfloat16_only_on_a_cpu_that_has_it(monkeypatch):
    import tensorflow as tf

    from pyimagesearch import training

    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])  # no GPU
    for has_bfloat16, policy in ((True, "mixed_bfloat16"), (False, "float32")):
        monkeypatch.setattr(training, "cpu_supports_bfloat16", lambda: has_bfloat16)
        chosen, note = training.choose_precision(True)
        assert chosen == policy and note.startswith("mixed precision" if has_bfloat16 else
                                                    "--mixed-precision ignored")
    assert training.choose_precision(False) == ("float32", None)
