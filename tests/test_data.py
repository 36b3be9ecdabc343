"""Tests of data.py on the built-in faces, the ORL set and images written by the tests."""

import os

import cv2
import numpy as np
import pytest
from conftest import BUILTIN_FACES, ORL_FACES

from data import Dataset, NoImagesError, centre_crop_and_resize, load_images


def write_image(path, image):
    """Write image with OpenCV through Python's file API, so that any path works."""
    ok, encoded = cv2.imencode(os.path.splitext(path)[1], image)
    assert ok
    encoded.tofile(path)


def test_builtin_faces_load():
    images = load_images(BUILTIN_FACES, 25)

    assert images.shape == (100, 625)
    assert images.dtype == np.uint8
    assert images.std() > 20
    # Every built-in face is a different picture.
    assert len(np.unique(images, axis=0)) == 100


def test_builtin_faces_match_files():
    images = load_images(BUILTIN_FACES, 25)
    first = cv2.imread(os.path.join(BUILTIN_FACES, "lfw_000.png"), cv2.IMREAD_GRAYSCALE)

    np.testing.assert_array_equal(images[0], first.reshape(-1))


def test_orl_faces_load():
    images = load_images(ORL_FACES, 32)

    assert images.shape == (400, 32 * 32)
    assert images.dtype == np.uint8
    assert 40 < images.mean() < 200


def test_centre_crop_keeps_aspect():
    # A wide image whose centre square is white and whose sides are black:
    # a crop keeps only white, a stretch would pull black into the result.
    image = np.zeros((40, 100), dtype=np.uint8)
    image[:, 30:70] = 255

    result = centre_crop_and_resize(image, 20)

    assert result.shape == (20, 20)
    assert result.min() == 255


def test_centre_crop_tall_image_and_enlarging():
    image = np.zeros((90, 30), dtype=np.uint8)
    image[30:60, :] = 200

    result = centre_crop_and_resize(image, 60)

    assert result.shape == (60, 60)
    assert result.min() >= 199


def test_formats_and_unusual_paths(tmp_path):
    rng = np.random.default_rng(0)
    face = rng.integers(0, 256, (30, 30), dtype=np.uint8)
    folder = tmp_path / "my photos" / "Ærøskøbing – 写真"
    folder.mkdir(parents=True)
    extensions = [".png", ".jpg", ".pgm", ".ppm", ".bmp", ".tif", ".webp"]
    for extension in extensions:
        image = cv2.cvtColor(face, cv2.COLOR_GRAY2BGR) if extension == ".ppm" else face
        write_image(str(folder / f"face {extension[1:]}{extension}"), image)

    images = load_images(str(tmp_path), 30)

    assert len(images) == len(extensions)
    for image in images:
        # Lossless formats match exactly; JPEG and WebP are lossy.
        assert np.abs(image.astype(int) - face.reshape(-1)).mean() < 25


def test_unreadable_files_skipped(tmp_path, caplog):
    write_image(str(tmp_path / "good.png"), np.full((10, 10), 128, dtype=np.uint8))
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (tmp_path / "notes.txt").write_text("not an image")

    with caplog.at_level("INFO"):
        images = load_images(str(tmp_path), 8)

    assert len(images) == 1
    assert "broken.jpg" in caplog.text
    assert "empty.png" in caplog.text
    assert "notes.txt" in caplog.text
    assert "skipped 3: " in caplog.text


def test_empty_folder_names_folder(tmp_path):
    with pytest.raises(NoImagesError) as raised:
        load_images(str(tmp_path), 25)

    assert str(tmp_path) in str(raised.value)


def test_batches_cover_dataset_once():
    images = np.arange(10 * 64, dtype=np.uint8).reshape(10, 64) % 251
    dataset = Dataset(images, 8, horizontal_flip=False)
    rng = np.random.default_rng(1)

    batches = list(dataset.batches(4, rng))

    assert [len(batch) for batch in batches] == [4, 4, 2]
    assert all(batch.dtype == np.float32 for batch in batches)
    seen = np.concatenate(batches) * 255
    np.testing.assert_allclose(np.sort(seen, axis=0), np.sort(images, axis=0), atol=1e-3)


def test_batches_shuffle_each_epoch():
    images = np.repeat(np.arange(50, dtype=np.uint8)[:, None], 4, axis=1)
    dataset = Dataset(images, 2, horizontal_flip=False)
    rng = np.random.default_rng(2)

    first = np.concatenate(list(dataset.batches(50, rng)))[:, 0]
    second = np.concatenate(list(dataset.batches(50, rng)))[:, 0]

    assert not np.array_equal(first, second)


def test_horizontal_flip_mirrors_some_images():
    image = np.tile(np.arange(8, dtype=np.uint8) * 30, (8, 1))  # brightness rises left to right
    images = np.repeat(image.reshape(1, -1), 200, axis=0)
    dataset = Dataset(images, 8, horizontal_flip=True)

    batch = next(dataset.batches(200, np.random.default_rng(3))).reshape(200, 8, 8)
    flipped = batch[:, 0, 0] > batch[:, 0, 7]

    assert 60 < flipped.sum() < 140
    np.testing.assert_allclose(batch[flipped], batch[~flipped][: flipped.sum(), :, ::-1])
