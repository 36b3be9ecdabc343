"""Files the data loader must skip without stopping: each is counted by reason in the summary."""

import os
import pathlib

import cv2
import numpy as np
import pytest
from conftest import YALE_FACES
from image_files import colour_pattern, write_image
from test_cli import run_gan as run_gan_command

import data

SIZE = 16



def good_image(path, seed=0):
    return write_image(path, colour_pattern(24, 24, seed=seed))


def snapshot(folder):
    """Return name, size, mtime and content of every entry under folder, without following links."""
    entries = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = os.path.join(root, name)
            info = os.lstat(path)
            content = None
            if os.path.isfile(path) and not os.path.islink(path) and os.access(path, os.R_OK):
                with open(path, "rb") as file:
                    content = file.read()
            entries[path] = (info.st_size, info.st_mtime_ns, info.st_mode, content)
    return entries


def skipped_names(summary, reason):
    assert reason in summary.skipped, f"no {reason!r} in {summary.describe_skips()}"
    return summary.skipped[reason]["names"]


def test_zero_byte_files(tmp_path):
    good_image(tmp_path / "good.png")
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "subject01.empty").write_bytes(b"")

    images, summary = data.read_dataset(str(tmp_path), SIZE)

    assert len(images) == 1
    assert skipped_names(summary, data.EMPTY) == ["empty.png", "subject01.empty"]


@pytest.mark.parametrize("extension", [".jpg", ".png", ".gif", ".bmp", ".tif", ".webp", ".pgm"])
def test_truncated_images(tmp_path, extension):
    good_image(tmp_path / "good.png")
    source = colour_pattern(40, 40, seed=1)
    if extension == ".pgm":
        source = cv2.cvtColor(source, cv2.COLOR_BGR2GRAY)
    if extension == ".gif":  # a real GIF, because OpenCV before 4.11 cannot write one
        whole = pathlib.Path(YALE_FACES, "subject01.happy").read_bytes()
    else:
        whole = cv2.imencode(extension, source)[1].tobytes()
    (tmp_path / f"cut{extension}").write_bytes(whole[:len(whole) // 2])

    images, summary = data.read_dataset(str(tmp_path), SIZE)

    assert len(images) == 1
    assert summary.skipped_count() == 1
    reason = next(iter(summary.skipped))
    assert reason in (data.TRUNCATED, data.CORRUPT, data.UNSUPPORTED)


def test_jpeg_without_end_marker_is_truncated(tmp_path):
    # Some OpenCV versions decode a JPEG without its last bytes and fill the
    # rest with gray, so the loader checks for the end-of-image marker itself.
    good_image(tmp_path / "good.png")
    whole = cv2.imencode(".jpg", colour_pattern(40, 40, seed=2))[1].tobytes()
    assert whole.endswith(b"\xff\xd9")
    (tmp_path / "no_end.jpg").write_bytes(whole[:-2])

    images, summary = data.read_dataset(str(tmp_path), SIZE)

    assert len(images) == 1
    assert skipped_names(summary, data.TRUNCATED) == ["no_end.jpg"]


def test_jpeg_with_trailing_data_is_used(tmp_path):
    # Phones append data after the end of the JPEG (motion photos, for example).
    whole = cv2.imencode(".jpg", colour_pattern(40, 40, seed=3))[1].tobytes()
    (tmp_path / "motion.jpg").write_bytes(whole + b"\x00\x00\x00\x18ftypmp42" + bytes(200))

    images, summary = data.read_dataset(str(tmp_path), SIZE)

    assert len(images) == 1
    assert summary.skipped == {}


def test_corrupt_images(tmp_path):
    good_image(tmp_path / "good.png")
    rng = np.random.default_rng(0)
    (tmp_path / "noise.png").write_bytes(rng.integers(0, 256, 2000, dtype=np.uint8).tobytes())
    whole = bytearray(cv2.imencode(".png", colour_pattern(40, 40, seed=4))[1].tobytes())
    whole[60:200] = bytes(140)  # damage the compressed image data
    (tmp_path / "damaged.png").write_bytes(bytes(whole))

    images, summary = data.read_dataset(str(tmp_path), SIZE)

    assert len(images) == 1
    assert skipped_names(summary, data.CORRUPT) == ["damaged.png", "noise.png"]


def test_heic_reported_unsupported(tmp_path):
    good_image(tmp_path / "good.png")
    # The start of an iPhone photo: an ISO media "ftyp" box with the "heic" brand.
    (tmp_path / "IMG_0001.HEIC").write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(100))

    images, summary = data.read_dataset(str(tmp_path), SIZE)

    assert len(images) == 1
    assert skipped_names(summary, data.UNSUPPORTED) == ["IMG_0001.HEIC"]


def test_non_image_files(tmp_path):
    good_image(tmp_path / "good.png")
    (tmp_path / "README").write_text("Faces of 40 people.\n")
    (tmp_path / "notes.txt").write_text("BM looks like a bitmap signature\n")
    (tmp_path / "data.csv").write_bytes(b"P5 is not enough for a PGM header")

    images, summary = data.read_dataset(str(tmp_path), SIZE)

    assert len(images) == 1
    assert skipped_names(summary, data.NOT_AN_IMAGE) == ["README", "data.csv", "notes.txt"]


def test_hidden_files_and_folders(tmp_path):
    good_image(tmp_path / "good.png")
    good_image(tmp_path / ".hidden.png")
    (tmp_path / ".thumbnails").mkdir()
    good_image(tmp_path / ".thumbnails" / "thumb.png")

    images, summary = data.read_dataset(str(tmp_path), SIZE)

    assert len(images) == 1
    assert skipped_names(summary, data.HIDDEN) == [".hidden.png", ".thumbnails"]


def test_unreadable_file_with_chmod(tmp_path):
    good_image(tmp_path / "good.png")
    locked = good_image(tmp_path / "locked.png", seed=1)
    locked.chmod(0)
    try:
        if os.access(locked, os.R_OK):
            pytest.skip("running as root, which reads any file; test_unreadable_file_read_denied covers this")
        images, summary = data.read_dataset(str(tmp_path), SIZE)
    finally:
        locked.chmod(0o644)

    assert len(images) == 1
    assert skipped_names(summary, data.NO_PERMISSION) == ["locked.png"]


def test_unreadable_file_read_denied(tmp_path, monkeypatch):
    # chmod does not stop root from reading, so the denial is simulated here.
    good_image(tmp_path / "good.png")
    good_image(tmp_path / "locked.png", seed=1)

    def denying_open(path, *args, **kwargs):
        if os.path.basename(path) == "locked.png":
            raise PermissionError(13, "Permission denied", path)
        return open(path, *args, **kwargs)

    monkeypatch.setattr(data, "open", denying_open, raising=False)
    images, summary = data.read_dataset(str(tmp_path), SIZE)

    assert len(images) == 1
    assert skipped_names(summary, data.NO_PERMISSION) == ["locked.png"]


def test_broken_symlink_and_loops(tmp_path):
    good_image(tmp_path / "good.png")
    os.symlink(tmp_path / "missing.png", tmp_path / "broken.png")
    os.symlink("self.png", tmp_path / "self.png")
    (tmp_path / "sub").mkdir()
    os.symlink("..", tmp_path / "sub" / "parent")

    images, summary = data.read_dataset(str(tmp_path), SIZE)

    assert len(images) == 1
    assert skipped_names(summary, data.BROKEN_LINK) == ["broken.png"]
    assert skipped_names(summary, data.LINK_LOOP) == ["self.png", os.path.join("sub", "parent")]


def test_symlinked_file_and_folder_followed(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    good_image(elsewhere / "a.png")
    folder = tmp_path / "data"
    folder.mkdir()
    os.symlink(elsewhere, folder / "linked folder")
    os.symlink(elsewhere / "a.png", folder / "linked.png")

    images, summary = data.read_dataset(str(folder), SIZE)

    assert len(images) == 2
    assert summary.skipped == {}


def test_gan_output_folder_inside_data_folder_not_read(tmp_path):
    folder = tmp_path / "faces"
    folder.mkdir()
    for index in range(2):
        good_image(folder / f"face{index}.png", seed=index)
    output = folder / "output"

    # The first start creates the output folder; the second skips it and so
    # rebuilds the cache once; the third reads that cache.
    runs = [run_gan("--data-dir", str(folder), "--output-dir", str(output)) for _ in range(3)]

    for run in runs:
        assert run.returncode == 0, run.stderr
        assert "Loaded 2 images" in run.stdout
    assert (output / "final.png").exists()
    assert "1 output folder (output)" in runs[1].stdout
    assert "1 output folder (output)" in runs[2].stdout
    assert "read from the cache" in runs[2].stdout


def test_fifo_is_not_opened(tmp_path):
    good_image(tmp_path / "good.png")
    os.mkfifo(tmp_path / "pipe.png")  # opening it for reading would block

    images, summary = data.read_dataset(str(tmp_path), SIZE)

    assert len(images) == 1
    assert skipped_names(summary, data.NOT_REGULAR) == ["pipe.png"]


def test_first_few_names_then_count(tmp_path):
    good_image(tmp_path / "good.png")
    for index in range(7):
        (tmp_path / f"empty{index}.png").write_bytes(b"")

    images, summary = data.read_dataset(str(tmp_path), SIZE)

    assert summary.skipped[data.EMPTY]["count"] == 7
    assert len(summary.skipped[data.EMPTY]["names"]) == data.MAX_NAMED_SKIPS
    assert summary.describe_skips() == "7 empty file (empty0.png, empty1.png, empty2.png, ...)"


def test_folder_never_modified(tmp_path):
    folder = tmp_path / "faces"
    folder.mkdir()
    good_image(folder / "good.png")
    (folder / "empty.png").write_bytes(b"")
    (folder / "README").write_text("notes")
    os.symlink("missing.png", folder / "broken.png")
    before = snapshot(folder)

    data.read_dataset(str(folder), SIZE, cache_dir=str(tmp_path / "cache"))
    data.read_dataset(str(folder), SIZE, cache_dir=str(tmp_path / "cache"))

    assert snapshot(folder) == before


def test_nothing_usable_names_folder_and_counts(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "README").write_text("notes")
    write_image(tmp_path / "tiny.png", np.zeros((3, 3), np.uint8))

    with pytest.raises(data.NoImagesError) as raised:
        data.read_dataset(str(tmp_path), SIZE)

    message = str(raised.value)
    assert str(tmp_path) in message
    assert "1 empty file (empty.png)" in message
    assert "1 not an image (README)" in message
    assert "1 smaller than half the training size (tiny.png)" in message
    assert "--image-size" in message


def run_gan(*arguments):
    """Run gan.py for one epoch with tiny networks, as a user would from the shell."""
    return run_gan_command("--num-epochs", "1", "--image-size", "8", "--noise-size", "4",
                           "--generator-hidden-sizes", "8,8,8", "--discriminator-hidden-sizes", "8,8,8",
                           "--sample-cell-size", "8", *arguments)


def test_gan_trains_past_bad_files(tmp_path):
    folder = tmp_path / "my faces"
    folder.mkdir()
    for index in range(3):
        good_image(folder / f"face {index}.png", seed=index)
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "notes.txt").write_text("notes")
    os.symlink("missing.png", folder / "broken.png")

    result = run_gan("--data-dir", str(folder), "--output-dir", str(tmp_path / "out"))

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert f"Loaded 3 images of 8x8 from {folder}" in result.stdout
    assert "1 empty file (empty.jpg)" in result.stdout
    assert "1 broken symbolic link (broken.png)" in result.stdout
    assert "1 not an image (notes.txt)" in result.stdout


def test_gan_error_counts_every_skip(tmp_path):
    folder = tmp_path / "only bad files"
    folder.mkdir()
    (folder / "notes.txt").write_text("notes")
    (folder / "empty.png").write_bytes(b"")
    os.symlink("missing.png", folder / "broken.png")

    result = run_gan("--data-dir", str(folder), "--output-dir", str(tmp_path / "out"))

    assert result.returncode == 1
    assert result.stderr.startswith(f"gan.py: error: No usable image in {folder}: skipped 3: ")
    counts = ["1 not an image (notes.txt)", "1 empty file (empty.png)", "1 broken symbolic link (broken.png)"]
    for count in counts:
        assert count in result.stderr
    assert "--data-dir" in result.stderr
