"""MiniVGGNet: the small VGG-style network of the Fashion-MNIST chapter.

Two blocks of (3x3 conv -> ReLU -> batch norm) x 2 -> max pool -> dropout, then a
512-unit fully connected layer and a softmax classifier. Only 3x3 filters, and
several convolutions stacked before each pooling step: the two traits it takes
from VGGNet.
"""

import keras
from keras import layers


class MiniVGGNet:
    """Builder for the chapter's network; call ``MiniVGGNet.build(...)``."""

    @staticmethod
    def build(width, height, depth, classes):
        """Return an uncompiled ``keras.Sequential`` MiniVGGNet.

        width, height: image size in pixels (28 x 28 for Fashion-MNIST).
        depth: number of channels (1 for grayscale, 3 for colour).
        classes: number of output classes (10 for Fashion-MNIST).

        The input shape follows ``keras.backend.image_data_format()``:
        (height, width, depth) for "channels_last", (depth, height, width)
        for "channels_first", and batch norm normalizes over the channel axis.
        """
        inputShape = (height, width, depth)
        chanDim = -1
        if keras.backend.image_data_format() == "channels_first":
            inputShape = (depth, height, width)
            chanDim = 1

        model = keras.Sequential(name="minivggnet")
        model.add(keras.Input(shape=inputShape))

        # first CONV => RELU => BN => CONV => RELU => BN => POOL => DROPOUT block
        model.add(layers.Conv2D(32, (3, 3), padding="same"))
        model.add(layers.Activation("relu"))
        model.add(layers.BatchNormalization(axis=chanDim))
        model.add(layers.Conv2D(32, (3, 3), padding="same"))
        model.add(layers.Activation("relu"))
        model.add(layers.BatchNormalization(axis=chanDim))
        model.add(layers.MaxPooling2D(pool_size=(2, 2)))
        model.add(layers.Dropout(0.25))

        # second block, with twice the filters
        model.add(layers.Conv2D(64, (3, 3), padding="same"))
        model.add(layers.Activation("relu"))
        model.add(layers.BatchNormalization(axis=chanDim))
        model.add(layers.Conv2D(64, (3, 3), padding="same"))
        model.add(layers.Activation("relu"))
        model.add(layers.BatchNormalization(axis=chanDim))
        model.add(layers.MaxPooling2D(pool_size=(2, 2)))
        model.add(layers.Dropout(0.25))

        # the only fully connected block
        model.add(layers.Flatten())
        model.add(layers.Dense(512))
        model.add(layers.Activation("relu"))
        model.add(layers.BatchNormalization())
        model.add(layers.Dropout(0.5))

        # softmax classifier; kept in float32 so that a mixed-precision
        # policy never rounds the output probabilities
        model.add(layers.Dense(classes))
        model.add(layers.Activation("softmax", dtype="float32"))
        return model
