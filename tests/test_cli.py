"""The command line: every flag in --help and in the README's table, bad values refused
before anything is read or written, and the line that names what a run changed."""

import platform
import re
import subprocess
import sys

import keras
import pytest

from conftest import ROOT, user_env
from pyimagesearch import cli
from pyimagesearch.errors import UserError


def help_text():
    return " ".join(cli.make_parser().format_help().split())


def test_help_shows_every_default():
    text = help_text()
    for flag, default in [("--epochs", "25"), ("--batch-size", "32"), ("--lr", "0.01"),
                          ("--output", "."), ("--schedule", "chapter"), ("--weight-decay", "0.0"),
                          ("--max-shift", "2"), ("--erase-rate", "0.5"), ("--swa", "0")]:
        assert flag in text and f"(default: {default})" in text
    assert "(default: OUTPUT/fashion_mnist.keras)" in text  # --model
    assert "default: all)" in text  # --limit
    assert "(default: None)" not in text  # a missing default is said in words


def readme_options():
    """The rows of the README's table of the chapter's flags: {"--epochs": "25", ...} (flag:
    default)."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Run it\n")[1].split("\n## ")[0]
    rows = [line.split("|")[1:3] for line in section.splitlines() if line.startswith("| `--")]
    return {re.match(r"\s*`(--[a-z-]+)", flag).group(1): default.strip() for flag, default in rows}


def test_the_readme_table_says_what_help_says():
    table = readme_options()
    assert {"--epochs", "--batch-size", "--lr"} <= set(table)  # the chapter's three numbers
    actions = {action.option_strings[0]: action for action in cli.make_parser()._actions}
    for flag, default in table.items():  # each flag exists, and a number's default is --help's
        default_value = actions[flag].default
        if isinstance(default_value, (int, float)) and not isinstance(default_value, bool):
            assert f"{default_value:g}" in default, flag
        elif default_value in (None, False):
            assert default in ("", "random") or "all" in default, flag


@pytest.mark.parametrize("flag, value", [
    ("--epochs", "0"), ("--epochs", "-3"), ("--epochs", "2.5"), ("--batch-size", "0"),
    ("--batch-size", "many"), ("--limit", "0"), ("--lr", "0"), ("--lr", "-0.1"),
    ("--lr", "nan"), ("--lr", "inf"), ("--model", "model.h5"), ("--model", "out/.keras"),
    ("--weight-decay", "-1"),
    ("--weight-decay", "nan"), ("--schedule", "linear"), ("--erase-rate", "2"),
    ("--erase-rate", "nan"), ("--max-shift", "-1"), ("--max-shift", "15"),
    ("--max-shift", "1.5"), ("--label-smoothing", "1.5"), ("--swa", "-1"), ("--swa", "x"),
    ("--seed", "-1"), ("--seed", "4294967296"),
])
def test_bad_flag_values_are_refused(tmp_path, monkeypatch, capsys, flag, value):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as refused:
        cli.parse_args([flag, value, "--output", "out"])
    assert refused.value.code == 2  # argparse's exit code for a bad command line
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert flag in message and value in message, message
    if flag == "--seed":
        assert "from 0 to 4294967295" in message
    assert list(tmp_path.iterdir()) == []


def test_the_model_goes_into_the_output_folder_unless_given():
    assert cli.parse_args(["--output", "out"]).model == cli.Path("out/fashion_mnist.keras")
    assert cli.parse_args(["--model", "m/a.keras"]).model == cli.Path("m/a.keras")


@pytest.mark.parametrize("flags, phrase", [
    (["--epochs", "3", "--swa", "3"], "--swa 3 would average every epoch of the 3"),
    (["--epochs", "3", "--swa", "1", "--distribute"], "leave out --distribute"),
])
def test_flags_that_cannot_work_together_are_refused_as_flags(tmp_path, monkeypatch, capsys,
                                                              flags, phrase):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as refused:
        cli.parse_args(flags)
    assert refused.value.code == 2  # as any wrong flag
    assert phrase in capsys.readouterr().err.strip().splitlines()[-1]


@pytest.mark.parametrize("flags, phrase", [
    (["--load", "none.keras"], "there is no model file none.keras"),
    (["--load", "folder.keras"], "folder.keras is not a file; --load takes a .keras model file"),
    (["--classify", "nowhere.jpg"], "nowhere.jpg does not exist"),
])
def test_flags_naming_files_that_are_not_there_are_refused(tmp_path, monkeypatch, flags,
                                                           phrase):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "folder.keras").mkdir()
    with pytest.raises(UserError, match=re.escape(phrase)):
        cli.parse_args(flags)


@pytest.mark.parametrize("flag, value", [("--epochs", "100000000000000000000"),
                                         ("--epochs", "100000000"), ("--epochs", "10001"),
                                         ("--batch-size", "100000000000000000000")])
def test_numbers_no_run_could_use_are_refused_as_flags(capsys, flag, value):
    with pytest.raises(SystemExit) as refused:
        cli.parse_args([flag, value])
    assert refused.value.code == 2 and value in capsys.readouterr().err


def test_training_flags_given_with_load_are_named_as_not_used_and_not_used():
    args = cli.parse_args(["--load", __file__, "--epochs", "3", "--augment", "--tta", "--seed",
                           "1", "--limit", "70000", "--distribute"])
    assert args.unused == ["--epochs", "--limit", "--distribute", "--augment"]  # not --tta, --seed
    assert (args.epochs, args.augment, args.limit, args.distribute) == (25, False, None, False)
    assert (args.tta, args.seed) == (True, 1)
    assert cli.parse_args(["--epochs", "3"]).unused == []  # training: all are used


def test_a_model_path_that_is_a_folder_is_refused(tmp_path):
    (tmp_path / "fashion_mnist.keras").mkdir()
    with pytest.raises(UserError, match="fashion_mnist.keras is a folder.*--model"):
        cli.parse_args(["--output", str(tmp_path)])


@pytest.mark.parametrize("flags, expected", [
    ([], ""),
    (["--epochs", "1", "--limit", "2000"], "epochs 1, the first 2,000 training images"),
    (["--batch-size", "128", "--lr", "0.05"], "batch 128, lr 0.05"),
    (["--augment", "--erase-rate", "0", "--schedule", "cosine", "--swa", "3"],
     "flip + 2 px shift augmentation, cosine schedule, weights averaged over the last 3 epochs"),
    (["--load", __file__, "--epochs", "3", "--tta"], "flip test-time augmentation"),
])
def test_the_recipe_line_names_only_what_changed(flags, expected):
    assert cli.describe_recipe(cli.parse_args(flags)) == expected


def test_the_recipe_line_names_bfloat16_arithmetic():
    args = cli.parse_args(["--mixed-precision"])
    assert cli.describe_recipe(args, compute_dtype="bfloat16") == "bfloat16 arithmetic"


def test_version_names_keras_its_backend_and_python(capsys):
    import importlib

    with pytest.raises(SystemExit) as done:
        cli.parse_args(["--version"])
    assert done.value.code == 0
    name = keras.backend.backend()
    title = {"tensorflow": "TensorFlow", "jax": "JAX", "torch": "PyTorch"}[name]
    assert capsys.readouterr().out.strip() == (
        f"fashion_mnist.py with Keras {keras.__version__} on {title} "
        f"{importlib.import_module(name).__version__}, Python {platform.python_version()}")


@pytest.mark.parametrize("backend, flags, phrase", [
    ("jax", ["--export", "saved-model"], "--export converts with TensorFlow, and Keras runs on "
                                         "jax here: export from an environment with TensorFlow"),
    ("torch", ["--distribute"], "--distribute trains with Keras's distribution API, which "
                                "runs on JAX"),
    ("numpy", [], "Keras is set to the 'numpy' backend (KERAS_BACKEND), on which this program "
                  "cannot train"),
])
def test_what_a_backend_cannot_do_is_one_sentence(monkeypatch, backend, flags, phrase):
    monkeypatch.setenv("KERAS_BACKEND", backend)  # read as Keras reads it, before it starts
    with pytest.raises(UserError, match=re.escape(phrase)):
        cli.parse_args(flags)


def test_a_hand_edited_keras_json_whose_backend_is_no_name_is_one_sentence(
        tmp_path, monkeypatch, capsys):
    (tmp_path / "keras.json").write_text('{"backend": {"name": "jax"}}')
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(UserError, match=re.escape("Keras is set to the '{\"name\": \"jax\"}' "
                                                  "backend")):
        cli.parse_args([])
    with pytest.raises(SystemExit) as done:
        cli.parse_args(["--version"])
    assert done.value.code == 0 and "on {\"name\": \"jax\"}" in capsys.readouterr().out


def test_each_flag_says_once_what_a_run_does_with_it():
    parser = cli.make_parser()
    backup = {action.dest for action in parser.flags if action.backup}
    assert set(cli.parse_args([]).settings) == backup == {
        "epochs", "batch_size", "lr", "limit", "seed", "mixed_precision", "distribute",
        "augment", "max_shift", "erase_rate", "schedule", "weight_decay", "label_smoothing",
        "swa"}
    # a flag that changes training is not used by a --load run (but --seed picks the montage)
    unused = {action.dest for action in parser.flags if action.with_load is False}
    assert unused == backup - {"seed", "limit"} | {"restart"}


@pytest.mark.parametrize("program", [[str(ROOT / "fashion_mnist.py"), "--epochs", "1"],
                                     ["-m", "pyimagesearch.classify", "m.tflite", "x.png"],
                                     ["-m", "pyimagesearch.testphoto", "0", "x.jpg"]])
def test_an_opencv_setting_that_would_abort_the_program_is_one_sentence(tmp_path, program):
    (tmp_path / "x.png").write_bytes(b"")
    result = subprocess.run([sys.executable, *program], cwd=tmp_path, capture_output=True,
                            text=True, timeout=300, env={
                                **user_env(), "OPENCV_IO_MAX_IMAGE_PIXELS": "1e9",
                                "PYTHONPATH": str(ROOT)})
    assert result.returncode == 1, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1] == (
        "error: OPENCV_IO_MAX_IMAGE_PIXELS is '1e9', which OpenCV cannot read (it would end "
        "the program): set a whole number, such as 50000000, or unset it")
