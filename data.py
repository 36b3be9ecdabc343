"""Read a folder of face images with OpenCV and serve them as float32 mini-batches.

Every image is read as 8-bit grayscale, centre-cropped to a square (a face is
never stretched), resized to IMAGE_SIZE x IMAGE_SIZE and kept in memory as
uint8. Only the current mini-batch is converted to float32 in [0, 1], so
memory stays near one byte per pixel of the dataset.
"""

import logging
import os

import cv2
import numpy as np

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = {
    ".png", ".jpg", ".jpeg", ".jpe", ".pgm", ".ppm", ".pbm", ".pnm",
    ".bmp", ".dib", ".tif", ".tiff", ".webp", ".gif",
}

# Leading bytes of the formats above, so that files without an image
# extension (such as the Yale set's "subject01.happy") are still found.
IMAGE_SIGNATURES = (
    b"\x89PNG", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*",
    b"P1", b"P2", b"P3", b"P4", b"P5", b"P6",
)

# How many skipped file names a summary shows before it only counts them.
MAX_NAMED_SKIPS = 5


class NoImagesError(Exception):
    """Raised when a data folder contains no image that can be used for training."""


def looks_like_image(path):
    """Return True if the file's name or first bytes mark it as an image format that OpenCV reads."""
    if os.path.splitext(path)[1].lower() in IMAGE_EXTENSIONS:
        return True
    try:
        with open(path, "rb") as file:
            head = file.read(16)
    except OSError:
        return False
    is_webp = head[:4] == b"RIFF" and head[8:12] == b"WEBP"
    return is_webp or head.startswith(IMAGE_SIGNATURES)


def find_image_files(folder):
    """Return the sorted paths of every non-hidden file under folder that looks like an image."""
    paths = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = os.path.join(root, name)
            if not name.startswith(".") and looks_like_image(path):
                paths.append(path)
    return paths


def read_grayscale(path):
    """Decode the image at path as 8-bit grayscale, or return None if it cannot be read.

    The bytes are read by Python and decoded by cv2.imdecode, because
    cv2.imread cannot open every non-ASCII path on every platform.
    """
    try:
        encoded = np.fromfile(path, dtype=np.uint8)
    except OSError:
        return None
    if encoded.size == 0:
        return None
    return cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE)


def centre_crop_and_resize(image, size):
    """Crop the largest centred square from image and resize it to size x size pixels."""
    height, width = image.shape
    side = min(height, width)
    top = (height - side) // 2
    left = (width - side) // 2
    square = image[top:top + side, left:left + side]
    # INTER_AREA averages the source pixels when shrinking and so avoids
    # aliasing; INTER_CUBIC is the smoother choice when enlarging.
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_CUBIC
    return cv2.resize(square, (size, size), interpolation=interpolation)


def load_images(folder, size):
    """Read every usable image under folder and return them as uint8 of shape (count, size * size).

    Files that cannot be decoded are skipped with a warning, and one summary
    line counts what was used and skipped. Raises NoImagesError if nothing
    under folder can be used.
    """
    paths = find_image_files(folder)
    images = np.empty((len(paths), size * size), dtype=np.uint8)
    count = 0
    skipped = []
    for path in paths:
        image = read_grayscale(path)
        if image is None:
            skipped.append(path)
            if len(skipped) <= MAX_NAMED_SKIPS:
                log.warning("Skipped %s: not a readable image.", path)
            continue
        images[count] = centre_crop_and_resize(image, size).reshape(-1)
        count += 1

    log.info("Loaded %d images of %dx%d from %s; skipped %d unreadable files.",
             count, size, size, folder, len(skipped))
    if count == 0:
        raise NoImagesError(
            f"No readable image found in {folder} ({len(paths)} image files tried, "
            f"{len(skipped)} unreadable). Put PNG, JPEG, PGM, BMP, TIFF or WebP "
            f"images there, or choose another folder with --data-dir."
        )
    return images[:count]


class Dataset:
    """Training images kept as uint8, served as shuffled float32 mini-batches."""

    def __init__(self, images, size, horizontal_flip):
        self.images = images  # (count, size * size), uint8
        self.size = size
        self.horizontal_flip = horizontal_flip

    def __len__(self):
        return len(self.images)

    def batches_per_epoch(self, batch_size):
        return -(-len(self.images) // batch_size)

    def batches(self, batch_size, rng):
        """Yield one epoch of mini-batches in a new random order, float32 in [0, 1].

        The last batch is smaller when the image count is not a multiple of
        batch_size. With horizontal_flip, each image is mirrored with
        probability 0.5.
        """
        order = rng.permutation(len(self.images))
        for start in range(0, len(order), batch_size):
            indices = order[start:start + batch_size]
            batch = self.images[indices].astype(np.float32)  # (batch, size * size)
            batch *= np.float32(1.0 / 255.0)
            if self.horizontal_flip:
                flip = rng.random(len(indices)) < 0.5
                squares = batch.reshape(-1, self.size, self.size)
                squares[flip] = squares[flip, :, ::-1]
            yield batch
