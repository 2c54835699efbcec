"""Learning-rate schedules: the chapter's Keras 2 decay, and warm-up then cosine."""

import keras

# with weight averaging (--swa), the cosine ends at this fraction of the peak rate and
# stays there while the weights are averaged
SWA_LR_FRACTION = 0.1


def keras2_decay(init_lr, decay):
    """The Keras 2 ``SGD(decay=...)`` rule as a Keras 3 schedule.

    Keras 2 used ``lr_t = init_lr / (1 + decay * t)`` for update ``t`` (0, 1, 2, ...),
    which is exactly ``InverseTimeDecay`` with ``decay_steps=1``.
    """
    return keras.optimizers.schedules.InverseTimeDecay(
        initial_learning_rate=init_lr, decay_steps=1, decay_rate=decay)


def warmup_cosine(lr, epochs, steps_per_epoch, hold_epochs=0):
    """One epoch of linear warm-up from lr / 10 to ``lr``, then a cosine down to 0; with
    ``hold_epochs``, the cosine ends at ``lr * SWA_LR_FRACTION`` that many epochs before
    the end, and the rate stays there."""
    warmup = steps_per_epoch if epochs > 1 else 0
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=lr / 10 if warmup else lr, warmup_target=lr if warmup else None,
        warmup_steps=warmup,
        decay_steps=max((epochs - hold_epochs) * steps_per_epoch - warmup, 1),
        alpha=SWA_LR_FRACTION if hold_epochs else 0.0)
