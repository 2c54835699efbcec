"""The GPU check: the chapter's run on an NVIDIA GPU, on the fastest backend there.

    python benchmarks/gpu_check.py --wheels WHEELS --data DATA --out OUT
    python benchmarks/gpu_check.py --wheels WHEELS --data DATA --out OUT --quick  # a rehearsal

For a machine with an NVIDIA GPU, JAX and PyTorch built for CUDA, Python 3.12, and neither
TensorFlow nor a network. WHEELS is a folder of wheels for what it lacks (Keras and what
Keras needs beyond them, imutils), installed into OUT/site without an index; DATA holds the
four Fashion-MNIST IDX files. WHEELS is made on a machine with a network, for the GPU
machine's Python:

    pip download --python-version 3.12 --only-binary=:all: -d WHEELS keras scikit-learn \
        opencv-python-headless matplotlib
    pip wheel --no-deps -w WHEELS imutils      # imutils is published as source only

Three parts, each in processes of its own and each stopped (with SIGTERM, which lets a run
write its results) past --part-limit seconds:

  1. the benchmark's training images/s (benchmarks/benchmark.py, the project's path) on each
     backend that imports here: JAX, PyTorch, TensorFlow; the fastest is kept;
  2. the chapter's run, python fashion_mnist.py --seed 1 (25 epochs), on that backend;
  3. the same with --mixed-precision.

Everything a part prints goes to OUT/<part>.txt and its files to OUT/<part>/; OUT/summary.txt
gathers the figures. --quick shortens each part (100 benchmark steps; one epoch on 2,000
images), to try the whole on a CPU first.
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = {"jax": "jax", "torch": "torch", "tensorflow": "tensorflow"}  # Keras name: module


def install(wheels, site):
    """The wheels of ``wheels`` unpacked into ``site``, as pip does, with no index."""
    found = sorted(Path(wheels).glob("*.whl"))
    if found:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps",
                        "--no-compile", "--upgrade", "--target", str(site), *map(str, found)],
                       check=True)
    return [path.name for path in found]


def run_part(name, command, env, out, limit):
    """Run ``command``, its output to OUT/<name>.txt, stopped with SIGTERM past ``limit``
    seconds; returns (exit code, what it printed, seconds)."""
    log = out / f"{name}.txt"
    started = time.perf_counter()
    with open(log, "w") as file:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=file,
                                   stderr=subprocess.STDOUT, text=True)
        try:
            code = process.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGTERM)  # a run stops after its batch and writes
            try:
                code = process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                process.kill()
                code = process.wait()
    return code, log.read_text(errors="replace"), time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheels", type=Path, help="folder of wheels to install first")
    parser.add_argument("--data", type=Path, required=True, help="folder of the IDX files")
    parser.add_argument("--out", type=Path, required=True, help="folder for every log and file")
    parser.add_argument("--part-limit", type=float, default=480, help="seconds a part may take")
    parser.add_argument("--quick", action="store_true", help="short parts, as a rehearsal")
    args = parser.parse_args()
    # a wrong data folder is said now, not after the benchmark has spent the GPU's minutes
    sys.path.insert(0, str(ROOT))
    from pyimagesearch.datasets import FILES
    missing = [name for name in FILES.values()
               if not any((args.data / f"{name}{end}").is_file() for end in ("", ".gz"))]
    if missing:
        parser.error(f"{args.data} lacks {', '.join(missing)} (or the same with .gz)")
    if args.wheels and not args.wheels.is_dir():
        parser.error(f"--wheels {args.wheels} is not a folder")
    if args.part_limit <= 0:
        parser.error("--part-limit must be a number of seconds above 0")
    if args.out.exists() and not args.out.is_dir():
        parser.error(f"--out {args.out} is a file; name a folder")
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    summary = []

    def say(line):
        print(line, flush=True)
        summary.append(line)
        (out / "summary.txt").write_text("\n".join(summary) + "\n")

    site = out / "site"
    try:
        wheels = install(args.wheels, site) if args.wheels else []
    except subprocess.CalledProcessError:  # pip said which wheel, above
        say(f"the wheels in {args.wheels} could not be installed (pip's words above)")
        return 1
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)]),
           "FASHION_MNIST_DIR": str(args.data.resolve()), "PYTHONUNBUFFERED": "1"}
    say(f"installed: {', '.join(wheels) or 'nothing'}; Python {sys.version.split()[0]}")
    smi = shutil.which("nvidia-smi")
    gpu = subprocess.run([smi, "--query-gpu=name,memory.total,driver_version",
                          "--format=csv,noheader"], capture_output=True, text=True) if smi else None
    say(f"GPU: {gpu.stdout.strip() if gpu and gpu.returncode == 0 else 'none found'}")

    # 1. the benchmark on each backend that imports here
    speeds = {}
    steps = "100" if args.quick else "600"
    for backend, module in BACKENDS.items():
        if subprocess.run([sys.executable, "-c", f"import {module}"], env=env,
                          capture_output=True).returncode:
            say(f"benchmark {backend}: not installed")
            continue
        code, printed, seconds = run_part(
            f"benchmark-{backend}", [sys.executable, "benchmarks/benchmark.py", "--worker", "b",
                                     "--steps", steps], {**env, "KERAS_BACKEND": backend},
            out, args.part_limit)
        lines = [line for line in printed.splitlines() if line.startswith("{")]
        if code or not lines:
            say(f"benchmark {backend}: failed (exit {code}), see benchmark-{backend}.txt")
            continue
        result = json.loads(lines[-1])
        speeds[backend] = result["train_ips"]
        say(f"benchmark {backend}: train {result['train_ips']:,.0f} img/s, eval "
            f"{result['eval_ips']:,.0f} img/s, peak {result['peak_mb']:,.0f} MB host memory "
            f"({seconds:.0f} s)")
    if not speeds:
        say("no backend ran: nothing more to do")
        return 1
    fastest = max(speeds, key=speeds.get)
    say(f"fastest: {fastest}")

    # 2 and 3: the chapter's run, then with --mixed-precision
    short = ["--epochs", "1", "--limit", "2000"] if args.quick else []
    for part, flags in (("chapter", []), ("mixed", ["--mixed-precision"])):
        command = [sys.executable, "fashion_mnist.py", "--dataset-dir", str(args.data.resolve()),
                   "--seed", "1", "--no-display", "--output", str(out / part), *short, *flags]
        code, printed, seconds = run_part(part, command, {**env, "KERAS_BACKEND": fastest},
                                          out, args.part_limit)
        trained = re.search(r"trained (\d+) epochs? in (\d+) s \(([\d.]+) s per epoch\)", printed)
        accuracy = re.search(r"test accuracy: ([\d.]+)", printed)
        precision = re.search(r"\[INFO\] (mixed precision[^\n]*|--mixed-precision ignored[^\n]*)",
                              printed)
        say(f"{part} ({' '.join(flags) or 'the chapter'}, {fastest}): exit {code}, "
            + (f"trained {trained.group(1)} epoch(s) in {trained.group(2)} s "
               f"({trained.group(3)} s an epoch)" if trained else "no epoch finished")
            + (f", test accuracy {accuracy.group(1)}" if accuracy else "")
            + (f"; {precision.group(1)}" if precision else "") + f"; {seconds:.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
