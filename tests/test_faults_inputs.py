"""fashion_mnist.py given what a careless or hostile user gives it: names in any encoding
the file system allows, folders and files this user may not read, pictures that would
decode to gigabytes, a model that loads but does not run, a thread that is not the main
one, a kill after training, stop signals during the exports, and the answers that come
before Keras starts."""

import os
import shutil
import signal
import subprocess
import sys
import threading

import cv2
import keras
import numpy as np
import pytest

import fashion_mnist
from conftest import SCRIPT, run_main, start_training, user_env
from pyimagesearch import photos
from pyimagesearch.errors import UserError
from pyimagesearch.safety.supervisor import supervise


def write_picture(path):
    """A dark shirt-like shape on a light ground, written by Python (OpenCV is never given
    a name, which may be in any encoding)."""
    shirt = np.pad(np.full((20, 10), 50, np.uint8), 8, constant_values=230)
    path.write_bytes(cv2.imencode(".png", shirt)[1].tobytes())
    return path


def test_names_in_any_encoding_are_written_read_and_said_on_one_line(tmp_path, capsys,
                                                                      trained_model):
    out = tmp_path / os.fsdecode(b"r\xe9sultats")  # Latin-1 on a UTF-8 file system
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    write_picture(pictures / os.fsdecode(b"bl\xe5.png"))
    write_picture(pictures / "two\nlines.png")
    result = run_main(capsys, "--load", trained_model.path, "--classify", pictures,
                      "--output", out, "--no-display")
    assert result.code == 0, result.stderr
    assert [p.name for p in out.iterdir()] == ["classified.png"]
    said = [line for line in result.stdout.splitlines() if "pictures/" in line]
    assert len(said) == 2  # one line each, the newline in a name shown as \n
    assert any("bl\\xe5.png: " in line for line in said)
    assert any("two\\nlines.png: " in line for line in said)
    assert "r\\xe9sultats/classified.png" in result.stdout


@pytest.mark.parametrize("case", ["output", "dataset", "classify", "load", "picture", "model"])
def test_what_this_user_may_not_read_is_said_in_one_sentence(ordinary_user, capsys,
                                                             trained_model, case):
    folder, rights = ordinary_user
    shutil.copy(trained_model.path, folder / "m.keras")
    shutil.copytree(trained_model.data, folder / "data")
    write_picture(folder / "shirt.png")
    (folder / "locked").mkdir()
    write_picture(folder / "locked" / "x.png")
    shutil.copy(folder / "m.keras", folder / "locked" / "m.keras")
    write_picture(folder / "secret.png")
    shutil.copy(folder / "m.keras", folder / "secret.keras")
    for unreadable in ("secret.png", "secret.keras", "locked"):
        (folder / unreadable).chmod(0)
    load = ["--load", folder / "m.keras", "--dataset-dir", folder / "data"]
    flags = {"output": [*load, "--output", folder / "locked" / "sub"],
             "dataset": ["--dataset-dir", folder / "locked", "--output", folder / "out"],
             "classify": [*load, "--classify", folder / "locked" / "x.png"],
             "load": ["--load", folder / "locked" / "m.keras", "--output", folder / "out"],
             "picture": [*load, "--classify", folder / "secret.png", "--output", folder / "out"],
             "model": ["--load", folder / "secret.keras", "--output", folder / "out"]}[case]
    with rights():
        result = run_main(capsys, *flags, "--no-display")
    assert result.code == 1 and "Traceback" not in result.stderr + result.stdout
    said = result.stderr.strip().splitlines()
    assert all(line.startswith("error: ") for line in said), said
    assert "Permission denied" in said[0], said  # the reason, not "not a picture", say
    assert not (folder / "out").exists()


def radiance_picture(path, side):
    """A Radiance HDR picture of ``side`` x ``side`` pixels of one colour, run-length
    encoded: a few MB that decode to gigabytes (a format Pillow does not read)."""
    runs = b""
    for start in range(0, side, 127):
        runs += bytes([128 + min(127, side - start), 100])
    line = bytes([2, 2, side >> 8, side & 255]) + runs * 4
    header = f"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y {side} +X {side}\n".encode()
    path.write_bytes(header + line * side)
    return path


def test_a_picture_whose_size_pillow_cannot_read_is_never_decoded(tmp_path):
    bomb = radiance_picture(tmp_path / "bomb.png", 12000)  # 144 megapixels, 9 MB
    with pytest.raises(UserError, match="bomb.png is not a picture this program can read"):
        photos.read_picture(bomb)
    if sys.platform == "linux":  # decoded, it would take 1.7 GB at the least (12000 x 12000
        # x 3 float32): a new process, whose peak is its own, refuses it in a few hundred MB
        # (its peak from /proc: getrusage's would include this process's, inherited by exec)
        refused = subprocess.run([sys.executable, "-c", (
            "import re, sys\nfrom pathlib import Path\nfrom pyimagesearch import photos\n"
            "print(photos.prepare([sys.argv[1]])[1])\n"
            "print(re.search(r'VmHWM:\\s*(\\d+)', Path('/proc/self/status').read_text())[1])"),
            str(tmp_path)], cwd=SCRIPT.parent, capture_output=True, text=True, timeout=120)
        problems, peak = refused.stdout.splitlines()
        assert "bomb.png is not a picture this program can read" in problems, refused.stderr
        assert int(peak) < 500_000  # KiB


def test_an_onnx_model_that_loads_but_cannot_run_is_one_sentence(tmp_path):
    from pyimagesearch.portable.runtimes import PortableModel, missing_runtime

    path = tmp_path / "odd.onnx"
    if missing_runtime(path):  # the oldest environment: no runtime, and no onnx to write one
        path.write_bytes(b"")
        with pytest.raises(UserError, match="pip install onnxruntime"):
            PortableModel(path)
        return
    from onnx import TensorProto, helper, save

    images = helper.make_tensor_value_info("images", TensorProto.FLOAT, [None, 28, 28, 1])
    out = helper.make_tensor_value_info("out", TensorProto.FLOAT, [None, 10])
    shape = helper.make_tensor("shape", TensorProto.INT64, [2], [-1, 10])  # 2 x 784: no 10s
    graph = helper.make_graph([helper.make_node("Reshape", ["images", "shape"], ["out"])],
                              "odd", [images], [out], initializer=[shape])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    save(model, path)
    with pytest.raises(UserError, match="odd.onnx could not be run .*--export") as refused:
        PortableModel(path).predict(np.zeros((2, 28, 28, 1), np.float32))
    assert "\n" not in str(refused.value)
    (tmp_path / "damaged.onnx").write_bytes(b"not a model")
    with pytest.raises(UserError, match="damaged.onnx is not an ONNX model this program can"):
        PortableModel(tmp_path / "damaged.onnx")


def test_a_run_in_another_thread_says_why_it_cannot_be_stopped_and_works(tmp_path, capsys,
                                                                          trained_model):
    codes = []
    handler = signal.getsignal(signal.SIGINT)
    argv = ["--load", str(trained_model.path), "--dataset-dir", str(trained_model.data),
            "--output", str(tmp_path / "out"), "--no-display"]
    thread = threading.Thread(target=lambda: codes.append(fashion_mnist.main(argv)))
    thread.start()
    thread.join()
    err = capsys.readouterr().err
    assert codes == [0], err
    assert ("this run was started outside the main thread, which alone receives stop "
            "signals: Ctrl-C or SIGTERM cannot stop it cleanly") in err
    assert (tmp_path / "out" / "montage.png").is_file()
    assert signal.getsignal(signal.SIGINT) is handler  # nothing changed


def run_without_tensorflow(tmp_path, *args):
    """fashion_mnist.py with a Keras and backends that cannot be imported: what answers
    before they would be imported still works."""
    fake = tmp_path / "no-tensorflow"
    for package in ("tensorflow", "keras", "jax", "torch"):
        (fake / package).mkdir(parents=True, exist_ok=True)
        (fake / package / "__init__.py").write_text("raise ImportError('imported after all')\n")
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], cwd=tmp_path,
                          env=user_env({"PYTHONPATH": str(fake)}), capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("args, code, phrase", [
    (["--help"], 0, "usage: fashion_mnist.py"),
    (["--version"], 0, "fashion_mnist.py with Keras "),
    (["--epochs", "0"], 2, "argument --epochs: must be a whole number from 1 to 10000"),
    (["--swa", "5", "--epochs", "2"], 2, "--swa 5 would average every epoch of the 2"),
])
def test_help_version_and_wrong_flags_answer_before_tensorflow_starts(tmp_path, args, code,
                                                                      phrase):
    result = run_without_tensorflow(tmp_path, *args)
    assert result.returncode == code and phrase in result.stdout + result.stderr
    assert "imported after all" not in result.stderr


def test_a_busy_folder_is_refused_before_tensorflow_starts(tmp_path):
    from pyimagesearch.safety.lock import RunLock

    (tmp_path / "out").mkdir()
    lock = RunLock(tmp_path / "out" / "fashion_mnist.lock").acquire()
    try:
        result = run_without_tensorflow(tmp_path, "--output", tmp_path / "out")
    finally:
        lock.release()
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: another run (process {os.getpid()} on ")


@pytest.mark.slow  # a run in a new process, killed, then run again
def test_a_run_killed_after_training_is_never_trained_again(tmp_path, capsys):
    # no --seed: a new training would make another model
    process = start_training(tmp_path, epochs=2, wait_for="[INFO] evaluating network",
                             n_train=500)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    out = tmp_path / "out"
    trained = keras.models.load_model(out / "fashion_mnist.keras").get_weights()
    assert (out / "fashion_mnist-backup.npz").is_file()  # kept until the results are written

    again = run_main(capsys, "--dataset-dir", tmp_path / "data", "--epochs", "2", "--output",
                     out)
    assert again.code == 0, again.stderr
    assert "Epoch 1/2" not in again.stdout and "Epoch 2/2" not in again.stdout
    assert "the backup holds all 2 epochs: nothing was left to train" in again.stdout
    again_weights = keras.models.load_model(out / "fashion_mnist.keras").get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(trained, again_weights))
    assert sorted(p.name for p in out.iterdir()) == ["confusion.png", "fashion_mnist.keras",
                                                     "montage.png", "plot.png"]
