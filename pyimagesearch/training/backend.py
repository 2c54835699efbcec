"""Keras's backend, started: TensorFlow, JAX or PyTorch, as Keras's own configuration says
(``KERAS_BACKEND``, else ``~/.keras/keras.json``, else TensorFlow). Set up before it is
imported, kept quiet while it starts, and the few things that differ between backends
here: where and how a run trains (:func:`set_up`), how a seed makes it deterministic, and
its version.

Nothing here imports a backend at module level: its settings must come first.
"""

import json
import os
import platform
from importlib.metadata import PackageNotFoundError, version

from pyimagesearch.safety.streams import native_stderr_muted, open_standard_streams
from pyimagesearch.training.memory import limit_malloc_arenas
from pyimagesearch.training.precision import accelerator, choose_precision

# the backends this program trains on: the name Keras gives each, with its own name, the
# packages on PyPI that hold it, and the file that installs the program with it
BACKENDS = {
    "tensorflow": ("TensorFlow", ["tensorflow", "tensorflow-cpu", "tensorflow-intel",
                                  "tensorflow-macos", "tf-nightly"], "requirements.txt"),
    "jax": ("JAX", ["jax"], "requirements-jax.txt"),
    "torch": ("PyTorch", ["torch"], "requirements-torch.txt"),
}


def configured():
    """The backend Keras will run on, and where that was said ("KERAS_BACKEND", the
    keras.json file, or "Keras's default"), read as Keras reads it, without importing it."""
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"], "KERAS_BACKEND"
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    path = os.path.join(home, "keras.json")
    try:
        with open(path) as file:
            name = json.load(file).get("backend")
    except (OSError, ValueError, AttributeError):  # none, unreadable, or not Keras's
        name = None
    if name and not isinstance(name, str):  # a hand-edited file: said as it is written
        name = json.dumps(name)
    return (name, path) if name else ("tensorflow", "Keras's default")


def check_configured():
    """The backend Keras is set to, or ``UserError`` if this program cannot train on it."""
    from pyimagesearch.errors import UserError

    name, where = configured()
    if name not in BACKENDS:
        raise UserError(f"Keras is set to the {name!r} backend ({where}), on which this "
                        f"program cannot train; choose tensorflow, jax or torch, say with "
                        f"KERAS_BACKEND=jax")
    return name


def prefer_onednn():
    """Ask TensorFlow for its oneDNN kernels on every x86 CPU. On Linux it turns them on by
    itself only on CPUs with VNNI, AVX512_BF16 or AMX; on others they train this network
    faster and in less memory (docs/performance.md), computing the same thing up to float
    rounding. Must run before TensorFlow is imported; a TF_ENABLE_ONEDNN_OPTS already in
    the environment wins."""
    if platform.machine().lower() in ("x86_64", "amd64"):
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")


# what OpenCV reads as whole numbers when it loads, ending the process on anything else
OPENCV_NUMBERS = ("OPENCV_IO_MAX_IMAGE_PIXELS", "OPENCV_IO_MAX_IMAGE_WIDTH",
                  "OPENCV_IO_MAX_IMAGE_HEIGHT")


def check_opencv_settings():
    """Raise ``UserError`` for a setting OpenCV cannot read (``1e9``, say): it would end the
    process as OpenCV loads (``std::stoull`` aborts), with no word of why."""
    from pyimagesearch.errors import UserError

    for name in OPENCV_NUMBERS:
        value = os.environ.get(name)
        if value is not None and not (value.isascii() and value.isdigit() and
                                      int(value) < 2**64):
            raise UserError(f"{name} is {value!r}, which OpenCV cannot read (it would end the "
                            f"program): set a whole number, such as 50000000, or unset it")


_import_interrupted = False  # whether a stop signal cut this process's import of Keras short


def start():
    """Set Keras's backend up and import it, once, when a run begins (``main`` calls this;
    importing this module changes nothing): malloc's arenas limited (before the backend's
    threads start); for TensorFlow, oneDNN asked for and its start-up notices muted; the
    devices probed quietly. A backend that is not installed, or an OpenCV that cannot
    load its system libraries, is a ``UserError`` that says what to install; so is a
    process whose import of Keras a stop signal cut short (a notebook's kernel, interrupted:
    its modules are half-imported for good). A Keras imported before is used as it is.
    Returns the ``keras`` module."""
    from pyimagesearch.errors import UserError

    global _import_interrupted
    if _import_interrupted:
        raise UserError("Keras's import was interrupted earlier in this process, which leaves "
                        "it half-imported; restart the kernel (or the program) and run again")
    check_opencv_settings()
    open_standard_streams()
    limit_malloc_arenas()
    name, where = configured()
    if name == "tensorflow":
        prefer_onednn()
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if name == "torch":  # cuBLAS's deterministic mode, for --seed on a GPU; set before CUDA
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    try:
        with native_stderr_muted():
            try:
                import keras
            except KeyboardInterrupt:
                _import_interrupted = True
                raise

            join_processes()
            accelerator()  # device probing logs here, while muted
        import cv2  # noqa: F401
    except ImportError as error:
        missing = (getattr(error, "name", None) or "").split(".")[0]
        if missing in ("keras", *BACKENDS):
            raise UserError(missing_backend(missing, name, where)) from None
        if "cv2" not in repr(error) and not any(library in str(error)
                                                for library in (".so", "DLL")):
            raise
        raise UserError(f"OpenCV cannot load ({error}); on Debian or Ubuntu run 'apt-get "
                        f"install libgl1 libglib2.0-0', or, on a machine that never shows a "
                        f"window, 'pip install opencv-python-headless' in place of "
                        f"opencv-python") from None
    return keras


# what keras.distribution.initialize reads to join several processes into one run
PROCESSES = ("KERAS_DISTRIBUTION_JOB_ADDRESSES", "KERAS_DISTRIBUTION_NUM_PROCESSES",
             "KERAS_DISTRIBUTION_PROCESS_ID")


def join_processes():
    """On JAX, when the environment names several processes (``KERAS_DISTRIBUTION_*``),
    join them, as JAX needs before any device is used (--distribute then trains on the
    devices of all)."""
    import keras

    if keras.backend.backend() == "jax" and all(os.environ.get(name) for name in PROCESSES):
        keras.distribution.initialize()


def missing_backend(module, name, where):
    """What to install when ``import keras`` could not import ``module``, for the backend
    ``name`` (set in ``where``), in a sentence."""
    if module == "keras":
        requirements = BACKENDS.get(name, BACKENDS["tensorflow"])[2]
        return f"Keras is not installed: pip install -r {requirements}"
    title, _, requirements = BACKENDS[name]
    return (f"Keras is set to run on {title} ({where}), which is not installed here: pip "
            f"install -r {requirements}, or choose an installed backend with KERAS_BACKEND")


def set_up(args):
    """Where and how the run of the command line ``args`` trains, once Keras has started:
    on every device with --distribute, deterministically with --seed, in mixed precision
    where the hardware has it with --mixed-precision; says what it chose. Returns where to
    train (a :class:`~pyimagesearch.training.distribute.Placement`)."""
    import keras

    from pyimagesearch.errors import plural
    from pyimagesearch.training import distribute

    with native_stderr_muted():  # several machines: gRPC's start-up lines
        place = distribute.choose(args.distribute)
    if args.distribute:
        print(f"[INFO] training on {plural(place.replicas, 'device')}, a batch of "
              f"{args.batch_size} on each at every step")
    if args.seed is not None:
        # same seed, machine and backend: same initial weights, batches, dropout masks, history
        make_deterministic(args.seed)
    policy, note = choose_precision(args.mixed_precision)
    keras.mixed_precision.set_global_policy(policy)
    if note:
        print(f"[INFO] {note}")
    return place


def compute_dtype():
    """What training computes in: float32, or bfloat16 or float16 in mixed precision."""
    import keras

    return keras.mixed_precision.global_policy().compute_dtype


def make_deterministic(seed):
    """Same seed, same machine, same backend: the same initial weights, dropout masks and
    arithmetic, so the same history."""
    import keras

    keras.utils.set_random_seed(seed)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    elif keras.backend.backend() == "torch":
        import torch

        # warn_only: on a GPU some kernels (max pooling's gradient) have no deterministic
        # form, and would otherwise end the run
        torch.use_deterministic_algorithms(True, warn_only=True)


def installed(*distributions):
    """The version of the first of ``distributions`` (names on PyPI) that is installed, read
    from its metadata without importing it; None if none is."""
    for name in distributions:
        try:
            return version(name)
        except PackageNotFoundError:
            pass
    return None


def versions():
    """The versions this program runs with, "Keras 3.15.1 on TensorFlow 2.21.0, Python
    3.11.7", found without importing them (--version answers at once)."""
    name, _ = configured()
    title, distributions, _ = BACKENDS.get(name, (name, [name], None))
    return (f"Keras {installed('keras', 'keras-nightly') or '(not installed)'} on {title} "
            f"{installed(*distributions) or '(not installed)'}, Python "
            f"{platform.python_version()}")
