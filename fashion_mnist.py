"""Train MiniVGGNet on Fashion-MNIST with Keras 3: the chapter's run, ported.

    python fashion_mnist.py                          # the chapter's recipe: 25 epochs, batch 32
    python fashion_mnist.py --epochs 1 --limit 5000  # a quick try
    python fashion_mnist.py --help                   # every option, with its default

Loads the data (offline when the IDX files are on disk), trains, saves the model, prints
the classification report and a confusion matrix, and writes plot.png, confusion.png and
montage.png; the montage is also shown in a window when there is a display.

Importing this module sets nothing up: :func:`main` starts Keras's backend and OpenCV
(quietly, with the settings they need checked first), so the pieces built on them are
imported where they are used.
"""

# import the necessary packages
import math
import sys
from functools import partial

import numpy as np
from sklearn.metrics import classification_report, confusion_matrix

from pyimagesearch import cli, plots
from pyimagesearch.datasets import LABEL_NAMES, load_fashion_mnist
from pyimagesearch.errors import UserError, plural
from pyimagesearch.safety.interrupts import leave
from pyimagesearch.safety.supervisor import Supervisor, supervise
from pyimagesearch.training import backend

# the chapter's hyper-parameters: number of epochs, base learning rate, batch size
NUM_EPOCHS = 25
INIT_LR = 1e-2
BS = 32


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


def build_model(args, place, images):
    """MiniVGGNet compiled with SGD and momentum 0.9, to train on ``images`` images; by default
    with the chapter's learning rate, decayed by lr / epochs per update (Keras 2's ``decay``)."""
    import keras

    from pyimagesearch.minivggnet import MiniVGGNet
    from pyimagesearch.schedules import keras2_decay, warmup_cosine
    from pyimagesearch.training.batchnorm import fuse_batch_norm

    print("[INFO] compiling model...")
    if args.schedule == "chapter":
        schedule = keras2_decay(args.lr, args.lr / args.epochs)
    else:
        steps_per_epoch = math.ceil(images / (args.batch_size * place.replicas))
        schedule = warmup_cosine(args.lr, args.epochs, steps_per_epoch, hold_epochs=args.swa)
    with place.scope():
        opt = keras.optimizers.SGD(learning_rate=schedule, momentum=0.9,
                                   weight_decay=args.weight_decay or None)
        model = MiniVGGNet.build(width=28, height=28, depth=1, classes=len(LABEL_NAMES))
        fuse_batch_norm(model)  # one fused op per batch norm: faster training on a CPU
        loss = keras.losses.CategoricalCrossentropy(label_smoothing=args.label_smoothing)
        model.compile(loss=loss, optimizer=opt, metrics=["accuracy"])
    return model


def train(model, args, data, run, place):
    """The chapter's fit on ``data`` (trainX, trainY, testData), validating on the test set
    after every epoch, on the devices of ``place``; ``run`` continues an interrupted run and
    keeps its backup. Returns the history of the epochs that ran to the end (``run.guard``
    says how training ended)."""
    from pyimagesearch.pipeline import augment_batch, make_dataset
    from pyimagesearch.safety.streams import progress_bars
    from pyimagesearch.training.memory import release_freed_memory
    from pyimagesearch.training.swa import WeightAverage, recompute_batch_norm

    trainX, trainY, testData = data
    print(f"[INFO] training model on {len(trainX):,} images for {plural(args.epochs, 'epoch')}...")
    state = run.start_training(model, {**args.settings, "training images": len(trainX)},
                               restart=args.restart, keep_backup=place.workers == 1)
    averager = WeightAverage(first_epoch=args.epochs - args.swa, state=state.swa)
    augment = (partial(augment_batch, max_shift=args.max_shift, erase_rate=args.erase_rate)
               if args.augment else None)

    def batches(images, labels, size, epochs):  # each epoch reshuffled, augmented anew
        return make_dataset(images, labels, size, shuffle=True, seed=state.data_seed,
                            epochs=epochs, augment=augment)

    backup = run.backup(state, averager if args.swa else None)
    if state.epoch < args.epochs:
        share = len(trainX) // place.workers  # this process's share, as many as any other's
        trainData = batches(trainX[place.worker::place.workers][:share],
                            trainY[place.worker::place.workers][:share],
                            args.batch_size * place.batch_scale, range(state.epoch, args.epochs))
        model.fit(trainData, steps_per_epoch=trainData.steps,
                  initial_epoch=state.epoch, epochs=args.epochs,
                  validation_data=testData, callbacks=[run.guard, averager, backup],
                  shuffle=False,  # the batches are reshuffled by make_dataset
                  verbose=1 if progress_bars() else 2)  # a log file: a line an epoch
    H = backup.history
    if args.swa and run.guard.finished:  # the mean of the last epochs' weights
        averager.apply()
        recompute_batch_norm(model, batches(trainX, trainY, args.batch_size, [args.epochs]))
        print(f"[INFO] the model holds the mean of the weights after each of the last "
              f"{plural(args.swa, 'epoch')}, with batch norm's statistics recomputed for it")
    release_freed_memory()  # what training freed, so that evaluating does not add to it
    return H


def load_trained_model(path):
    """A model saved by an earlier run, checked to fit Fashion-MNIST."""
    from pyimagesearch.safety.modelfile import load_model

    print(f"[INFO] loading model {path}...")
    return load_model(path)


def evaluate(model, testX, testY, tta=False):
    """Print the chapter's classification report and the confusion matrix; returns the
    predictions and the matrix (rows: true labels, columns: predictions)."""
    from pyimagesearch import pipeline

    print("[INFO] evaluating network...")
    preds = pipeline.predict(model, testX, tta).argmax(axis=1)
    print(classification_report(testY, preds, labels=range(len(LABEL_NAMES)),
                                target_names=LABEL_NAMES, zero_division=0))
    matrix = confusion_matrix(testY, preds, labels=range(len(LABEL_NAMES)))
    print("[INFO] confusion matrix (rows: true label, columns: predicted label):")
    print(plots.format_matrix(matrix, LABEL_NAMES))
    print(f"[INFO] test accuracy: {np.mean(preds == testY):.4f}")
    return preds, matrix


def make_montage(testX, testY, preds, seed):
    """16 random test images, each labelled with its prediction, in a 4x4 montage."""
    from pyimagesearch.montage import pick_images, prediction_montage

    chosen = pick_images(16, len(testX), seed)
    images = testX[chosen].reshape((-1, 28, 28))  # without the channel axis
    return prediction_montage(images, preds[chosen], testY[chosen], LABEL_NAMES)


def write_results(model, H, test, args, run):
    """Evaluate the model on ``test`` (testX, testY): the report, the plot of ``H`` (None for
    a loaded model), the confusion matrix and the montage, shown until a key is pressed."""
    from pyimagesearch import display
    from pyimagesearch.montage import save_image

    # make predictions on the test set and show a nicely formatted classification report
    testX, testY = test
    changes = cli.describe_recipe(args, backend.compute_dtype())
    if changes:
        print(f"[INFO] changed from the chapter's recipe: {changes}")
    preds, matrix = evaluate(model, testX, testY, args.tta)

    # plot the training loss and accuracy, the confusion matrix, and a montage of 16 test
    # images with their predicted labels
    plot, confusion, montage_path = (args.output / cli.OUTPUTS[output]
                                     for output in ("plot", "confusion", "montage"))
    montage = make_montage(testX, testY, preds, args.seed)
    outputs = [("confusion matrix", confusion, lambda: plots.save_figure(
                   plots.plot_confusion(matrix, LABEL_NAMES, changes), confusion)),
               ("montage", montage_path, lambda: save_image(montage, montage_path))]
    if H and H["loss"]:  # a loaded model has no training to plot
        outputs.insert(0, ("training plot", plot,
                           lambda: plots.save_figure(plots.plot_history(H, changes), plot)))
    written = run.write(outputs)

    # show the montage until a key is pressed, as the chapter does (in a notebook: inline,
    # after the figures this run wrote)
    if not args.no_display and display.in_notebook():
        for path in written:
            if path != montage_path:
                display.show_inline(path)
    if not args.no_display:
        display.show_window(montage, montage_path, run)


def classify_pictures(model, pictures, args, run):
    """Your ``pictures`` classified by ``model``: printed, written and shown (see
    :mod:`pyimagesearch.classify`)."""
    from pyimagesearch.classify import classify
    from pyimagesearch.pipeline import predict

    classify(partial(predict, model, tta=args.tta), pictures, args.output, run,
             window=not args.no_display)


def classify_only(args, pictures, run):
    """--load with --classify: your pictures only, with no Fashion-MNIST data needed."""
    backend.set_up(args)
    model = load_trained_model(args.load)
    run.prepare_folders()
    classify_pictures(model, pictures, args, run)
    return run.end()


def run_chapter(argv):
    """The chapter's run, as the command line ``argv`` asks; returns the exit code."""
    args = cli.parse_args(argv, epochs=NUM_EPOCHS, lr=INIT_LR, batch_size=BS)
    with Supervisor(*cli.written(args)) as run:
        print(f"[INFO] running with {backend.versions()}")
        backend.start()  # on the backend Keras is set to (TensorFlow unless said), quietly
        from pyimagesearch.classify import read as read_pictures

        if args.unused:
            print(f"[WARNING] --load takes the model as it was trained: "
                  f"{', '.join(args.unused)} not used", file=sys.stderr)
        pictures = read_pictures(args.classify, run)
        if pictures and args.load and not args.export:
            return classify_only(args, pictures, run)

        # load the data, and reshape it to the backend's channel order
        (trainX, trainY), (testX, testY) = load_data(args.dataset_dir, args.limit)
        place = backend.set_up(args)
        place.check_share(len(trainX))
        from pyimagesearch import pipeline

        trainX, testX = pipeline.add_channel_axis(trainX), pipeline.add_channel_axis(testX)
        testData = pipeline.make_dataset(testX, testY, pipeline.EVAL_BS)  # [0, 1], one-hot

        # build, compile and train the network, or load one trained before
        H = None
        if args.load:
            model = load_trained_model(args.load)
            run.prepare_folders()
        else:
            from pyimagesearch.training.distribute import on_this_process

            model = build_model(args, place, len(trainX))
            run.prepare_folders(model)
            H = train(model, args, (trainX, trainY, testData), run, place)
            run.save(model)
            model = on_this_process(model, place)

        # evaluate: the report, the plot, the montage; then your pictures, and other runtimes
        write_results(model, H, (testX, testY), args, run)
        if pictures:
            classify_pictures(model, pictures, args, run)
        if args.export:
            from pyimagesearch.portable import export

            export.export_all(model, export.destinations(args.model, args.export),
                              (trainX, testX, testY), run, args.seed)
        return run.end()


def main(argv=None):
    """Run the chapter as the command line ``argv`` (else ``sys.argv``) asks; returns the exit
    code. A wrong flag, a file that cannot be read, a stop signal: one line, in a terminal
    and in a notebook alike."""
    return supervise(run_chapter, argv)


if __name__ == "__main__":
    leave(main())
