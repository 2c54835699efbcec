"""The command line: every flag in --help and in the README's table, bad values refused
before anything is read or written, and the line that names what a run changed."""

import re
import subprocess
import sys

import pytest

from conftest import ROOT, SCRIPT, assert_clean_failure, run_script
from pyimagesearch import cli


def help_text():
    result = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True,
                            text=True, check=True)
    return " ".join(result.stdout.split())


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
    """The rows of the README's options table: {"--epochs": "25", ...} (flag: default)."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Options\n")[1].split("\n## ")[0]
    rows = [line.split("|")[1:3] for line in section.splitlines() if line.startswith("| `--")]
    return {re.match(r"\s*`(--[a-z-]+)", flag).group(1): default.strip() for flag, default in rows}


def test_the_readme_table_lists_every_flag_and_only_those():
    flags = {option for action in cli.make_parser()._actions for option in action.option_strings
             if option.startswith("--") and option != "--help"}
    table = readme_options()
    assert set(table) == flags
    text = help_text()
    assert all(flag in text for flag in table)
    for action in cli.make_parser()._actions:  # a number's default is the table's
        if isinstance(action.default, (int, float)) and not isinstance(action.default, bool):
            assert f"{action.default:g}" in table[action.option_strings[0]], action.dest


@pytest.mark.parametrize("flag, value", [
    ("--epochs", "0"), ("--epochs", "-3"), ("--epochs", "2.5"), ("--batch-size", "0"),
    ("--batch-size", "many"), ("--limit", "0"), ("--lr", "0"), ("--lr", "-0.1"),
    ("--lr", "nan"), ("--lr", "inf"), ("--model", "model.h5"), ("--weight-decay", "-1"),
    ("--weight-decay", "nan"), ("--schedule", "linear"), ("--erase-rate", "2"),
    ("--erase-rate", "nan"), ("--max-shift", "-1"), ("--max-shift", "15"),
    ("--max-shift", "1.5"), ("--label-smoothing", "1.5"), ("--swa", "-1"), ("--swa", "x"),
])
def test_bad_flag_values_are_refused(tmp_path, tiny_data, flag, value):
    result = run_script("--dataset-dir", tiny_data, flag, value, cwd=tmp_path)
    assert result.returncode == 2
    assert_clean_failure(result, flag, value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_limit_above_the_training_set(tmp_path, tiny_data):
    result = run_script("--dataset-dir", tiny_data, "--limit", "257", cwd=tmp_path)
    assert_clean_failure(result, "--limit 257", "256 training images")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_output_folder_that_cannot_be_created(tmp_path, tiny_data):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = run_script("--dataset-dir", tiny_data, "--output", blocker / "out", cwd=tmp_path)
    assert_clean_failure(result, "a-file is a file, not a folder")
    assert blocker.read_text() == "not a folder"


def test_load_missing_and_non_model_files(tmp_path, tiny_data):
    result = run_script("--dataset-dir", tiny_data, "--load", tmp_path / "none.keras", cwd=tmp_path)
    assert_clean_failure(result, "there is no model file")
    fake = tmp_path / "fake.keras"
    fake.write_text("hello")
    result = run_script("--dataset-dir", tiny_data, "--load", fake, "--output", tmp_path / "out",
                        cwd=tmp_path)
    assert_clean_failure(result, "fake.keras is not a Keras model")
    assert not (tmp_path / "out" / "montage.png").exists()


def test_load_refuses_a_model_of_the_wrong_shape(tmp_path, tiny_data):
    import keras

    path = tmp_path / "cifar.keras"
    keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(),
                      keras.layers.Dense(10)]).save(path)
    result = run_script("--dataset-dir", tiny_data, "--load", path, cwd=tmp_path)
    assert_clean_failure(result, "Fashion-MNIST needs")


@pytest.mark.parametrize("flags, phrase", [
    (["--epochs", "3", "--swa", "3"], "--swa 3 would average every epoch of the 3"),
    (["--epochs", "3", "--swa", "1", "--distribute"], "leave out --distribute"),
])
def test_swa_that_cannot_work_is_refused_before_training(tmp_path, tiny_data, flags, phrase):
    result = run_script("--dataset-dir", tiny_data, *flags, cwd=tmp_path)
    assert result.returncode == 1
    assert phrase in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


@pytest.mark.parametrize("flags, expected", [
    ([], ""),
    (["--epochs", "1", "--limit", "2000"], "epochs 1, the first 2,000 training images"),
    (["--batch-size", "128", "--lr", "0.05"], "batch 128, lr 0.05"),
    (["--augment", "--erase-rate", "0", "--schedule", "cosine", "--swa", "3"],
     "flip + 2 px shift augmentation, cosine schedule, weights averaged over the last 3 epochs"),
    (["--load", "old.keras", "--epochs", "3", "--tta"], "flip test-time augmentation"),
])
def test_the_recipe_line_names_only_what_changed(flags, expected):
    assert cli.describe_recipe(cli.parse_args(flags)) == expected


def test_the_recipe_line_names_bfloat16_arithmetic():
    args = cli.parse_args(["--mixed-precision"])
    assert cli.describe_recipe(args, compute_dtype="bfloat16") == "bfloat16 arithmetic"


def test_version_names_tensorflow_keras_and_python():
    import platform

    import keras
    import tensorflow as tf

    result = subprocess.run([sys.executable, str(SCRIPT), "--version"], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0
    assert result.stdout.strip() == (f"fashion_mnist.py with TensorFlow {tf.__version__}, "
                                     f"Keras {keras.__version__}, "
                                     f"Python {platform.python_version()}")
