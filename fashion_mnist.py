"""Train MiniVGGNet on Fashion-MNIST with Keras 3: the chapter's run, ported.

    python fashion_mnist.py                          # the chapter's recipe: 25 epochs, batch 32
    python fashion_mnist.py --epochs 1 --limit 5000  # a quick try
    python fashion_mnist.py --help                   # every option, with its default

Loads the data (offline when the IDX files are on disk), trains, saves the model, prints
the classification report and a confusion matrix, and writes plot.png, confusion.png and
montage.png; the montage is also shown in a window when there is a display.
"""

# import the necessary packages
import math
import sys
import time

import numpy as np

from pyimagesearch import runtime

with runtime.tensorflow_start():  # quietly, and with oneDNN's kernels on any x86 CPU
    import keras
    import tensorflow as tf

from sklearn.metrics import classification_report, confusion_matrix

from pyimagesearch import cli, display, distribute, plots
from pyimagesearch.batchnorm import fuse_batch_norm
from pyimagesearch.callbacks import TrainingGuard
from pyimagesearch.datasets import LABEL_NAMES, load_fashion_mnist
from pyimagesearch.errors import UserError
from pyimagesearch.memory import release_freed_memory
from pyimagesearch.minivggnet import MiniVGGNet
from pyimagesearch.modelfile import load_model, save_model
from pyimagesearch.montage import pick_images, prediction_montage
from pyimagesearch.pipeline import make_dataset
from pyimagesearch.precision import choose_precision
from pyimagesearch.safefiles import create_writable_folder, save_figure, save_image
from pyimagesearch.schedules import keras2_decay, warmup_cosine
from pyimagesearch.swa import WeightAverage, recompute_batch_norm

# the chapter's hyper-parameters: number of epochs, base learning rate, batch size
NUM_EPOCHS = 25
INIT_LR = 1e-2
BS = 32
# batch norm and dropout run in inference mode when evaluating, so the predictions do
# not depend on this batch size; a small one holds fewer activations in memory
EVAL_BS = 64
WINDOW_TITLE = "Fashion MNIST"


def load_data(dataset_dir, limit):
    """Fashion-MNIST as uint8 arrays, the first ``limit`` training images only if given."""
    print("[INFO] loading Fashion MNIST...")
    ((trainX, trainY), (testX, testY)), _ = load_fashion_mnist(dataset_dir)
    if limit is not None:
        if limit > len(trainX):
            raise UserError(f"--limit {limit} is more than the {len(trainX):,} training images; "
                            f"use a smaller number")
        trainX, trainY = trainX[:limit], trainY[:limit]
    return (trainX, trainY), (testX, testY)


def start_tensorflow(args):
    """The devices to train on, the seed and the precision; returns the strategy."""
    with runtime.native_stderr_muted():  # several machines: gRPC's start-up lines
        strategy = distribute.choose_strategy(args.distribute)
    if args.seed is not None:
        # same seed, same machine: same initial weights, batches, dropout masks, history
        keras.utils.set_random_seed(args.seed)
        tf.config.experimental.enable_op_determinism()
    policy, note = choose_precision(args.mixed_precision)
    keras.mixed_precision.set_global_policy(policy)
    if note:
        print(f"[INFO] {note}")
    return strategy


def add_channel_axis(images):
    """The chapter's reshape to (n, 28, 28, 1), or (n, 1, 28, 28) for "channels_first".
    The images stay uint8: make_dataset scales them to [0, 1], and one-hot encodes the
    labels, a batch at a time, so the whole set is never held as float32."""
    if keras.backend.image_data_format() == "channels_first":
        return images.reshape((images.shape[0], 1, 28, 28))
    return images.reshape((images.shape[0], 28, 28, 1))


def build_model(args, strategy, steps_per_epoch):
    """MiniVGGNet compiled with SGD and momentum 0.9: by default the chapter's recipe,
    whose learning rate decays by lr / epochs per update (Keras 2's ``decay``)."""
    if args.schedule == "chapter":
        schedule = keras2_decay(args.lr, args.lr / args.epochs)
    else:
        schedule = warmup_cosine(args.lr, args.epochs, steps_per_epoch, hold_epochs=args.swa)
    with strategy.scope():
        opt = keras.optimizers.SGD(learning_rate=schedule, momentum=0.9,
                                   weight_decay=args.weight_decay or None)
        model = MiniVGGNet.build(width=28, height=28, depth=1, classes=len(LABEL_NAMES))
        fuse_batch_norm(model)  # one fused op per batch norm: faster training on a CPU
        loss = keras.losses.CategoricalCrossentropy(label_smoothing=args.label_smoothing)
        model.compile(loss=loss, optimizer=opt, metrics=["accuracy"])
    return model


def train(model, args, trainX, trainY, testData):
    """The chapter's fit, validating on the test set after every epoch; with --swa, the
    model ends with the mean of the last epochs' weights (unless stopped early). Returns
    the history of the epochs that ran to the end, and the guard that says how it ended."""
    def batches(images, labels, size):  # reshuffled, and augmented anew, every epoch
        return make_dataset(images, labels, size, shuffle=True, seed=args.seed,
                            augment=args.augment, max_shift=args.max_shift,
                            erase_rate=args.erase_rate)

    def shard(index, count):  # a worker's share of the images, as many batches as any
        return (batches(trainX[index::count], trainY[index::count], args.batch_size)
                .take(math.ceil(len(trainX) // count / args.batch_size)))

    strategy = model.distribute_strategy
    averager = WeightAverage(first_epoch=args.epochs - args.swa)
    with TrainingGuard() as guard:
        if distribute.is_multi_worker(strategy):
            H = distribute.fit_across_workers(model, shard, testData, args.epochs, guard)
        else:
            trainData = batches(trainX, trainY, args.batch_size * strategy.num_replicas_in_sync)
            H = model.fit(trainData, validation_data=testData, epochs=args.epochs,
                          callbacks=[guard, averager] if args.swa else [guard],
                          shuffle=False).history  # trainData reshuffles itself every epoch
    H = {name: values[:guard.epochs_done] for name, values in H.items()}
    if args.swa and not guard.stopped:
        averager.apply()
        recompute_batch_norm(model, batches(trainX, trainY, args.batch_size))
        print(f"[INFO] the model holds the mean of the weights after each of the last "
              f"{cli.plural(args.swa, 'epoch')}, with batch norm's statistics recomputed for it")
    return H, guard


def predict(model, images, tta=False):
    """The class predicted for each image. With ``tta``, the probabilities for each image
    and for its left-right mirror image are averaged."""
    def probabilities(images):
        return model.predict(make_dataset(images, np.zeros(len(images), np.uint8), EVAL_BS),
                             verbose=0)

    scores = probabilities(images)
    if tta:
        channels_first = keras.backend.image_data_format() == "channels_first"
        width = 3 if channels_first and images.ndim == 4 else 2
        scores = scores + probabilities(np.flip(images, axis=width))
    return scores.argmax(axis=1)


def evaluate(model, testX, testY, tta=False):
    """Print the chapter's classification report and the confusion matrix; returns the
    predictions and the matrix (rows: true labels, columns: predictions)."""
    print("[INFO] evaluating network...")
    preds = predict(model, testX, tta)
    print(classification_report(testY, preds, target_names=LABEL_NAMES, zero_division=0))
    matrix = confusion_matrix(testY, preds, labels=range(len(LABEL_NAMES)))
    print("[INFO] confusion matrix (rows: true label, columns: predicted label):")
    print(plots.format_matrix(matrix, LABEL_NAMES))
    print(f"[INFO] test accuracy: {np.mean(preds == testY):.4f}")
    return preds, matrix


def show_montage(testX, testY, preds, path, seed, window):
    """Label 16 random test images with their predictions, save the montage, and show it."""
    chosen = pick_images(16, len(testX), seed)
    images = testX[chosen].reshape((-1, 28, 28))  # without the channel axis
    montage = prediction_montage(images, preds[chosen], testY[chosen], LABEL_NAMES)
    save_image(montage, path)
    print(f"[INFO] montage saved to {path}")
    reason = display.show(WINDOW_TITLE, montage) if window else None
    if reason:
        print(f"[INFO] {reason}, so no window was opened; open {path} to see the montage")


def main(argv=None):
    args = cli.parse_args(argv, epochs=NUM_EPOCHS, lr=INIT_LR, batch_size=BS)
    model_path = cli.check_inputs(args)

    # load the data, and reshape it to the backend's channel order
    (trainX, trainY), (testX, testY) = load_data(args.dataset_dir, args.limit)
    create_writable_folder(args.output, "output folder")
    strategy = start_tensorflow(args)
    trainX, testX = add_channel_axis(trainX), add_channel_axis(testX)
    testData = make_dataset(testX, testY, EVAL_BS)  # scaled to [0, 1], labels one-hot

    H, guard = None, None
    if args.load is not None:
        print(f"[INFO] loading model {args.load}...")
        model = load_model(args.load)
    else:
        # initialize the optimizer and model, then train
        print("[INFO] compiling model...")
        steps_per_epoch = math.ceil(len(trainX) / (args.batch_size * strategy.num_replicas_in_sync))
        model = build_model(args, strategy, steps_per_epoch)
        print(f"[INFO] training model on {len(trainX):,} images for {args.epochs} epochs...")
        started = time.perf_counter()
        H, guard = train(model, args, trainX, trainY, testData)
        if guard.diverged:
            print(f"[ERROR] the loss became NaN or infinite: training diverged and nothing was "
                  f"saved; try a smaller learning rate than --lr {args.lr:g}", file=sys.stderr)
            return 1
        seconds = time.perf_counter() - started
        print(f"[INFO] trained {cli.plural(guard.epochs_done, 'epoch')} in {seconds:.0f} s "
              f"({seconds / max(guard.epochs_done, 1):.1f} s per epoch)")
        create_writable_folder(model_path.parent, "model folder")
        save_model(model, model_path)
        print(f"[INFO] model saved to {model_path}")
        release_freed_memory()  # what training freed, so that evaluating does not add to it

    # make predictions on the test set and show a nicely formatted classification report
    changes = cli.describe_recipe(args, keras.mixed_precision.global_policy().compute_dtype)
    if changes:
        print(f"[INFO] changed from the chapter's recipe: {changes}")
    preds, matrix = evaluate(model, testX, testY, args.tta)

    # plot the training loss and accuracy, and the confusion matrix
    if H and H["loss"]:
        save_figure(plots.plot_history(H, changes), args.output / "plot.png")
        print(f"[INFO] training plot saved to {args.output / 'plot.png'}")
    save_figure(plots.plot_confusion(matrix, LABEL_NAMES, changes), args.output / "confusion.png")
    print(f"[INFO] confusion matrix saved to {args.output / 'confusion.png'}")

    # a montage of 16 test images with their predicted labels, shown until a key is pressed
    show_montage(testX, testY, preds, args.output / "montage.png", args.seed,
                 window=not args.no_display)

    if guard is not None and guard.interrupted:
        print(f"[INFO] interrupted by Ctrl-C after {guard.epochs_done} of {args.epochs} epochs; "
              f"the model and results above are from where training stopped", file=sys.stderr)
        return runtime.EXIT_INTERRUPTED
    return 0


def run(argv=None):
    """``main`` with user errors turned into one line on stderr and an exit code."""
    try:
        return main(argv)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\n[INFO] interrupted twice: stopped at once, nothing more was saved", file=sys.stderr)
        return runtime.EXIT_INTERRUPTED


if __name__ == "__main__":
    runtime.leave(run())
