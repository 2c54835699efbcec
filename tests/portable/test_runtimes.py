"""Exported models run without TensorFlow: quantized tensors converted both ways, and a
damaged or foreign file refused in one sentence."""

import os

import numpy as np
import pytest

from pyimagesearch.errors import UserError
from pyimagesearch.portable import runtimes


def test_int8_tensors_are_quantized_and_back_with_their_scale():
    details = {"dtype": np.int8, "quantization": (1 / 255, -128)}
    pixels = np.array([0, 1 / 255, 128 / 255, 1.0, 1.2], np.float32)
    quantized = runtimes._quantized(pixels, details)
    assert quantized.tolist() == [-128, -127, 0, 127, 127]  # clipped at the top
    np.testing.assert_allclose(runtimes._dequantized(quantized, details)[:4],
                               [0, 1 / 255, 128 / 255, 1.0], atol=1e-6)
    floats = np.ones(3, np.float64)
    assert runtimes._dequantized(floats, {"dtype": np.float32}).dtype == np.float32


@pytest.mark.parametrize("name, content", [("model.tflite", b"not a model"),
                                           ("model.onnx", b"\x08\x07garbage"),
                                           ("model.tflite", b"")])
def test_a_damaged_file_is_refused_in_one_sentence(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    if runtimes.missing_runtime(path):
        with pytest.raises(UserError, match="needs the .* runtime: pip install"):
            runtimes.PortableModel(path)
        return
    with pytest.raises(UserError, match=f"{name} is not an? (LiteRT|ONNX) model this program "
                                        f"can run .*--export") as refused:
        runtimes.PortableModel(path)
    assert "\n" not in str(refused.value)


def test_a_foreign_model_is_refused_for_its_shape(tmp_path):
    if runtimes.missing_runtime(tmp_path / "cifar.tflite"):  # said before the file is read
        (tmp_path / "cifar.tflite").write_bytes(b"TFL3")
        with pytest.raises(UserError, match="needs the LiteRT runtime: pip install ai-edge-litert"):
            runtimes.PortableModel(tmp_path / "cifar.tflite")
        return
    import keras
    import tensorflow as tf  # the runtime's extras come with TensorFlow's environment
    # (only here: TensorFlow 2.16's converter, in the oldest environment, crashes on this)
    cifar = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(10)])
    function = tf.function(lambda x: cifar(x), input_signature=[tf.TensorSpec((None, 32, 32, 3))])
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [function.get_concrete_function()], cifar)
    (tmp_path / "cifar.tflite").write_bytes(converter.convert())
    with pytest.raises(UserError, match=r"takes \(-1, 32, 32, 3\) .* Fashion-MNIST needs "
                                        r"\(n, 28, 28, 1\) in"):
        runtimes.PortableModel(tmp_path / "cifar.tflite")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX's")
@pytest.mark.parametrize("name", ["pipe.tflite", "pipe.onnx"])
def test_a_named_pipe_or_a_folder_is_not_a_model(tmp_path, name):
    os.mkfifo(tmp_path / name)  # opened for reading, it would wait for a writer forever
    (tmp_path / "folder.onnx").mkdir()
    for path in (tmp_path / name, tmp_path / "folder.onnx"):
        with pytest.raises(UserError, match=f"{path.name} is not a file"):
            runtimes.PortableModel(path)
