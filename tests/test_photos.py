"""Your own pictures made to look like Fashion-MNIST's: every kind of file OpenCV reads,
turned the right way up, bad files named; and, on the real test set, photo-like pictures
that convert back close to the original and are classified as it is."""

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from conftest import REAL_DATA, ROOT, assert_clean_failure, needs_real_data, run_main
from pyimagesearch import photos
from pyimagesearch.errors import UserError
from pyimagesearch.testphoto import make_photo


def shirt():
    """A light object on black, Fashion-MNIST's way round, 28x28, as tall as the image and
    centred across it, as the dataset's objects are."""
    image = np.zeros((28, 28), np.uint8)
    image[:, 7:17] = 200
    image[:8, 7:21] = 200  # an arm to the right: left and right differ; centred as a whole
    return image


def as_photo(image, background=240, scale=5):
    """``image`` dark on a light, larger canvas, off-centre, as uint8 gray."""
    large = cv2.resize(255 - image, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    canvas = np.full((large.shape[0] * 2, large.shape[1] * 3), background, np.uint8)
    canvas[10:10 + large.shape[0], 30:30 + large.shape[1]] = np.minimum(large, background)
    return canvas


def close_to(converted, original, bound=12):
    """Mean absolute pixel difference below ``bound`` (of 255)."""
    assert converted.shape == (28, 28) and converted.dtype == np.uint8
    difference = np.abs(converted.astype(int) - original.astype(int)).mean()
    assert difference < bound, f"mean absolute difference {difference:.1f}"


def test_a_dark_object_on_light_becomes_light_on_black():
    converted = photos.to_fashion_mnist(as_photo(shirt()))
    close_to(converted, shirt())
    assert converted[:, :6].max() == 0 and converted[:, -6:].max() == 0  # a black background


def test_a_light_object_on_dark_is_not_negated():
    dark = cv2.resize(shirt(), None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)
    canvas = np.full((200, 200), 20, np.uint8)
    canvas[40:152, 60:172] = np.maximum(dark, 20)
    close_to(photos.to_fashion_mnist(canvas), shirt())


@pytest.mark.parametrize("suffix, write", [
    (".jpg", lambda image: image),
    (".png", lambda image: image),
    (".bmp", lambda image: image),
    (".webp", lambda image: image),
    (".tif", lambda image: image),
    (".png", lambda image: cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)),  # colour
    (".png", lambda image: image.astype(np.uint16) * 257),  # 16 bits
])
def test_every_kind_of_file_opencv_reads(tmp_path, suffix, write):
    path = tmp_path / f"picture{suffix}"
    assert cv2.imwrite(str(path), write(as_photo(shirt())))
    close_to(photos.to_fashion_mnist(path), shirt())


def test_transparent_pixels_are_background(tmp_path):
    large = cv2.resize(shirt(), None, fx=5, fy=5, interpolation=cv2.INTER_NEAREST)
    rgba = np.zeros((*large.shape, 4), np.uint8)
    rgba[..., :3] = 60  # a dark grey object ...
    rgba[..., 3] = np.where(large > 0, 255, 0)  # ... on nothing at all
    cv2.imwrite(str(tmp_path / "cut-out.png"), rgba)
    converted = photos.to_fashion_mnist(tmp_path / "cut-out.png")
    assert np.corrcoef(converted.ravel(), shirt().ravel())[0, 1] > 0.95
    assert converted[:, :6].max() == 0 and converted[:, -6:].max() == 0


def test_a_phone_photo_is_turned_by_its_exif_orientation(tmp_path):


    upright = as_photo(shirt())
    stored = np.ascontiguousarray(np.rot90(upright, 1))  # as the camera held it ...
    picture = Image.fromarray(stored)
    exif = picture.getexif()
    exif[0x0112] = 6  # ... and the tag that says: turn it 90 degrees clockwise to view
    picture.save(tmp_path / "phone.jpg", exif=exif.tobytes(), quality=95)
    close_to(photos.to_fashion_mnist(tmp_path / "phone.jpg"), shirt())


@pytest.mark.parametrize("name, content, phrase", [
    ("missing.jpg", None, "missing.jpg does not exist"),
    ("text.jpg", b"not a picture", "text.jpg is not a picture this program can read"),
    ("empty.png", b"", "empty.png is not a picture this program can read"),
])
def test_files_that_are_not_pictures_are_named(tmp_path, name, content, phrase):
    if content is not None:
        (tmp_path / name).write_bytes(content)
    with pytest.raises(UserError, match=phrase):
        photos.to_fashion_mnist(tmp_path / name)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX's")
def test_a_device_or_a_pipe_is_refused_not_read_forever(tmp_path):
    os.mkfifo(tmp_path / "pipe.jpg")  # no writer: opening it would wait for ever
    for path in [tmp_path / "pipe.jpg", Path(os.devnull)]:
        with pytest.raises(UserError, match=f"{path.name} is not a file"):
            photos.to_fashion_mnist(path)


def test_a_picture_of_one_colour_has_nothing_to_trim_to(tmp_path):
    cv2.imwrite(str(tmp_path / "grey.png"), np.full((40, 60, 3), 128, np.uint8))
    with pytest.raises(UserError, match="grey.png is all one colour"):
        photos.to_fashion_mnist(tmp_path / "grey.png")


def test_a_folder_means_every_picture_in_it(tmp_path):
    for name in ["b.png", "a.jpg", "c.GIF", "notes.txt"]:
        (tmp_path / name).write_bytes(b"")
    notes = []
    assert [p.name for p in photos.pictures_in([tmp_path], notes)] == ["a.jpg", "b.png", "c.GIF"]
    assert notes == [f"{tmp_path}: 1 of its 4 entries are not pictures (by their names), and "
                     f"were left out"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="the folder .*empty holds no pictures"):
        photos.pictures_in([tmp_path / "empty"])


@pytest.mark.slow
@needs_real_data
def test_photos_of_the_test_set_convert_back_and_are_classified_alike(tmp_path, real_run):
    import keras

    from pyimagesearch.datasets import load_fashion_mnist

    model = keras.models.load_model(real_run.folder / "fashion_mnist.keras")
    (_, (testX, testY)), _ = load_fashion_mnist(REAL_DATA)
    rng = np.random.default_rng(0)
    chosen = rng.choice(len(testX), 500, replace=False)
    converted = np.stack([photos.to_fashion_mnist(make_photo(testX[i], tmp_path / "p.jpg", rng))
                          for i in chosen])
    originals = testX[chosen]
    differences = np.abs(converted.astype(int) - originals.astype(int)).mean(axis=(1, 2))
    # mean absolute pixel difference, of 255: about 16 on average (measured), from the
    # canvas's grey, the JPEG, and the resampling
    assert differences.mean() < 20 and np.percentile(differences, 99) < 50
    predict = lambda x: model.predict(x[..., None] / 255.0, verbose=0).argmax(1)  # noqa
    agreement = np.mean(predict(converted) == predict(originals))
    print(f"agreement on 500 photos: {agreement:.3f}; mean difference {differences.mean():.1f}")
    assert agreement >= 0.90


def test_classify_prints_the_three_likeliest_labels_and_writes_a_sheet(tmp_path, capsys,
                                                                       trained_model, monkeypatch):
    folder = tmp_path / "mine"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in ["a.jpg", "b.png"]:
        make_photo(shirt(), folder / name, rng)
    single = make_photo(shirt(), tmp_path / "c.webp", rng)
    monkeypatch.setenv("FASHION_MNIST_DIR", str(tmp_path / "no-data-needed"))
    result = run_main(capsys, "--load", trained_model.path, "--classify", folder, single,
                      "--output", tmp_path / "out")
    assert result.code == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("[INFO] ") and
             line.split()[1].rstrip(":").endswith((".jpg", ".png", ".webp"))]
    assert [line.split()[1] for line in lines] == [f"{folder / 'a.jpg'}:", f"{folder / 'b.png'}:",
                                                   f"{single}:"]
    for line in lines:  # three labels, likeliest first
        probabilities = [float(word.rstrip(",")) for word in line.split()[2:] if word[0] == "0"
                         or word[0] == "1"]
        assert len(probabilities) == 3 and probabilities == sorted(probabilities, reverse=True)
    sheet = cv2.imread(str(tmp_path / "out" / "classified.png"))
    assert sheet.shape == (96, 3 * 2 * 96, 3)  # each picture beside what the network saw
    assert "evaluating network" not in result.stdout  # the test set is not needed


def test_bad_pictures_are_named_and_the_rest_classified(tmp_path, capsys, trained_model):
    good = make_photo(shirt(), tmp_path / "good.jpg", np.random.default_rng(0))
    (tmp_path / "bad.jpg").write_text("not a picture")
    cv2.imwrite(str(tmp_path / "flat.png"), np.zeros((10, 10), np.uint8))
    result = run_main(capsys, "--load", trained_model.path, "--classify", good,
                      tmp_path / "bad.jpg", tmp_path / "flat.png", "--output", tmp_path / "out")
    assert result.code == 1 and "Traceback" not in result.stderr
    assert "bad.jpg is not a picture this program can read" in result.stderr
    assert "flat.png is all one colour" in result.stderr
    assert f"[INFO] {good}: " in result.stdout
    assert (tmp_path / "out" / "classified.png").is_file()


@pytest.mark.parametrize("make, phrase", [
    (lambda tmp: tmp / "nowhere.jpg", "nowhere.jpg does not exist"),
    (lambda tmp: (tmp / "empty").mkdir() or tmp / "empty", "holds no pictures"),
])
def test_no_usable_picture_is_refused_before_training(tmp_path, capsys, tiny_data, make, phrase):
    result = run_main(capsys, "--dataset-dir", tiny_data, "--classify", make(tmp_path),
                      "--output", tmp_path / "out")
    assert_clean_failure(result, phrase)
    assert result.code == 1 and "Epoch 1/" not in result.stdout
    assert not (tmp_path / "out").exists()


def test_a_picture_too_large_to_decode_is_refused_at_once(tmp_path):
    import time

    path = tmp_path / "huge.png"
    Image.new("L", (8000, 8000), 255).save(path)  # 64 megapixels, 200 KB
    started = time.monotonic()
    with pytest.raises(UserError, match="huge.png is 8,000 x 8,000 pixels; this program reads "
                                        "pictures of up to 50 megapixels: shrink it first"):
        photos.read_picture(path)
    assert time.monotonic() - started < 2  # its header alone was read


def test_a_large_jpeg_is_decoded_reduced(tmp_path):
    large = cv2.resize(as_photo(shirt()), (9000, 6000), interpolation=cv2.INTER_NEAREST)
    Image.fromarray(large).save(tmp_path / "phone.jpg")  # 54 megapixels: past
    # OpenCV's limit, which a JPEG decoded reduced keeps within
    image = photos.read_picture(tmp_path / "phone.jpg")
    assert image.shape[0] * image.shape[1] <= photos.WORK_PIXELS
    assert image.shape[1] / image.shape[0] == pytest.approx(1.5, rel=0.01)
    close_to(photos.to_fashion_mnist(tmp_path / "phone.jpg"), shirt())


def test_an_object_a_pixel_wide_survives_the_trimming():
    strap = np.zeros((28, 28), np.uint8)
    strap[4:24, 13] = 200  # one pixel wide
    strap[23, 6:22] = 200
    converted = photos.to_fashion_mnist(strap)
    assert converted[:, 13].max() > 100 and converted[23].max() > 100
    speckled = strap.copy()
    speckled[1, 1] = speckled[26, 2] = 200  # specks alone, away from it: not part of the object
    assert np.array_equal(photos.object_box(speckled / 255.0), photos.object_box(strap / 255.0))


@needs_real_data
def test_the_thinnest_test_images_of_each_class_survive_the_trimming(tmp_path):
    from pyimagesearch.datasets import LABEL_NAMES, load_fashion_mnist

    (_, (testX, testY)), _ = load_fashion_mnist(REAL_DATA)
    for label, name in enumerate(LABEL_NAMES):
        images = testX[testY == label]
        thinnest = images[np.argmin((images > 25).sum(axis=(1, 2)))]  # the fewest lit pixels
        path = tmp_path / f"{label}.png"
        cv2.imwrite(str(path), thinnest)  # the test image itself, as a picture
        photos.to_fashion_mnist(path)  # not refused as "all one colour"
        top, bottom, left, right = photos.object_box(thinnest / 255.0)
        ink = thinnest > 100  # the object's bright pixels, straps included: kept in the box
        assert ink[top:bottom, left:right].sum() / ink.sum() > 0.98, name
        photo = make_photo(thinnest, tmp_path / f"{label}.jpg", np.random.default_rng(label))
        photos.to_fashion_mnist(photo)  # and as a photo of it: not refused either


def test_more_pictures_than_a_sheet_holds_are_all_classified(tmp_path, capsys, trained_model):
    folder = tmp_path / "many"
    folder.mkdir()
    for number in range(101):
        cv2.imwrite(str(folder / f"{number:03}.png"), as_photo(shirt(), scale=2))
    result = run_main(capsys, "--load", trained_model.path, "--classify", folder,
                      "--output", tmp_path / "out")
    assert result.code == 0, result.stderr
    assert sum(line.startswith(f"[INFO] {folder}") for line in result.stdout.splitlines()) == 101
    assert "classified.png shows the first 100 of 101 pictures" in result.stdout
    sheet = cv2.imread(str(tmp_path / "out" / "classified.png"))
    assert sheet.shape == (20 * 96, 5 * 2 * 96, 3)  # a grid of 5 pictures a row


def test_a_damaged_jpeg_is_read_or_refused_and_its_decoder_says_nothing_itself(tmp_path):
    whole = cv2.imencode(".jpg", as_photo(shirt()))[1].tobytes()
    (tmp_path / "cut.jpg").write_bytes(whole[:len(whole) * 2 // 3])
    program = ("import sys\nfrom pyimagesearch import photos\n"
               "pictures, problems, notes = photos.prepare([sys.argv[1]])\n"
               "print(len(pictures), problems, notes)")
    result = subprocess.run([sys.executable, "-c", program, str(tmp_path / "cut.jpg")],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stderr == ""  # libjpeg's own lines are kept
    if result.stdout.startswith("1 "):  # OpenCV 4: what it could read, with a note (its own
        # libjpeg's words from 4.10 on, this module's before, where libjpeg says nothing)
        assert "cut.jpg is damaged (" in result.stdout and "classified as far as" in result.stdout
    else:  # OpenCV 5 reads no part of it
        assert "cut.jpg is not a picture this program can read" in result.stdout


def test_a_jpeg_cut_short_is_told_from_a_whole_one_and_one_with_more_after_its_end():
    whole = cv2.imencode(".jpg", as_photo(shirt()))[1].tobytes()
    assert not photos.jpeg_cut_short(whole)
    assert photos.jpeg_cut_short(whole[:len(whole) * 2 // 3])
    assert photos.jpeg_cut_short(whole[:-2]) and photos.jpeg_cut_short(whole[:3])
    # a phone's motion photo: a video after the picture's end; the end is still there
    assert not photos.jpeg_cut_short(whole + b"\x00\x00\x00\x18ftypmp42" + bytes(500))


def test_a_picture_too_wide_for_opencv_says_so(tmp_path):
    Image.new("L", (2_000_000, 1), 255).save(tmp_path / "wide.png")
    with pytest.raises(UserError, match="wide.png is 2,000,000 x 1 pixels; OpenCV reads "
                                        "pictures of up to 1,048,576 pixels a side"):
        photos.read_picture(tmp_path / "wide.png")


def test_nan_pixels_are_black_and_say_nothing(recwarn):
    image = np.full((50, 50), 0.2, np.float32)
    image[10:30, 12:40] = 0.9  # not square: padded with background to 28 x 28
    image[20, 20] = np.nan  # inside the object
    converted = photos.to_fashion_mnist(image)
    assert converted.min() == 0 and converted.max() > 200  # the object light, on black
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
