"""Write tiny-<backend>.keras, a small model of Fashion-MNIST's shapes trained a few steps on
the backend Keras runs on, and tiny-<backend>.npy, its probabilities for the eight images
of tiny-images.npy (written too). Run it once on each backend to remake them:

    for b in tensorflow jax torch; do KERAS_BACKEND=$b python tests/data/make_models.py; done
"""

from pathlib import Path

import keras
import numpy as np

HERE = Path(__file__).resolve().parent


def images():
    """Eight images in [0, 1], the same on every machine."""
    return np.random.default_rng(0).integers(0, 256, (8, 28, 28, 1)).astype(np.float32) / 255


def main():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((28, 28, 1)),
                              keras.layers.Conv2D(4, (3, 3), padding="same"),
                              keras.layers.Activation("relu"),
                              keras.layers.BatchNormalization(),
                              keras.layers.MaxPooling2D((2, 2)),
                              keras.layers.Dropout(0.25),
                              keras.layers.Flatten(),
                              keras.layers.Dense(10),
                              keras.layers.Activation("softmax", dtype="float32")])
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
                  loss="categorical_crossentropy")
    rng = np.random.default_rng(1)
    x = rng.random((64, 28, 28, 1), np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 64)]
    model.fit(x, y, batch_size=16, epochs=2, verbose=0)  # weights and batch norm moved
    name = keras.backend.backend()
    model.save(HERE / f"tiny-{name}.keras")
    np.save(HERE / "tiny-images.npy", images())
    np.save(HERE / f"tiny-{name}.npy", model.predict(images(), verbose=0))


if __name__ == "__main__":
    main()
