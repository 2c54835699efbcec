"""--distribute, with fit as it is: on TensorFlow, MirroredStrategy on two logical CPU devices
of this machine (a cluster is refused); on JAX, Keras's DataParallel over two CPU devices,
and over two processes on 127.0.0.1."""

import json
import socket
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, SCRIPT, on_backend, user_env

PROGRAM = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import fashion_mnist as fm
from pyimagesearch.cli import parse_args, written
from pyimagesearch.datasets import load_fashion_mnist
from pyimagesearch.pipeline import make_dataset, predict
from pyimagesearch.safety.supervisor import Supervisor
from pyimagesearch.training.distribute import choose

((trainX, trainY), (testX, testY)), _ = load_fashion_mnist(sys.argv[1])
place = choose(True)
args = parse_args(["--epochs", "1", "--seed", "1", "--distribute", "--output", sys.argv[2]])
model = fm.build_model(args, place, len(trainX))
with Supervisor(*written(args)) as run:
    run.prepare_folders(model)
    data = trainX, trainY, make_dataset(testX, testY, 64)
    history = fm.train(model, args, data, run, place)
kernel = model.layers[0].kernel  # a MirroredVariable: one copy per device
copies = [v.numpy() for v in kernel.value.values]
print(json.dumps({
    "replicas": place.replicas,
    "devices": [v.device for v in kernel.value.values],
    "updates": int(model.optimizer.iterations.numpy()),
    "copies_equal": bool((copies[0] == copies[1]).all()),
    "loss": history["loss"],
    "predictions": len(predict(model, testX)),
    "backup": run.backup_path.exists(),  # kept until the results are written
}))
"""


@on_backend("tensorflow")
def test_mirrored_strategy_over_two_cpu_devices(tmp_path, tiny_data):
    result = subprocess.run([sys.executable, "-c", PROGRAM, str(tiny_data), str(tmp_path / "out")],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["replicas"] == 2
    assert [d.rsplit("/", 1)[-1] for d in report["devices"]] == ["device:CPU:0", "device:CPU:1"]
    assert report["updates"] == 4  # 256 images, a batch of 32 on each of 2 replicas
    assert report["copies_equal"]  # the gradients were all-reduced
    assert len(report["loss"]) == 1 and report["predictions"] == 100
    assert report["backup"]  # a killed run continues, as on one device


def free_ports(count):
    """Ports on 127.0.0.1 that nothing listens on (as of now)."""
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


@on_backend("tensorflow")
def test_a_tensorflow_cluster_is_told_to_use_jax(monkeypatch):
    from pyimagesearch.errors import UserError
    from pyimagesearch.training.distribute import choose

    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["127.0.0.1:1"]}}))
    with pytest.raises(UserError, match="^Keras 3 does not train across machines on "
                                        "TensorFlow .*KERAS_BACKEND=jax"):
        choose(True)


def run_jax(folder, data, *flags, env=None):
    """fashion_mnist.py --distribute on JAX, seeded, writing into ``folder``."""
    return subprocess.Popen(
        [sys.executable, "-u", str(SCRIPT), "--distribute", "--seed", "1", "--dataset-dir",
         str(data), "--output", str(folder), "--no-display", *flags], cwd=folder.parent,
        env=user_env({"KERAS_BACKEND": "jax", **(env or {})}), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)


def weights_and_updates(folder):
    import keras

    model = keras.models.load_model(folder / "fashion_mnist.keras")
    return model.get_weights(), int(model.optimizer.iterations)


@on_backend("jax")
def test_keras_data_parallel_over_two_cpu_devices(tmp_path, tiny_data):
    process = run_jax(tmp_path / "out", tiny_data, "--epochs", "1",
                      env={"XLA_FLAGS": "--xla_force_host_platform_device_count=2"})
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, err[-3000:]
    assert "[INFO] training on 2 devices, a batch of 32 on each at every step" in out
    assert weights_and_updates(tmp_path / "out")[1] == 4  # 256 images, 2 x 32 a step
    assert "test accuracy" in out


@pytest.mark.slow
@on_backend("jax")
def test_two_jax_processes_train_one_model_with_fit(tmp_path, tiny_data):
    ports = free_ports(2)
    processes = [run_jax(tmp_path / f"process{index}", tiny_data, "--epochs", "2", env={
        "KERAS_DISTRIBUTION_JOB_ADDRESSES": ",".join(f"127.0.0.1:{port}" for port in ports),
        "KERAS_DISTRIBUTION_NUM_PROCESSES": "2", "KERAS_DISTRIBUTION_PROCESS_ID": str(index)})
        for index in range(2)]
    for process in processes:
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, err[-3000:]
        assert "[INFO] trained 2 epochs" in out and "test accuracy" in out
    (first, updates), (second, again) = [weights_and_updates(tmp_path / f"process{index}")
                                         for index in range(2)]
    assert updates == again == 8  # 128 images a process, a batch of 32 on each device
    assert all(np.array_equal(a, b) for a, b in zip(first, second))


def test_too_few_images_to_give_every_process_one_are_refused():
    from pyimagesearch.errors import UserError
    from pyimagesearch.training.distribute import Placement

    with pytest.raises(UserError, match="^1 training image cannot be shared among 2 processes; "
                                        "give --limit 2 at least$"):
        Placement(workers=2).check_share(1)
    Placement(workers=2).check_share(2)
