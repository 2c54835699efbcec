"""The offline loader: where it looks, what it returns, and how it refuses bad files."""

import gzip

import numpy as np
import pytest

import pyimagesearch.datasets as datasets
from conftest import idx_bytes, write_dataset
from pyimagesearch.datasets import DatasetError, load_fashion_mnist, read_idx
from pyimagesearch.errors import UserError


@pytest.fixture(autouse=True)
def no_standard_folders(tmp_path, monkeypatch):
    """Keep the user's Keras cache, the Debian folder and the env var out of these tests."""
    monkeypatch.setattr(datasets, "KERAS_CACHE_DIR", tmp_path / "no-keras-cache")
    monkeypatch.setattr(datasets, "DEBIAN_DIR", tmp_path / "no-debian")
    monkeypatch.delenv("FASHION_MNIST_DIR", raising=False)


@pytest.mark.parametrize("gz", [True, False])
def test_reads_gzipped_and_raw_files(tmp_path, gz):
    (trainX, trainY), (testX, testY) = write_dataset(tmp_path, n_train=30, n_test=20, gz=gz)
    ((a, b), (c, d)), source = load_fashion_mnist(tmp_path, download=False)
    for got, want in [(a, trainX), (b, trainY), (c, testX), (d, testY)]:
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, want)
    assert a.shape == (30, 28, 28) and b.shape == (30,) and source == str(tmp_path)


def test_limit_keeps_the_first_training_images_and_refuses_more_than_there_are(tmp_path):
    (trainX, trainY), (testX, _) = write_dataset(tmp_path, n_train=30, n_test=20)
    ((a, b), (c, _)), _ = load_fashion_mnist(tmp_path, download=False, limit=7)
    np.testing.assert_array_equal(a, trainX[:7])
    np.testing.assert_array_equal(b, trainY[:7])
    np.testing.assert_array_equal(c, testX)  # the test set stays whole
    with pytest.raises(UserError, match="--limit 31 is more than the 30 training images"):
        load_fashion_mnist(tmp_path, download=False, limit=31)


def test_search_order(tmp_path, monkeypatch):
    for name, n in [("flag", 11), ("env", 12), ("cache", 13), ("debian", 14)]:
        write_dataset(tmp_path / name, n_train=n, n_test=5)
    monkeypatch.setattr(datasets, "KERAS_CACHE_DIR", tmp_path / "cache")
    monkeypatch.setattr(datasets, "DEBIAN_DIR", tmp_path / "debian")

    def train_size(dataset_dir=None):
        return len(load_fashion_mnist(dataset_dir, download=False)[0][0][0])

    assert train_size() == 13
    monkeypatch.setenv("FASHION_MNIST_DIR", str(tmp_path / "env"))
    assert train_size() == 12
    assert train_size(tmp_path / "flag") == 11
    monkeypatch.delenv("FASHION_MNIST_DIR")
    monkeypatch.setattr(datasets, "KERAS_CACHE_DIR", tmp_path / "empty")
    assert train_size() == 14


def test_missing_folder_named_by_the_user(tmp_path):
    with pytest.raises(DatasetError, match="does not exist.*apt-get install dataset-fashion-mnist"):
        load_fashion_mnist(tmp_path / "nowhere")


def test_folder_without_the_files(tmp_path):
    with pytest.raises(DatasetError, match="holds no Fashion-MNIST IDX files"):
        load_fashion_mnist(tmp_path)


def test_one_file_missing(tmp_path):
    write_dataset(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetError, match="has no t10k-labels-idx1-ubyte"):
        load_fashion_mnist(tmp_path)


def test_truncated_gzip(tmp_path):
    write_dataset(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-50])
    with pytest.raises(DatasetError, match="cannot read .*train-images-idx3-ubyte.gz"):
        load_fashion_mnist(tmp_path)


def test_truncated_raw_file(tmp_path):
    write_dataset(tmp_path, gz=False)
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(DatasetError, match="t10k-images-idx3-ubyte should hold"):
        load_fashion_mnist(tmp_path)


def test_not_an_idx_file(tmp_path):
    path = tmp_path / "x"
    path.write_bytes(b"<html>not found</html>")
    with pytest.raises(DatasetError, match="bad header"):
        read_idx(path)


def test_label_count_must_match_image_count(tmp_path):
    write_dataset(tmp_path, n_train=30)
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(idx_bytes(np.zeros(29, np.uint8))))
    with pytest.raises(DatasetError, match="has 29 labels but .* has 30 images"):
        load_fashion_mnist(tmp_path)


def test_images_must_be_28x28(tmp_path):
    write_dataset(tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(
        gzip.compress(idx_bytes(np.zeros((100, 32, 32), np.uint8))))
    with pytest.raises(DatasetError, match=r"shape \(32, 32\), not 28x28"):
        load_fashion_mnist(tmp_path)


def test_labels_must_be_0_to_9(tmp_path):
    write_dataset(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(idx_bytes(np.full(100, 12, np.uint8))))
    with pytest.raises(DatasetError, match="label 12"):
        load_fashion_mnist(tmp_path)


def test_download_failure_says_how_to_work_offline(monkeypatch):
    import keras

    def fail():
        raise OSError("Temporary failure in name resolution")

    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", fail)
    with pytest.raises(DatasetError, match="download failed .*name resolution.*to work offline"):
        load_fashion_mnist()


def test_download_is_the_last_resort(monkeypatch):
    import keras

    arrays = ((np.zeros((1, 28, 28), np.uint8), np.zeros(1, np.uint8)),) * 2
    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", lambda: arrays)
    assert load_fashion_mnist() == (arrays, "the Keras download")


def test_swapped_image_and_label_files_are_named_so(tmp_path):
    write_dataset(tmp_path)
    images, labels = tmp_path / "t10k-images-idx3-ubyte.gz", tmp_path / "t10k-labels-idx1-ubyte.gz"
    saved = images.read_bytes()
    images.write_bytes(labels.read_bytes())
    labels.write_bytes(saved)
    with pytest.raises(DatasetError, match="holds labels and .*t10k-labels-idx1-ubyte.gz images: "
                                           "the two files are swapped"):
        load_fashion_mnist(tmp_path)
    labels.write_bytes(images.read_bytes())  # labels in both
    with pytest.raises(DatasetError, match="t10k-images-idx3-ubyte.gz is a labels file"):
        load_fashion_mnist(tmp_path)


def test_a_file_announcing_more_than_any_fashion_mnist_is_refused_unread(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    header = idx_bytes(np.zeros((1, 28, 28), np.uint8))[:16]
    path.write_bytes(gzip.compress(header[:4] + (10**8).to_bytes(4, "big") + header[8:]))
    with pytest.raises(DatasetError, match=r"announces 78,400,000,000 bytes for shape "
                                           r"\(100000000, 28, 28\)"):
        read_idx(path)


def test_a_gzip_that_decompresses_past_its_header_is_not_decompressed_whole(tmp_path):
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    bomb = gzip.compress(idx_bytes(np.zeros(10, np.uint8)) + bytes(50_000_000), 9)
    path.write_bytes(bomb)  # 50 KB that would decompress to 50 MB
    with pytest.raises(DatasetError, match="should hold 18 bytes for shape .10,. but holds more"):
        read_idx(path)
