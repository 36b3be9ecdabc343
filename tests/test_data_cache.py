"""The on-disk cache of prepared images, and the progress line of a long load."""

import io
import logging
import os

import numpy as np
import pytest
from image_files import colour_pattern, record_calls, write_image

import data

SIZE = 16


@pytest.fixture
def folder(tmp_path):
    faces = tmp_path / "faces"
    faces.mkdir()
    for index in range(4):
        write_image(faces / f"face{index}.png", colour_pattern(20 + index, 24, seed=index))
    (faces / "empty.png").write_bytes(b"")
    return faces


def forbid_decoding(monkeypatch):
    def fail(path, size):
        raise AssertionError(f"decoded {path} although the cache is valid")
    monkeypatch.setattr(data, "prepare_image", fail)


def cache_files(cache_dir):
    return sorted(os.listdir(cache_dir))


def test_cache_hit_skips_decoding(folder, tmp_path, monkeypatch):
    cache_dir = str(tmp_path / "cache")
    first, first_summary = data.read_dataset(str(folder), SIZE, cache_dir)

    forbid_decoding(monkeypatch)
    second, second_summary = data.read_dataset(str(folder), SIZE, cache_dir)

    assert not first_summary.from_cache
    assert second_summary.from_cache
    assert np.array_equal(first, second)
    assert second.dtype == np.uint8
    assert second_summary.used == 4
    assert second_summary.skipped == first_summary.skipped
    assert len(cache_files(cache_dir)) == 1  # and no temporary file left behind


def test_cache_in_its_own_folder(folder, tmp_path):
    names_before = sorted(os.listdir(folder))

    data.read_dataset(str(folder), SIZE, str(tmp_path / "cache"))

    assert sorted(os.listdir(folder)) == names_before
    assert cache_files(tmp_path / "cache")[0].startswith("faces-")
    assert cache_files(tmp_path / "cache")[0].endswith(".npz")


def test_no_cache_without_cache_dir(folder, tmp_path, monkeypatch):
    data.read_dataset(str(folder), SIZE)
    calls = record_calls(monkeypatch, data, "prepare_image")

    data.read_dataset(str(folder), SIZE)

    assert len(calls) == 5


@pytest.mark.parametrize("change", ["content", "touch", "add", "remove", "rename", "chmod"])
def test_cache_rebuilt_when_folder_changes(folder, tmp_path, change, caplog):
    cache_dir = str(tmp_path / "cache")
    first, _ = data.read_dataset(str(folder), SIZE, cache_dir)
    target = folder / "face0.png"
    if change == "content":
        write_image(target, np.full((30, 30), 7, np.uint8))
    elif change == "touch":
        os.utime(target, ns=(target.stat().st_atime_ns, target.stat().st_mtime_ns + 1_000_000_000))
    elif change == "add":
        write_image(folder / "face9.png", np.full((30, 30), 7, np.uint8))
    elif change == "remove":
        target.unlink()
    elif change == "rename":
        target.rename(folder / "face8.png")
    elif change == "chmod":
        target.chmod(0o600)

    with caplog.at_level(logging.INFO, logger="data"):
        second, summary = data.read_dataset(str(folder), SIZE, cache_dir)

    assert not summary.from_cache
    assert "rebuilding the cache" in caplog.text
    expected_count = {"add": 5, "remove": 3}.get(change, 4)
    assert len(second) == expected_count
    if change == "content":
        assert not np.array_equal(first, second)
        assert (second == 7).all(axis=1).any()
    third, summary = data.read_dataset(str(folder), SIZE, cache_dir)
    assert summary.from_cache
    assert np.array_equal(second, third)


def test_cache_rebuilt_when_size_changes(folder, tmp_path):
    cache_dir = str(tmp_path / "cache")
    data.read_dataset(str(folder), SIZE, cache_dir)

    images, summary = data.read_dataset(str(folder), SIZE + 4, cache_dir)

    assert not summary.from_cache
    assert images.shape == (4, (SIZE + 4) ** 2)


def test_cache_rebuilt_when_preparation_changes(folder, tmp_path, monkeypatch):
    cache_dir = str(tmp_path / "cache")
    data.read_dataset(str(folder), SIZE, cache_dir)

    monkeypatch.setattr(data, "PREPARATION_VERSION", data.PREPARATION_VERSION + 1)
    _, summary = data.read_dataset(str(folder), SIZE, cache_dir)

    assert not summary.from_cache


@pytest.mark.parametrize("damage", ["garbage", "truncated", "flipped byte", "empty", "wrong shape"])
def test_damaged_cache_rebuilt(folder, tmp_path, damage, caplog):
    cache_dir = tmp_path / "cache"
    first, _ = data.read_dataset(str(folder), SIZE, str(cache_dir))
    path = cache_dir / cache_files(cache_dir)[0]
    content = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"not a zip file" * 10)
    elif damage == "truncated":
        path.write_bytes(content[:len(content) // 2])
    elif damage == "flipped byte":
        at = content.index(first[1].tobytes())  # inside the stored pixels, covered by the zip CRC
        path.write_bytes(content[:at] + bytes([content[at] ^ 0xFF]) + content[at + 1:])
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "wrong shape":
        with np.load(path) as archive:
            key, summary = archive["key"], archive["summary"]
        np.savez(path, images=np.zeros((4, 3), np.uint8), key=key, summary=summary)

    with caplog.at_level(logging.INFO, logger="data"):
        second, summary = data.read_dataset(str(folder), SIZE, str(cache_dir))

    assert not summary.from_cache
    assert "is damaged" in caplog.text
    assert np.array_equal(first, second)
    _, summary = data.read_dataset(str(folder), SIZE, str(cache_dir))
    assert summary.from_cache


def test_unwritable_cache_folder_only_warns(folder, tmp_path, caplog):
    blocker = tmp_path / "not a folder"
    blocker.write_text("a file where the cache folder would be")

    with caplog.at_level(logging.WARNING, logger="data"):
        images, summary = data.read_dataset(str(folder), SIZE, str(blocker / "cache"))

    assert len(images) == 4
    assert "Could not write the data cache" in caplog.text


def test_gan_second_start_reads_cache(folder, tmp_path):
    from test_data_bad_input import run_gan

    output = tmp_path / "out"
    first = run_gan("--data-dir", str(folder), "--output-dir", str(output))
    second = run_gan("--data-dir", str(folder), "--output-dir", str(output))
    third = run_gan("--data-dir", str(folder), "--output-dir", str(output), "--data-cache", "false")

    assert first.returncode == 0, first.stderr
    assert "read from the files" in first.stdout
    assert second.returncode == 0, second.stderr
    assert "read from the cache" in second.stdout
    assert str(output / "cache") in second.stdout
    assert "1 empty file (empty.png)" in second.stdout
    assert third.returncode == 0, third.stderr
    assert "read from the files" in third.stdout


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_rewrites_line_on_terminal():
    clock = FakeClock()
    stream = FakeTerminal()
    progress = data.Progress(1000, stream=stream, clock=clock)

    progress.update(100)  # within the first second: nothing shown
    clock.now = 2.0
    progress.update(400)
    clock.now = 2.1  # sooner than the terminal interval: not shown
    progress.update(450)
    clock.now = 4.0
    progress.update(1000)
    progress.finish()

    text = stream.getvalue()
    assert "\n" not in text
    assert text.count("\r") == 4  # two updates, then one blank-out and return
    assert "Reading images: 400/1000 files, 200 files/s" in text
    assert "Reading images: 1000/1000 files, 250 files/s" in text
    assert text.endswith("\r")


def test_progress_plain_lines_are_sparse(caplog):
    clock = FakeClock()
    stream = io.StringIO()
    progress = data.Progress(100000, stream=stream, clock=clock)

    with caplog.at_level(logging.INFO, logger="data"):
        for second in range(1, 31):
            clock.now = float(second)
            progress.update(second * 1000)
        progress.finish()

    assert stream.getvalue() == ""
    lines = [record.getMessage() for record in caplog.records]
    assert lines == ["Reading images: 1000/100000 files, 1000 files/s",
                     "Reading images: 11000/100000 files, 1000 files/s",
                     "Reading images: 21000/100000 files, 1000 files/s"]
