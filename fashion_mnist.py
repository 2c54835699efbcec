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
from pyimagesearch.safety import supervisor
from pyimagesearch.training import backend

# the chapter's hyper-parameters: number of epochs, base learning rate, batch size
NUM_EPOCHS = 25
INIT_LR = 1e-2
BS = 32


def build_model(args, place, images):
    """MiniVGGNet compiled with SGD and momentum 0.9, to train on ``images`` images; by default
    with the chapter's learning rate, decayed by lr / epochs per update (Keras 2's ``decay``)."""
    import keras

    from pyimagesearch import schedules
    from pyimagesearch.minivggnet import MiniVGGNet
    from pyimagesearch.training.batchnorm import fuse_batch_norm

    print("[INFO] compiling model...")
    if args.schedule == "chapter":
        schedule = schedules.keras2_decay(args.lr, args.lr / args.epochs)
    else:
        steps_per_epoch = math.ceil(images / (args.batch_size * place.replicas))
        schedule = schedules.warmup_cosine(args.lr, args.epochs, steps_per_epoch,
                                           hold_epochs=args.swa)
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
    from pyimagesearch.training.session import TrainingSession

    trainX, trainY, testData = data
    session = TrainingSession(model, args, trainX, trainY, run, place)  # batches, callbacks
    if session.batches is not None:  # else a finished run's backup: nothing left to train
        model.fit(session.batches, steps_per_epoch=session.batches.steps,
                  initial_epoch=session.initial_epoch, epochs=args.epochs,
                  validation_data=testData, callbacks=session.callbacks,
                  shuffle=False,  # the batches are reshuffled by make_dataset
                  verbose=session.verbose)
    return session.finish()  # the weights averaged with --swa


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
    from pyimagesearch import montage

    chosen = montage.pick_images(16, len(testX), seed)
    images = testX[chosen].reshape((-1, 28, 28))  # without the channel axis
    return montage.prediction_montage(images, preds[chosen], testY[chosen], LABEL_NAMES)


def write_results(model, H, test, args, run):
    """Evaluate the model on ``test`` (testX, testY): the report, the plot of ``H`` (None for
    a loaded model), the confusion matrix and the montage, shown until a key is pressed."""
    from pyimagesearch import display, montage

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
    picture = make_montage(testX, testY, preds, args.seed)
    outputs = [("confusion matrix", confusion, lambda: plots.save_figure(
                   plots.plot_confusion(matrix, LABEL_NAMES, changes), confusion)),
               ("montage", montage_path, lambda: montage.save_image(picture, montage_path))]
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
        display.show_window(picture, montage_path, run)


def classify_pictures(model, pictures, args, run):
    """Your ``pictures`` classified by ``model``: printed, written and shown (see
    :mod:`pyimagesearch.classify`)."""
    from pyimagesearch import classify, pipeline

    classify.classify(partial(pipeline.predict, model, tta=args.tta), pictures, args.output,
                      run, window=not args.no_display)


def classify_only(args, pictures, run):
    """--load with --classify: your pictures only, with no Fashion-MNIST data needed."""
    backend.set_up(args)
    model = run.load(args.load)
    run.prepare_folders()
    classify_pictures(model, pictures, args, run)
    return run.end()


def run_chapter(argv):
    """The chapter's run, as the command line ``argv`` asks; returns the exit code."""
    args = cli.parse_args(argv, epochs=NUM_EPOCHS, lr=INIT_LR, batch_size=BS)
    with supervisor.Supervisor(*cli.written(args)) as run:
        print(f"[INFO] running with {backend.versions()}")
        backend.start()  # on the backend Keras is set to (TensorFlow unless said), quietly
        from pyimagesearch import classify, pipeline

        if args.unused:
            print(f"[WARNING] --load takes the model as it was trained: "
                  f"{', '.join(args.unused)} not used", file=sys.stderr)
        pictures = classify.read(args.classify, run)
        if pictures and args.load and not args.export:
            return classify_only(args, pictures, run)

        # load the data, and reshape it to the backend's channel order
        print("[INFO] loading Fashion MNIST...")
        ((trainX, trainY), (testX, testY)), _ = load_fashion_mnist(args.dataset_dir,
                                                                   limit=args.limit)
        place = backend.set_up(args)
        place.check_share(len(trainX))
        trainX, testX = pipeline.add_channel_axis(trainX), pipeline.add_channel_axis(testX)
        testData = pipeline.make_dataset(testX, testY, pipeline.EVAL_BS)  # [0, 1], one-hot

        # build, compile and train the network, or load one trained before
        H = None
        if args.load:
            model = run.load(args.load)
            run.prepare_folders()
        else:
            model = build_model(args, place, len(trainX))
            run.prepare_folders(model)
            H = train(model, args, (trainX, trainY, testData), run, place)
            run.save(model)
            model = place.on_this_process(model)

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
    return supervisor.supervise(run_chapter, argv)


if __name__ == "__main__":
    supervisor.leave(main())
