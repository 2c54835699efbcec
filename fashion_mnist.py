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
from functools import partial

import numpy as np

from pyimagesearch import runtime

with runtime.tensorflow_start():  # quietly, and with oneDNN's kernels on any x86 CPU
    import keras
    import tensorflow as tf

from sklearn.metrics import classification_report, confusion_matrix

from pyimagesearch import cli, display, distribute, interrupts, photos, plots, resume
from pyimagesearch.batchnorm import fuse_batch_norm
from pyimagesearch.callbacks import TrainingGuard
from pyimagesearch.datasets import LABEL_NAMES, load_fashion_mnist
from pyimagesearch.errors import UserError
from pyimagesearch.memory import release_freed_memory
from pyimagesearch.minivggnet import MiniVGGNet
from pyimagesearch.modelfile import file_size, load_model, save_model_somewhere
from pyimagesearch.montage import classified_sheet, pick_images, prediction_montage
from pyimagesearch.pipeline import augment_batch, make_dataset
from pyimagesearch.precision import choose_precision
from pyimagesearch.resume import Backup
from pyimagesearch.safefiles import (check_free_space, create_writable_folder,
                                     remove_stale_temporaries, save_figure, save_image, write_all)
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
    ((trainX, trainY), (testX, testY)), source = load_fashion_mnist(dataset_dir)
    if not (len(trainX) and len(testX)):
        raise UserError(f"the data in {source} has {len(trainX)} training and {len(testX)} test "
                        f"images; it needs some of each")
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


def train(model, args, data, backup_path, signals):
    """The chapter's fit on ``data`` (trainX, trainY, testData), validating on the test set
    after every epoch, and continuing an interrupted run from its backup; with --swa, the
    model ends with the mean of the last epochs' weights (unless stopped early). Returns the
    history of the epochs that ran to the end, and the guard that says how training ended
    (``signals``, from ``interrupts.deferred``, says whether a stop signal came)."""
    trainX, trainY, testData = data
    strategy = model.distribute_strategy
    settings = {**cli.training_settings(args), "training images": len(trainX)}
    fresh = args.restart or args.distribute  # --distribute: no backup (see the README)
    state = resume.start(model, None if fresh else backup_path, settings, args.seed)
    if state.epoch:
        print(f"[INFO] continuing an interrupted run from its backup {backup_path}: "
              f"{cli.plural(state.epoch, 'epoch')} of {args.epochs} done")
    averager = WeightAverage(first_epoch=args.epochs - args.swa, state=state.swa)
    augment = (partial(augment_batch, max_shift=args.max_shift, erase_rate=args.erase_rate)
               if args.augment else None)

    def batches(images, labels, size, epochs=None):  # each epoch reshuffled, augmented anew
        return make_dataset(images, labels, size, shuffle=True, seed=state.data_seed,
                            epochs=epochs, augment=augment)

    def shard(index, count):  # a worker's share of the images, as many as any other's
        share = len(trainX) // count
        return batches(trainX[index::count][:share], trainY[index::count][:share],
                       args.batch_size)

    guard = TrainingGuard(signals, first_epoch=state.epoch)
    if distribute.is_multi_worker(strategy):
        H = distribute.fit_across_workers(model, shard, testData, args.epochs, guard)
        H = {name: values[:guard.epochs_done] for name, values in H.items()}
    else:
        size = args.batch_size * strategy.num_replicas_in_sync
        backup = Backup(None if args.distribute else backup_path, state, guard,
                        averager if args.swa else None)
        if state.epoch < args.epochs:
            # .repeat(): Keras reads past the last batch, and warns when there is none
            trainData = batches(trainX, trainY, size, range(state.epoch, args.epochs)).repeat()
            model.fit(trainData, steps_per_epoch=math.ceil(len(trainX) / size),
                      initial_epoch=state.epoch, epochs=args.epochs,
                      validation_data=testData, callbacks=[guard, averager, backup],
                      shuffle=False)  # the batches are reshuffled by make_dataset
        H = backup.history
    if args.swa and not guard.stopped:
        averager.apply()
        recompute_batch_norm(model, batches(trainX, trainY, args.batch_size, [args.epochs]))
        print(f"[INFO] the model holds the mean of the weights after each of the last "
              f"{cli.plural(args.swa, 'epoch')}, with batch norm's statistics recomputed for it")
    return H, guard


def predict(model, images, tta=False):
    """The probability of each class for each image. With ``tta``, the probabilities for
    each image and for its left-right mirror image are averaged."""
    def probabilities(images):
        return model.predict(make_dataset(images, np.zeros(len(images), np.uint8), EVAL_BS),
                             verbose=0)

    scores = probabilities(images)
    if tta:
        channels_first = keras.backend.image_data_format() == "channels_first"
        width = 3 if channels_first and images.ndim == 4 else 2
        scores = (scores + probabilities(np.flip(images, axis=width))) / 2
    return scores


def evaluate(model, testX, testY, tta=False):
    """Print the chapter's classification report and the confusion matrix; returns the
    predictions and the matrix (rows: true labels, columns: predictions)."""
    print("[INFO] evaluating network...")
    preds = predict(model, testX, tta).argmax(axis=1)
    print(classification_report(testY, preds, target_names=LABEL_NAMES, zero_division=0))
    matrix = confusion_matrix(testY, preds, labels=range(len(LABEL_NAMES)))
    print("[INFO] confusion matrix (rows: true label, columns: predicted label):")
    print(plots.format_matrix(matrix, LABEL_NAMES))
    print(f"[INFO] test accuracy: {np.mean(preds == testY):.4f}")
    return preds, matrix


def make_montage(testX, testY, preds, seed):
    """16 random test images, each labelled with its prediction, in a 4x4 montage."""
    chosen = pick_images(16, len(testX), seed)
    images = testX[chosen].reshape((-1, 28, 28))  # without the channel axis
    return prediction_montage(images, preds[chosen], testY[chosen], LABEL_NAMES)


def prepare_training(args, strategy, model_path, images):
    """Build the model, and check and prepare the folders it and its backup go to.
    Returns the model."""
    print("[INFO] compiling model...")
    steps_per_epoch = math.ceil(images / (args.batch_size * strategy.num_replicas_in_sync))
    model = build_model(args, strategy, steps_per_epoch)
    for folder, what in ((args.output, "output folder"), (model_path.parent, "model folder")):
        create_writable_folder(folder, what)
        check_free_space(folder, 3 * file_size(model), f"{what}, for the model and its backup,")
    remove_stale_temporaries([model_path, resume.backup_path(model_path),
                              *output_paths(args.output)])
    return model


def train_and_save(args, model, model_path, data, signals):
    """Train the model on ``data`` (trainX, trainY, testData) and save it. Returns its
    history, the guard that says how training ended, and a sentence for the user if it
    was not saved as asked; no history if nothing worth saving was trained (it diverged,
    or stopped within its first epoch)."""
    backup_path = resume.backup_path(model_path)
    print(f"[INFO] training model on {len(data[0]):,} images for "
          f"{cli.plural(args.epochs, 'epoch')}...")
    started = time.perf_counter()
    signals.message = "{signal}: stopping after this batch ({again} to quit at once)"
    signals.quit_note = lambda: "interrupted twice: stopped at once, nothing more was saved" + (
        "; run the same command again to continue" if backup_path.exists() else "")
    H, guard = train(model, args, data, backup_path, signals)
    if guard.diverged:
        resume.remove(backup_path)
        print(f"[ERROR] the loss became NaN or infinite: training diverged and nothing was "
              f"saved; try a smaller learning rate than --lr {args.lr:g}", file=sys.stderr)
        return None, guard, None
    if guard.epochs_done == 0:
        print(f"[INFO] {interrupts.describe(guard.signum)} before the first epoch ended: "
              f"nothing was saved or written", file=sys.stderr)
        return None, guard, None
    epochs, seconds = guard.epochs_done - guard.first_epoch, time.perf_counter() - started
    print(f"[INFO] trained {cli.plural(epochs, 'epoch')} in {seconds:.0f} s "
          f"({seconds / max(epochs, 1):.1f} s per epoch)")

    # save it, somewhere else if it cannot be where asked; a finished run needs no backup
    signals.message = "{signal}: writing the model and its results first ({again} to quit at once)"
    saved, problem = save_model_somewhere(model, model_path)
    if saved == model_path:
        print(f"[INFO] model saved to {model_path}")
    elif saved is None and backup_path.exists():
        problem += "; free some space and run the same command again to continue"
    if saved and not guard.interrupted:
        resume.remove(backup_path)
    release_freed_memory()  # what training freed, so that evaluating does not add to it
    return H, guard, problem


def output_paths(folder):
    """Where the training plot, the confusion matrix and the montage are written."""
    return [folder / "plot.png", folder / "confusion.png", folder / "montage.png"]


def write_results(args, model, H, testX, testY, stop):
    """Evaluate the model, print the report, write the plot, the confusion matrix and the
    montage, and show the montage until a key is pressed (or ``stop`` has a signal).
    Returns the names of the files that could not be written."""
    # make predictions on the test set and show a nicely formatted classification report
    changes = cli.describe_recipe(args, keras.mixed_precision.global_policy().compute_dtype)
    if changes:
        print(f"[INFO] changed from the chapter's recipe: {changes}")
    preds, matrix = evaluate(model, testX, testY, args.tta)

    # plot the training loss and accuracy, the confusion matrix, and a montage of 16 test
    # images with their predicted labels
    plot, confusion, montage_path = output_paths(args.output)
    montage = make_montage(testX, testY, preds, args.seed)
    outputs = [("training plot", plot, lambda: save_figure(plots.plot_history(H, changes), plot)),
               ("confusion matrix", confusion, lambda: save_figure(
                   plots.plot_confusion(matrix, LABEL_NAMES, changes), confusion)),
               ("montage", montage_path, lambda: save_image(montage, montage_path))]
    if not (H and H["loss"]):  # a loaded model: no training to plot
        outputs.pop(0)
    failed = write_all(outputs)

    # show the montage until a key is pressed, as the chapter does
    show(montage, montage_path, args, stop)
    return failed


def classify(model, pictures, args, window):
    """Your own pictures (from ``photos.prepare``): print the three likeliest labels of
    each, write classified.png, and show it. Returns the files not written."""
    paths, thumbnails, images = zip(*pictures)
    scores = predict(model, add_channel_axis(np.stack(images)), args.tta)
    for path, score in zip(paths, scores):
        best = np.argsort(score)[::-1][:3]
        print(f"[INFO] {path}: " + ", ".join(f"{LABEL_NAMES[k]} {score[k]:.2f}" for k in best))
    sheet = classified_sheet(thumbnails, images, [LABEL_NAMES[k] for k in scores.argmax(1)])
    path = args.output / "classified.png"
    failed = write_all([("your pictures, as the network saw them,", path,
                         lambda: save_image(sheet, path))])
    show(sheet, path, args, window)
    return failed


def show(image, path, args, window):
    """Show ``image`` (saved at ``path``) in a window until a key is pressed, as the chapter
    does, unless --no-display; ``window``'s stop signal closes it too."""
    reason = None if args.no_display else display.show(WINDOW_TITLE, image, window)
    if reason:
        print(f"[INFO] {reason}, so no window was opened; open {path} to see it")


def main(argv=None):
    args = cli.parse_args(argv, epochs=NUM_EPOCHS, lr=INIT_LR, batch_size=BS)
    model_path = cli.check_inputs(args)
    print(f"[INFO] running with {runtime.versions()}")
    pictures, problems = read_pictures(args.classify)
    only_pictures = bool(pictures) and args.load is not None  # no Fashion-MNIST data needed

    # load the data, and reshape it to the backend's channel order
    if not only_pictures:
        (trainX, trainY), (testX, testY) = load_data(args.dataset_dir, args.limit)
    strategy = start_tensorflow(args)
    if not only_pictures:
        trainX, testX = add_channel_axis(trainX), add_channel_axis(testX)
        testData = make_dataset(testX, testY, EVAL_BS)  # scaled to [0, 1], labels one-hot

    if args.load is not None:
        print(f"[INFO] loading model {args.load}...")
        model = load_model(args.load)
        create_writable_folder(args.output, "output folder")
    else:
        model = prepare_training(args, strategy, model_path, len(trainX))

    # from here on, a stop signal (Ctrl-C, SIGTERM, SIGHUP) ends the run as soon as what
    # it is doing is whole: training after the batch, and the saved model's results once
    # written; a second ends it at once
    first = "{signal}: writing the results first ({again} to quit at once)"
    with interrupts.deferred(first) as signals:
        H, guard = None, None
        if args.load is None:
            H, guard, problem = train_and_save(args, model, model_path,
                                               (trainX, trainY, testData), signals)
            if H is None:
                return 1 if guard.diverged else interrupts.exit_code(guard.signum)
            problems += [problem] if problem else []
        failed = [] if only_pictures else write_results(args, model, H, testX, testY, signals)
        if pictures:
            failed += classify(model, pictures, args, signals)
        if failed:
            problems.append(f"could not write {', '.join(failed)}")
        return finish(args, guard, signals, problems)


def read_pictures(paths):
    """Your own pictures, read and converted before any training, so that a bad one is
    named at once; returns those that can be classified, and a sentence for the run's end
    if some cannot. A run where none can is refused."""
    if not paths:
        return [], []
    pictures, problems = photos.prepare(paths)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if not pictures:
        raise UserError("none of the pictures given to --classify can be classified")
    return pictures, ["some pictures could not be classified"] if problems else []


def finish(args, guard, signals, problems):
    """The run's last words: how training ended, and what went wrong; returns the exit code."""
    interrupted = guard is not None and guard.interrupted
    if interrupted:
        print(f"[INFO] interrupted by {interrupts.describe(guard.signum)} after "
              f"{guard.epochs_done} of {args.epochs} epochs; the model and results above are "
              f"from where training stopped; run the same command again to continue",
              file=sys.stderr)
    if problems:
        print(f"error: {'; '.join(problems)}", file=sys.stderr)
        return 1
    signum = guard.signum if interrupted else signals.signum
    return interrupts.exit_code(signum) if signum else 0


def run(argv=None):
    """``main`` with user errors and stop signals turned into one line on stderr and an
    exit code."""
    with runtime.run_safely():
        try:
            return main(argv)
        except UserError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        except interrupts.Interrupted as stop:
            before = f"{stop}: stopped before training, nothing was written"
            print(f"\n[INFO] {stop.note or before}", file=sys.stderr)
            return interrupts.exit_code(stop.signum)


if __name__ == "__main__":
    runtime.leave(run())
