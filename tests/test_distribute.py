"""--distribute: MirroredStrategy, tried on two logical CPU devices of this machine."""

import json
import subprocess
import sys

from conftest import ROOT, run_script

PROGRAM = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import fashion_mnist as fm
from pyimagesearch.datasets import load_fashion_mnist
from pyimagesearch.training import choose_strategy

((trainX, trainY), (testX, testY)), _ = load_fashion_mnist(sys.argv[1])
strategy = choose_strategy(True)
model = fm.build_model(fm.INIT_LR, 1, strategy)
history, guard = fm.train(model, trainX, trainY, testX, testY, 1, fm.BS, seed=1)
kernel = model.layers[0].kernel  # a MirroredVariable: one copy per device
copies = [v.numpy() for v in kernel.value.values]
print(json.dumps({
    "replicas": strategy.num_replicas_in_sync,
    "devices": [v.device for v in kernel.value.values],
    "updates": int(model.optimizer.iterations.numpy()),
    "copies_equal": bool((copies[0] == copies[1]).all()),
    "loss": history["loss"],
    "predictions": len(fm.predict(model, testX)),
}))
"""


def test_mirrored_strategy_over_two_cpu_devices(tiny_data):
    result = subprocess.run([sys.executable, "-c", PROGRAM, str(tiny_data)], cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["replicas"] == 2
    assert [d.rsplit("/", 1)[-1] for d in report["devices"]] == ["device:CPU:0", "device:CPU:1"]
    assert report["updates"] == 4  # 256 images, a batch of 32 on each of 2 replicas
    assert report["copies_equal"]  # the gradients were all-reduced
    assert len(report["loss"]) == 1 and report["predictions"] == 100


def test_multi_worker_is_refused_with_a_reason(tmp_path, tiny_data):
    config = {"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]},
              "task": {"type": "worker", "index": 0}}
    result = run_script("--distribute", "--dataset-dir", tiny_data, cwd=tmp_path,
                        env={"TF_CONFIG": json.dumps(config)})
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "unset TF_CONFIG" in result.stderr.strip().splitlines()[-1]
