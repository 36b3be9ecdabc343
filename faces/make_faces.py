"""Extract the built-in training faces from the scikit-image 0.26.0 wheel.

Maintainers run this script once to create lfw_000.png ... lfw_099.png in
this folder. It needs network access to PyPI, because it runs
`pip download --no-deps scikit-image==0.26.0` into a temporary directory.
It is not part of the product's run time. It does not install or import
scikit-image, but reads skimage/data/lfw_subset.npy from the wheel as a zip
file.

Usage: python faces/make_faces.py [OUTPUT_DIR]   (default: this folder)
"""

import glob
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile

import cv2
import numpy as np

PACKAGE = "scikit-image==0.26.0"
NPY_PATH = "skimage/data/lfw_subset.npy"
# SHA-256 of lfw_subset.npy in scikit-image 0.26.0, as listed in the wheel's RECORD file.
NPY_SHA256 = "9560ec2f5edfac01973f63a8a99d00053fecd11e21877e18038fbe500f8e872c"
# The file contains 200 images. Rows 0-99 are faces and rows 100-199 are
# non-faces cut from image backgrounds, so only the first 100 rows are used.
FACE_COUNT = 100
IMAGE_SHAPE = (25, 25)


def download_wheel(directory):
    """Download the scikit-image wheel into directory and return its path."""
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", PACKAGE, "-d", directory],
        check=True,
    )
    wheels = glob.glob(os.path.join(directory, "scikit_image-0.26.0-*.whl"))
    if len(wheels) != 1:
        raise RuntimeError(
            f"pip download produced {len(wheels)} scikit-image 0.26.0 wheels in {directory}, "
            f"expected 1: {wheels}"
        )
    return wheels[0]


def load_faces(wheel_path):
    """Read lfw_subset.npy from the wheel, check it, and return rows 0-99 as float64."""
    with zipfile.ZipFile(wheel_path) as wheel:
        raw = wheel.read(NPY_PATH)

    digest = hashlib.sha256(raw).hexdigest()
    if digest != NPY_SHA256:
        raise ValueError(
            f"{NPY_PATH} in {wheel_path} has SHA-256 {digest}, expected {NPY_SHA256}. "
            "Check that pip downloaded the official scikit-image 0.26.0 wheel."
        )

    with zipfile.ZipFile(wheel_path) as wheel, wheel.open(NPY_PATH) as npy_file:
        images = np.load(npy_file, allow_pickle=False)

    if images.shape != (2 * FACE_COUNT, *IMAGE_SHAPE):
        raise ValueError(f"{NPY_PATH} has shape {images.shape}, expected (200, 25, 25)")
    if images.dtype != np.float64:
        raise ValueError(f"{NPY_PATH} has dtype {images.dtype}, expected float64")
    if not np.isfinite(images).all() or images.min() < 0.0 or images.max() > 1.0:
        raise ValueError(
            f"{NPY_PATH} has values outside [0, 1] or non-finite values "
            f"(min {images.min()}, max {images.max()})"
        )

    return images[:FACE_COUNT]


def write_pngs(faces, output_dir):
    """Write each face as an 8-bit grayscale PNG and check that it reads back unchanged."""
    pixels = np.clip(np.round(faces * 255.0), 0, 255).astype(np.uint8)

    for index, image in enumerate(pixels):
        path = os.path.join(output_dir, f"lfw_{index:03d}.png")
        if not cv2.imwrite(path, image):
            raise OSError(f"cv2.imwrite failed for {path}")

        loaded = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
        if loaded is None or not np.array_equal(loaded, image):
            raise ValueError(f"{path} does not read back as the pixels that were written")

    return len(pixels)


def main():
    default_dir = os.path.dirname(os.path.abspath(__file__))
    output_dir = sys.argv[1] if len(sys.argv) > 1 else default_dir
    os.makedirs(output_dir, exist_ok=True)

    with tempfile.TemporaryDirectory() as download_dir:
        faces = load_faces(download_wheel(download_dir))

    count = write_pngs(faces, output_dir)
    print(f"wrote {count} PNG files to {output_dir}")


if __name__ == "__main__":
    main()
