"""Train MiniVGGNet on Fashion-MNIST with Keras 3: the chapter's run, ported.

    python fashion_mnist.py                         # the chapter's recipe: 25 epochs, batch 32
    python fashion_mnist.py --epochs 1 --limit 5000 # a quick try
    python fashion_mnist.py --help                  # every option, with its default

Loads the data (offline when the IDX files are on disk), trains, saves the model,
prints a classification report and a confusion matrix, and writes plot.png,
confusion.png and montage.png. The montage is also shown in a window when there
is a display. --augment and the flags listed after it go beyond the chapter (see --help).
"""

import argparse
import contextlib
import math
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import cv2
import numpy as np

from pyimagesearch.datasets import LABEL_NAMES, DatasetError, load_fashion_mnist
from pyimagesearch.memory import limit_malloc_arenas, release_freed_memory
from pyimagesearch.montage import prediction_montage

# the chapter's hyper-parameters: number of epochs, base learning rate, batch size
NUM_EPOCHS = 25
INIT_LR = 1e-2
BS = 32
# batch norm and dropout run in inference mode when evaluating, so the
# predictions do not depend on this batch size; on a CPU 64 is as fast as 256
# or 1000 and holds far fewer activations in memory
EVAL_BS = 64
WINDOW_TITLE = "Fashion MNIST"
SWA_LR_FRACTION = 0.1  # with --swa and --schedule cosine: the rate while averaging, times --lr
EXIT_INTERRUPTED = 130  # the shell's code for a process stopped by Ctrl-C


class UserError(Exception):
    """A problem the user can fix; its message says how."""


def as_int(text):
    """``int(text)``, or NaN when ``text`` is not a whole number, which every range check
    refuses."""
    try:
        return int(text)
    except ValueError:
        return math.nan


def positive_int(text):
    value = as_int(text)
    if not value >= 1:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, not {text!r}")
    return value


def non_negative_int(text):
    value = as_int(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or a positive whole number, not {text!r}")
    return value


def shift_pixels(text):
    value = as_int(text)
    if not 0 <= value <= 14:
        raise argparse.ArgumentTypeError(f"must be a whole number of pixels from 0 to 14, "
                                         f"not {text!r}")
    return value


def as_float(text):
    """``float(text)``, or NaN when ``text`` is not a number, which every range check refuses."""
    try:
        return float(text)
    except ValueError:
        return math.nan


def positive_float(text):
    value = as_float(text)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, not {text!r}")
    return value


def non_negative_float(text):
    value = as_float(text)
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be zero or a positive finite number, not {text!r}")
    return value


def probability(text):
    value = as_float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be a number from 0 to 1, not {text!r}")
    return value


def keras_path(text):
    if not text.endswith(".keras"):
        raise argparse.ArgumentTypeError(f"must be a file name ending in .keras, not {text!r}")
    return Path(text)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Train MiniVGGNet on Fashion-MNIST (the chapter's recipe by default).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--epochs", type=positive_int, default=NUM_EPOCHS,
                        help="epochs to train; with the chapter's schedule the learning-rate decay is "
                             "lr/epochs")
    parser.add_argument("--batch-size", type=positive_int, default=BS, help="training batch size")
    parser.add_argument("--lr", type=positive_float, default=INIT_LR,
                        help="initial learning rate of SGD (momentum 0.9)")
    parser.add_argument("--output", type=Path, default=Path("."),
                        help="folder for plot.png, montage.png and the saved model")
    parser.add_argument("--model", type=keras_path, default=None,
                        help="where to save the trained model (default: OUTPUT/fashion_mnist.keras)")
    parser.add_argument("--load", type=Path, default=None, metavar="PATH",
                        help="skip training: evaluate a model saved by an earlier run")
    parser.add_argument("--dataset-dir", type=Path, default=None,
                        help="folder with the four Fashion-MNIST IDX files (gzipped or not); "
                             "default: $FASHION_MNIST_DIR, ~/.keras/datasets/fashion-mnist, "
                             "/usr/share/datasets/fashion-mnist, then the Keras download")
    parser.add_argument("--limit", type=positive_int, default=None, metavar="N",
                        help="train on the first N training images only (the test set stays whole)")
    parser.add_argument("--seed", type=int, default=None,
                        help="make the run reproducible: same history, same montage")
    parser.add_argument("--no-display", action="store_true",
                        help="do not open a window for the montage (it is saved to montage.png anyway)")
    parser.add_argument("--mixed-precision", action="store_true",
                        help="train in bfloat16 on CPUs that support it, float16 on a GPU")
    parser.add_argument("--distribute", action="store_true",
                        help="train on all local GPUs at once (MirroredStrategy), or with "
                             "every worker TF_CONFIG names (MultiWorkerMirroredStrategy), a "
                             "batch of --batch-size on each")
    beyond = parser.add_argument_group(
        "beyond the chapter", "off by default; the README's 'Beyond the chapter' shows them "
        "used together")
    beyond.add_argument("--augment", action="store_true",
                        help="randomly flip, shift (see --max-shift) and erase (a 10 px square, "
                             "see --erase-rate) every training image, anew each epoch")
    beyond.add_argument("--max-shift", type=shift_pixels, default=2, metavar="N",
                        help="with --augment: the most pixels an image moves in each direction "
                             "(0 turns shifting off)")
    beyond.add_argument("--erase-rate", type=probability, default=0.5, metavar="P",
                        help="with --augment: the share of training images that lose a square "
                             "(0 turns erasing off)")
    beyond.add_argument("--schedule", choices=["chapter", "cosine"], default="chapter",
                        help="learning rate over training: the chapter's decay lr/(1 + t*lr/epochs), "
                             "or one epoch of linear warm-up to --lr then a cosine down to 0")
    beyond.add_argument("--weight-decay", type=non_negative_float, default=0.0, metavar="X",
                        help="SGD's decoupled weight decay (Keras's weight_decay)")
    beyond.add_argument("--label-smoothing", type=probability, default=0.0, metavar="X",
                        help="train towards (1 - X) * one-hot + X/10 (Keras's label_smoothing): "
                             "with 0.1, 0.91 for the true class and 0.01 for the others")
    beyond.add_argument("--swa", type=non_negative_int, default=0, metavar="N",
                        help="average the weights of the last N epochs (stochastic weight "
                             "averaging), then recompute batch norm's statistics; with "
                             "--schedule cosine, the rate reaches lr/10 as averaging starts and "
                             "stays there (0 turns it off)")
    beyond.add_argument("--tta", action="store_true",
                        help="test-time augmentation: predict each test image and its mirror "
                             "image, and average the two")
    return parser.parse_args(argv)


# --- checks made before any training -----------------------------------------------------

def check_writable_folder(folder, what):
    """Raise ``UserError`` unless ``folder`` exists or could be created, as a writable folder.
    Nothing is created here."""
    folder = Path(folder).absolute()
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(f"cannot create the {what} {folder}: {existing} is a file, not a folder; "
                        f"choose another path")
    if not os.access(existing, os.W_OK):
        raise UserError(f"cannot write in {existing}; choose a {what} you can write to")


def create_writable_folder(folder, what):
    """Create ``folder`` if needed and prove that a file can be written in it."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise UserError(f"cannot write in the {what} {folder} ({error.strerror}); "
                        f"choose another path") from None


@contextlib.contextmanager
def replaced_atomically(path):
    """Yield a temporary path next to ``path``; on success it replaces ``path`` in one step,
    so a crash or a full disk never leaves a half-written file where a good one was."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=path.suffix)
    os.close(handle)
    try:
        yield Path(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


# --- TensorFlow set-up ---------------------------------------------------------------------

@contextlib.contextmanager
def native_stderr_muted():
    """Hide what TensorFlow's C++ core prints on start-up (CUDA probing, oneDNN notices),
    which would bury the [INFO] lines. Shown again if something fails; set
    TF_CPP_MIN_LOG_LEVEL=0 to always see it."""
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "0":
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as log:
        os.dup2(log.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            log.seek(0)
            sys.stderr.write(log.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def prefer_onednn():
    """Ask TensorFlow for its oneDNN kernels on every x86 CPU. On Linux it turns them on by
    itself only on CPUs with VNNI, AVX512_BF16 or AMX; on an AVX2-only CPU they trained this
    network faster and with about 100 MB less memory than TensorFlow's own kernels, computing
    the same thing (results differ by float rounding only). Must run before TensorFlow is
    imported; a TF_ENABLE_ONEDNN_OPTS already in the environment wins."""
    if platform.machine().lower() in ("x86_64", "amd64"):
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")


def start_tensorflow(args):
    """Import TensorFlow quietly, then apply --seed, --mixed-precision and --distribute.
    Returns the distribution strategy to build the model under."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    prefer_onednn()
    with native_stderr_muted():
        import keras
        import tensorflow as tf

        from pyimagesearch import training

        tf.config.list_physical_devices()  # device probing logs here, while muted
        strategy = training.choose_strategy(args.distribute)

    if args.seed is not None:
        # same seed, same machine: same initial weights, batches, dropout masks, history
        keras.utils.set_random_seed(args.seed)
        tf.config.experimental.enable_op_determinism()
    policy, note = training.choose_precision(args.mixed_precision)
    keras.mixed_precision.set_global_policy(policy)
    if note:
        print(f"[INFO] {note}")
    return strategy


# --- the chapter's steps -------------------------------------------------------------------

def load_data(dataset_dir, limit):
    """Load Fashion-MNIST and keep the first ``limit`` training images."""
    (trainX, trainY), (testX, testY) = load_fashion_mnist(dataset_dir)[0]
    if limit is not None:
        if limit > len(trainX):
            raise UserError(f"--limit {limit} is more than the {len(trainX):,} training images; "
                            f"use a smaller number")
        trainX, trainY = trainX[:limit], trainY[:limit]
    return (trainX, trainY), (testX, testY)


def learning_rate(schedule, lr, epochs, steps_per_epoch, swa=0):
    """The learning-rate schedule: the chapter's, or warm-up then cosine (``--schedule cosine``),
    which with ``swa`` epochs of weight averaging ends at lr / 10 before them and stays there."""
    import keras

    from pyimagesearch.training import keras2_decay

    if schedule == "chapter":
        return keras2_decay(lr, lr / epochs)
    warmup = steps_per_epoch if epochs > 1 else 0
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=lr / 10 if warmup else lr, warmup_target=lr if warmup else None,
        warmup_steps=warmup, decay_steps=max((epochs - swa) * steps_per_epoch - warmup, 1),
        alpha=SWA_LR_FRACTION if swa else 0.0)


def build_model(lr, epochs, strategy, schedule="chapter", steps_per_epoch=1, weight_decay=0.0,
                label_smoothing=0.0, swa=0):
    """MiniVGGNet compiled with SGD with momentum 0.9: by default the chapter's, which decays
    the learning rate by lr / epochs per update."""
    import keras

    from pyimagesearch.minivggnet import MiniVGGNet
    from pyimagesearch.training import fuse_batch_norm

    with strategy.scope():
        opt = keras.optimizers.SGD(
            learning_rate=learning_rate(schedule, lr, epochs, steps_per_epoch, swa), momentum=0.9,
            weight_decay=weight_decay or None)
        model = MiniVGGNet.build(width=28, height=28, depth=1, classes=len(LABEL_NAMES))
        fuse_batch_norm(model)  # one fused op per batch norm: faster training on a CPU
        loss = keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing)
        model.compile(loss=loss, optimizer=opt, metrics=["accuracy"])
    return model


def load_model(path):
    """Load a model saved by an earlier run and check that it fits Fashion-MNIST."""
    import keras

    path = Path(path)
    if not path.is_file():
        raise UserError(f"there is no model file {path}; train one first, or check the path")
    try:
        model = keras.models.load_model(path)
    except Exception as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise UserError(f"{path} is not a Keras model this program can load ({reason}); "
                        f"pass a .keras file saved by fashion_mnist.py") from None
    expected_input = ((1, 28, 28) if keras.backend.image_data_format() == "channels_first"
                      else (28, 28, 1))
    inputs = getattr(model, "input_shape", None)
    outputs = getattr(model, "output_shape", None)
    if (not isinstance(inputs, tuple) or tuple(inputs[1:]) != expected_input
            or not isinstance(outputs, tuple) or tuple(outputs[1:]) != (len(LABEL_NAMES),)):
        raise UserError(f"{path} takes {inputs} and gives {outputs}, but Fashion-MNIST needs "
                        f"{(None, *expected_input)} in and (None, 10) out; pass a model trained "
                        f"by fashion_mnist.py")
    return model


def train(model, trainX, trainY, testX, testY, epochs, batch_size, seed=None, augment=False,
          max_shift=2, erase_rate=0.5, swa=0):
    """Fit with the test set as validation after every epoch, as the chapter does; with
    ``swa``, end with the mean of the weights of the last ``swa`` epochs (unless stopped early).
    Returns the history (full epochs only) and the guard that says how training ended."""
    from pyimagesearch.training import (TrainingGuard, WeightAverage, fit_across_workers,
                                        is_multi_worker, make_dataset, recompute_batch_norm)

    def batches(images, labels, size):  # reshuffled, and augmented anew, every epoch
        return make_dataset(images, labels, size, shuffle=True, seed=seed, augment=augment,
                            max_shift=max_shift, erase_rate=erase_rate)

    def make_shard(index, count):  # a worker's share of the images, as many batches as any
        return (batches(trainX[index::count], trainY[index::count], batch_size)
                .take(math.ceil(len(trainX) // count / batch_size)))

    strategy = model.distribute_strategy
    test_data = make_dataset(testX, testY, EVAL_BS)
    averager = WeightAverage(first_epoch=epochs - swa)
    with TrainingGuard() as guard:
        if is_multi_worker(strategy):
            history = fit_across_workers(model, make_shard, test_data, epochs, guard)
        else:
            train_data = batches(trainX, trainY, batch_size * strategy.num_replicas_in_sync)
            callbacks = [guard, averager] if swa else [guard]
            history = model.fit(train_data, validation_data=test_data, epochs=epochs,
                                shuffle=False, callbacks=callbacks).history
    history = {name: values[:guard.epochs_done] for name, values in history.items()}
    if swa and not guard.stopped:
        averager.apply()
        recompute_batch_norm(model, batches(trainX, trainY, batch_size))
        print(f"[INFO] the model holds the mean of the weights after each of the last {swa} "
              f"epochs, with batch norm's statistics recomputed for it")
    return history, guard


def save_model(model, path):
    """Save in Keras's native format, replacing any earlier file only once the new one is whole."""
    with replaced_atomically(path) as temporary:
        model.save(temporary)


def pick_images(count, total, seed=None):
    """Indices of ``count`` different random test images: the same ones for the same seed."""
    return np.random.default_rng(seed).choice(total, size=count, replace=False)


def predict(model, images, tta=False):
    """Class index predicted for each image, computed in large batches. With ``tta``, the
    class probabilities of each image and of its left-right mirror image are averaged."""
    from pyimagesearch.training import make_dataset

    def probabilities(images):
        data = make_dataset(images, np.zeros(len(images), np.uint8), EVAL_BS)
        return model.predict(data, verbose=0)

    scores = probabilities(images)
    if tta:
        scores = scores + probabilities(images[:, :, ::-1])
    return scores.argmax(axis=1)


def recipe(args):
    """What this run adds to the chapter's recipe, in a few words ("" for the chapter's own)."""
    import keras

    parts = []
    if args.load is None:
        if args.augment:
            kinds = ["flip", f"{args.max_shift} px shift" if args.max_shift else "",
                     "erase" if args.erase_rate else ""]
            parts.append(" + ".join(kind for kind in kinds if kind) + " augmentation")
        if args.schedule != "chapter":
            parts.append(f"{args.schedule} schedule")
        if args.weight_decay:
            parts.append(f"weight decay {args.weight_decay:g}")
        if args.label_smoothing:
            parts.append(f"label smoothing {args.label_smoothing:g}")
        if args.swa:
            parts.append(f"weights averaged over the last {args.swa} epochs")
        if (args.epochs, args.batch_size, args.lr) != (NUM_EPOCHS, BS, INIT_LR):
            parts.append(f"epochs {args.epochs}, batch {args.batch_size}, lr {args.lr:g}")
        compute = keras.mixed_precision.global_policy().compute_dtype
        if compute != "float32":  # --mixed-precision, on hardware that has it
            parts.append(f"{compute} arithmetic")
    if args.tta:
        parts.append("flip test-time augmentation")
    return ", ".join(parts)


def set_title(axes, title, subtitle):
    """Title a plot, with ``subtitle`` wrapped on the lines below it in a smaller font."""
    if subtitle:
        axes.set_title("\n".join([title, *textwrap.wrap(subtitle, 72)]), fontsize="medium")
    else:
        axes.set_title(title)


def plot_history(history, subtitle=""):
    """The chapter's training plot: loss and accuracy, train and validation, per epoch.
    ``subtitle`` names what the run changed from the chapter's recipe."""
    import matplotlib.style
    from matplotlib.figure import Figure

    epochs = np.arange(1, len(history["loss"]) + 1)
    with matplotlib.style.context("ggplot"):
        figure = Figure(layout="constrained" if subtitle else None)
        axes = figure.subplots()
        axes.plot(epochs, history["loss"], label="train_loss")
        axes.plot(epochs, history["val_loss"], label="val_loss")
        axes.plot(epochs, history["accuracy"], label="train_acc")
        axes.plot(epochs, history["val_accuracy"], label="val_acc")
        set_title(axes, "Training Loss and Accuracy on Dataset", subtitle)
        axes.set_xlabel("Epoch #")
        axes.set_ylabel("Loss/Accuracy")
        axes.legend(loc="lower left")
    return figure


def why_no_window():
    """Why ``cv2.imshow`` cannot open a window here, or None if it can. Without a display,
    OpenCV's window backend aborts the whole process, so on X11/Wayland systems it is
    tried first in a throw-away child process."""
    if sys.platform.startswith(("win", "darwin")):
        return None
    name = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    if not name:
        return "no display found"
    probe = "import cv2; cv2.namedWindow('probe'); cv2.destroyAllWindows()"
    try:
        opened = subprocess.run([sys.executable, "-c", probe], capture_output=True,
                                timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        opened = False
    return None if opened else f"OpenCV could not open a window on display {name}"


def show_montage(montage):
    """Show the montage until a key is pressed or the window is closed; False if no window opened."""
    try:
        with native_stderr_muted():  # Qt's complaints about missing fonts
            cv2.imshow(WINDOW_TITLE, montage)
            while cv2.getWindowProperty(WINDOW_TITLE, cv2.WND_PROP_VISIBLE) >= 1:
                if cv2.waitKey(100) != -1:
                    break
            cv2.destroyAllWindows()
    except cv2.error:  # an OpenCV built without GUI support (opencv-python-headless)
        return False
    return True


def check_inputs(args):
    """Everything about the command line that can fail, checked before any data is read.
    Returns where the model will be saved."""
    model_path = args.model or args.output / "fashion_mnist.keras"
    check_writable_folder(args.output, "output folder")
    if args.load is None:
        check_writable_folder(model_path.parent, "model folder")
        if args.swa >= args.epochs:
            raise UserError(f"--swa {args.swa} would average every epoch of the {args.epochs}; "
                            f"use a number smaller than --epochs")
        if args.swa and args.distribute:
            raise UserError("--swa works on one device only; leave out --distribute to use it")
    elif not args.load.is_file():
        raise UserError(f"there is no model file {args.load}; train one first, or check the path")
    return model_path


def train_and_save(args, strategy, model_path, trainX, trainY, testX, testY):
    """Build, train and save the model; returns it with its history and how training ended.
    A diverged model is not saved."""
    print("[INFO] compiling model...")
    steps_per_epoch = math.ceil(len(trainX) / (args.batch_size * strategy.num_replicas_in_sync))
    model = build_model(args.lr, args.epochs, strategy, args.schedule, steps_per_epoch,
                        args.weight_decay, args.label_smoothing, args.swa)
    print(f"[INFO] training model on {len(trainX):,} images for {args.epochs} epochs...")
    started = time.perf_counter()
    history, guard = train(model, trainX, trainY, testX, testY,
                           args.epochs, args.batch_size, args.seed, args.augment,
                           args.max_shift, args.erase_rate, args.swa)
    seconds = time.perf_counter() - started
    if guard.diverged:
        return model, history, guard
    print(f"[INFO] trained {guard.epochs_done} epochs in {seconds:.0f} s "
          f"({seconds / max(guard.epochs_done, 1):.1f} s per epoch)")
    create_writable_folder(model_path.parent, "model folder")
    save_model(model, model_path)
    print(f"[INFO] model saved to {model_path}")
    return model, history, guard


def evaluate(model, testX, testY, tta=False):
    """Print the chapter's classification report and the confusion matrix; returns the
    predicted classes and the matrix (rows: true labels, columns: predictions)."""
    from sklearn.metrics import classification_report, confusion_matrix

    print("[INFO] evaluating network...")
    preds = predict(model, testX, tta)
    print(classification_report(testY, preds, target_names=LABEL_NAMES, zero_division=0))
    matrix = confusion_matrix(testY, preds, labels=range(len(LABEL_NAMES)))
    print("[INFO] confusion matrix (rows: true label, columns: predicted label):")
    print(format_matrix(matrix))
    print(f"[INFO] test accuracy: {np.mean(preds == testY):.4f}")
    return preds, matrix


def format_matrix(matrix):
    """The confusion matrix as text, one row per true label."""
    width = max(len(str(matrix.max())), 5)
    label_width = max(map(len, LABEL_NAMES)) + 1
    header = " " * (label_width + 1) + " ".join(name[:width].rjust(width) for name in LABEL_NAMES)
    rows = [name.rjust(label_width) + " " + " ".join(str(count).rjust(width) for count in row)
            for name, row in zip(LABEL_NAMES, matrix)]
    return "\n".join([header, *rows])


def plot_confusion(matrix, subtitle=""):
    """The confusion matrix as a figure (scikit-learn's ``ConfusionMatrixDisplay``)."""
    from matplotlib.figure import Figure
    from sklearn.metrics import ConfusionMatrixDisplay

    figure = Figure(figsize=(8, 7), layout="constrained")
    axes = figure.subplots()
    ConfusionMatrixDisplay(matrix, display_labels=LABEL_NAMES).plot(
        ax=axes, cmap="Blues", xticks_rotation=45, colorbar=False)
    accuracy = np.trace(matrix) / matrix.sum()
    set_title(axes, f"Confusion matrix on the {matrix.sum():,} test images "
                    f"(accuracy {accuracy:.4f})", subtitle)
    return figure


def save_figure(figure, path, what):
    with replaced_atomically(path) as temporary:
        figure.savefig(temporary, format="png")
    print(f"[INFO] {what} saved to {path}")


def save_and_show_montage(testX, testY, preds, path, seed, display):
    """Label 16 random test images with their predictions, save the montage, and show it."""
    chosen = pick_images(16, len(testX), seed)
    montage = prediction_montage(testX[chosen], preds[chosen], testY[chosen], LABEL_NAMES)
    with replaced_atomically(path) as temporary:
        if not cv2.imwrite(str(temporary), montage):
            raise UserError(f"could not write {path}; check the free disk space")
    print(f"[INFO] montage saved to {path}")
    if not display:
        return
    reason = why_no_window()
    if reason is None and not show_montage(montage):
        reason = "this OpenCV has no window support (opencv-python-headless?)"
    if reason:
        print(f"[INFO] {reason}, so no window was opened; open {path} to see the montage")


def main(argv=None):
    limit_malloc_arenas()  # before TensorFlow's threads start: a smaller peak on Linux
    args = parse_args(argv)
    model_path = check_inputs(args)

    print("[INFO] loading Fashion MNIST...")
    (trainX, trainY), (testX, testY) = load_data(args.dataset_dir, args.limit)
    create_writable_folder(args.output, "output folder")
    strategy = start_tensorflow(args)

    history, guard = None, None
    if args.load is not None:
        print(f"[INFO] loading model {args.load}...")
        model = load_model(args.load)
    else:
        model, history, guard = train_and_save(args, strategy, model_path,
                                               trainX, trainY, testX, testY)
        if guard.diverged:
            print(f"[ERROR] the loss became NaN or infinite: training diverged and nothing was "
                  f"saved; try a smaller learning rate than --lr {args.lr:g}", file=sys.stderr)
            return 1
        release_freed_memory()  # what training freed, so that evaluating does not add to it

    changes = recipe(args)
    if changes:
        print(f"[INFO] changed from the chapter's recipe: {changes}")
    preds, matrix = evaluate(model, testX, testY, args.tta)
    if history and history["loss"]:
        save_figure(plot_history(history, changes), args.output / "plot.png", "training plot")
    save_figure(plot_confusion(matrix, changes), args.output / "confusion.png", "confusion matrix")
    save_and_show_montage(testX, testY, preds, args.output / "montage.png", args.seed,
                          display=not args.no_display)

    if guard is not None and guard.interrupted:
        print(f"[INFO] interrupted by Ctrl-C after {guard.epochs_done} of {args.epochs} epochs; "
              f"the model and results above are from where training stopped", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


def run(argv=None):
    """``main`` with user errors turned into one line on stderr and an exit code."""
    try:
        return main(argv)
    except (UserError, DatasetError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\n[INFO] interrupted twice: stopped at once, nothing more was saved", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    code = run()
    if code == EXIT_INTERRUPTED:
        # Ctrl-C can leave TensorFlow's threads mid-step, and a normal interpreter shutdown
        # under them now and then crashes (SIGSEGV): every file is closed by now, so leave at once
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
