"""Run `python gan.py` as a user does and check what it prints and writes."""

import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
from conftest import ORL_FACES, REPO

# Small networks keep each run to a second or two.
SMALL = ["--generator-hidden-sizes", "32,32,32", "--discriminator-hidden-sizes", "32,32,32"]


def run_gan(*arguments, timeout=120):
    return subprocess.run(
        [sys.executable, "gan.py", *arguments], cwd=REPO, capture_output=True, text=True,
        timeout=timeout, stdin=subprocess.DEVNULL,
    )


@contextlib.contextmanager
def running_gan(*arguments, log_path):
    """Run gan.py in the background with its output in log_path; kill it on leaving the block."""
    with open(log_path, "w") as log_file:
        process = subprocess.Popen(
            [sys.executable, "gan.py", *arguments], cwd=REPO, stdout=log_file, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            yield process
        finally:
            process.kill()
            process.wait()


def wait_for_line(path, pattern, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(path) as file:
            if re.search(pattern, file.read(), re.MULTILINE):
                return
        time.sleep(0.05)
    raise AssertionError(f"no line matching {pattern!r} appeared in {path} within {timeout} s")


def read_png(path):
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert image is not None, f"{path} is not a readable image"
    return image


def test_short_run_writes_sample_grids(tmp_path):
    result = run_gan("--num-epochs", "3", "--sample-every", "1", "--output-dir", str(tmp_path), *SMALL)

    assert result.returncode == 0, result.stderr
    assert "epoch 3/3" in result.stdout
    assert "D(G(z))" in result.stdout
    assert "ETA" in result.stdout
    names = sorted(os.listdir(tmp_path))
    for name in ["samples_epoch_0000.png", "samples_epoch_0001.png", "samples_epoch_0003.png",
                 "latest.png", "final.png"]:
        assert name in names
    grid = read_png(tmp_path / "final.png")
    # 8 x 8 faces of 100 px with 4 px gaps: 8 * 104 + 4 pixels a side.
    assert grid.shape == (836, 836)
    assert grid.dtype == np.uint8
    assert grid.std() > 5
    assert len(np.unique(grid)) > 10
    np.testing.assert_array_equal(read_png(tmp_path / "latest.png"), grid)


def test_grid_faces_differ_between_epochs(tmp_path):
    result = run_gan("--num-epochs", "2", "--sample-every", "1", "--output-dir", str(tmp_path), *SMALL)

    assert result.returncode == 0, result.stderr
    before = read_png(tmp_path / "samples_epoch_0000.png").astype(int)
    after = read_png(tmp_path / "samples_epoch_0002.png").astype(int)
    assert np.abs(before - after).mean() > 0.5


def test_same_seed_same_samples(tmp_path):
    first = run_gan("--num-epochs", "2", "--seed", "7", "--output-dir", str(tmp_path / "a"), *SMALL)
    second = run_gan("--num-epochs", "2", "--seed", "7", "--output-dir", str(tmp_path / "b"), *SMALL)
    third = run_gan("--num-epochs", "2", "--seed", "8", "--output-dir", str(tmp_path / "c"), *SMALL)

    assert first.returncode == second.returncode == third.returncode == 0
    a = read_png(tmp_path / "a" / "final.png")
    np.testing.assert_array_equal(a, read_png(tmp_path / "b" / "final.png"))
    assert not np.array_equal(a, read_png(tmp_path / "c" / "final.png"))


def test_orl_faces_at_32(tmp_path):
    result = run_gan("--data-dir", ORL_FACES, "--image-size", "32", "--num-epochs", "1",
                     "--output-dir", str(tmp_path), "--sample-cell-size", "64", *SMALL)

    assert result.returncode == 0, result.stderr
    assert "Loaded 400 images of 32x32" in result.stdout
    assert read_png(tmp_path / "final.png").shape == (8 * 66 + 2, 8 * 66 + 2)


def test_help_lists_every_setting(repo):
    import config

    result = run_gan("--help")
    text = " ".join(result.stdout.split())  # undo argparse's line wrapping

    assert result.returncode == 0
    for name in [n for n in vars(config) if n.isupper()]:
        assert "--" + name.lower().replace("_", "-") in text
    assert f"(default: {config.LEARNING_RATE})" in text
    assert f"(default: {config.BATCH_SIZE})" in text
    assert f"(default: {config.NUM_EPOCHS})" in text
    sizes = ",".join(str(width) for width in config.GENERATOR_HIDDEN_SIZES)
    assert f"(default: {sizes})" in text  # a tuple, written as the command line takes it


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["--learning-rate", "-0.1"], "LEARNING_RATE '-0.1'"),
        (["--batch-size", "0"], "BATCH_SIZE '0'"),
        (["--image-size", "7"], "IMAGE_SIZE '7'"),
        (["--data-dir", "/no/such/folder"], "DATA_DIR '/no/such/folder'"),
        (["--num-epochs", "three"], "NUM_EPOCHS 'three'"),
        (["--optimizer", "rmsprop"], "OPTIMIZER 'rmsprop'"),
        (["--hidden-activation", "relu"], "HIDDEN_ACTIVATION 'relu'"),
        (["--generator-hidden-sizes", "64,x,64"], "GENERATOR_HIDDEN_SIZES '64,x,64'"),
        (["--generator-hidden-sizes", "64,,64"], "GENERATOR_HIDDEN_SIZES '64,,64'"),
        (["--discriminator-hidden-sizes", "64,"], "DISCRIMINATOR_HIDDEN_SIZES '64,'"),
        (["--horizontal-flip", "maybe"], "HORIZONTAL_FLIP 'maybe'"),
        (["--resume", "yes"], "RESUME 'yes'"),
    ],
)
def test_invalid_setting_one_line(tmp_path, arguments, expected):
    result = run_gan(*arguments, "--output-dir", str(tmp_path))

    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert expected in lines[0]
    assert "expected" in lines[0]
    assert os.listdir(tmp_path) == []


def test_folder_without_images(tmp_path):
    data = tmp_path / "empty faces"
    data.mkdir()
    (data / "readme.txt").write_text("no faces here")

    result = run_gan("--data-dir", str(data), "--output-dir", str(tmp_path / "out"))

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert str(data) in result.stderr


def test_ctrl_c_stops_cleanly(tmp_path):
    log_path = tmp_path / "log.txt"
    with running_gan("--num-epochs", "100000", "--output-dir", str(tmp_path / "out"),
                     "--sample-every", "1000", *SMALL, log_path=log_path) as process:
        wait_for_line(log_path, r"^epoch +3/")
        process.send_signal(signal.SIGINT)
        returncode = process.wait(timeout=30)
    output = log_path.read_text()

    assert returncode == 130
    assert "Traceback" not in output
    assert "Stopped by Ctrl+C" in output
    assert "Final sample grid" in output
    assert str(tmp_path / "out") in output
    grid = read_png(tmp_path / "out" / "final.png")
    assert grid.std() > 5


def test_second_ctrl_c_exits_at_once(tmp_path):
    # Large images and batches make one step take seconds, so a second Ctrl+C
    # arrives while the first is still waiting for the step to end.
    log_path = tmp_path / "log.txt"
    with running_gan("--data-dir", ORL_FACES, "--image-size", "128", "--batch-size", "400",
                     "--num-epochs", "100000", "--output-dir", str(tmp_path / "out"),
                     log_path=log_path) as process:
        wait_for_line(log_path, r"^Training until")
        time.sleep(0.5)
        process.send_signal(signal.SIGINT)
        wait_for_line(log_path, r"^Ctrl\+C: stopping after this step")
        process.send_signal(signal.SIGINT)
        returncode = process.wait(timeout=10)
    output = log_path.read_text()

    assert returncode == 130
    assert "Second Ctrl+C" in output
    assert "Traceback" not in output
    assert not (tmp_path / "out" / "final.png").exists()


def copy_program(folder):
    """Copy the program's modules into folder, so a test can edit its config.py."""
    for name in os.listdir(REPO):
        if name.endswith(".py"):
            shutil.copy(os.path.join(REPO, name), folder / name)
    (folder / "faces").symlink_to(os.path.join(REPO, "faces"))
    return folder / "config.py"


@pytest.mark.parametrize(
    ("wrong_line", "expected"),
    [
        ("HORIZONTAL_FLIP = true", "config.py line 23 failed to load (NameError"),
        ("HORIZONTAL_FLIP = 1x", "config.py line 23 is not valid Python: 'HORIZONTAL_FLIP = 1x'"),
        ('HORIZONTAL_FLIP = "true"', "Invalid HORIZONTAL_FLIP 'true': expected true or false"),
    ],
)
def test_config_mistake_one_line(tmp_path, wrong_line, expected):
    config_path = copy_program(tmp_path)
    lines = config_path.read_text().splitlines()
    assert lines[22] == "HORIZONTAL_FLIP = True"
    lines[22] = wrong_line
    config_path.write_text("\n".join(lines) + "\n")

    result = subprocess.run([sys.executable, "gan.py"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=60, stdin=subprocess.DEVNULL)

    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert expected in result.stderr
    assert "True or False" in result.stderr


def test_empty_output_dir_rejected(tmp_path):
    result = subprocess.run([sys.executable, os.path.join(REPO, "gan.py"), "--output-dir", ""],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)

    assert result.returncode == 2
    assert "Invalid OUTPUT_DIR ''" in result.stderr
    assert os.listdir(tmp_path) == []


def test_closed_pipe_no_traceback(tmp_path):
    arguments = [sys.executable, "gan.py", "--num-epochs", "4", "--sample-every", "1",
                 "--output-dir", str(tmp_path), *SMALL]
    command = shlex.join(arguments) + " | head -n 1"
    result = subprocess.run(command, shell=True, cwd=REPO, capture_output=True, text=True, timeout=120)

    assert result.stdout.startswith("Loaded 100 images")
    assert "Traceback" not in result.stderr
    assert "Logging error" not in result.stderr
    # Training went on to the end after the pipe to head closed.
    assert (tmp_path / "samples_epoch_0004.png").exists()


def test_readme_lists_every_setting():
    import config

    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as file:
        readme = file.read()

    for name in [n for n in vars(config) if n.isupper()]:
        assert f"`{name}`" in readme, f"{name} is missing from the README's settings table"


@pytest.mark.parametrize("minutes, saved_epochs", [("0.000001", ["1", "2", "3"]), ("10", ["3"])])
def test_checkpoint_minutes_bounds_the_time_between_saves(tmp_path, minutes, saved_epochs):
    result = run_gan(*SMALL, "--num-epochs", "3", "--checkpoint-every", "1000",
                     "--checkpoint-minutes", minutes, "--quality-every", "0", "--output-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    log = result.stdout + result.stderr
    assert re.findall(r"Checkpoint saved: .*after epoch (\d+)", log) == saved_epochs
