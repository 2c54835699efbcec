"""Your own pictures: classified and shown by the driver with the Keras model, or, by
``python -m pyimagesearch.classify`` with a .tflite or .onnx model, without TensorFlow."""

import os
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import ROOT, assert_clean_failure, run_main, user_env
from pyimagesearch import classify, display
from pyimagesearch.errors import UserError
from pyimagesearch.portable.export import missing_packages


def classify_program(*args, cwd, pythonpath=()):
    """Run ``python -m pyimagesearch.classify args`` as a user would, from ``cwd``."""
    path = os.pathsep.join([*map(str, pythonpath), str(ROOT)])
    return subprocess.run([sys.executable, "-m", "pyimagesearch.classify", *map(str, args)],
                          cwd=cwd, env=user_env({"PYTHONPATH": path}), capture_output=True,
                          text=True, timeout=300)


def test_the_program_takes_only_an_exported_model_and_pictures_that_exist(tmp_path, capsys):
    with pytest.raises(SystemExit):
        classify.parse_args([str(tmp_path / "m.keras"), str(tmp_path)])
    assert "a .keras model classifies with fashion_mnist.py --load" in capsys.readouterr().err
    with pytest.raises(UserError, match="nothing.jpg does not exist"):
        classify.parse_args([str(tmp_path / "m.tflite"), str(tmp_path / "nothing.jpg")])
    args = classify.parse_args([str(tmp_path / "m.onnx"), str(tmp_path), "--no-disp"])
    assert args.no_display and args.pictures == [tmp_path]  # abbreviations, as argparse has them


def shirt_picture(path):
    cv2.imwrite(str(path), np.pad(np.full((20, 10), 50, np.uint8), 8, constant_values=230))
    return path


@pytest.fixture(scope="module")
def exported(trained_model, tmp_path_factory):
    """The shared tiny model exported to LiteRT and to ONNX, where the extras are."""
    if missing_packages(["litert", "onnx"]):
        return None
    import keras

    from pyimagesearch.portable import export

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
        result = classify_program(tmp_path / name, picture, cwd=tmp_path)
        assert result.returncode == 1 and "pip install" in result.stderr
        return
    # a TensorFlow that cannot be imported: the run must never try
    fake = tmp_path / "no-tensorflow"
    for package in ("tensorflow", "keras"):
        (fake / package).mkdir(parents=True)
        (fake / package / "__init__.py").write_text("raise ImportError('imported after all')\n")
    result = classify_program(exported / name, picture, "--output", tmp_path / "out",
                              cwd=tmp_path, pythonpath=[fake])
    assert result.returncode == 0, result.stderr
    assert "(no TensorFlow)" in result.stdout.splitlines()[0]
    assert f"[INFO] {picture}: " in result.stdout
    assert cv2.imread(str(tmp_path / "out" / "classified.png")).shape == (96, 192, 3)


@pytest.mark.parametrize("flags", [[], ["--classif", "a.jpg"]])
def test_the_driver_names_the_program_for_an_exported_model(tmp_path, capsys, flags):
    (tmp_path / "m.tflite").write_bytes(b"")
    result = run_main(capsys, "--load", tmp_path / "m.tflite", *flags, "--output", tmp_path / "out")
    assert result.code == 1
    pictures = "a.jpg" if flags else "PICTURE..."
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {tmp_path / 'm.tflite'} is an exported model, which classifies your pictures "
        f"without TensorFlow: python -m pyimagesearch.classify {tmp_path / 'm.tflite'} "
        f"{pictures} (fashion_mnist.py --load takes the .keras model)")
    assert not (tmp_path / "out").exists()


def test_a_damaged_tflite_model_is_refused_in_one_sentence(tmp_path):
    (tmp_path / "model.tflite").write_bytes(b"TFL3 and then nothing of a model")
    picture = shirt_picture(tmp_path / "shirt.png")
    result = classify_program(tmp_path / "model.tflite", picture, "--output", tmp_path / "out",
                              cwd=tmp_path)
    assert_clean_failure(result, "model.tflite")
    assert result.returncode == 1
    assert "not a LiteRT model this program can run" in result.stderr or \
        "pip install ai-edge-litert" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ["fashion_mnist.tflite", "fashion_mnist.onnx"])
def test_an_exported_model_named_in_any_encoding_runs(tmp_path, exported, name):
    if exported is None:
        pytest.skip("the export extras are not installed (requirements-export.txt)")
    from pyimagesearch.portable.runtimes import PortableModel

    odd = tmp_path / os.fsdecode(b"mod\xe8le-" + name.encode())  # Latin-1, not UTF-8
    shutil.copyfile(exported / name, odd)
    probabilities = PortableModel(odd).predict(np.zeros((2, 28, 28, 1), np.float32))
    assert probabilities.shape == (2, 10)


def test_the_sheet_is_shown_only_where_it_was_written(tmp_path, monkeypatch):
    from pyimagesearch import photos

    shown = []
    monkeypatch.setattr(display, "show_window",
                        lambda image, path, run: shown.append(path))

    class Run:  # writes what it is given, or, on a full disk, nothing (saying so itself)
        def __init__(self, full):
            self.full = full

        def problem(self, sentence):
            pass

        def write(self, files, then=()):
            return [] if self.full else [path for _, path, _ in files]

    pictures, _, _ = photos.prepare([shirt_picture(tmp_path / "shirt.png")])
    uniform = lambda images: np.full((len(images), 10), 0.1)  # noqa: E731
    classify.classify(uniform, pictures, tmp_path, Run(full=True))
    assert shown == []  # not "open classified.png to see it", a file that is not there
    classify.classify(uniform, pictures, tmp_path, Run(full=False))
    assert shown == [tmp_path / classify.SHEET]
