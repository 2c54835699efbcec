"""A trained model exported for another runtime, run without TensorFlow or Keras: a
LiteRT file (``.tflite``, float or full-integer int8) in the LiteRT interpreter
(``ai-edge-litert``), or an ONNX file (``.onnx``) in ONNX Runtime. What a Raspberry Pi or a
small container needs: NumPy, OpenCV and one of the two runtimes.

Nothing here imports TensorFlow.
"""

import importlib.util
import stat
from pathlib import Path

import numpy as np

from pyimagesearch.errors import UserError, article, reason, shown, summary
from pyimagesearch.safety.streams import native_stderr_muted

KINDS = {".tflite": "LiteRT", ".onnx": "ONNX"}  # the kind of model each suffix names
# the runtime each kind of file runs in: module, and the package that has it
RUNTIMES = {".tflite": ("ai_edge_litert", "ai-edge-litert"),
            ".onnx": ("onnxruntime", "onnxruntime")}
INSTALL = "pip install -r requirements-export.txt"


def is_portable(path):
    """Whether ``path`` names a model for another runtime (by its suffix)."""
    return Path(path).suffix.lower() in KINDS


def missing_runtime(path):
    """The package the model at ``path`` needs that is not installed, or None."""
    module, package = RUNTIMES[Path(path).suffix.lower()]
    return None if importlib.util.find_spec(module) else package


class PortableModel:
    """The model at ``path`` in its own runtime. :meth:`predict` takes images as the
    network sees them (n, 28, 28, 1), float in [0, 1], and returns the probability of each
    class. Raises ``UserError``, in one sentence, for a file that is not such a model, or
    one that does not take Fashion-MNIST's images."""

    def __init__(self, path, image_shape=(28, 28, 1), classes=10):
        self.path = Path(path)
        kind = KINDS.get(self.path.suffix.lower())
        if kind is None:
            raise UserError(f"{shown(path)} is not a .tflite or .onnx file")
        try:
            regular = stat.S_ISREG(self.path.stat().st_mode)
        except OSError as error:
            raise UserError(f"cannot read {shown(path)} ({reason(error)})") from None
        if not regular:  # a named pipe would be waited on forever, a device read forever
            raise UserError(f"{shown(path)} is not a file")
        package = missing_runtime(self.path)
        if package:
            raise UserError(f"running {self.path.name} needs the {kind} runtime: "
                            f"pip install {package} (or {INSTALL})")
        try:
            content = self.path.read_bytes()  # given by its bytes: a name in any encoding
        except OSError as error:
            raise UserError(f"cannot read {shown(path)} ({reason(error)})") from None
        try:
            with native_stderr_muted():  # the runtime's notes on start-up ("XNNPACK")
                self._open_litert(content) if kind == "LiteRT" else self._open_onnx(content)
        except Exception as error:  # noqa: BLE001 - any damage looks the same to the user
            raise UserError(f"{shown(path)} is not {article(kind + ' model')} this program can run "
                            f"({summary(error)}); pass a file written by fashion_mnist.py "
                            f"--export") from None
        if tuple(self.input_shape[1:]) != image_shape or self.output_shape[-1] != classes:
            raise UserError(f"{shown(path)} takes {self.input_shape} and gives "
                            f"{self.output_shape}, but Fashion-MNIST needs "
                            f"(n, {', '.join(map(str, image_shape))}) in and (n, {classes}) out; "
                            f"pass a model exported by fashion_mnist.py")

    def _open_litert(self, content):
        from ai_edge_litert.interpreter import Interpreter

        self._interpreter = Interpreter(model_content=content)
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]
        self._output = self._interpreter.get_output_details()[0]
        self.input_shape = tuple(int(n) for n in self._input["shape_signature"])
        self.output_shape = tuple(int(n) for n in self._output["shape_signature"])
        self.input_dtype = np.dtype(self._input["dtype"])

    def _open_onnx(self, content):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # its warnings about the CPU, not the user's concern
        self._session = onnxruntime.InferenceSession(content, options,
                                                     providers=["CPUExecutionProvider"])
        self._input, self._output = self._session.get_inputs()[0], self._session.get_outputs()[0]
        self.input_shape = tuple(self._input.shape)
        self.output_shape = tuple(self._output.shape)
        self.input_dtype = np.dtype(np.float32)

    def predict(self, images, batch_size=64):
        """The probabilities of each class for ``images`` (n, 28, 28, 1) in [0, 1]."""
        images = np.asarray(images, np.float32)
        try:
            return np.concatenate([self._predict(images[start:start + batch_size])
                                   for start in range(0, len(images), batch_size)])
        except Exception as error:  # noqa: BLE001 - a file that loads, but does not run
            raise UserError(f"{shown(self.path)} could not be run ({summary(error)}); pass a "
                            f"file written by fashion_mnist.py --export") from None

    def _predict(self, batch):
        if hasattr(self, "_session"):
            return self._session.run([self._output.name], {self._input.name: batch})[0]
        interpreter, index = self._interpreter, self._input["index"]
        if tuple(self._input["shape"]) != batch.shape:
            interpreter.resize_tensor_input(index, batch.shape)
            interpreter.allocate_tensors()
            self._input = interpreter.get_input_details()[0]
            self._output = interpreter.get_output_details()[0]
        interpreter.set_tensor(index, _quantized(batch, self._input))
        interpreter.invoke()
        return _dequantized(interpreter.get_tensor(self._output["index"]), self._output)


def _quantized(values, details):
    """``values`` in the tensor's type: int8 with its scale and zero point, else as is."""
    dtype = np.dtype(details["dtype"])
    if dtype.kind != "i" and dtype.kind != "u":
        return values.astype(dtype)
    scale, zero = details["quantization"]
    limits = np.iinfo(dtype)
    return np.clip(np.round(values / scale + zero), limits.min, limits.max).astype(dtype)


def _dequantized(values, details):
    """A quantized tensor back in float32 (its scale and zero point); float as it is."""
    if values.dtype.kind not in "iu":
        return values.astype(np.float32)
    scale, zero = details["quantization"]
    return (values.astype(np.float32) - zero) * scale
