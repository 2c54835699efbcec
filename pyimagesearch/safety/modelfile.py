"""The trained model on disk: saved whole or not at all, somewhere if not where asked,
and checked when loaded."""

import json
import sys
import zipfile
from pathlib import Path

import keras
from packaging.version import InvalidVersion, Version  # Keras's own dependency

from pyimagesearch.errors import UserError, reason, summary
from pyimagesearch.safety.atomic import failures_cleaned_up_quietly, replaced_atomically


# a .keras file of this program's: a description (config.json) of about 10 kB, weights of
# about 7 MB, as many again for the optimizer; far larger is no model of this program's
MAX_CONFIG = 10_000_000
MAX_MODEL = 1_000_000_000


def save_model(model, path):
    """Save in Keras's native format, replacing any earlier file only once the new one is whole."""
    with replaced_atomically(path) as temporary:
        model.save(temporary)


def file_size(model):
    """About how many bytes ``model`` takes as a .keras file: its weights and, for the
    optimizer, as many again (SGD's momentum), plus a little for the rest."""
    return model.count_params() * 4 * 2 + 500_000


def save_model_somewhere(model, path):
    """Save ``model`` at ``path``, or, if that fails (a full disk, a lost drive), in the
    current folder or the home folder instead. Returns where it was saved (None if
    nowhere) and, if not at ``path``, a sentence that says so."""
    reason = _try_to_save(model, path)
    if reason is None:
        return path, None
    for folder in dict.fromkeys([Path.cwd(), Path.home()]):
        rescue = folder / f"{path.stem}-rescued{path.suffix}"
        if rescue.resolve() != Path(path).resolve() and _try_to_save(model, rescue) is None:
            return rescue, (f"could not write the model to {path} ({reason}); it was saved to "
                            f"{rescue} instead")
    return None, f"could not write the model to {path} or anywhere else ({reason})"


def _try_to_save(model, path):
    """Save ``model`` at ``path``: None if that worked, else why not."""
    with failures_cleaned_up_quietly():
        try:
            save_model(model, path)
            return None
        except OSError as error:
            return reason(error)


def keras_version(path):
    """The version of Keras that saved the .keras file at ``path`` (from the metadata.json
    it holds), or None where it does not say."""
    try:
        with zipfile.ZipFile(path) as archive:
            return Version(json.loads(archive.read("metadata.json"))["keras_version"])
    except (OSError, KeyError, ValueError, TypeError, InvalidVersion, zipfile.BadZipFile):
        return None


def load_model(path, image_shape=(28, 28), classes=10):
    """Load a model saved by an earlier run and check that it takes grayscale images of
    ``image_shape`` and gives ``classes`` probabilities."""
    try:
        with open(path, "rb") as file:
            is_zip = zipfile.is_zipfile(file)
    except OSError as error:  # not this user's to read, say
        raise UserError(f"cannot read {path} ({reason(error)})") from None
    if not is_zip:
        raise UserError(f"{path} is not a Keras model file (a .keras file is a zip archive); "
                        f"pass a .keras file saved by fashion_mnist.py")
    with zipfile.ZipFile(path) as archive:  # Keras reads its description whole: bounded first
        sizes = {entry.filename: entry.file_size for entry in archive.infolist()}
    if sizes.get("config.json", 0) > MAX_CONFIG or sum(sizes.values()) > MAX_MODEL:
        raise UserError(f"{path} unpacks to {sum(sizes.values()) / 1e6:,.0f} MB, its "
                        f"description to {sizes.get('config.json', 0) / 1e6:,.0f} MB: far more "
                        f"than a model this program saves; pass a .keras file saved by "
                        f"fashion_mnist.py")
    try:
        # not compiled: a trained model is only evaluated here, and its optimizer may be of
        # another backend's (PyTorch's SGD is a class of its own), which this one cannot make
        model = keras.models.load_model(path, compile=False)
    except Exception as error:
        saved_by = keras_version(path)
        if saved_by and saved_by > Version(keras.__version__):  # a format this Keras predates
            raise UserError(f"{path} was saved by Keras {saved_by}, newer than this "
                            f"environment's {keras.__version__}; upgrade it (pip install -U "
                            f"keras) to load the model") from None
        raise UserError(f"{path} is not a Keras model this program can load ({summary(error)}); "
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
    last = model.layers[-1] if getattr(model, "layers", None) else None
    activation = getattr(getattr(last, "activation", None), "__name__", "")
    if not (activation == "softmax" or isinstance(last, keras.layers.Softmax)):
        print(f"[WARNING] {path} does not end in a softmax: its outputs are shown as they are, "
              f"not as probabilities", file=sys.stderr)
    return model
