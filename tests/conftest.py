"""Shared helpers: tiny Fashion-MNIST IDX files written by the tests, ways to run
``fashion_mnist.py`` (in this process, or in a new one as a user does), and one small
trained model shared by every test that needs one."""

import contextlib
import gzip
import io
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

# Settings for the processes the tests start, asked for before anything loads a backend (a
# setting of the developer's own wins):
# - on JAX, every test that starts the program compiles the same few programs anew (about half
#   a minute on two cores): JAX's persistent cache keeps them for the next process and run;
# - on PyTorch, two trainings at once (pytest-xdist runs two tests at a time) each spin their
#   OpenMP threads waiting for cores the other holds: each took 16 times as long as alone,
#   1.6 times when the threads sleep while they wait (docs/performance.md).
for name, value in [("JAX_COMPILATION_CACHE_DIR",
                     os.path.join(tempfile.gettempdir(), "pyimagesearch-tests-jax-cache")),
                    ("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0"),
                    ("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0"),
                    ("OMP_WAIT_POLICY", "PASSIVE")]:
    os.environ.setdefault(name, value)

from pyimagesearch.training import backend  # noqa: E402

# the tests' own TensorFlow computes as fashion_mnist.py's does (with oneDNN's kernels, which
# TensorFlow turns on by itself only on some CPUs), so that a model trained here and one
# trained by the program come out the same: asked for before anything imports TensorFlow
backend.prefer_onednn()


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


# the backend Keras runs on in these tests: KERAS_BACKEND, as CI sets it for each environment
BACKEND = backend.configured()[0]


def on_backend(*names):
    """Mark a test of what only these backends have (TensorFlow's strategies, say): it runs
    in the environments of those backends, which CI tests each in turn."""
    return pytest.mark.skipif(BACKEND not in names,
                              reason=f"a feature of {' and '.join(names)}: runs in CI's "
                                     f"environment for it (KERAS_BACKEND={names[0]})")


needs_real_data = pytest.mark.skipif(
    not REAL_DATA.is_dir(),
    reason="needs apt-get install dataset-fashion-mnist (.ci/run installs it, so this runs in CI)")


@pytest.fixture(autouse=True)
def no_display_and_no_dataset_variable(monkeypatch):
    """In-process runs see no display and no FASHION_MNIST_DIR, as ``user_env`` gives
    the runs in a new process."""
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "FASHION_MNIST_DIR"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def stop_signals_left_as_found():
    """Every test leaves the stop signals' handlers as it found them: a run in the process
    installs its own and must give them back (notebooks run many in one kernel)."""
    stop_signals = [getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP")
                    if hasattr(signal, name)]
    before = {number: signal.getsignal(number) for number in stop_signals}
    yield
    after = {number: signal.getsignal(number) for number in stop_signals}
    assert after == before, "a stop signal's handler was left changed"


@pytest.fixture
def tiny_data(tmp_path):
    """A folder with a tiny gzipped Fashion-MNIST."""
    folder = tmp_path / "data"
    write_dataset(folder)
    return folder


class Run:
    """What a run of fashion_mnist.py did: its exit ``code``, ``stdout`` and ``stderr``."""

    def __init__(self, code, stdout, stderr):
        self.code, self.returncode, self.stdout, self.stderr = code, code, stdout, stderr


def run_main(capsys, *args):
    """Run fashion_mnist.py's ``main`` in this process, as its command line does (errors
    and stop signals turned into a line and an exit code); returns a :class:`Run`."""
    import fashion_mnist

    capsys.readouterr()
    code = fashion_mnist.main([str(arg) for arg in args])
    out, err = capsys.readouterr()
    return Run(code, out, err)


class TrainedModel:
    """A model trained once for the whole session: ``path`` (its .keras file), ``data``
    (the tiny dataset it was trained on), ``stdout`` (what its run printed), ``folder``
    (where the run wrote its files) and the ``flags`` of that run."""

    flags = ("--epochs", "1", "--seed", "5")

    def __init__(self, folder):
        self.folder = folder / "out"
        self.data = folder / "data"
        self.path = self.folder / "fashion_mnist.keras"


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory):
    """One seeded model, trained in this process for one epoch on the tiny dataset."""
    import fashion_mnist

    model = TrainedModel(tmp_path_factory.mktemp("trained"))
    write_dataset(model.data)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = fashion_mnist.main(["--dataset-dir", str(model.data), *model.flags,
                                   "--output", str(model.folder), "--no-display"])
    assert code == 0
    model.stdout = out.getvalue()
    return model


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


@pytest.fixture(scope="session")
def real_run(tmp_path_factory):
    """A short run on the real data, as a user starts it: 2 epochs on 20,000 images, made
    once for all the test processes pytest-xdist starts: the first to need it runs it while
    the others wait, then they read what it printed. (xdist's own grouping, --dist
    loadgroup, does not group on pytest 9.2: pytest-dev/pytest-xdist#1386.)"""
    import fcntl
    import json

    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    out, record = shared / "real-run", shared / "real-run.json"
    with open(shared / "real-run.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
        if not record.exists():
            out.mkdir()
            try:
                result = run_script("--limit", "20000", "--epochs", "2", "--seed", "1",
                                    "--output", out, cwd=out)
                outcome = [result.returncode, result.stdout, result.stderr]
            except subprocess.TimeoutExpired as late:  # every test that needs it fails at once
                outcome = [None, late.stdout or "", f"the real-data run took over {late.timeout} s"]
            record.write_text(json.dumps(outcome))
    code, stdout, stderr = json.loads(record.read_text())
    assert code == 0, stderr
    return SimpleNamespace(returncode=code, stdout=stdout, stderr=stderr, folder=out)


def run_in_terminal(*args, cwd, env=None, until=None, signum=None, timeout=300):
    """Run fashion_mnist.py with a terminal (a pseudo-terminal) for its input and output, as
    at a prompt; when ``until(output so far)`` is true, send it ``signum``. Returns the exit
    code and all it printed (the terminal turns "\\n" into "\\r\\n")."""
    import pty

    leader, follower = pty.openpty()
    process = subprocess.Popen([sys.executable, str(SCRIPT), *map(str, args)], cwd=cwd,
                               env=user_env({"TERM": "xterm", **(env or {})}), stdin=follower,
                               stdout=follower, stderr=follower)
    os.close(follower)
    output, sent = b"", False
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: the program has closed the terminal
            break
        if not chunk:
            break
        output += chunk
        if until is not None and not sent and until(output.decode(errors="replace")):
            process.send_signal(signum)
            sent = True
    os.close(leader)
    return process.wait(timeout=timeout), output.decode(errors="replace")


@pytest.fixture
def ordinary_user():
    """A folder this test's files go in, and a context manager within which this process
    has an ordinary user's rights: as it is, or, run as root (CI is), as ``nobody`` for the
    time of the block (root may read and write anything, whatever the modes say)."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="ordinary-"))
    folder.chmod(0o777)  # pytest's own temporary folders are root's alone

    @contextlib.contextmanager
    def rights():
        if os.geteuid() != 0:
            yield
            return
        os.setegid(65534)
        os.seteuid(65534)
        try:
            yield
        finally:
            os.seteuid(0)
            os.setegid(0)

    yield folder, rights
    for root, folders, _ in os.walk(folder):  # each opened before the walk goes into it
        for name in folders:
            os.chmod(os.path.join(root, name), 0o700)
    shutil.rmtree(folder, ignore_errors=True)
