"""The command line of fashion_mnist.py: its flags, their checks (against each other and
against the files they name), what a run writes, and a few words for what a run changes
from the chapter's recipe. Nothing here imports Keras or TensorFlow."""

import argparse
import math
import os
from pathlib import Path

from pyimagesearch.errors import UserError, plural, shown
from pyimagesearch.portable import export
from pyimagesearch.portable.runtimes import is_portable
from pyimagesearch.training.backend import check_configured, versions

# what a run writes into its output folder, besides the model
OUTPUTS = {"plot": "plot.png", "confusion": "confusion.png", "montage": "montage.png",
           "sheet": "classified.png"}


def as_int(text):
    """``int(text)``, or NaN when ``text`` is not a whole number, which every range check
    refuses."""
    try:
        return int(text)
    except ValueError:
        return math.nan


def as_float(text):
    """``float(text)``, or NaN when ``text`` is not a number, which every range check refuses."""
    try:
        return float(text)
    except ValueError:
        return math.nan


def checked(convert, accept, wanted):
    """An argparse type: ``convert`` the text, then refuse it unless ``accept(value)``,
    saying it ``wanted`` something else."""
    def check(text):
        value = convert(text)
        if not accept(value):
            raise argparse.ArgumentTypeError(f"must be {wanted}, not {text!r}")
        return value

    return check


positive_int = checked(as_int, lambda n: n >= 1, "a positive whole number")
# a run of more epochs, or a bigger batch, than these is a slip of the keyboard
epoch_count = checked(as_int, lambda n: 1 <= n <= 10_000, "a whole number from 1 to 10000")
batch_images = checked(as_int, lambda n: 1 <= n <= 60_000, "a whole number from 1 to 60000")
non_negative_int = checked(as_int, lambda n: n >= 0, "0 or a positive whole number")
shift_pixels = checked(as_int, lambda n: 0 <= n <= 14, "a whole number of pixels from 0 to 14")
positive_float = checked(as_float, lambda x: math.isfinite(x) and x > 0,
                         "a positive finite number")
non_negative_float = checked(as_float, lambda x: math.isfinite(x) and x >= 0,
                             "zero or a positive finite number")
probability = checked(as_float, lambda x: 0 <= x <= 1, "a number from 0 to 1")
seed = checked(as_int, lambda n: 0 <= n < 2**32, f"a whole number from 0 to {2**32 - 1}")


def keras_path(text):
    if Path(text).suffix != ".keras":  # a name before it too: Keras refuses "folder/.keras"
        raise argparse.ArgumentTypeError(f"must be a file name ending in .keras, not {text!r}")
    return Path(text)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Adds "(default: ...)" to each flag's help, unless the help already says its default
    or it has none (an off switch, an optional path)."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False or "default:" in action.help:
            return action.help
        return super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    """argparse's parser, whose flags also say what a run does with them. Each flag is
    declared once, by :meth:`flag`; the settings a backup must match, the flags a --load
    run does not use and the words for a run's changes (:func:`describe_recipe`) all come
    from those declarations."""

    def flag(self, *names, group=None, backup=False, with_load=True, says=None, **kwargs):
        """Add a flag (to ``group``, else to the parser) with argparse's ``kwargs``.
        ``backup``: a backup is continued only by a run that gives the flag the same value.
        ``with_load``: whether a run that --load-s a trained model uses it (a function of
        the parsed arguments where that depends on other flags). ``says``: a function of
        the parsed arguments that words the flag's change from its default, for a run's
        first lines and its plots (None: the flag is no change to the recipe)."""
        action = (group or self).add_argument(*names, **kwargs)
        action.backup, action.with_load, action.says = backup, with_load, says
        action.beyond = group is not None  # beyond the chapter
        return action

    @property
    def flags(self):
        """The flags declared with :meth:`flag`, in the order they were."""
        return [action for action in self._actions if hasattr(action, "backup")]


def parse_args(argv=None, epochs=25, lr=1e-2, batch_size=32):
    """Parse the command line and check its flags (see :func:`check_inputs`); ``epochs``,
    ``lr`` and ``batch_size`` are the chapter's defaults. ``model`` is where the model is
    saved, given or not; ``unused``, the training flags given with --load, which are set
    back to their defaults."""
    parser = make_parser(epochs, lr, batch_size)
    args = parser.parse_args(argv)
    args.model = args.model or args.output / "fashion_mnist.keras"
    conflict = conflicting_flags(args)
    if conflict:
        parser.error(conflict)  # exit code 2, as for any wrong flag
    args.unused = []
    for action in parser.flags:
        uses = action.with_load(args) if callable(action.with_load) else action.with_load
        if args.load is not None and not uses and getattr(args, action.dest) != action.default:
            args.unused.append(action.option_strings[0])
            setattr(args, action.dest, action.default)
    args.settings = {action.dest: getattr(args, action.dest)
                     for action in parser.flags if action.backup}
    # a run names its changes to training first, those beyond the chapter before the
    # chapter's own numbers, then its changes to evaluating
    changed = [action for action in parser.flags
               if action.says and getattr(args, action.dest) != action.default]
    changed.sort(key=lambda action: (action.with_load is True, not action.beyond))
    args.changes = [action.says for action in changed]
    check_inputs(args)
    return args


def written(args):
    """What the run of ``args`` writes, as its Supervisor takes it: the output folder, the
    files the run may write (there, and the exports beside the model), the model file when
    the run trains it or exports it (else None), and whether it trains."""
    files = [args.output / name for name in OUTPUTS.values()]
    trains = args.load is None
    if args.export or trains:  # the model's folder is this run's: every export's leftovers
        files += export.leftovers(args.model)
    return args.output, files, args.model if trains or args.export else None, trains


def make_parser(epochs=25, lr=1e-2, batch_size=32):
    """The parser of fashion_mnist.py's flags, with the chapter's values as defaults."""
    parser = Parser(prog="fashion_mnist.py", formatter_class=HelpFormatter,
                    description="Train MiniVGGNet on Fashion-MNIST (the chapter's recipe by "
                                "default).")
    flag = parser.flag
    parser.add_argument("--version", action="version", version=f"%(prog)s with {versions()}",
                        help="print the versions of Keras, its backend and Python, and exit")
    flag("--epochs", type=epoch_count, default=epochs, backup=True, with_load=False,
         says=lambda args: f"epochs {args.epochs}",
         help="epochs to train; with the chapter's schedule the learning-rate decay is "
              "lr/epochs")
    flag("--batch-size", type=batch_images, default=batch_size, backup=True, with_load=False,
         says=lambda args: f"batch {args.batch_size}", help="training batch size")
    flag("--lr", type=positive_float, default=lr, backup=True, with_load=False,
         says=lambda args: f"lr {args.lr:g}", help="initial learning rate of SGD (momentum 0.9)")
    flag("--output", type=Path, default=Path("."),
         help="folder for plot.png, confusion.png, montage.png and the saved model")
    flag("--model", type=keras_path, default=None,
         help="where to save the trained model (default: OUTPUT/fashion_mnist.keras)")
    flag("--load", type=Path, default=None, metavar="PATH",
         help="skip training: evaluate a model saved by an earlier run (a .keras file)")
    flag("--dataset-dir", type=Path, default=None,
         help="folder with the four Fashion-MNIST IDX files (gzipped or not); default: "
              "$FASHION_MNIST_DIR, ~/.keras/datasets/fashion-mnist, "
              "/usr/share/datasets/fashion-mnist, then the Keras download")
    flag("--limit", type=positive_int, default=None, metavar="N", backup=True,
         with_load=lambda args: bool(args.export),  # the training images calibrate int8
         says=lambda args: args.load is None and f"the first {args.limit:,} training images",
         help="train on the first N training images only (the test set stays whole; "
              "default: all)")
    flag("--seed", type=seed, default=None, backup=True,
         help="make the run reproducible: same history, same montage (default: a different "
              "run each time)")
    flag("--classify", type=Path, nargs="+", metavar="PICTURE",
         help="classify pictures of your own (files, or folders of them) with the model just "
              "trained or --load-ed: the three likeliest labels of each, and classified.png")
    flag("--export", nargs="+", choices=list(export.SUFFIXES), metavar="FORMAT",
         help="after training or with --load, write the model beside --model for other "
              "runtimes, each checked on the test images by its own: litert (.tflite), "
              "litert-int8 (full-integer), onnx, saved-model (see requirements-export.txt)")
    flag("--restart", action="store_true", with_load=False,
         help="train from the first epoch even where an interrupted run with the same "
              "settings left a backup to continue from (it is replaced)")
    flag("--no-display", action="store_true",
         help="do not open a window for the montage (it is saved to montage.png anyway)")
    flag("--mixed-precision", action="store_true", backup=True, with_load=False,
         says=lambda args: args.compute_dtype != "float32" and f"{args.compute_dtype} arithmetic",
         help="train in bfloat16 on GPUs of compute capability 8.0 and later and on CPUs "
              "that have it, float16 on older GPUs")
    flag("--distribute", action="store_true", backup=True, with_load=False,
         help="train on every device, a batch of --batch-size on each: on JAX with Keras's "
              "DataParallel (and across the processes KERAS_DISTRIBUTION_* names), on "
              "TensorFlow with MirroredStrategy on this machine")
    beyond = parser.add_argument_group(
        "beyond the chapter", "off by default; the README's 'Beyond the chapter' shows them "
        "used together")
    flag("--augment", group=beyond, action="store_true", backup=True, with_load=False,
         says=lambda args: " + ".join(filter(None, [
             "flip", args.max_shift and f"{args.max_shift} px shift",
             args.erase_rate and "erase"])) + " augmentation",
         help="randomly flip, shift (see --max-shift) and erase (a 10 px square, see "
              "--erase-rate) every training image, anew each epoch")
    flag("--max-shift", group=beyond, type=shift_pixels, default=2, metavar="N", backup=True,
         with_load=False, help="with --augment: the most pixels an image moves in each "
                               "direction (0 turns shifting off)")
    flag("--erase-rate", group=beyond, type=probability, default=0.5, metavar="P", backup=True,
         with_load=False, help="with --augment: the share of training images that lose a "
                               "square (0 turns erasing off)")
    flag("--schedule", group=beyond, choices=["chapter", "cosine"], default="chapter",
         backup=True, with_load=False, says=lambda args: f"{args.schedule} schedule",
         help="learning rate over training: the chapter's decay lr/(1 + t*lr/epochs), or one "
              "epoch of linear warm-up to --lr then a cosine down to 0")
    flag("--weight-decay", group=beyond, type=non_negative_float, default=0.0, metavar="X",
         backup=True, with_load=False, says=lambda args: f"weight decay {args.weight_decay:g}",
         help="SGD's decoupled weight decay (Keras's weight_decay)")
    flag("--label-smoothing", group=beyond, type=probability, default=0.0, metavar="X",
         backup=True, with_load=False,
         says=lambda args: f"label smoothing {args.label_smoothing:g}",
         help="train towards (1 - X) * one-hot + X/10 (Keras's label_smoothing): with 0.1, "
              "0.91 for the true class and 0.01 for the others")
    flag("--swa", group=beyond, type=non_negative_int, default=0, metavar="N", backup=True,
         with_load=False,
         says=lambda args: f"weights averaged over the last {plural(args.swa, 'epoch')}",
         help="average the weights of the last N epochs (stochastic weight averaging), then "
              "recompute batch norm's statistics; with --schedule cosine, the rate reaches "
              "lr/10 as averaging starts and stays there (0 turns it off)")
    flag("--tta", group=beyond, action="store_true",
         says=lambda args: "flip test-time augmentation",
         help="test-time augmentation: predict each test image and its mirror image, and "
              "average the two")
    return parser


def conflicting_flags(args):
    """Why flags that are each right cannot go together, in a sentence; None if they can."""
    if args.load is None and args.swa >= args.epochs:
        return (f"--swa {args.swa} would average every epoch of the {args.epochs}; use a number "
                f"smaller than --epochs")
    if args.load is None and args.swa and args.distribute:
        return "--swa works on one device only; leave out --distribute to use it"
    return None


def describe_recipe(args, compute_dtype="float32"):
    """What the run of ``args`` changes from the chapter's recipe, in a few words ("" for
    none). ``compute_dtype`` is what training computed in (bfloat16 with --mixed-precision
    on a CPU that has it)."""
    args = argparse.Namespace(**{**vars(args), "compute_dtype": compute_dtype})
    return ", ".join(filter(None, (says(args) for says in args.changes)))


def check_inputs(args):
    """What the flags ask of the files they name, checked before anything is read: raises
    ``UserError`` for a run that cannot work. (The folders are the Supervisor's to check.)"""
    if args.model.is_dir():
        raise UserError(f"{args.model} is a folder, so the model cannot be saved there; pass "
                        f"--model with a file name ending in .keras")
    if args.load is not None and is_portable(args.load):
        pictures = " ".join(map(str, args.classify or [])) or "PICTURE..."
        raise UserError(f"{args.load} is an exported model, which classifies your pictures "
                        f"without TensorFlow: python -m pyimagesearch.classify {args.load} "
                        f"{pictures} (fashion_mnist.py --load takes the .keras model)")
    if args.load is not None and not args.load.is_file():
        if args.load.exists():  # a folder, a named pipe, a device
            raise UserError(f"{args.load} is not a file; --load takes a .keras model file")
        raise UserError(f"there is no model file {args.load}; train one first, or check the path")
    name = check_configured()
    if args.export and name != "tensorflow":
        raise UserError(f"--export converts with TensorFlow, and Keras runs on {name} here: "
                        f"export from an environment with TensorFlow (KERAS_BACKEND=tensorflow) "
                        f"with --load {args.load or args.model} --export "
                        f"{' '.join(args.export)}; a .keras model trained on any backend loads "
                        f"there")
    if args.distribute and name == "torch":
        raise UserError("--distribute trains with Keras's distribution API, which runs on JAX, "
                        "or with TensorFlow's strategies: set KERAS_BACKEND=jax or tensorflow")
    export.check_packages(args.export or [])
    for picture in args.classify or []:
        try:
            os.lstat(picture)  # may raise for a folder this user may not look in: said as such
        except FileNotFoundError:
            raise UserError(f"{shown(picture)} does not exist; check the path given to "
                            f"--classify") from None
