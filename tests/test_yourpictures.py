"""Your own pictures: classified and shown by the driver, or, with a .tflite or .onnx
model, without TensorFlow at all."""

import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import SCRIPT, run_main, user_env
from pyimagesearch import yourpictures
from pyimagesearch.portable import missing_packages


@pytest.mark.parametrize("argv, wanted", [
    (["--load", "m.tflite", "--classify", "a.jpg"], True),
    (["--classify", "a.jpg", "b.jpg", "--load=m.onnx", "--tta"], True),
    (["--load", "m.keras", "--classify", "a.jpg"], False),
    (["--load", "m.tflite"], False),  # the driver says what is wrong with it
    (["--load", "m.tflite", "--classify", "a.jpg", "--help"], False),
    ([], False),
])
def test_the_runs_that_need_no_tensorflow(argv, wanted):
    assert yourpictures.wanted(argv) == wanted


def shirt_picture(path):
    cv2.imwrite(str(path), np.pad(np.full((20, 10), 50, np.uint8), 8, constant_values=230))
    return path


@pytest.fixture(scope="module")
def exported(trained_model, tmp_path_factory):
    """The shared tiny model exported to LiteRT and to ONNX, where the extras are."""
    if missing_packages(["litert", "onnx"]):
        return None
    import keras

    from pyimagesearch import export

    folder = tmp_path_factory.mktemp("exported")
    model = keras.models.load_model(trained_model.path)
    for format, name in [("litert", "fashion_mnist.tflite"), ("onnx", "fashion_mnist.onnx")]:
        export.export(model, format, folder / name)
    return folder


@pytest.mark.parametrize("name", ["fashion_mnist.tflite", "fashion_mnist.onnx"])
def test_an_exported_model_classifies_without_tensorflow(tmp_path, exported, name):
    picture = shirt_picture(tmp_path / "shirt.png")
    if exported is None:  # no runtime installed: one sentence says which to install
        (tmp_path / name).write_bytes(b"")
        result = subprocess.run([sys.executable, str(SCRIPT), "--load", str(tmp_path / name),
                                 "--classify", str(picture)], cwd=tmp_path, env=user_env(),
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 1 and "pip install" in result.stderr
        return
    # a TensorFlow that cannot be imported: the run must never try
    fake = tmp_path / "no-tensorflow"
    for package in ("tensorflow", "keras"):
        (fake / package).mkdir(parents=True)
        (fake / package / "__init__.py").write_text("raise ImportError('imported after all')\n")
    result = subprocess.run([sys.executable, str(SCRIPT), "--load", str(exported / name),
                             "--classify", str(picture), "--output", str(tmp_path / "out")],
                            cwd=tmp_path, env=user_env({"PYTHONPATH": str(fake)}),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "(no TensorFlow)" in result.stdout.splitlines()[0]
    assert f"[INFO] {picture}: " in result.stdout
    assert cv2.imread(str(tmp_path / "out" / "classified.png")).shape == (96, 192, 3)


def test_a_portable_model_needs_pictures_to_classify(tmp_path, capsys):
    (tmp_path / "m.tflite").write_bytes(b"")
    result = run_main(capsys, "--load", tmp_path / "m.tflite", "--output", tmp_path / "out")
    assert result.code == 1
    assert "a .tflite model can classify your pictures (--classify)" in result.stderr
