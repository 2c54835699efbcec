"""The model file: saved whole, saved elsewhere when it cannot be where asked, and
refused in one sentence when it is not a Fashion-MNIST model."""

import errno
import re
import zipfile

import keras
import numpy as np
import pytest
from packaging.version import Version

from conftest import ROOT, run_main, write_dataset
from pyimagesearch.errors import UserError
from pyimagesearch.safety import modelfile


def small_model():
    return keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                             keras.layers.Dense(10, activation="softmax")])


def test_a_trained_model_loads_and_predicts_as_saved(trained_model):
    model = modelfile.load_model(trained_model.path)
    again = modelfile.load_model(trained_model.path)
    x = np.random.default_rng(0).random((4, 28, 28, 1), np.float32)
    np.testing.assert_array_equal(model.predict(x, verbose=0), again.predict(x, verbose=0))


def test_the_size_estimate_covers_the_file(tmp_path, trained_model):
    model = keras.models.load_model(trained_model.path)
    assert trained_model.path.stat().st_size < modelfile.file_size(model)


def test_a_model_that_cannot_be_saved_where_asked_is_saved_in_the_current_folder(
        tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    real_save = modelfile.save_model

    def full_disk(model, path):
        if path.parent.name == "full":
            raise OSError(errno.ENOSPC, "No space left on device")
        real_save(model, path)

    monkeypatch.setattr(modelfile, "save_model", full_disk)
    (tmp_path / "full").mkdir()
    saved, problem = modelfile.save_model_somewhere(small_model(), tmp_path / "full" / "m.keras")
    assert saved == tmp_path / "m-rescued.keras" and saved.is_file()
    assert problem == (f"could not write the model to {tmp_path / 'full' / 'm.keras'} (No space "
                       f"left on device); it was saved to {saved} instead")
    assert list((tmp_path / "full").iterdir()) == []


def test_nowhere_to_save_says_so(tmp_path, monkeypatch):
    def full_disk(model, path):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(modelfile, "save_model", full_disk)
    saved, problem = modelfile.save_model_somewhere(small_model(), tmp_path / "m.keras")
    assert saved is None
    assert problem.endswith("or anywhere else (No space left on device)")


@pytest.mark.parametrize("content, phrase", [
    (b"hello", "is not a Keras model file (a .keras file is a zip archive)"),
    ("zip", "is not a Keras model this program can load"),
])
def test_files_that_are_not_models_are_refused(tmp_path, content, phrase):
    path = tmp_path / "fake.keras"
    if content == "zip":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("notes.txt", "a zip file, but no model")
    else:
        path.write_bytes(content)
    with pytest.raises(UserError, match=re.escape(phrase)) as refused:
        modelfile.load_model(path)
    assert "File not found" not in str(refused.value)


def test_a_model_from_a_newer_keras_that_this_one_cannot_read_says_to_upgrade(tmp_path):
    path = tmp_path / "future.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", '{"keras_version": "99.1.0"}')
        archive.writestr("config.json", '{"class_name": "Sequential", "config": {"layers": 7}}')
        archive.writestr("model.weights.h5", b"")
    with pytest.raises(UserError, match=r"future\.keras was saved by Keras 99\.1\.0, newer than "
                                        r"this environment's 3\.\d+\.\d+; upgrade it"):
        modelfile.load_model(path)


def test_a_model_whose_description_unpacks_to_hundreds_of_mb_is_refused_unread(tmp_path):
    path = tmp_path / "bomb.keras"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("metadata.json", '{"keras_version": "3.5.0"}')
        archive.writestr("config.json", b" " * 400_000_000)  # 400 MB of blanks, 0.4 MB zipped
    assert path.stat().st_size < 1_000_000
    with pytest.raises(UserError, match=r"bomb\.keras unpacks to 400 MB, its description to "
                                        r"400 MB: far more than a model this program saves"):
        modelfile.load_model(path)


def test_a_model_without_softmax_is_said_to_give_no_probabilities(tmp_path, capsys):
    for activation, warned in [("softmax", False), (None, True)]:
        model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                                  keras.layers.Dense(10, activation=activation)])
        model.save(tmp_path / "m.keras")
        modelfile.load_model(tmp_path / "m.keras")
        said = capsys.readouterr().err
        assert ("does not end in a softmax: its outputs are shown as they are" in said) == warned


def test_a_model_of_the_wrong_shape_is_refused(tmp_path):
    path = tmp_path / "cifar.keras"
    keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(),
                      keras.layers.Dense(10)]).save(path)
    with pytest.raises(UserError, match="Fashion-MNIST needs .* pass a model trained by"):
        modelfile.load_model(path)


@pytest.mark.parametrize("trained_on", ["tensorflow", "jax", "torch"])
def test_a_model_from_any_backend_loads_here_with_its_predictions(tmp_path, capsys, trained_on):
    """tests/data holds a small model trained on each backend (by make_models.py there),
    with what it predicted there."""
    data = ROOT / "tests" / "data"
    if modelfile.keras_version(data / f"tiny-{trained_on}.keras") > Version(keras.__version__):
        # the oldest Keras CI tests cannot read the newest one's files; it says so
        with pytest.raises(UserError, match=r"was saved by Keras 3\.\d+\.\d+, newer than this "
                                            r"environment's .*; upgrade it \(pip install -U keras"):
            modelfile.load_model(data / f"tiny-{trained_on}.keras")
        return
    model = modelfile.load_model(data / f"tiny-{trained_on}.keras")
    np.testing.assert_allclose(model.predict(np.load(data / "tiny-images.npy"), verbose=0),
                               np.load(data / f"tiny-{trained_on}.npy"), atol=1e-5)
    write_dataset(tmp_path / "data")  # and the program evaluates it as one of its own
    result = run_main(capsys, "--load", data / f"tiny-{trained_on}.keras", "--dataset-dir",
                      tmp_path / "data", "--output", tmp_path / "out", "--no-display")
    assert result.code == 0 and "test accuracy" in result.stdout, result.stderr
