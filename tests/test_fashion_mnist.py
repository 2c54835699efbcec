"""fashion_mnist.py as a user meets it: its exit code, what it printed and wrote (in a
new process where that is what a user would see, in this one otherwise); and its steps
(build, train, predict) called the way another script would."""

import gzip
import re
import signal
import subprocess
import sys
import time

import cv2
import keras
import numpy as np
import pytest

import fashion_mnist
from conftest import (SCRIPT, assert_clean_failure, idx_bytes, needs_real_data, on_backend,
                      run_main, run_script, start_training, user_env, wait_for_stderr,
                      write_dataset)
from pyimagesearch import cli, pipeline
from pyimagesearch.datasets import LABEL_NAMES
from pyimagesearch.pipeline import make_dataset
from pyimagesearch.training.backend import BACKENDS
from pyimagesearch.training.distribute import Placement

BACKEND_TITLE = BACKENDS[keras.backend.backend()][0]


def last_epoch_logs(stdout):
    """The figures Keras's progress bar ends the last epoch with: {"accuracy": "0.6527", ...}."""
    plain = re.sub(r"\x1b\[[0-9;]*m", "", stdout).replace("\r", "\n")
    last = [line for line in plain.splitlines() if "val_accuracy" in line][-1]
    return dict(re.findall(r"(\w+): (\d+\.\d+)", last))


def test_headless_run_writes_everything(tmp_path, tiny_data):
    # as with "python fashion_mnist.py > train.log" from a terminal (TERM is set)
    out = tmp_path / "out"
    result = run_script("--dataset-dir", tiny_data, "--epochs", "2", "--output", out,
                        cwd=tmp_path, env={"TERM": "xterm"})
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]  # what it runs with, first
    assert first.startswith("[INFO] running with Keras 3.") and ", Python 3." in first
    assert f" on {BACKEND_TITLE} " in first  # the backend Keras runs on, named
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
    # a log: one plain line an epoch, Keras's own verbose=2 style, and no escape codes
    assert "\x1b" not in result.stdout + result.stderr and "\r" not in result.stdout
    epochs = [line for line in result.stdout.splitlines() if "val_accuracy" in line]
    assert len(epochs) == 2 and all(line.startswith("8/8 - ") for line in epochs)


@pytest.mark.parametrize("damage, phrase", [
    ("missing-folder", "does not exist"),
    ("truncated-gzip", "train-images-idx3-ubyte.gz"),
    ("label-count", "labels but"),
])
def test_bad_data_fails_before_training(tmp_path, capsys, damage, phrase):
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
    result = run_main(capsys, "--dataset-dir", data, "--output", tmp_path / "out")
    assert_clean_failure(result, phrase)
    assert time.monotonic() - started < 30
    assert not (tmp_path / "out").exists()


def report(text):
    """The classification report and confusion matrix a run printed."""
    return text[text.index("precision"):text.index("[INFO] test accuracy")]


def test_saved_model_is_reused_with_identical_predictions(tmp_path, capsys, trained_model):
    loaded = run_main(capsys, "--dataset-dir", trained_model.data, "--load", trained_model.path,
                      "--seed", "5", "--output", tmp_path / "b")
    assert loaded.code == 0, loaded.stderr
    assert "training model" not in loaded.stdout and not (tmp_path / "b" / "plot.png").exists()
    assert report(loaded.stdout) == report(trained_model.stdout)
    assert ((tmp_path / "b" / "montage.png").read_bytes()
            == (trained_model.folder / "montage.png").read_bytes())


def test_divergence_stops_and_keeps_the_good_model(tmp_path, capsys, tiny_data):
    out = tmp_path / "out"
    out.mkdir()
    (out / "fashion_mnist.keras").write_bytes(b"a good model from yesterday")
    result = run_main(capsys, "--dataset-dir", tiny_data, "--lr", "1e30", "--epochs", "3",
                      "--output", out)
    assert_clean_failure(result, "NaN or infinite", "smaller learning rate")
    assert result.code == 1
    assert "Epoch 2/3" not in result.stdout
    assert (out / "fashion_mnist.keras").read_bytes() == b"a good model from yesterday"
    assert sorted(p.name for p in out.iterdir()) == ["fashion_mnist.keras"]


def test_mixed_precision_says_what_it_trained_in(tmp_path, capsys, tiny_data):
    from pyimagesearch.training.precision import cpu_supports_bfloat16

    try:
        result = run_main(capsys, "--dataset-dir", tiny_data, "--epochs", "1",
                          "--mixed-precision", "--output", tmp_path / "out")
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert result.code == 0, result.stderr
    changes = result.stdout.split("changed from the chapter's recipe: ")[1].splitlines()[0]
    if cpu_supports_bfloat16():
        assert "mixed precision: bfloat16 on the CPU" in result.stdout
        assert changes == "epochs 1, bfloat16 arithmetic"
    else:
        assert "--mixed-precision ignored: this CPU has no bfloat16 instructions" in result.stdout
        assert changes == "epochs 1"


def test_same_seed_same_run(tmp_path, capsys, trained_model):
    again = run_main(capsys, "--dataset-dir", trained_model.data, *trained_model.flags,
                     "--output", tmp_path)
    assert again.code == 0, again.stderr
    a, b = trained_model.folder, tmp_path
    assert (a / "montage.png").read_bytes() == (b / "montage.png").read_bytes()
    assert (a / "plot.png").read_bytes() == (b / "plot.png").read_bytes()
    weights_a = keras.models.load_model(a / "fashion_mnist.keras").get_weights()
    weights_b = keras.models.load_model(b / "fashion_mnist.keras").get_weights()
    assert all(np.array_equal(x, y) for x, y in zip(weights_a, weights_b))


def test_the_limit_cannot_exceed_the_training_set(tmp_path, capsys, tiny_data):
    result = run_main(capsys, "--dataset-dir", tiny_data, "--limit", "257",
                      "--output", tmp_path / "out")
    assert_clean_failure(result, "--limit 257", "256 training images")
    assert result.code == 1 and not (tmp_path / "out").exists()


def test_an_output_folder_that_cannot_be_created(tmp_path, capsys, tiny_data):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = run_main(capsys, "--dataset-dir", tiny_data, "--output", blocker / "out")
    assert_clean_failure(result, "a-file is a file, not a folder")
    assert blocker.read_text() == "not a folder"
    assert "loading Fashion MNIST" not in result.stdout  # refused before the data is read


def test_swa_that_cannot_work_writes_nothing(tmp_path, capsys, tiny_data, monkeypatch):
    monkeypatch.chdir(tmp_path)
    refused = run_main(capsys, "--dataset-dir", tiny_data, "--epochs", "3", "--swa", "3")
    assert refused.code == 2  # a wrong flag: argparse's exit code
    assert "--swa 3 would average every epoch of the 3" in refused.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


@pytest.mark.parametrize("flags", [(), pytest.param(("--swa", "19", "--schedule", "cosine"),
                                                     marks=pytest.mark.slow)])
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


@pytest.mark.slow  # a run in a new process: CI's slow set
def test_second_ctrl_c_quits_at_once(tmp_path):
    process = start_training(tmp_path)
    process.send_signal(signal.SIGINT)
    seen = wait_for_stderr(process, "stopping after this batch")  # Python would merge two
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    stderr = seen + stderr
    assert process.returncode == 130
    assert "Traceback" not in stderr
    assert "interrupted twice: stopped at once" in stderr
    assert "weighted avg" not in stdout
    out = tmp_path / "out"
    leftovers = [p.name for p in out.iterdir()] if out.exists() else []
    assert all(not name.startswith(".") for name in leftovers), leftovers  # no temporary files


def test_only_training_batches_are_augmented(tmp_path, tiny_data, monkeypatch):
    calls, settings = [], []

    def spy(images, labels, batch_size, **options):
        augment = options.get("augment")
        calls.append((len(images), augment is not None))
        settings.append(augment and (augment.keywords["max_shift"], augment.keywords["erase_rate"]))
        return make_dataset(images, labels, batch_size, **options)

    monkeypatch.setattr(pipeline, "make_dataset", spy)
    assert fashion_mnist.main(["--dataset-dir", str(tiny_data), "--epochs", "1", "--augment",
                               "--max-shift", "1", "--erase-rate", "0.25", "--tta",
                               "--output", str(tmp_path / "out"), "--no-display"]) == 0
    assert (256, True) in calls  # the training images
    assert all(count == 100 and not augment  # validation, evaluation and both TTA passes
               for count, augment in calls if (count, augment) != (256, True))
    assert len(calls) == 4
    assert settings[calls.index((256, True))] == (1, 0.25)


def build(*flags, steps_per_epoch=100):
    """The driver's compiled model for a command line, on this process's one device."""
    args = cli.parse_args(list(flags))
    return fashion_mnist.build_model(args, Placement(), steps_per_epoch * args.batch_size)


def test_the_chapters_optimizer_by_default():
    opt = build().optimizer
    assert isinstance(opt, keras.optimizers.SGD) and opt.momentum == 0.9
    assert opt.weight_decay is None
    assert isinstance(opt._learning_rate, keras.optimizers.schedules.InverseTimeDecay)
    assert float(opt._learning_rate(100)) == pytest.approx(0.01 / (1 + 100 * 0.01 / 25))


def test_cosine_schedule_and_weight_decay_reach_the_optimizer():
    opt = build("--lr", "0.05", "--epochs", "10", "--schedule", "cosine",
                "--weight-decay", "5e-4").optimizer
    assert opt.weight_decay == pytest.approx(5e-4)
    lr = opt._learning_rate  # the schedule itself
    assert float(lr(100)) == pytest.approx(0.05)  # after one epoch of warm-up
    assert float(lr(1000)) == pytest.approx(0.0, abs=1e-7)
    held = build("--lr", "0.05", "--epochs", "10", "--schedule", "cosine", "--swa", "3")
    assert float(held.optimizer._learning_rate(850)) == pytest.approx(0.005)  # --swa's lr / 10


def test_label_smoothing_reaches_the_loss():
    y = np.eye(10, dtype=np.float32)[[3]]
    p = np.full((1, 10), 0.05, np.float32)
    p[0, 3] = 0.55
    smoothed = build("--label-smoothing", "0.1").loss
    # the target becomes 0.91 for the true class and 0.01 for the nine others
    expected = -(0.91 * np.log(0.55) + 9 * 0.01 * np.log(0.05))
    assert float(smoothed(y, p)) == pytest.approx(expected, rel=1e-5)
    assert float(build().loss(y, p)) == pytest.approx(-np.log(0.55), rel=1e-5)


def test_tta_averages_each_image_with_its_mirror():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    images = np.random.default_rng(1).integers(0, 256, (50, 28, 28), dtype=np.uint8)
    x = images[..., None] / np.float32(255)
    scores = model.predict(x, verbose=0) + model.predict(x[:, :, ::-1], verbose=0)
    np.testing.assert_allclose(pipeline.predict(model, images, tta=True), scores / 2,
                               rtol=1e-5)
    plain = model.predict(x, verbose=0)
    np.testing.assert_allclose(pipeline.predict(model, images), plain, rtol=1e-6)
    assert not np.array_equal(plain.argmax(1), scores.argmax(1))  # the mirror did count
    # the driver's images carry their channel axis: the mirror is still left-right
    np.testing.assert_allclose(pipeline.predict(model, images[..., None], tta=True),
                               scores / 2, rtol=1e-5)


def printed_matrix(stdout):
    lines = stdout.split("columns: predicted label):\n")[1].splitlines()[1:11]
    return np.array([[int(n) for n in line.split()[-10:]] for line in lines])


def test_augmented_run_reports_its_recipe_and_saves_a_plain_model(tmp_path, capsys, tiny_data):
    out = tmp_path / "out"
    result = run_main(capsys, "--dataset-dir", tiny_data, "--epochs", "2", "--augment",
                      "--schedule", "cosine", "--weight-decay", "1e-4", "--label-smoothing", "0.1",
                      "--tta", "--seed", "3", "--output", out)
    assert result.code == 0, result.stderr
    assert ("changed from the chapter's recipe: flip + 2 px shift + erase augmentation, cosine "
            "schedule, weight decay 0.0001, label smoothing 0.1, epochs 2, flip test-time "
            "augmentation") in result.stdout
    matrix = printed_matrix(result.stdout)
    assert matrix.sum(axis=1).tolist() == [10] * 10  # every test image, once
    accuracy = float(result.stdout.split("[INFO] test accuracy: ")[1].split()[0])
    assert np.trace(matrix) / 100 == pytest.approx(accuracy)
    assert cv2.imread(str(out / "confusion.png")).shape[2] == 3

    # the model file is a plain MiniVGGNet: Keras alone loads it, with no augmentation layer
    model = keras.models.load_model(out / "fashion_mnist.keras")
    assert not [layer for layer in model.layers if "Random" in type(layer).__name__]
    assert model.predict(np.zeros((2, 28, 28, 1)), verbose=0).shape == (2, 10)

    again = run_main(capsys, "--dataset-dir", tiny_data, "--load", out / "fashion_mnist.keras",
                     "--tta", "--output", tmp_path / "again")
    assert again.code == 0, again.stderr
    np.testing.assert_array_equal(printed_matrix(again.stdout), matrix)


def test_swa_run_says_so_and_reports_the_averaged_model(tmp_path, capsys, tiny_data):
    out = tmp_path / "out"
    result = run_main(capsys, "--dataset-dir", tiny_data, "--epochs", "3", "--swa", "2",
                      "--schedule", "cosine", "--seed", "1", "--output", out)
    assert result.code == 0, result.stderr
    assert "mean of the weights after each of the last 2 epochs" in result.stdout
    assert "weights averaged over the last 2 epochs" in result.stdout
    reported = result.stdout.split("[INFO] test accuracy: ")[1].split()[0]

    # the saved model is the averaged one: loaded again, it gives the report's accuracy
    again = run_main(capsys, "--dataset-dir", tiny_data, "--load", out / "fashion_mnist.keras",
                     "--output", tmp_path / "again")
    assert again.code == 0, again.stderr
    assert f"[INFO] test accuracy: {reported}" in again.stdout


@pytest.mark.slow
@needs_real_data
def test_real_data_short_run(real_run):
    assert "training model on 20,000 images" in real_run.stdout
    assert "10000" in real_run.stdout  # the whole test set is evaluated
    keras_logs = last_epoch_logs(real_run.stdout)
    assert float(keras_logs["accuracy"]) > 0.4  # it learned: chance is 0.1
    # The report's accuracy is Keras's validation accuracy for the same model and images.
    # (It is not asserted to be high: with few updates batch norm's running statistics can
    # still be far from the data's, so the test accuracy of such a short run ranges widely.)
    assert f"[INFO] test accuracy: {keras_logs['val_accuracy']}" in real_run.stdout


def test_no_data_anywhere_ends_in_one_sentence(tmp_path):
    # no folder has the files and the download fails (as offline): the error is all there is
    program = ("import sys, fashion_mnist, pyimagesearch.datasets as datasets\n"
               "from pyimagesearch.training import backend\n"
               "keras = backend.start()\n"
               "datasets.DEBIAN_DIR = datasets.KERAS_CACHE_DIR = datasets.Path(sys.argv[1])\n"
               "def offline(): raise OSError('Name or service not known')\n"
               "keras.datasets.fashion_mnist.load_data = offline\n"
               "sys.exit(fashion_mnist.main(['--output', sys.argv[1] + '/out']))\n")
    result = subprocess.run([sys.executable, "-c", program, str(tmp_path / "none")],
                            cwd=SCRIPT.parent, env=user_env(), capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        result.stderr.strip().splitlines()[-1]]  # one line, TensorFlow's start-up kept quiet
    assert_clean_failure(result, "download failed", "Name or service not known",
                         "apt-get install dataset-fashion-mnist")
    assert not (tmp_path / "none").exists()


@on_backend("tensorflow")  # the converters are TensorFlow's
def test_export_writes_each_format_beside_the_model_and_checks_it(tmp_path, capsys,
                                                                  trained_model):
    from pyimagesearch.portable.export import missing_packages

    formats = ["litert", "onnx", "saved-model"]
    result = run_main(capsys, "--dataset-dir", trained_model.data, "--load", trained_model.path,
                      "--export", *formats, "--output", tmp_path)
    missing = missing_packages(formats)
    if missing:  # the oldest environment: refused before anything, in one sentence
        assert_clean_failure(result, f"needs {', '.join(missing)}: pip install")
        assert list(tmp_path.iterdir()) == []
        return
    assert result.code == 0, result.stderr
    for format, name in [("litert", "fashion_mnist.tflite"), ("onnx", "fashion_mnist.onnx"),
                         ("saved-model", "fashion_mnist-savedmodel")]:
        line = next(line for line in result.stdout.splitlines()
                    if line.startswith(f"[INFO] {format}: "))
        assert "labels 100.00% of the test images as Keras does" in line and "images/s" in line
        assert (tmp_path / name).exists()
    assert "Traceback" not in result.stderr and "XNNPACK" not in result.stderr


@on_backend("tensorflow")
def test_an_export_that_fails_its_check_is_removed(tmp_path, capsys, trained_model, monkeypatch):
    from pyimagesearch.portable import export

    monkeypatch.setattr(export, "judge", lambda format, result, accuracy: "it was made to fail")
    monkeypatch.setattr(export, "check", lambda *args: export.Check(1, 0.5, 0.5, 1.0, 1.0))
    result = run_main(capsys, "--dataset-dir", trained_model.data, "--load", trained_model.path,
                      "--export", "saved-model", "--output", tmp_path)
    assert_clean_failure(result, "the saved-model export failed its check")
    assert result.code == 1
    assert "saved-model failed its check: it was made to fail" in result.stderr
    assert not (tmp_path / "fashion_mnist-savedmodel").exists()


@pytest.mark.slow
@needs_real_data
@on_backend("tensorflow")
def test_every_export_of_a_real_model_keeps_its_accuracy(tmp_path, real_run):
    from pyimagesearch.portable.export import missing_packages

    formats = ["litert", "litert-int8", "onnx", "saved-model"]
    result = run_script("--load", real_run.folder / "fashion_mnist.keras", "--export", *formats,
                        "--output", tmp_path, cwd=tmp_path)
    if missing_packages(formats):
        assert_clean_failure(result, "pip install -r requirements-export.txt")
        return
    assert result.returncode == 0, result.stderr  # int8 lost at most half a point
    checks = {line.split()[1].rstrip(":"): line for line in result.stdout.splitlines()
              if re.match(r"\[INFO\] [a-z0-9-]+: [0-9.]+ MB", line)}
    assert sorted(checks) == sorted(formats)
    sizes = {format: float(line.split()[2]) for format, line in checks.items()}
    assert 3.5 < sizes["litert"] / sizes["litert-int8"] < 4.5


@pytest.mark.parametrize("n_test, one_class", [(12, False), (100, True)])
def test_a_small_test_set_or_one_without_every_class_gets_its_report_and_pictures(
        tmp_path, capsys, n_test, one_class):
    data = tmp_path / "data"
    write_dataset(data, n_train=64, n_test=n_test)
    if one_class:  # every test image a top
        (data / "t10k-labels-idx1-ubyte.gz").write_bytes(
            gzip.compress(idx_bytes(np.zeros(n_test, np.uint8))))
    result = run_main(capsys, "--dataset-dir", data, "--epochs", "1", "--output",
                      tmp_path / "out", "--no-display")
    assert result.code == 0, result.stderr
    assert "Traceback" not in result.stderr and "ankle boot" in result.stdout
    assert {"plot.png", "confusion.png", "montage.png"} <= {
        p.name for p in (tmp_path / "out").iterdir()}


@pytest.mark.slow  # a run in a new process: CI's slow set
def test_a_fresh_run_stopped_early_never_replaces_an_earlier_runs_model(tmp_path,
                                                                        trained_model):
    out = tmp_path / "out"
    out.mkdir()
    finished = {name: (trained_model.folder / name).read_bytes()
                for name in ("fashion_mnist.keras", "plot.png", "montage.png")}
    for name, content in finished.items():
        (out / name).write_bytes(content)
    process = start_training(tmp_path)  # the same command, seedless: another run
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 143, stderr
    assert ("fashion_mnist.keras and its results, from an earlier run, are kept; this run's "
            "backup holds its epochs: run the same command again to continue it") in stderr
    for name, content in finished.items():
        assert (out / name).read_bytes() == content, name
    assert (out / "fashion_mnist-backup.npz").is_file()
