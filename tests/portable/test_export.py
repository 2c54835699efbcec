"""--export: each format written whole and checked by its own runtime, with Keras's
exporter where the installed Keras has the format and TensorFlow's converter where it has
not; where a package is missing, one sentence says which to install."""

import os
import signal

import keras
import numpy as np
import pytest

from conftest import on_backend
from pyimagesearch import cli
from pyimagesearch.errors import UserError
from pyimagesearch.portable import export
from pyimagesearch.portable.export import export_path, missing_packages

FORMATS = list(export.SUFFIXES)


@pytest.fixture(scope="module")
def trained(trained_model):
    """The shared tiny model, its data, and the Keras model's own test probabilities."""
    from pyimagesearch.datasets import load_fashion_mnist

    (((trainX, _), (testX, testY)), _) = load_fashion_mnist(trained_model.data)
    model = keras.models.load_model(trained_model.path)
    testX = testX[..., None]
    probabilities = model.predict(testX / np.float32(255), verbose=0)
    return model, trainX[..., None] / np.float32(255), testX, testY, probabilities


def export_and_check(trained, format, path):
    model, calibration, testX, testY, probabilities = trained
    export.export(model, format, path, calibration)
    return export.check(format, path, testX, testY, probabilities)


@pytest.mark.parametrize("format", FORMATS)
@pytest.mark.parametrize("keras_writes_it", [True, pytest.param(False, marks=pytest.mark.slow)])
@on_backend("tensorflow")  # the converters are TensorFlow's (any backend's .keras loads there)
def test_each_format_is_written_and_checked_by_its_runtime(tmp_path, trained, format,
                                                           keras_writes_it, monkeypatch):
    if missing_packages([format]):  # the oldest environment: no extras installed
        with pytest.raises(UserError, match=f"--export {format} needs .*: pip install .*"
                                            r"\(or pip install -r requirements-export.txt\)"):
            cli.parse_args(["--export", format])
        return
    if not keras_writes_it:  # as with a Keras before the format's release: TensorFlow's own way
        monkeypatch.setattr(export, "keras_exports", lambda format: False)
    elif not export.keras_exports(format):
        pytest.skip(f"this Keras ({keras.__version__}) has no exporter of its own for {format}; "
                    f"the other case is TensorFlow's converter")
    path = export_path(tmp_path / "fashion_mnist.keras", format)
    result = export_and_check(trained, format, path)
    if format == "litert-int8":  # on 100 test images, a point is one image
        assert result.agreement >= 0.95 and result.difference < 0.05
    else:
        accuracy = np.mean(trained[4].argmax(1) == trained[3])
        assert export.judge(format, result, accuracy) is None
        assert result.agreement == 1.0 and result.difference < 1e-4
    assert result.images_per_second > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # nothing half-written


@on_backend("tensorflow")
def test_int8_is_about_a_quarter_of_float(tmp_path, trained):
    model, calibration = trained[:2]
    export.export(model, "litert", tmp_path / "a.tflite")  # no runtime needed to write them
    export.export(model, "litert-int8", tmp_path / "a-int8.tflite", calibration)
    ratio = (tmp_path / "a.tflite").stat().st_size / (tmp_path / "a-int8.tflite").stat().st_size
    assert 3.5 < ratio < 4.5


def test_a_check_that_fails_is_judged_so():
    result = export.Check(size=1, accuracy=0.90, agreement=0.998, difference=0.3,
                          images_per_second=1)
    assert "labels only 99.80% of the test images" in export.judge("onnx", result, 0.90)
    assert "lost 0.60 points" in export.judge("litert-int8", result, 0.906)
    assert export.judge("litert-int8", result, 0.904) is None


def test_a_bfloat16_model_is_exported_in_float32():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                                  keras.layers.Dense(10, activation="softmax")])
    finally:
        keras.mixed_precision.set_global_policy("float32")
    copy = export.float32_model(model)
    assert [layer.dtype_policy.name for layer in copy.layers] == ["float32", "float32"]
    assert model.layers[1].dtype_policy.name == "mixed_bfloat16"
    np.testing.assert_array_equal(copy.get_weights()[0], model.get_weights()[0])


def test_equalizing_the_head_keeps_the_function_and_tames_dead_units(trained):
    model, testX = trained[0], trained[2]
    norm = model.layers[19]
    gamma, beta, mean, original = norm.get_weights()
    variance = original.copy()
    variance[:5] = 0.0  # five units the ReLU left dead
    norm.set_weights([gamma, beta, mean, variance])
    try:
        copy = export.equalized(model)
        x = testX / np.float32(255)
        np.testing.assert_allclose(copy.predict(x, verbose=0), model.predict(x, verbose=0),
                                   atol=1e-5)
        assert len(copy.layers) == len(model.layers) - 1  # the batch norm is gone
        folded = model.layers[21].get_weights()[0] * (gamma / np.sqrt(variance + norm.epsilon))[
            :, None]  # what TensorFlow's converter would quantize
        spread = lambda w: np.abs(w).max() / np.median(np.abs(w))  # noqa: E731
        assert spread(copy.layers[20].get_weights()[0]) < spread(folded) / 3
    finally:
        norm.set_weights([gamma, beta, mean, original])  # the shared model, as it was


def test_export_files_sit_beside_the_model(tmp_path):
    model = tmp_path / "out" / "fashion_mnist.keras"
    assert [export_path(model, f).name for f in export.SUFFIXES] == [
        "fashion_mnist.tflite", "fashion_mnist-int8.tflite", "fashion_mnist.onnx",
        "fashion_mnist-savedmodel"]


class Exports:
    """export_all's surroundings, played: a model whose every probability is the same, and
    converters that write a few bytes (sending ``signals`` stop signals to this process
    while the first format is written) and whose checks all pass."""

    def __init__(self, monkeypatch, signals=0, fails=(), runs_not=()):
        self.written, self.checked = [], []

        def convert(model, format, path, calibration=None):
            if format in fails:
                raise export.ExportFailed(f"the {format} converter failed")
            path.write_bytes(b"a model")
            self.written.append(format)
            if len(self.written) == 1:
                for _ in range(signals):
                    os.kill(os.getpid(), signal.SIGINT)

        def check(format, *args):
            self.checked.append(format)
            if format in runs_not:
                raise UserError("it could not be run (Reshape: no such shape)")
            return export.Check(7, 1.0, 1.0, 0.0, 1.0)

        monkeypatch.setattr(export, "export", convert)
        monkeypatch.setattr(export, "check", check)

    def predict(self, images, batch_size=None, verbose=0):
        return np.full((len(images), 10), 0.1, np.float32)


def export_three(tmp_path, exports):
    """Export as litert, onnx and saved-model, as a run does; returns the run's exit code."""
    from pyimagesearch.safety import interrupts
    from pyimagesearch.safety.supervisor import Supervisor

    model_path = tmp_path / "out" / "m.keras"
    destinations = export.destinations(model_path, ["litert", "onnx", "saved-model"])
    images = np.zeros((8, 28, 28, 1), np.uint8)
    with interrupts.installed(), Supervisor(tmp_path / "out", export.leftovers(model_path),
                                            model_path) as run:
        run.prepare_folders()
        export.export_all(exports, destinations, (images, images, np.zeros(8, np.uint8)), run)
        return run.end()


def test_a_stop_signal_ends_the_exports_after_the_current_one(tmp_path, capsys, monkeypatch):
    exports = Exports(monkeypatch, signals=1)
    assert export_three(tmp_path, exports) == 130
    assert exports.written == ["litert"]
    err = capsys.readouterr().err
    assert "Ctrl-C: stopping after this export (press Ctrl-C again to quit at once)" in err
    assert "[INFO] stopped before exporting onnx, saved-model" in err


def test_a_second_signal_names_every_format_not_written(tmp_path, monkeypatch):
    from pyimagesearch.safety import interrupts

    with pytest.raises(interrupts.Interrupted) as stop:
        export_three(tmp_path, Exports(monkeypatch, signals=2))
    assert stop.value.note == ("interrupted twice: stopped at once; not written: m.tflite, "
                               "m.onnx, m-savedmodel (any there are from an earlier run)")


def test_an_export_that_fails_leaves_an_earlier_runs_file_unchecked(tmp_path, capsys,
                                                                      monkeypatch):
    earlier = tmp_path / "out" / "m.tflite"
    earlier.parent.mkdir()
    earlier.write_bytes(b"an earlier run's model")
    exports = Exports(monkeypatch, fails=["litert"])
    assert export_three(tmp_path, exports) == 1
    assert exports.checked == ["onnx", "saved-model"]  # not the earlier run's file
    assert earlier.read_bytes() == b"an earlier run's model"
    assert "could not write" in capsys.readouterr().err


def test_an_export_its_runtime_cannot_run_is_removed_and_the_others_go_on(tmp_path, capsys,
                                                                         monkeypatch):
    exports = Exports(monkeypatch, runs_not=["onnx"])
    assert export_three(tmp_path, exports) == 1
    assert exports.checked == ["litert", "onnx", "saved-model"]
    assert not (tmp_path / "out" / "m.onnx").exists()
    assert (tmp_path / "out" / "m.tflite").is_file()
    assert ("[WARNING] onnx failed its check: its runtime could not run it (it could not be "
            "run (Reshape: no such shape))") in capsys.readouterr().err
