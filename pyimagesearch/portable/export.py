"""The trained model for other runtimes (--export): LiteRT, in float32 or full-integer
int8, ONNX and a TensorFlow SavedModel. Everything about exporting is here: the formats and
their files, the packages each needs, the conversion, the check of each export by its own
runtime (not by Keras), and the whole step as a run takes it (:func:`export_all`).

Keras exports each format itself from the release that has it (``tf_saved_model`` since
3.0, ``onnx`` since 3.8, ``litert`` since 3.13); before that, TensorFlow's own converter
and tf2onnx do the same from a SavedModel or a traced function. TensorFlow and Keras are
imported only when a model is converted: the command line reads the table below.
"""

import contextlib
import importlib.util
import inspect
import shutil
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pyimagesearch.datasets import scaled
from pyimagesearch.errors import UserError, shown, summary
from pyimagesearch.portable.runtimes import INSTALL, PortableModel
from pyimagesearch.safety.atomic import folder_replaced, replaced_atomically
from pyimagesearch.safety.streams import native_stderr_muted

# the file each format is written to, beside the model: fashion_mnist.tflite, ...
SUFFIXES = {"litert": ".tflite", "litert-int8": "-int8.tflite", "onnx": ".onnx",
            "saved-model": "-savedmodel"}
# what each format needs, to write it and to check it: module -> package
NEEDS = {"litert": {"ai_edge_litert": "ai-edge-litert"},
         "litert-int8": {"ai_edge_litert": "ai-edge-litert"},
         "onnx": {"tf2onnx": "tf2onnx", "onnx": "onnx", "onnxruntime": "onnxruntime"},
         "saved-model": {}}
# the Keras release that exports each format itself
KERAS_SINCE = {"litert": (3, 13), "litert-int8": (3, 13), "onnx": (3, 8),
               "saved-model": (3, 0)}
CALIBRATION_IMAGES = 1000  # training images that set int8's ranges
FLOAT_AGREEMENT = 0.999  # the share of test images a float export must label as Keras does
INT8_LOSS = 0.005  # the accuracy int8 may lose


def export_path(model_path, format):
    """Where ``format`` is written: beside the model, ``fashion_mnist.tflite`` and so on."""
    model_path = Path(model_path)
    return model_path.with_name(model_path.stem + SUFFIXES[format])


def destinations(model_path, formats):
    """Each of ``formats`` with the path it is written to."""
    return {format: export_path(model_path, format) for format in formats}


def leftovers(model_path):
    """Every path an export beside ``model_path`` may have left half-written when its run was
    killed, whatever the format: an exporting run removes them all."""
    return list(destinations(model_path, SUFFIXES).values())


def missing_packages(formats):
    """The packages that exporting ``formats`` needs and that are not installed."""
    return list(dict.fromkeys(package for format in formats
                              for module, package in NEEDS[format].items()
                              if importlib.util.find_spec(module) is None))


def check_packages(formats):
    """Raise ``UserError`` naming what to install when exporting ``formats`` cannot work."""
    missing = missing_packages(formats)
    if missing:
        raise UserError(f"--export {' '.join(formats)} needs {', '.join(missing)}: pip "
                        f"install {' '.join(missing)} (or {INSTALL})")


def keras_exports(format):
    """Whether the installed Keras writes ``format`` itself."""
    import keras

    release = tuple(int(part) for part in keras.__version__.split(".")[:2])
    return release >= KERAS_SINCE[format]


def float32_model(model):
    """``model`` itself in float32, or, trained in mixed precision (bfloat16), a float32
    copy with its weights: the other runtimes take float32."""
    if all(layer.dtype_policy.name == "float32" for layer in model.layers):
        return model
    config = model.get_config()
    for layer in config["layers"]:
        layer["config"]["dtype"] = "float32"
    copy = model.__class__.from_config(config)
    copy.set_weights(model.get_weights())
    return copy


class ExportFailed(OSError):
    """A converter could not write the format; its message says why, in a line."""


def equalized(model):
    """``model`` computing the same function, with the batch norm between its last two
    dense layers (Dense, ReLU, BatchNormalization, Dropout, Dense: MiniVGGNet's head) folded
    away so that int8 loses little: a copy, or ``model`` itself where it has no such head.

    TensorFlow's converter folds that batch norm into the last layer's weights, column i
    scaled by gamma_i / sqrt(variance_i + epsilon). A unit the ReLU leaves dead on the whole
    training set has variance 0, so its column is scaled by gamma / sqrt(epsilon), about 30,
    and sets the scale of the one int8 range all the weights share: the others round to a
    step or two. Here the scale is split between the two layers instead, as in cross-layer
    equalization (Nagel et al., 2019): relu(t * h) = t * relu(h) for t > 0, so unit i of the
    first layer is multiplied by t_i and column i of the second by scale_i / t_i, with t_i
    chosen to give both the same largest weight; the shift goes into the last bias."""
    import keras

    layers = model.layers
    for i in range(len(layers) - 4):
        first, relu, norm, dropout, last = layers[i:i + 5]
        if (isinstance(first, keras.layers.Dense) and isinstance(last, keras.layers.Dense)
                and isinstance(relu, keras.layers.Activation)
                and relu.get_config()["activation"] == "relu"
                and isinstance(norm, keras.layers.BatchNormalization)
                and isinstance(dropout, keras.layers.Dropout)):
            break
    else:
        return model
    (w1, b1), (w2, b2) = first.get_weights(), last.get_weights()
    gamma, beta, mean, variance = norm.get_weights()
    scale = gamma / np.sqrt(variance + norm.epsilon)
    shift = beta - scale * mean
    largest1 = np.maximum(np.abs(w1).max(axis=0), 1e-12)
    largest2 = np.maximum(np.abs(w2 * scale[:, None]).max(axis=1), 1e-12)
    t = np.sqrt(largest2 / largest1)
    kept = [layer for layer in layers if layer is not norm]
    copy = keras.Sequential([keras.Input(model.input_shape[1:]),
                             *[layer.__class__.from_config(layer.get_config()) for layer in kept]])
    for source, target in zip(kept, copy.layers):
        target.set_weights(source.get_weights())
    copy.layers[i].set_weights([w1 * t, b1 * t])
    copy.layers[i + 3].set_weights([w2 * (scale / t)[:, None], b2 + shift @ w2])
    return copy


def export(model, format, path, calibration=None):
    """Write ``model`` to ``path`` in ``format``, whole or not at all. ``calibration``:
    images (n, 28, 28, 1) in [0, 1] that set the ranges of ``litert-int8``. Raises
    ``OSError`` (:class:`ExportFailed` when the converter fails)."""
    try:
        model = float32_model(model)
        if format == "saved-model":
            with folder_replaced(path) as temporary, quiet():
                _saved_model(model, temporary)
            return
        with replaced_atomically(path) as temporary, quiet():
            if format == "onnx":
                _onnx(model, temporary)
            elif format == "litert":
                _litert(model, temporary, None)
            else:
                _litert(equalized(model), temporary, calibration)
    except (OSError, KeyboardInterrupt):
        raise
    except Exception as error:  # noqa: BLE001 - a converter's failure, in its own words
        raise ExportFailed(f"the converter failed: {summary(error)}") from None


@contextlib.contextmanager
def quiet():
    """The converters' own chatter (their C++ logs, NumPy's deprecation warnings), kept
    out of the run's output; shown if the conversion fails."""
    with native_stderr_muted(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _keras_export(model, path, format, **settings):
    """Keras's ``model.export``, without its printed summary where this Keras can leave it out."""
    if "verbose" in inspect.signature(model.export).parameters:
        settings["verbose"] = False
    model.export(str(path), format=format, **settings)


def _saved_model(model, folder):
    _keras_export(model, folder, "tf_saved_model")


def _onnx(model, path):
    if keras_exports("onnx"):
        _keras_export(model, path, "onnx")
        return
    import tensorflow as tf
    import tf2onnx

    spec = [tf.TensorSpec((None, *model.input_shape[1:]), tf.float32, name="images")]
    function = tf.function(lambda images: model(images, training=False), input_signature=spec)
    tf2onnx.convert.from_function(function, input_signature=spec, output_path=str(path))


def int8_settings(calibration):
    """TensorFlow converter settings for full-integer int8: every op int8, and int8 input
    and output, with ranges measured on ``calibration`` one image at a time."""
    import tensorflow as tf

    def representative():
        for image in calibration:
            yield [image[None].astype(np.float32)]

    return {"optimizations": [tf.lite.Optimize.DEFAULT], "representative_dataset": representative,
            "target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]},
            "inference_input_type": tf.int8, "inference_output_type": tf.int8}


def _litert(model, path, calibration):
    settings = {} if calibration is None else int8_settings(calibration)
    if keras_exports("litert"):
        _keras_export(model, path, "litert", **settings)
        return
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as folder:  # TensorFlow's converter reads a SavedModel
        _saved_model(model, folder)
        converter = tf.lite.TFLiteConverter.from_saved_model(folder)
        for name, value in settings.items():
            if name == "target_spec":
                converter.target_spec.supported_ops = value["supported_ops"]
            else:
                setattr(converter, name, value)
        path.write_bytes(converter.convert())


@dataclass
class Check:
    """What an export gave on the test images, in its own runtime."""

    size: int  # bytes
    accuracy: float
    agreement: float  # the share of test images it labels as the Keras model does
    difference: float  # the largest difference of a probability from the Keras model's
    images_per_second: float


def check(format, path, testX, testY, keras_probabilities):
    """Run the export at ``path`` in its own runtime on ``testX`` (uint8, with the channel
    axis) and compare it with the Keras model's probabilities."""
    images = scaled(testX)
    if format == "saved-model":
        import tensorflow as tf

        serve = tf.saved_model.load(str(path)).signatures["serving_default"]
        predict = lambda x: next(iter(serve(tf.constant(x)).values())).numpy()  # noqa: E731
    else:
        predict = PortableModel(path).predict
    predict(images[:64])  # the first call sets things up: not timed
    started = time.perf_counter()
    probabilities = np.concatenate([predict(images[i:i + 64]) for i in range(0, len(images), 64)])
    seconds = time.perf_counter() - started
    labels = probabilities.argmax(1)
    size = (sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())
            if Path(path).is_dir() else Path(path).stat().st_size)
    return Check(size, float(np.mean(labels == testY)),
                 float(np.mean(labels == keras_probabilities.argmax(1))),
                 float(np.abs(probabilities - keras_probabilities).max()), len(images) / seconds)


def judge(format, result, keras_accuracy):
    """Why ``result`` fails its format's bounds (a sentence), or None if it passes: float
    formats agree with Keras on 99.9% of the test images at least; int8 loses at most half a
    point of accuracy."""
    if format == "litert-int8":
        loss = keras_accuracy - result.accuracy
        if loss > INT8_LOSS:
            return f"it lost {loss * 100:.2f} points of accuracy, more than {INT8_LOSS * 100:g}"
        return None
    if result.agreement < FLOAT_AGREEMENT:
        return (f"it labels only {result.agreement:.2%} of the test images as the Keras model "
                f"does, fewer than {FLOAT_AGREEMENT:.1%}")
    return None


def export_all(model, destinations, data, run, seed=None):
    """The --export step of a run: ``model`` written to each of ``destinations`` (format ->
    path), each checked by its own runtime on the test images of ``data`` (trainX, testX,
    testY, uint8 with the channel axis) and said; int8 is calibrated on training images
    drawn with ``seed``. ``run`` (the :class:`~pyimagesearch.safety.supervisor.Supervisor`)
    writes each file; an export that fails its check is removed, and is a problem of the run."""
    trainX, testX, testY = data
    keras_probabilities = model.predict(scaled(testX), batch_size=64, verbose=0)
    accuracy = np.mean(keras_probabilities.argmax(1) == testY)
    chosen = np.random.default_rng(seed or 0).permutation(len(trainX))[:CALIBRATION_IMAGES]
    calibration = scaled(trainX[chosen])
    run.exporting()  # a stop signal ends the exports after the current one
    formats = list(destinations.items())
    for number, (format, path) in enumerate(formats):
        later = [path for _, path in formats[number + 1:]]
        if run.stop_asked:
            print(f"[INFO] stopped before exporting {', '.join(f for f, _ in formats[number:])}",
                  file=sys.stderr)
            return
        print(f"[INFO] exporting the model as {format} to {shown(path)}...")
        if path not in run.write([(format, path, lambda: export(model, format, path,
                                                                calibration))], then=later):
            continue  # said; what is there is an earlier run's, not this one's to check
        try:
            result = check(format, path, testX, testY, keras_probabilities)
        except Exception as error:  # noqa: BLE001 - its runtime cannot run what was written
            failure = f"its runtime could not run it ({summary(error)})"
        else:
            print(f"[INFO] {format}: {result.size / 1e6:.2f} MB, test accuracy "
                  f"{result.accuracy:.4f} (Keras {accuracy:.4f}), labels {result.agreement:.2%}"
                  f" of the test images as Keras does, largest probability difference "
                  f"{result.difference:.2g}, {result.images_per_second:,.0f} images/s")
            failure = judge(format, result, accuracy)
        if failure is not None:
            _remove(path)
            print(f"[WARNING] {format} failed its check: {failure}; {shown(path)} was removed",
                  file=sys.stderr)
            run.problem(f"the {format} export failed its check")


def _remove(path):
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
