"""fashion_mnist.py as a user meets it: a subprocess, its exit code, what it printed and wrote."""

import os
import platform
import re
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from conftest import REAL_DATA, SCRIPT, run_script, user_env, write_dataset
from pyimagesearch.datasets import LABEL_NAMES


def assert_clean_failure(result, *phrases):
    """Failed with a one-sentence message on stderr, and no traceback."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr + result.stdout
    message = result.stderr.strip().splitlines()[-1]
    for phrase in phrases:
        assert phrase in message, message


def last_epoch_logs(stdout):
    """The figures Keras's progress bar ends the last epoch with: {"accuracy": "0.6527", ...}."""
    plain = re.sub(r"\x1b\[[0-9;]*m", "", stdout).replace("\r", "\n")
    last = [line for line in plain.splitlines() if "val_accuracy" in line][-1]
    return dict(re.findall(r"(\w+): (\d+\.\d+)", last))


def test_headless_run_writes_everything(tmp_path, tiny_data):
    out = tmp_path / "out"
    result = run_script("--dataset-dir", tiny_data, "--epochs", "2", "--output", out, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for name in LABEL_NAMES:
        assert name in result.stdout
    assert "weighted avg" in result.stdout
    assert "Epoch 2/2" in result.stdout
    assert "no display found, so no window was opened" in result.stdout
    assert cv2.imread(str(out / "plot.png")).shape[2] == 3
    assert cv2.imread(str(out / "montage.png")).shape == (384, 384, 3)
    assert cv2.imread(str(out / "confusion.png")).shape[2] == 3
    assert "confusion matrix" in result.stdout
    assert "augmentation" not in result.stdout  # the default run adds nothing
    assert (out / "fashion_mnist.keras").stat().st_size > 1_000_000
    # TensorFlow's own start-up log is kept out of the way
    assert "oneDNN" not in result.stderr and "cuda" not in result.stderr.lower()


def test_a_display_without_a_server_is_named(tmp_path, tiny_data):
    # DISPLAY is set (as over SSH with broken X forwarding) but nothing answers there
    result = run_script("--dataset-dir", tiny_data, "--epochs", "1", "--output", tmp_path / "out",
                        cwd=tmp_path, env={"DISPLAY": ":65000"})
    assert result.returncode == 0, result.stderr
    assert "could not open a window on display :65000, so no window was opened" in result.stdout
    assert (tmp_path / "out" / "montage.png").is_file()


def test_help_shows_every_default():
    result = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True,
                            text=True, check=True)
    text = " ".join(result.stdout.split())
    for flag, default in [("--epochs", "25"), ("--batch-size", "32"), ("--lr", "0.01"),
                          ("--output", "."), ("--limit", "None"), ("--seed", "None")]:
        assert flag in text and f"(default: {default})" in text
    for flag, default in [("--schedule", "chapter"), ("--weight-decay", "0.0")]:
        assert flag in text and f"(default: {default})" in text
    for flag in ["--dataset-dir", "--no-display", "--model", "--load", "--mixed-precision",
                 "--distribute", "--augment", "--max-shift", "--label-smoothing", "--swa",
                 "--tta"]:
        assert flag in text


@pytest.mark.parametrize("flag, value", [
    ("--epochs", "0"), ("--epochs", "-3"), ("--epochs", "2.5"), ("--batch-size", "0"),
    ("--batch-size", "many"), ("--limit", "0"), ("--lr", "0"), ("--lr", "-0.1"),
    ("--lr", "nan"), ("--lr", "inf"), ("--model", "model.h5"), ("--weight-decay", "-1"),
    ("--weight-decay", "nan"), ("--schedule", "linear"), ("--erase-rate", "2"),
    ("--erase-rate", "nan"), ("--max-shift", "-1"), ("--max-shift", "15"),
    ("--max-shift", "1.5"), ("--label-smoothing", "1.5"), ("--swa", "-1"), ("--swa", "x"),
])
def test_bad_flag_values_are_refused(tmp_path, tiny_data, flag, value):
    result = run_script("--dataset-dir", tiny_data, flag, value, cwd=tmp_path)
    assert result.returncode == 2
    assert_clean_failure(result, flag, value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_limit_above_the_training_set(tmp_path, tiny_data):
    result = run_script("--dataset-dir", tiny_data, "--limit", "257", cwd=tmp_path)
    assert_clean_failure(result, "--limit 257", "256 training images")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


@pytest.mark.parametrize("damage, phrase", [
    ("missing-folder", "does not exist"),
    ("truncated-gzip", "train-images-idx3-ubyte.gz"),
    ("label-count", "labels but"),
])
def test_bad_data_fails_before_training(tmp_path, damage, phrase):
    import gzip

    from conftest import idx_bytes

    data = tmp_path / "data"
    write_dataset(data)
    if damage == "missing-folder":
        data = tmp_path / "no-such-folder"
    elif damage == "truncated-gzip":
        path = data / "train-images-idx3-ubyte.gz"
        path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    else:
        (data / "t10k-labels-idx1-ubyte.gz").write_bytes(
            gzip.compress(idx_bytes(np.zeros(99, np.uint8))))
    started = time.monotonic()
    result = run_script("--dataset-dir", data, "--output", tmp_path / "out", cwd=tmp_path)
    assert_clean_failure(result, phrase)
    assert time.monotonic() - started < 30
    assert not (tmp_path / "out").exists()


def test_output_folder_that_cannot_be_created(tmp_path, tiny_data):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = run_script("--dataset-dir", tiny_data, "--output", blocker / "out", cwd=tmp_path)
    assert_clean_failure(result, "a-file is a file, not a folder")
    assert blocker.read_text() == "not a folder"


def test_load_missing_and_non_model_files(tmp_path, tiny_data):
    result = run_script("--dataset-dir", tiny_data, "--load", tmp_path / "none.keras", cwd=tmp_path)
    assert_clean_failure(result, "there is no model file")
    fake = tmp_path / "fake.keras"
    fake.write_text("hello")
    result = run_script("--dataset-dir", tiny_data, "--load", fake, "--output", tmp_path / "out",
                        cwd=tmp_path)
    assert_clean_failure(result, "fake.keras is not a Keras model")
    assert not (tmp_path / "out" / "montage.png").exists()


def test_load_refuses_a_model_of_the_wrong_shape(tmp_path, tiny_data):
    import keras

    path = tmp_path / "cifar.keras"
    keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(),
                      keras.layers.Dense(10)]).save(path)
    result = run_script("--dataset-dir", tiny_data, "--load", path, cwd=tmp_path)
    assert_clean_failure(result, "Fashion-MNIST needs")


def test_saved_model_is_reused_with_identical_predictions(tmp_path, tiny_data):
    trained = run_script("--dataset-dir", tiny_data, "--epochs", "1", "--seed", "5",
                         "--output", tmp_path / "a", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    model = tmp_path / "a" / "fashion_mnist.keras"
    loaded = run_script("--dataset-dir", tiny_data, "--load", model, "--seed", "5",
                        "--output", tmp_path / "b", cwd=tmp_path)
    assert loaded.returncode == 0, loaded.stderr
    assert "training model" not in loaded.stdout and not (tmp_path / "b" / "plot.png").exists()

    def report(text):
        return text[text.index("precision"):text.index("[INFO] test accuracy")]

    assert report(loaded.stdout) == report(trained.stdout)
    assert (tmp_path / "a" / "montage.png").read_bytes() == (tmp_path / "b" / "montage.png").read_bytes()


def test_divergence_stops_and_keeps_the_good_model(tmp_path, tiny_data):
    out = tmp_path / "out"
    out.mkdir()
    (out / "fashion_mnist.keras").write_bytes(b"a good model from yesterday")
    result = run_script("--dataset-dir", tiny_data, "--lr", "1e30", "--epochs", "3",
                        "--output", out, cwd=tmp_path)
    assert_clean_failure(result, "NaN or infinite", "smaller learning rate")
    assert result.returncode == 1
    assert "Epoch 2/3" not in result.stdout
    assert (out / "fashion_mnist.keras").read_bytes() == b"a good model from yesterday"
    assert sorted(p.name for p in out.iterdir()) == ["fashion_mnist.keras"]


def test_mixed_precision_says_what_it_trained_in(tmp_path, tiny_data):
    from pyimagesearch.training import cpu_supports_bfloat16

    result = run_script("--dataset-dir", tiny_data, "--epochs", "1", "--mixed-precision",
                        "--output", tmp_path / "out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    changes = result.stdout.split("changed from the chapter's recipe: ")[1].splitlines()[0]
    if cpu_supports_bfloat16():
        assert "mixed precision: bfloat16 on the CPU" in result.stdout
        assert changes == "epochs 1, batch 32, lr 0.01, bfloat16 arithmetic"
    else:
        assert "--mixed-precision ignored: this CPU has no bfloat16 instructions" in result.stdout
        assert changes == "epochs 1, batch 32, lr 0.01"


def test_same_seed_same_run(tmp_path, tiny_data):
    import keras

    runs = []
    for name in "ab":
        result = run_script("--dataset-dir", tiny_data, "--epochs", "2", "--seed", "11",
                            "--output", tmp_path / name, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        runs.append(tmp_path / name)
    a, b = runs
    assert (a / "montage.png").read_bytes() == (b / "montage.png").read_bytes()
    assert (a / "plot.png").read_bytes() == (b / "plot.png").read_bytes()
    weights_a = keras.models.load_model(a / "fashion_mnist.keras").get_weights()
    weights_b = keras.models.load_model(b / "fashion_mnist.keras").get_weights()
    assert all(np.array_equal(x, y) for x, y in zip(weights_a, weights_b))


def start_training(tmp_path, epochs=20, flags=()):
    """Start a real training run in the background and wait until its second epoch begins."""
    data = tmp_path / "data"
    write_dataset(data, n_train=3000)
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    process = subprocess.Popen([sys.executable, "-u", str(SCRIPT), "--dataset-dir", str(data),
                                "--epochs", str(epochs), "--output", str(tmp_path / "out"), *flags],
                               cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    seen = ""
    while f"Epoch 2/{epochs}" not in seen:  # one whole epoch has finished
        chunk = process.stdout.read(1)
        assert chunk, f"the run ended early: {process.stderr.read()}"
        seen += chunk
    return process


@pytest.mark.parametrize("flags", [(), ("--swa", "19", "--schedule", "cosine")])
def test_ctrl_c_stops_after_the_batch_and_keeps_the_results(tmp_path, flags):
    # with --swa 19, Ctrl-C comes in the first averaged epoch
    process = start_training(tmp_path, flags=flags)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "interrupted by Ctrl-C after 1 of 20 epochs" in stderr
    assert "Epoch 3/20" not in stdout
    assert "weighted avg" in stdout
    assert "mean of the weights" not in stdout  # a run cut short keeps its last weights
    for name in ["plot.png", "montage.png", "fashion_mnist.keras"]:
        assert (tmp_path / "out" / name).is_file(), name


def test_second_ctrl_c_quits_at_once(tmp_path):
    process = start_training(tmp_path)
    process.send_signal(signal.SIGINT)
    time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130
    assert "Traceback" not in stderr
    assert "interrupted twice: stopped at once" in stderr
    assert "weighted avg" not in stdout
    leftovers = [p.name for p in (tmp_path / "out").iterdir()] if (tmp_path / "out").exists() else []
    assert all(not name.startswith(".") for name in leftovers), leftovers  # no temporary files


def test_pick_images_is_random_without_a_seed():
    from fashion_mnist import pick_images

    assert len(set(pick_images(16, 10_000))) == 16
    np.testing.assert_array_equal(pick_images(16, 10_000, 3), pick_images(16, 10_000, 3))
    assert not np.array_equal(pick_images(16, 10_000), pick_images(16, 10_000))


@pytest.mark.parametrize("user_setting", [None, "0"])
def test_onednn_kernels_are_asked_for_on_x86_unless_the_user_says_otherwise(user_setting):
    start = ("import os, fashion_mnist as fm; fm.start_tensorflow(fm.parse_args([]))\n"
             "from tensorflow.python.util import _pywrap_util_port as port\n"
             "print(os.environ.get('TF_ENABLE_ONEDNN_OPTS'), port.IsMklEnabled())")
    env = user_env()
    env.pop("TF_ENABLE_ONEDNN_OPTS", None)
    if user_setting is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = user_setting
    result = subprocess.run([sys.executable, "-c", start], cwd=SCRIPT.parent, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    setting, enabled = result.stdout.split()[-2:]
    if user_setting == "0":
        assert (setting, enabled) == ("0", "False")
    elif platform.machine().lower() in ("x86_64", "amd64"):
        assert (setting, enabled) == ("1", "True")
    else:  # left to TensorFlow's own choice
        assert setting == "None"


@pytest.mark.skipif(not REAL_DATA.is_dir(), reason="needs apt-get install dataset-fashion-mnist "
                    "(.ci/run installs it, so this runs in CI)")
def test_real_data_one_epoch(tmp_path):
    result = run_script("--limit", "3000", "--epochs", "1", "--output", tmp_path, "--seed", "1",
                        cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "training model on 3,000 images" in result.stdout
    assert "10000" in result.stdout  # the whole test set is evaluated
    keras_logs = last_epoch_logs(result.stdout)
    assert float(keras_logs["accuracy"]) > 0.4  # it learned: chance is 0.1
    # The report's accuracy is Keras's validation accuracy for the same model and images.
    # (It is not asserted to be high: after 94 updates batch norm's running statistics are
    # still far from the data's, so the test accuracy of such a short run ranges widely.)
    assert f"[INFO] test accuracy: {keras_logs['val_accuracy']}" in result.stdout
