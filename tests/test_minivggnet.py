"""The network is the chapter's, layer for layer, in both image data formats."""

import subprocess
import sys

import keras

from pyimagesearch.minivggnet import MiniVGGNet

# (layer class, its defining setting) in the chapter's order
CHAPTER_LAYERS = [
    ("Conv2D", 32), ("Activation", "relu"), ("BatchNormalization", None),
    ("Conv2D", 32), ("Activation", "relu"), ("BatchNormalization", None),
    ("MaxPooling2D", (2, 2)), ("Dropout", 0.25),
    ("Conv2D", 64), ("Activation", "relu"), ("BatchNormalization", None),
    ("Conv2D", 64), ("Activation", "relu"), ("BatchNormalization", None),
    ("MaxPooling2D", (2, 2)), ("Dropout", 0.25),
    ("Flatten", None), ("Dense", 512), ("Activation", "relu"), ("BatchNormalization", None),
    ("Dropout", 0.5),
    ("Dense", 10), ("Activation", "softmax"),
]


def describe(layer):
    kind = type(layer).__name__
    setting = {
        "Conv2D": lambda: layer.filters, "Dense": lambda: layer.units,
        "Activation": lambda: layer.activation.__name__,
        "MaxPooling2D": lambda: tuple(layer.pool_size), "Dropout": lambda: layer.rate,
    }.get(kind, lambda: None)()
    return kind, setting


def test_layers_in_the_chapters_order():
    model = MiniVGGNet.build(width=28, height=28, depth=1, classes=10)
    assert [describe(layer) for layer in model.layers] == CHAPTER_LAYERS
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            assert tuple(layer.kernel_size) == (3, 3) and layer.padding == "same"
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert [norm.axis for norm in norms] == [-1] * 4 + [-1]


def test_parameter_count_and_shapes():
    model = MiniVGGNet.build(width=28, height=28, depth=1, classes=10)
    assert model.count_params() == 1_679_082
    assert model.input_shape == (None, 28, 28, 1)
    assert model.output_shape == (None, 10)


def test_width_height_depth_and_classes_are_honoured():
    model = MiniVGGNet.build(width=32, height=24, depth=3, classes=5)
    assert model.input_shape == (None, 24, 32, 3)
    assert model.output_shape == (None, 5)


def test_channels_first():
    keras.backend.set_image_data_format("channels_first")
    try:
        model = MiniVGGNet.build(width=28, height=28, depth=1, classes=10)
    finally:
        keras.backend.set_image_data_format("channels_last")  # the next test's default
    norms = [layer.axis for layer in model.layers
             if isinstance(layer, keras.layers.BatchNormalization)]
    assert (model.input_shape, model.count_params(), norms) == (
        (None, 1, 28, 28), 1_679_082, [1, 1, 1, 1, -1])


def test_importable_from_another_script(tmp_path):
    from conftest import BACKEND, ROOT

    script = tmp_path / "mine.py"
    script.write_text("from pyimagesearch.minivggnet import MiniVGGNet\n"
                      "from pyimagesearch import MiniVGGNet as Same\n"
                      "assert Same is MiniVGGNet\n"
                      "print(MiniVGGNet.build(28, 28, 1, 10).count_params())\n")
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin",
                                 "KERAS_BACKEND": BACKEND}, check=True)
    assert result.stdout.strip().splitlines()[-1] == "1679082"
