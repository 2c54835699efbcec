"""Shared helpers: tiny Fashion-MNIST IDX files written by the tests, and a way to run
``fashion_mnist.py`` the way a user does."""

import gzip
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "fashion_mnist.py"
REAL_DATA = Path("/usr/share/datasets/fashion-mnist")


def idx_bytes(array):
    """Encode a uint8 array in the IDX format: magic, dimensions, then the bytes."""
    array = np.asarray(array, dtype=np.uint8)
    magic = 0x0800 | array.ndim
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def fake_fashion_mnist(n_train=256, n_test=100, seed=0):
    """Small learnable images: class k is a bright bar in row band k, plus noise."""
    rng = np.random.default_rng(seed)

    def make(n):
        labels = np.arange(n) % 10
        rng.shuffle(labels)
        images = rng.integers(0, 60, size=(n, 28, 28))
        for image, label in zip(images, labels):
            image[2 + 2 * label:4 + 2 * label, 4:24] = 250
        return images.astype(np.uint8), labels.astype(np.uint8)

    return make(n_train), make(n_test)


def write_dataset(folder, n_train=256, n_test=100, gz=True, seed=0):
    """Write the four IDX files of a tiny dataset into ``folder``; return the arrays."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (trainX, trainY), (testX, testY) = fake_fashion_mnist(n_train, n_test, seed)
    for name, array in [("train-images-idx3-ubyte", trainX), ("train-labels-idx1-ubyte", trainY),
                        ("t10k-images-idx3-ubyte", testX), ("t10k-labels-idx1-ubyte", testY)]:
        data = idx_bytes(array)
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)
    return (trainX, trainY), (testX, testY)


@pytest.fixture
def tiny_data(tmp_path):
    """A folder with a tiny gzipped Fashion-MNIST."""
    folder = tmp_path / "data"
    write_dataset(folder)
    return folder


def user_env(extra=None):
    """This process's environment without a display or a dataset folder, plus ``extra``."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "FASHION_MNIST_DIR")}
    return {**env, **(extra or {})}


def run_script(*args, cwd, env=None, timeout=600):
    """Run fashion_mnist.py as a user would, with no display and no dataset env var."""
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], cwd=cwd,
                          env=user_env(env), capture_output=True, text=True, timeout=timeout)


def assert_clean_failure(result, *phrases):
    """Failed with a one-sentence message on stderr, and no traceback."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr + result.stdout
    message = result.stderr.strip().splitlines()[-1]
    for phrase in phrases:
        assert phrase in message, message


def start_training(tmp_path, epochs=20, flags=(), wait_for="Epoch 2/", n_train=3000, env=None):
    """Start a real training run on ``n_train`` fake images in the background, writing into
    tmp_path/out, and wait until its output shows ``wait_for`` (by default: the first
    epoch has finished). Returns the process; what it printed so far is ``process.seen``."""
    data = tmp_path / "data"
    if not data.exists():
        write_dataset(data, n_train=n_train)
    process = subprocess.Popen([sys.executable, "-u", str(SCRIPT), "--dataset-dir", str(data),
                                "--epochs", str(epochs), "--output", str(tmp_path / "out"), *flags],
                               cwd=tmp_path, env=user_env(env), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    process.seen = ""
    while wait_for not in process.seen:
        chunk = process.stdout.read(1)
        assert chunk, f"the run ended early: {process.stderr.read()}"
        process.seen += chunk
    return process


def wait_for_stderr(process, text):
    """Read ``process``'s stderr until ``text`` appears (it has acknowledged a signal)."""
    seen = ""
    while text not in seen:
        chunk = process.stderr.read(1)
        assert chunk, f"the run ended before saying {text!r}: {seen}"
        seen += chunk
    return seen
