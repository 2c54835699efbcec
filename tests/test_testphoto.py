"""The photo tool: a photo-like picture of a test image, which converts back close to it."""

import pytest

from conftest import write_dataset
from pyimagesearch import datasets, photos, testphoto
from test_photos import close_to


def test_the_photo_tool_makes_a_picture_of_a_test_image(tmp_path, capsys, monkeypatch):
    write_dataset(tmp_path / "data")
    monkeypatch.setenv("FASHION_MNIST_DIR", str(tmp_path / "data"))
    testphoto.main(["3", str(tmp_path / "boot.jpg")])
    assert capsys.readouterr().out.startswith(f"{tmp_path / 'boot.jpg'}: test image 3 (")
    close_to(photos.to_fashion_mnist(tmp_path / "boot.jpg"),
             datasets.load_fashion_mnist()[0][1][0][3], bound=20)
    with pytest.raises(SystemExit, match="there are 100 test images"):
        testphoto.main(["100", str(tmp_path / "x.jpg")])
    with pytest.raises(SystemExit, match="usage: python -m pyimagesearch.testphoto"):
        testphoto.main(["boot.jpg"])



@pytest.mark.parametrize("number", ["²", "9" * 5000, "-1", "3.0"])
def test_a_number_int_cannot_read_or_no_test_image_has_is_a_usage_line(number):
    with pytest.raises(SystemExit, match="usage: python -m pyimagesearch.testphoto"):
        testphoto.main([number, "x.jpg"])
