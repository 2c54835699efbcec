"""Your own pictures, made to look like Fashion-MNIST's images, so that the network can
classify them.

Fashion-MNIST's images were made from Zalando's product photos by the conversion of
Xiao, Rasul and Vollgraf (2017, arXiv 1708.07747, section 2): trim the edges close to the
colour of the corner pixels, resize the longest edge to 28, sharpen, pad the short edge to
28 with the object centred, negate the intensities, and convert to 8-bit grayscale: a
light object on a black background. :func:`to_fashion_mnist` follows those steps. Where
the paper leaves a choice open, this module makes it so:

- "close to the corner colour": the background's colour is the median of the four corner
  pixels, and a pixel is background when none of its channels is further from it than
  ``TOLERANCE`` of the full range; specks that differ (noise, JPEG artefacts: groups of
  fewer than ``SPECK`` pixels apart from the rest) do not stop the trimming, while thin
  parts of the object (a sandal's straps, a pixel wide) do;
- resizing averages the pixels it merges (``INTER_AREA``); sharpening is an unsharp mask
  of a Gaussian with sigma 1, at half strength;
- negation is applied only when the background is lighter than the object (a dark
  object photographed on a light background, as Zalando's were); a light object on a
  darker background is kept as it is. Either way the background's own level is then
  mapped to black, as the paper's pure white background became black;
- transparency: transparent pixels are background; the picture is laid on white first,
  as a product photo on a white background would be;
- 16-bit and grayscale pictures are scaled to 8 bits first; a JPEG from a phone is turned
  the right way up by its EXIF orientation;
- formats: those Pillow recognizes by their header and OpenCV decodes (JPEG, PNG, BMP,
  WebP, TIFF, GIF, the Netpbm formats, JPEG 2000), so that a picture's size is known before
  it is decoded;
- size: the conversion works on at most ``WORK_PIXELS`` (larger pictures are shrunk first;
  a JPEG is decoded already reduced); a picture that would decode to more than
  ``MAX_PIXELS`` is refused by its header, before it is decoded, as decoding it would take
  gigabytes;
- a file is read by Python and decoded from memory, so that OpenCV never sees its name,
  which may be in any encoding; what the decoder says of a damaged picture is kept, and said.
"""

import io
import stat
import warnings
from pathlib import Path

import numpy as np

from pyimagesearch.errors import UserError, reason, shown
from pyimagesearch.safety.streams import native_stderr_captured

import cv2
from PIL import Image  # Matplotlib's own dependency: reads a picture's size, not its pixels

TOLERANCE = 0.10  # of the full range, in every channel
SPECK = 9  # pixels: a group of fewer, apart from the rest, is noise
SIZE = 28
# the pictures taken from a folder, by their suffix (a file named on its own is tried whatever
# its suffix): what Pillow recognizes and OpenCV decodes
PICTURE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".ppm",
                    ".pgm", ".pbm", ".pnm", ".jp2"}
WORK_PIXELS = 4_000_000  # larger pictures are shrunk to this before they are converted
# decoded at most: 150 MB in colour, 400 MB at 16 bits with transparency
MAX_PIXELS = 50_000_000
MAX_SIDE = 1 << 20  # OpenCV's own limit on a side (CV_IO_MAX_IMAGE_WIDTH and _HEIGHT)
MAX_BYTES = 500_000_000  # a larger file is no picture this program reads (nor is it read)
REDUCED = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
           8: cv2.IMREAD_REDUCED_COLOR_8}  # JPEG's own reduced decoding


def header_size(data):
    """(width, height, format, whether it has transparency) from the header of the picture
    in ``data`` (its bytes), without decoding its pixels; None where Pillow does not
    recognize a picture."""
    try:
        with warnings.catch_warnings():  # Pillow warns of a large picture: its size is checked
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as picture:
                alpha = "A" in picture.mode or "transparency" in picture.info
                return (*picture.size, picture.format, alpha)
    except Image.DecompressionBombError:  # past Pillow's own limit: the size is all we need
        return MAX_PIXELS + 1, 1, None, False
    except Exception:  # noqa: BLE001 - whatever the bytes are, the answer is the same
        return None


def read_bytes(path):
    """The bytes of the file at ``path``; ``UserError`` naming it, in a sentence, if it
    cannot be read (missing, a folder or a device, not this user's to read, too large)."""
    try:
        status = path.stat()
        if not stat.S_ISREG(status.st_mode):  # a device or a pipe would be read forever
            raise UserError(f"{shown(path)} is not a file")
        if status.st_size > MAX_BYTES:
            raise UserError(f"{shown(path)} is {status.st_size / 1e6:,.0f} MB, larger than "
                            f"any picture this program reads")
        with path.open("rb") as file:
            return file.read(MAX_BYTES + 1)  # as large as it was, should it have grown since
    except FileNotFoundError:
        raise UserError(f"{shown(path)} does not exist") from None
    except IsADirectoryError:
        raise UserError(f"{shown(path)} is not a file") from None
    except OSError as error:  # not this user's to read, say
        raise UserError(f"cannot read {shown(path)} ({reason(error)})") from None


def jpeg_cut_short(data):
    """Whether the JPEG in ``data`` (its bytes) ends before its end-of-image marker, as a
    file cut off in a download or a copy does. Not every libjpeg says so itself."""
    position = 2  # past the start-of-image marker: the segments up to the scan, by their lengths
    while position + 4 <= len(data) and data[position] == 0xFF and data[position + 1] != 0xDA:
        position += 2 + int.from_bytes(data[position + 2:position + 4], "big")
    return data.find(b"\xff\xd9", position) == -1


def decode(data, flags, name):
    """The picture in ``data`` (its bytes) as OpenCV decodes it with ``flags``, and what its decoder
    said (a damaged JPEG's warnings, say), or ``UserError`` naming it if it cannot."""
    image, refusal = None, ""
    with native_stderr_captured() as said:
        try:
            image = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
        except cv2.error as error:  # OpenCV 5 raises where OpenCV 4 returns None
            refusal = str(error)
    if "CV_IO_MAX_IMAGE_PIXELS" in said.text + refusal:  # past the user's own limit for OpenCV
        raise UserError(f"{shown(name)} has more pixels than OpenCV_IO_MAX_IMAGE_PIXELS allows; "
                        f"shrink it first")
    if image is None or image.size == 0:
        raise UserError(f"{shown(name)} is not a picture this program can read (JPEG, PNG, "
                        f"BMP, WebP, TIFF, ...)")
    return image, " ".join(said.text.split())


def read_picture(path, notes=None):
    """The picture at ``path`` as OpenCV reads it (BGR, BGRA or gray; 8 or 16 bits), the
    right way up, and at most ``WORK_PIXELS`` large. Raises ``UserError`` naming the file
    if it cannot be read, or is too large to. What the decoder said of a damaged picture
    that it could still read is added to ``notes`` (a list), if given."""
    path = Path(path)
    data = read_bytes(path)
    header = header_size(data)
    if header is None:
        raise UserError(f"{shown(path)} is not a picture this program can read (JPEG, PNG, "
                        f"BMP, WebP, TIFF, ...)")
    width, height, kind, alpha = header
    if kind is None:  # Pillow's own bomb check refused it
        raise UserError(f"{shown(path)} has more than {MAX_PIXELS / 1e6:g} megapixels; this "
                        f"program reads pictures of up to that: shrink it first")
    reduction = 1
    if kind in ("JPEG", "MPO") and width * height > WORK_PIXELS:  # MPO: a phone's JPEG
        reduction = next((n for n in REDUCED if width * height / n**2 <= WORK_PIXELS), 8)
    if width * height / reduction**2 > MAX_PIXELS:  # known from the header: said at once
        raise UserError(f"{shown(path)} is {width:,} x {height:,} pixels; this program reads "
                        f"pictures of up to {MAX_PIXELS / 1e6:g} megapixels: shrink it first")
    if max(width, height) > MAX_SIDE:
        raise UserError(f"{shown(path)} is {width:,} x {height:,} pixels; OpenCV reads pictures "
                        f"of up to {MAX_SIDE:,} pixels a side: crop or shrink it first")
    # transparency kept where there is some; else the EXIF orientation applied (which
    # IMREAD_UNCHANGED ignores), 16 bits kept either way
    flags = cv2.IMREAD_UNCHANGED if alpha else cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH
    image, said = decode(data, REDUCED.get(reduction, flags), path)
    if not said and kind in ("JPEG", "MPO") and jpeg_cut_short(data):
        said = "its data ends before its end-of-image marker"
    if said and notes is not None:
        notes.append(f"{shown(path)} is damaged ({said}); it was classified as far as it "
                     f"could be read")
    return shrunk(image, WORK_PIXELS)


def shrunk(image, pixels):
    """``image`` resized (averaging) to at most ``pixels`` pixels, its shape kept."""
    height, width = image.shape[:2]
    if height * width <= pixels:
        return image
    scale = (pixels / (height * width)) ** 0.5
    size = (max(1, int(width * scale)), max(1, int(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def pictures_in(paths, notes=None):
    """The picture files ``paths`` name: files as they are, folders as the pictures in them
    (by their suffix, in name order; a note for the files left out is added to ``notes``, a
    list, if given). Raises ``UserError`` for a folder with no picture."""
    found = []
    for path in map(Path, paths):
        try:
            folder = path.is_dir()
            inside = sorted(path.iterdir()) if folder else []
        except OSError as error:
            raise UserError(f"cannot read {shown(path)} ({reason(error)})") from None
        if not folder:
            found.append(path)
            continue
        pictures = [p for p in inside if p.suffix.lower() in PICTURE_SUFFIXES and p.is_file()]
        if not pictures:
            raise UserError(f"the folder {shown(path)} holds no pictures "
                            f"({', '.join(sorted(PICTURE_SUFFIXES))})")
        left_out = len(inside) - len(pictures)
        if left_out and notes is not None:
            notes.append(f"{shown(path)}: {left_out} of its {len(inside)} entries are not "
                         f"pictures (by their names), and were left out")
        found.extend(pictures)
    return found


def as_float(image):
    """``image`` as float32 in [0, 1], BGR or gray, transparency laid on white."""
    image = np.asarray(image)
    if image.dtype == np.uint8:
        image = image.astype(np.float32) / 255
    elif image.dtype == np.uint16:
        image = image.astype(np.float32) / 65535
    else:
        image = np.clip(np.nan_to_num(image.astype(np.float32)), 0, 1)  # NaN: black
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 3 and image.shape[2] == 4:
        colour, alpha = image[:, :, :3], image[:, :, 3:]
        image = colour * alpha + (1 - alpha)  # over white
    if image.ndim not in (2, 3) or min(image.shape[:2]) == 0:
        raise ValueError(f"not an image: shape {image.shape}")
    return image


def object_box(image):
    """(top, bottom, left, right) of what differs from the corners' colour in ``image``
    (float, gray or colour), or None if nothing does."""
    corners = np.stack([image[0, 0], image[0, -1], image[-1, 0], image[-1, -1]])
    background = np.median(corners, axis=0)
    distance = np.abs(image - background)
    if distance.ndim == 3:
        distance = distance.max(axis=2)
    differs = (distance > TOLERANCE).astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(differs, connectivity=8)
    groups = stats[1:]  # the first is the background
    if not len(groups):
        return None
    area = groups[:, cv2.CC_STAT_AREA]
    groups = groups[area >= min(SPECK, area.max())]  # specks, unless all are as small
    left, top = groups[:, cv2.CC_STAT_LEFT], groups[:, cv2.CC_STAT_TOP]
    right = left + groups[:, cv2.CC_STAT_WIDTH]
    bottom = top + groups[:, cv2.CC_STAT_HEIGHT]
    return top.min(), bottom.max(), left.min(), right.max()


def to_fashion_mnist(picture, name=None):
    """A 28x28 uint8 image in Fashion-MNIST's style (a light object on black) from
    ``picture``: a file name, or an image as OpenCV holds one (BGR, BGRA or gray; uint8,
    uint16 or float in [0, 1]). Raises ``UserError`` (naming the file, or ``name``) when
    there is nothing to trim to: a picture of one colour."""
    if isinstance(picture, (str, Path)):
        name, picture = picture, read_picture(picture)
    image = as_float(picture)

    # trim the edges close to the corners' colour
    box = object_box(image)
    if box is None:
        raise UserError(f"{shown(name or 'the picture')} is all one colour: there is nothing "
                        f"in it to classify")
    top, bottom, left, right = box
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    background = float(np.median([gray[0, 0], gray[0, -1], gray[-1, 0], gray[-1, -1]]))
    item = gray[top:bottom, left:right]

    # resize the longest edge to 28, and sharpen
    height, width = item.shape
    scale = SIZE / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    item = cv2.resize(item, size, interpolation=cv2.INTER_AREA)
    blurred = cv2.GaussianBlur(item, (0, 0), 1.0, borderType=cv2.BORDER_REPLICATE)
    item = np.clip(item + 0.5 * (item - blurred), 0, 1)

    # pad the short edge to 28 with the background, the object centred
    canvas = np.full((SIZE, SIZE), background, np.float32)
    row, col = (SIZE - item.shape[0]) // 2, (SIZE - item.shape[1]) // 2
    canvas[row:row + item.shape[0], col:col + item.shape[1]] = item

    # negate a dark object on a light background; the background becomes black
    if background > float(item.mean()):
        canvas, background = 1 - canvas, 1 - background
    canvas = np.clip((canvas - background) / max(1 - background, 1e-6), 0, 1)
    return np.round(canvas * 255).astype(np.uint8)


def prepare(paths, tile=96):
    """Read and convert the pictures ``paths`` name (see :func:`pictures_in`). Returns the
    pictures that could be converted, as (path, the picture fitted in a ``tile`` square,
    BGR, for showing it, its 28x28 image), a sentence for each that could not, and notes
    (pictures left out of folders, damaged pictures read all the same)."""
    prepared, problems, notes = [], [], []
    for path in pictures_in(paths, notes):
        try:
            picture = read_picture(path, notes)
            prepared.append((path, thumbnail(picture, tile), to_fashion_mnist(picture, path)))
        except UserError as error:
            problems.append(str(error))
    return prepared, problems, notes


def thumbnail(picture, tile):
    """``picture`` fitted in a ``tile`` square of white, as 8-bit BGR."""
    image = np.round(as_float(picture) * 255).astype(np.uint8)
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    scale = tile / max(image.shape[:2])
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    square = np.full((tile, tile, 3), 255, np.uint8)
    top, left = (tile - image.shape[0]) // 2, (tile - image.shape[1]) // 2
    square[top:top + image.shape[0], left:left + image.shape[1]] = image
    return square

