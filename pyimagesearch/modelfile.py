"""The trained model on disk: saved whole or not at all, and checked when loaded."""

import keras

from pyimagesearch.errors import UserError
from pyimagesearch.safefiles import replaced_atomically


def save_model(model, path):
    """Save in Keras's native format, replacing any earlier file only once the new one is whole."""
    with replaced_atomically(path) as temporary:
        model.save(temporary)


def load_model(path, image_shape=(28, 28), classes=10):
    """Load a model saved by an earlier run and check that it takes grayscale images of
    ``image_shape`` and gives ``classes`` probabilities."""
    try:
        model = keras.models.load_model(path)
    except Exception as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise UserError(f"{path} is not a Keras model this program can load ({reason}); "
                        f"pass a .keras file saved by fashion_mnist.py") from None
    expected_input = ((1, *image_shape) if keras.backend.image_data_format() == "channels_first"
                      else (*image_shape, 1))
    inputs = getattr(model, "input_shape", None)
    outputs = getattr(model, "output_shape", None)
    if (not isinstance(inputs, tuple) or tuple(inputs[1:]) != expected_input
            or not isinstance(outputs, tuple) or tuple(outputs[1:]) != (classes,)):
        raise UserError(f"{path} takes {inputs} and gives {outputs}, but Fashion-MNIST needs "
                        f"{(None, *expected_input)} in and (None, {classes}) out; pass a model "
                        f"trained by fashion_mnist.py")
    return model
