"""Benchmark: the chapter's recipe done plainly versus this project's training path, on
each backend Keras runs on.

    python benchmarks/benchmark.py            # about 11 minutes on 2 cores
    python benchmarks/benchmark.py --quick    # under 3 minutes
    python benchmarks/benchmark.py --backends tensorflow jax torch --configs ab

Configurations, each in its own subprocess (so each peak memory is its own),
interleaved a, b, c, a, b, c, ... and repeated; the best of each is kept:

  a  reference   float32 NumPy arrays into fit, batch 32; predict(testX) at batch 32,
                 then 16 single-image predict calls for the montage (the chapter's code)
  b  project     fashion_mnist.py's path: uint8 data batched by its NumPy pipeline, two
                 malloc arenas, evaluation at batch 64; on TensorFlow, oneDNN's kernels on
                 any x86 CPU and the fused batch norm
  c  mixed       b with --mixed-precision (bfloat16 only where the CPU supports it)
  d  bf16-forced b with Keras's mixed_bfloat16 policy whatever the CPU (shows what c avoids)
  e  xla         b compiled by XLA (jit_compile=True), which Keras leaves off on CPU-only machines

Per configuration: training images/s after warm-up, evaluation images/s over the
10,000 test images, and peak resident memory. Each round also measures the machine's
limit, the throughput of a 2048x2048 matrix product in float32 and in bfloat16, and
each configuration's training GFLOP/s is printed as a share of the product in its
compute dtype (a training image costs three forward passes' multiply-adds). With
--backends, every configuration runs on each backend named (KERAS_BACKEND in its
subprocess; the limit is measured by the first), side by side. Then, on TensorFlow, for a,
b and c, the split of a training step's time by kind of operation, from its profiler. The
last line gives each configuration's ratios to a on its backend. Uses the real data when
installed, else random data of the same shape. docs/performance.md records its runs.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CONFIGS = {"a": "reference", "b": "project", "c": "mixed", "d": "bf16-forced", "e": "xla"}
NUM_EPOCHS, INIT_LR, BS = 25, 1e-2, 32  # the chapter's, for the reference (a)


def start_keras(config):
    """Import Keras, on the backend KERAS_BACKEND names, as the configuration's program
    would: the reference (a) plainly, the others as fashion_mnist.py's main starts it."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from pyimagesearch.safety.streams import native_stderr_muted
    from pyimagesearch.training import backend

    if config != "a":
        backend.start()
    with native_stderr_muted():
        import keras  # noqa: F401


def load_data():
    """Fashion-MNIST from disk when installed, else random uint8 data of the same shape."""
    import numpy as np

    from pyimagesearch.datasets import DatasetError, load_fashion_mnist

    try:
        return load_fashion_mnist(download=False)
    except DatasetError:
        rng = np.random.default_rng(0)
        arrays = [(rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
                   rng.integers(0, 10, n, dtype=np.uint8)) for n in (60000, 10000)]
        return tuple(arrays), "synthetic data"


def make_model(config):
    """Set the dtype policy of a configuration, then build its compiled MiniVGGNet."""
    import keras

    from pyimagesearch.cli import parse_args
    from pyimagesearch.minivggnet import MiniVGGNet
    from pyimagesearch.schedules import keras2_decay
    from pyimagesearch.training.distribute import Placement
    from pyimagesearch.training.precision import choose_precision

    if config == "c":
        keras.mixed_precision.set_global_policy(choose_precision(True)[0])
    elif config == "d":
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    if config != "a":
        import fashion_mnist as fm

        model = fm.build_model(parse_args([]), Placement(), images=60000)
        if config == "e":
            model.jit_compile = True  # Keras's "auto" leaves XLA off on a CPU
        return model
    # the chapter's model and optimizer in plain Keras: nothing of this project's path
    model = MiniVGGNet.build(width=28, height=28, depth=1, classes=10)
    decay = keras2_decay(INIT_LR, INIT_LR / NUM_EPOCHS)
    model.compile(loss="categorical_crossentropy", metrics=["accuracy"],
                  optimizer=keras.optimizers.SGD(learning_rate=decay, momentum=0.9))
    return model


def worker(config, steps, warmup):
    """Measure one configuration; print one JSON line."""
    start_keras(config)
    import keras
    import numpy as np

    from pyimagesearch.pipeline import make_dataset
    from pyimagesearch.training.memory import release_freed_memory

    ((trainX, trainY), (testX, testY)), source = load_data()
    n = (steps + warmup) * BS

    model = make_model(config)

    class Clock(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == warmup - 1:
                self.start = time.perf_counter()

    clock = Clock()
    if config == "a":
        # the chapter's code: float32 copies of everything, one-hot labels, fit on arrays
        x = trainX.reshape(-1, 28, 28, 1).astype("float32") / 255.0
        y = keras.utils.to_categorical(trainY, 10)
        tx = testX.reshape(-1, 28, 28, 1).astype("float32") / 255.0
        ty = keras.utils.to_categorical(testY, 10)  # held, as the chapter holds it
        model.fit(x[:n], y[:n], batch_size=BS, epochs=1, callbacks=[clock], verbose=0)
        train_seconds = time.perf_counter() - clock.start
        model.predict(tx[:64], batch_size=BS, verbose=0)  # warm up the predict function
        start = time.perf_counter()
        preds = model.predict(tx, batch_size=BS, verbose=0).argmax(axis=1)
        for i in np.random.choice(len(tx), 16):
            model.predict(tx[np.newaxis, i], verbose=0)
        eval_seconds = time.perf_counter() - start
        del ty
    else:
        from pyimagesearch.pipeline import predict

        data = make_dataset(trainX[:n], trainY[:n], BS, shuffle=True)
        model.fit(data, epochs=1, callbacks=[clock], shuffle=False, verbose=0)
        train_seconds = time.perf_counter() - clock.start
        release_freed_memory()
        # warm up the predict function; XLA (e) compiles each batch shape, so give it them all
        predict(model, testX if config == "e" else testX[:64])
        start = time.perf_counter()
        preds = predict(model, testX).argmax(axis=1)
        eval_seconds = time.perf_counter() - start
    peak_mb = peak_memory_mb()
    print(json.dumps({
        "config": config, "source": source, "backend": keras.backend.backend(),
        "policy": keras.mixed_precision.global_policy().name,
        "train_ips": steps * BS / train_seconds,
        "eval_ips": len(testX) / eval_seconds,
        "peak_mb": peak_mb,
        "accuracy": float(np.mean(preds == testY)),
    }))


def matmul_roofline(n=2048, repeats=20, budget=10.0):
    """GFLOP/s of the best of ``repeats`` n x n matrix products (fewer once ``budget``
    seconds have gone: PyTorch multiplies bfloat16 slowly on a CPU without bfloat16
    instructions), in float32 and bfloat16, by the backend KERAS_BACKEND names (each product
    one op of its own)."""
    start_keras("b")
    import keras

    limits = {}
    for dtype in ("float32", "bfloat16"):
        a = keras.ops.cast(keras.random.uniform((n, n), seed=0), dtype)
        keras.ops.convert_to_numpy(keras.ops.matmul(a, a))  # warm up
        best, began = float("inf"), time.perf_counter()
        for _ in range(repeats):
            start = time.perf_counter()
            keras.ops.convert_to_numpy(keras.ops.matmul(a, a))  # waits for the product
            best = min(best, time.perf_counter() - start)
            if time.perf_counter() - began > budget:
                break
        limits[dtype] = 2 * n**3 / best / 1e9
    return limits


def training_gflop_per_image():
    """Multiply-adds of one training image, as FLOP: the forward pass's convolutions and
    dense layers, times three (the forward pass, and the gradients of inputs and weights)."""
    start_keras("a")
    import keras

    from pyimagesearch.minivggnet import MiniVGGNet

    flop = 0
    for layer in MiniVGGNet.build(width=28, height=28, depth=1, classes=10).layers:
        if isinstance(layer, keras.layers.Conv2D):
            _, height, width, channels = layer.output.shape
            kh, kw = layer.kernel_size
            flop += 2 * height * width * channels * kh * kw * layer.input.shape[-1]
        elif isinstance(layer, keras.layers.Dense):
            flop += 2 * layer.input.shape[-1] * layer.units
    return 3 * flop / 1e9


def peak_memory_mb():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def profile_step_split(config, steps=30):
    """Share of a training step's op time by kind of op, from the TensorFlow profiler."""
    start_keras(config)
    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    from pyimagesearch.pipeline import make_dataset

    ((trainX, trainY), _), _ = load_data()
    model = make_model(config)
    model.fit(make_dataset(trainX[:10 * BS], trainY[:10 * BS], BS, shuffle=True), epochs=1,
              shuffle=False, verbose=0)  # trace and warm up first
    data = make_dataset(trainX[:steps * BS], trainY[:steps * BS], BS, shuffle=True)
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        model.fit(data, epochs=1, shuffle=False, verbose=0)
        tf.profiler.experimental.stop()
        space = xplane_pb2.XSpace()
        space.ParseFromString(next(Path(logdir).rglob("*.xplane.pb")).read_bytes())

    totals = defaultdict(float)
    for plane in space.planes:
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):  # the threads that run the ops
                continue
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                if ":" in name and "::" not in name:  # "scope/op_name:OpType" is an op's kernel
                    totals[classify(name)] += event.duration_ps
    total = sum(totals.values()) or 1.0
    return {kind: totals[kind] / total for kind in ("convolutions", "batch norm", "input", "rest")}


def classify(op):
    """Sort an op by what it does: "scope/name:OpType"."""
    op_type = op.rsplit(":", 1)[-1].lower()
    scope = op.lower()
    if "conv" in op_type:  # Conv2D and its two backprop kernels
        return "convolutions"
    if "batchnorm" in op_type or "batch_normalization" in scope:
        return "batch norm"
    if "iterator" in op_type or "pyfunc" in op_type or "numpyfunction" in op_type:
        return "input"
    return "rest"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],  # the first paragraph
                                     epilog="docs/performance.md records its runs.")
    parser.add_argument("--quick", action="store_true", help="fewer steps and one repeat (< 3 min)")
    parser.add_argument("--repeats", type=int, default=None, help="rounds of the configurations")
    parser.add_argument("--steps", type=int, default=None, help="timed training steps per run")
    parser.add_argument("--configs", default="abcd",
                        help="which configurations to run: a reference, b project, c mixed, "
                             "d bf16-forced, e xla (e only when named; default: abcd)")
    parser.add_argument("--backends", nargs="+", default=["tensorflow"],
                        choices=["tensorflow", "jax", "torch"],
                        help="run every configuration on each of these backends")
    parser.add_argument("--worker", choices=list(CONFIGS), help=argparse.SUPPRESS)
    parser.add_argument("--profile", choices=["a", "b", "c"], help=argparse.SUPPRESS)
    parser.add_argument("--roofline", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--warmup", type=int, default=20, help=argparse.SUPPRESS)
    args = parser.parse_args()
    steps = args.steps or (100 if args.quick else 400)
    repeats = args.repeats or (1 if args.quick else 3)

    if args.worker:
        return worker(args.worker, steps, args.warmup)
    if args.profile:
        print(json.dumps(profile_step_split(args.profile)))
        return
    if args.roofline:
        print(json.dumps({"limits": matmul_roofline(), "gflop": training_gflop_per_image()}))
        return

    def child(*flags, backend=args.backends[0]):
        result = subprocess.run([sys.executable, __file__, *flags], capture_output=True,
                                text=True, cwd=ROOT, env={**os.environ, "KERAS_BACKEND": backend})
        if result.returncode != 0:
            sys.exit(f"benchmark child {flags} failed:\n{result.stderr[-3000:]}")
        return json.loads(result.stdout.strip().splitlines()[-1])

    best, limits = {}, {}
    for round_ in range(repeats):
        roofline = child("--roofline")
        gflop = roofline["gflop"]
        for dtype, speed in roofline["limits"].items():
            limits[dtype] = max(limits.get(dtype, 0), speed)
        print(f"round {round_ + 1} matrix product 2048x2048: " + ", ".join(
            f"{dtype} {speed:.0f} GFLOP/s" for dtype, speed in roofline["limits"].items()),
            flush=True)
        for config, backend in [(c, b) for c in args.configs for b in args.backends]:
            r = child("--worker", config, "--steps", str(steps), "--warmup", str(args.warmup),
                      backend=backend)
            print(f"round {round_ + 1} {config} {CONFIGS[config]:<12} {backend:<11} "
                  f"{r['policy']:<15} train {r['train_ips']:7.0f} img/s  eval "
                  f"{r['eval_ips']:7.0f} img/s  peak {r['peak_mb']:6.0f} MB", flush=True)
            if (config, backend) not in best:
                best[config, backend] = r
            else:
                kept = best[config, backend]
                for key in ("train_ips", "eval_ips"):
                    kept[key] = max(kept[key], r[key])
                kept["peak_mb"] = min(kept["peak_mb"], r["peak_mb"])

    first = next(iter(best.values()))
    print(f"\ndata: {first['source']}; {steps} timed steps of batch 32 after {args.warmup} "
          f"warm-up steps; best of {repeats}")
    print(f"the limit, a 2048x2048 matrix product ({args.backends[0]}): " + ", ".join(
        f"{dtype} {speed:.0f} GFLOP/s" for dtype, speed in limits.items())
          + f"; a training image costs {gflop * 1e3:.0f} MFLOP")
    print(f"{'config':<16}{'backend':<12}{'policy':<16}{'train img/s':>12}{'GFLOP/s':>9}"
          f"{'of limit':>9}{'eval img/s':>12}{'peak MB':>9}")
    for (config, backend), r in best.items():
        dtype = "bfloat16" if "bfloat16" in r["policy"] else "float32"
        speed = r["train_ips"] * gflop
        print(f"{config + ' ' + CONFIGS[config]:<16}{backend:<12}{r['policy']:<16}"
              f"{r['train_ips']:>12.0f}{speed:>9.0f}{speed / limits[dtype]:>9.0%}"
              f"{r['eval_ips']:>12.0f}{r['peak_mb']:>9.0f}")
    if not args.quick and "tensorflow" in args.backends:
        print("share of a training step's op time (TensorFlow profiler):")
        for config in [c for c in "abc" if c in args.configs]:
            split = child("--profile", config, backend="tensorflow")
            print(f"  {config} {CONFIGS[config]:<12}" +
                  ", ".join(f"{kind} {share:.0%}" for kind, share in split.items()))
    ratios = [f"{c}/a {backend} train {r['train_ips'] / best['a', backend]['train_ips']:.2f}x "
              f"eval {r['eval_ips'] / best['a', backend]['eval_ips']:.2f}x"
              for (c, backend), r in best.items() if c != "a" and ("a", backend) in best]
    if ratios:
        print("ratios: " + "; ".join(ratios))


if __name__ == "__main__":
    main()
