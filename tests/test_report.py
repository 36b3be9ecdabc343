"""Tests of what a training run writes besides sample grids: history, chart, videos, sheets, progress.

Most tests drive `python gan.py` in a subprocess with tiny networks, as a
user does, and read the files back with OpenCV.
"""

import csv
import math
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
from conftest import REPO

import report

TINY = ["--image-size", "16", "--noise-size", "8", "--generator-hidden-sizes", "32",
        "--discriminator-hidden-sizes", "32", "--batch-size", "16", "--sample-cell-size", "16"]
BATCHES_PER_EPOCH = 7  # 100 built-in faces in batches of 16


def run_gan(*arguments, timeout=300):
    return subprocess.run([sys.executable, "gan.py", *arguments], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def grid_shape(count, columns, cell):
    """Return the (height, width) of make_grid's output, from the layout: a gap of cell // 25, at least 1."""
    gap = max(1, cell // 25)
    rows = -(-count // columns)
    return rows * (cell + gap) + gap, columns * (cell + gap) + gap


def read_video(path):
    """Return the decoded frames of the video at path as a list of BGR arrays."""
    capture = cv2.VideoCapture(path)
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames


def video_path(folder, stem):
    paths = [os.path.join(folder, stem + ext) for ext in (".mp4", ".avi")
             if os.path.exists(os.path.join(folder, stem + ext))]
    assert len(paths) == 1, f"expected one {stem} video in {os.listdir(folder)}"
    return paths[0]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A 4-epoch run with grids every 2 epochs and a progress line after every batch."""
    output = tmp_path_factory.mktemp("run")
    result = run_gan(*TINY, "--num-epochs", "4", "--sample-every", "2", "--chart-every", "2",
                     "--progress-interval", "0.000001", "--output-dir", str(output))
    assert result.returncode == 0, result.stderr
    return str(output), result.stdout


# --- history.csv ---


def test_history_csv_one_row_per_epoch(finished_run):
    output, _ = finished_run
    with open(os.path.join(output, "history.csv"), newline="") as file:
        rows = list(csv.DictReader(file))
    assert [row["epoch"] for row in rows] == ["1", "2", "3", "4"]
    assert list(rows[0]) == ["epoch", "discriminator_loss", "generator_loss", "d_real", "d_fake", "seconds",
                             "feature_matching_loss"]
    for row in rows:
        assert all(math.isfinite(float(row[key])) for key in list(row)[1:])
        assert 0 < float(row["d_real"]) < 1
        assert float(row["seconds"]) > 0


def test_outputs_get_usual_permissions(finished_run):
    output, _ = finished_run
    umask = os.umask(0o022)
    os.umask(umask)
    for name in ("history.csv", "history.png", "latent_walk.png", "samples_epoch_0002.png"):
        assert os.stat(os.path.join(output, name)).st_mode & 0o777 == 0o666 & ~umask, name


def test_history_csv_matches_log(finished_run):
    output, stdout = finished_run
    with open(os.path.join(output, "history.csv"), newline="") as file:
        rows = list(csv.DictReader(file))
    logged = re.findall(r"epoch +(\d+)/4  D loss ([\d.]+)  G loss ([\d.]+)", stdout)
    assert len(logged) == 4
    for row, (epoch, d_loss, g_loss) in zip(rows, logged, strict=True):
        assert row["epoch"] == epoch
        assert abs(float(row["discriminator_loss"]) - float(d_loss)) < 0.0006
        assert abs(float(row["generator_loss"]) - float(g_loss)) < 0.0006


def test_history_csv_extra_keys_leave_gaps(tmp_path):
    history = [
        {"epoch": 1, "discriminator_loss": 1.0, "generator_loss": 0.5, "d_real": 0.6, "d_fake": 0.4,
         "seconds": 2.0},
        {"epoch": 2, "discriminator_loss": 0.9, "generator_loss": 0.6, "d_real": 0.7, "d_fake": 0.3,
         "seconds": 2.5, "frechet_distance": 120.5, "precision": 0.25},
        {"epoch": 3, "discriminator_loss": 0.8, "generator_loss": 0.7, "d_real": 0.7, "d_fake": 0.3,
         "seconds": 2.1, "recall": 0.125},
    ]
    path = tmp_path / "history.csv"
    report.write_history_csv(history, str(path))
    with open(path, newline="") as file:
        rows = list(csv.reader(file))
    assert rows[0] == ["epoch", "discriminator_loss", "generator_loss", "d_real", "d_fake", "seconds",
                       "frechet_distance", "precision", "recall"]
    assert rows[1][6:] == ["", "", ""]
    assert rows[2][6:] == ["120.5", "0.25", ""]
    assert rows[3][6:] == ["", "", "0.125"]
    assert os.listdir(tmp_path) == ["history.csv"]


def test_history_file_appends_and_rewrites(tmp_path):
    """Row by row, the file always equals a whole rewrite, also when a new column appears."""
    path, expected_path = tmp_path / "history.csv", tmp_path / "expected.csv"
    history_file = report.HistoryFile(str(path))
    history = []
    for epoch in range(1, 6):
        row = {"epoch": epoch, "discriminator_loss": 1.0 / epoch, "generator_loss": 0.5, "d_real": 0.6,
               "d_fake": 0.4, "seconds": 2.0}
        if epoch == 3:  # a first quality score adds columns
            row.update(frechet_distance=12.5, precision=0.5, recall=0.25)
        history.append(row)
        history_file.update(history)
        report.write_history_csv(history, str(expected_path))
        assert path.read_text() == expected_path.read_text()
    # A file changed behind its back, as by a restart, is rewritten whole.
    history_file.rows = 0
    history_file.update(history)
    assert path.read_text() == expected_path.read_text()


def test_history_csv_numpy_and_nan_values(tmp_path):
    history = [{"epoch": np.int64(1), "discriminator_loss": np.float32(0.25), "generator_loss": 1.5,
                "d_real": 0.5, "d_fake": 0.5, "seconds": 1.0, "recall": float("nan")}]
    path = tmp_path / "history.csv"
    report.write_history_csv(history, str(path))
    with open(path, newline="") as file:
        rows = list(csv.reader(file))
    assert rows[1] == ["1", "0.25", "1.5", "0.5", "0.5", "1", ""]


def test_unfinished_files_removed(tmp_path):
    names = [".tmp-0123456789ab-timelapse.mp4", ".tmp-a1b2c3d4e5f6-history.csv", ".tmp-notours.png",
             "history.csv"]
    for name in names:
        (tmp_path / name).write_text("x")
    report.remove_unfinished_files(str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == [".tmp-notours.png", "history.csv"]


def test_failed_write_keeps_old_file(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("old\n")

    def fail(temporary):
        with open(temporary, "w") as file:
            file.write("half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        report.replace_atomically(str(path), fail)
    assert path.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["history.csv"]


# --- history.png ---


def test_chart_decodes_with_three_panels(finished_run):
    """Losses, discriminator outputs and the feature matching loss, which default runs report."""
    output, _ = finished_run
    chart = cv2.imread(os.path.join(output, "history.png"))
    assert chart is not None
    assert chart.shape == (3 * report.PANEL_HEIGHT, report.CHART_WIDTH, 3)
    assert chart.std() > 10
    # Every series colour is drawn, so each line and its legend entry are there.
    for colour in report.SERIES_COLOURS[:2]:
        assert np.all(chart == colour, axis=2).sum() > 50


def test_chart_adds_quality_panels(tmp_path):
    history = [{"epoch": epoch, "discriminator_loss": 1.0 / epoch, "generator_loss": 0.5, "d_real": 0.6,
                "d_fake": 0.4, "seconds": 1.0} for epoch in range(1, 11)]
    history[4]["frechet_distance"] = 150.0
    history[9]["frechet_distance"] = 90.0
    history[9]["precision"] = np.float32(0.3)
    path = tmp_path / "history.png"
    assert report.write_chart(history, str(path))
    chart = cv2.imread(str(path))
    # Loss, D output, the 0-to-1 figures (precision) and one panel for the Frechet distance.
    assert chart.shape[0] == 4 * report.PANEL_HEIGHT
    quality_panel = chart[2 * report.PANEL_HEIGHT:]
    assert np.all(quality_panel == report.SERIES_COLOURS[0], axis=2).sum() > 20


def test_chart_skips_empty_and_nonfinite(tmp_path):
    assert not report.write_chart([], str(tmp_path / "empty.png"))
    assert not (tmp_path / "empty.png").exists()
    history = [{"epoch": 1, "discriminator_loss": float("nan"), "generator_loss": 0.5, "d_real": 0.6,
                "d_fake": 0.4, "seconds": 1.0}]
    assert report.write_chart(history, str(tmp_path / "one.png"))
    assert cv2.imread(str(tmp_path / "one.png")) is not None


@pytest.mark.parametrize("span, expected", [(1.0, 0.2), (7.0, 2.0), (0.03, 0.01), (450.0, 100.0)])
def test_tick_step_is_one_two_or_five(span, expected):
    assert report.tick_step(span) == pytest.approx(expected)


# --- timelapse ---


def test_timelapse_one_frame_per_grid(finished_run):
    output, stdout = finished_run
    grids = sorted(name for name in os.listdir(output) if name.startswith("samples_epoch_"))
    assert grids == ["samples_epoch_0000.png", "samples_epoch_0002.png", "samples_epoch_0004.png"]
    path = video_path(output, "timelapse")
    frames = read_video(path)
    assert len(frames) == 3
    height, width = grid_shape(64, 8, 16)
    height += 24  # the caption band with the epoch
    assert frames[0].shape[:2] == (height + height % 2, width + width % 2)
    assert all(frame.std() > 10 for frame in frames)
    assert re.search(r"Timelapse: .*timelapse\.(mp4|avi) \((MP4|AVI), 3 frames", stdout)


def test_timelapse_leaves_out_later_grids(tmp_path):
    for epoch in (0, 1, 2, 7):
        grid = np.full((30, 40), 60 * (epoch % 4), dtype=np.uint8)
        cv2.imwrite(str(tmp_path / f"samples_epoch_{epoch:04d}.png"), grid)
    path, _, count = report.write_timelapse(str(tmp_path), last_epoch=2)
    assert count == 3
    frames = read_video(path)
    assert len(frames) == 3
    assert frames[0].shape[:2] == (30 + 24, 40)


def test_video_falls_back_to_avi(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "VIDEO_FORMATS", (("MP4", ".mp4", "XXXX"), ("AVI", ".avi", "MJPG")))
    monkeypatch.setattr(report, "_video_format", [])
    frames = [np.full((21, 33), level, dtype=np.uint8) for level in (0, 128, 255, 128)]
    path, name, count = report.write_video(str(tmp_path / "clip"), iter(frames), (21, 33), 5)
    assert (name, count) == ("AVI", 4)
    assert path.endswith(".avi")
    decoded = read_video(path)
    assert len(decoded) == 4
    assert decoded[0].shape[:2] == (22, 34)  # padded to even sides
    assert abs(int(decoded[2][:21, :33].mean()) - 255) < 10


# --- latent walk ---


def test_latent_walk_strip(finished_run):
    output, _ = finished_run
    strip = cv2.imread(os.path.join(output, "latent_walk.png"), cv2.IMREAD_GRAYSCALE)
    assert strip is not None
    assert strip.shape == grid_shape(report.WALK_ROWS * 8, 8, 16)
    assert strip.std() > 10


def test_latent_walk_video(finished_run):
    output, _ = finished_run
    frames = read_video(video_path(output, "latent_walk"))
    assert len(frames) == report.WALK_VIDEO_WAYPOINTS * report.WALK_VIDEO_STEPS
    height, width = grid_shape(report.WALK_VIDEO_FACES, 8, 16)
    assert frames[0].shape[:2] == (height + height % 2, width + width % 2)
    assert frames[0].std() > 10
    # The faces move away from the first frame and come back to it, so the video loops.
    differences = [np.abs(frame.astype(int) - frames[0].astype(int)).mean() for frame in frames]
    assert max(differences) > 1
    assert differences[-1] < max(differences)


def test_slerp_ends_and_norms():
    rng = np.random.default_rng(1)
    start, end = rng.standard_normal((2, 5, 64)).astype(np.float32)
    fractions = np.linspace(0, 1, 9, dtype=np.float32)[:, None, None]
    path = report.slerp(start[None], end[None], fractions)  # (9, 5, 64)
    np.testing.assert_allclose(path[0], start, atol=1e-5)
    np.testing.assert_allclose(path[-1], end, atol=1e-5)
    # Halfway along an arc between two vectors of equal norm, the norm is unchanged,
    # whereas the straight line's midpoint is shorter.
    unit_start = start / np.linalg.norm(start, axis=1, keepdims=True)
    unit_end = end / np.linalg.norm(end, axis=1, keepdims=True)
    middle = report.slerp(unit_start, unit_end, np.float32(0.5))
    np.testing.assert_allclose(np.linalg.norm(middle, axis=1), 1.0, atol=1e-5)
    assert np.all(np.linalg.norm((unit_start + unit_end) / 2, axis=1) < 0.95)


def test_slerp_parallel_vectors():
    start = np.ones((1, 4), dtype=np.float32)
    middle = report.slerp(start, 3 * start, np.float32(0.5))
    np.testing.assert_allclose(middle, 2 * start)


# --- nearest-neighbour sheet ---


def test_nearest_neighbour_sheet(finished_run):
    output, stdout = finished_run
    sheet = cv2.imread(os.path.join(output, "nearest_neighbours.png"), cv2.IMREAD_GRAYSCALE)
    assert sheet is not None
    height, width = grid_shape(2 * report.NEIGHBOUR_FACES, report.NEIGHBOUR_FACES, 16)
    # A sheet this narrow puts each part of the legend (3) on a line of its own.
    assert sheet.shape == (3 * 18 + height + 24, width)
    assert sheet.std() > 10
    match = re.search(r"training set: ([\d.]+); between training images: ([\d.]+)", stdout)
    assert match
    assert 0 < float(match.group(1)) < 1
    assert 0 < float(match.group(2)) < 1


def test_nearest_images_matches_brute_force():
    rng = np.random.default_rng(2)
    size = 6
    images = rng.integers(0, 256, (50, size * size), dtype=np.uint8)
    queries = rng.random((7, size * size), dtype=np.float32)
    found, distances = report.nearest_images(queries, images, size, mirrored=True, chunk=16)

    candidates = images.astype(np.float32) / 255
    mirrors = candidates.reshape(-1, size, size)[:, :, ::-1].reshape(50, -1)
    everything = np.concatenate([candidates, mirrors])
    for query, match, distance in zip(queries, found, distances, strict=True):
        squared = ((everything - query) ** 2).sum(axis=1)
        np.testing.assert_allclose(match, everything[squared.argmin()], atol=1e-6)
        assert distance == pytest.approx(math.sqrt(squared.min() / size**2), rel=1e-4)


def test_nearest_images_excludes_itself():
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (20, 16), dtype=np.uint8)
    queries = images[:5].astype(np.float32) / 255
    found, distances = report.nearest_images(queries, images, 4, mirrored=False, exclude=np.arange(5))
    assert np.all(distances > 0.01)
    _, with_self = report.nearest_images(queries, images, 4, mirrored=False)
    np.testing.assert_allclose(with_self, 0, atol=1e-3)


# --- progress line ---


def test_progress_plain_lines_when_not_a_terminal(finished_run):
    _, stdout = finished_run
    lines = re.findall(r"epoch (\d)/4  batch (\d+)/7  \d+ images/s  ETA epoch \S+, run \S+", stdout)
    assert len(lines) >= 4
    assert {epoch for epoch, _ in lines} == {"1", "2", "3", "4"}
    assert all(1 <= int(batch) <= BATCHES_PER_EPOCH for _, batch in lines)
    assert "\r" not in stdout


def test_progress_silent_in_short_epochs(tmp_path):
    result = run_gan(*TINY, "--num-epochs", "2", "--output-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert " batch " not in result.stdout
    assert "epoch 2/2  D loss" in result.stdout


def test_progress_rewrites_line_on_terminal(tmp_path):
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "gan.py", *TINY, "--num-epochs", "2",
         "--progress-interval", "0.000001", "--output-dir", str(tmp_path)],
        stdout=terminal, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, cwd=REPO)
    os.close(terminal)
    output = b""
    while True:
        ready, _, _ = select.select([controller], [], [], 120)
        if not ready:
            break
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the terminal closes when the program exits
            break
        if not chunk:
            break
        output += chunk
    os.close(controller)
    assert process.wait(timeout=60) == 0, process.stderr.read()
    process.stderr.close()
    text = output.decode()
    assert re.search(r"\repoch 1/2  batch \d/7  \d+ images/s", text)
    # The progress line is erased before each epoch's summary line.
    assert re.search(r"\r +\repoch 1/2  D loss", text)


def test_progress_update_is_cheap():
    # The loop calls update() once per batch; until a line is due, it only reads the clock.
    progress = report.ProgressLine(1000, 10, interval=3600.0)
    progress.start_epoch(1)
    start = time.perf_counter()
    for batch in range(1, 100_001):
        progress.update(batch, 64)
    per_call = (time.perf_counter() - start) / 100_000
    assert per_call < 20e-6
    assert progress.images == 6_400_000


# --- a stop by Ctrl+C ---


def test_ctrl_c_writes_outputs(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "gan.py", *TINY, "--num-epochs", "100000",
         "--sample-every", "3", "--output-dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, cwd=REPO)
    history_path = tmp_path / "history.csv"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if history_path.exists() and len(history_path.read_text().splitlines()) > 7:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr

    with open(history_path, newline="") as file:
        last_epoch = int(list(csv.DictReader(file))[-1]["epoch"])
    assert last_epoch >= 6
    grids = [name for name in os.listdir(tmp_path) if re.fullmatch(r"samples_epoch_\d+\.png", name)]
    assert len(grids) == last_epoch // 3 + 1
    assert len(read_video(video_path(str(tmp_path), "timelapse"))) == len(grids)
    assert cv2.imread(str(tmp_path / "history.png")) is not None
    assert cv2.imread(str(tmp_path / "latent_walk.png")) is not None
    assert cv2.imread(str(tmp_path / "nearest_neighbours.png")) is not None
    assert "Stopped" in stdout
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".tmp-")]


# --- settings ---


@pytest.mark.parametrize("option, value", [("--chart-every", "0"), ("--progress-interval", "0"),
                                           ("--progress-interval", "soon")])
def test_invalid_report_settings(tmp_path, option, value):
    result = run_gan(option, value, "--output-dir", str(tmp_path))
    assert result.returncode == 2
    assert option in result.stderr
    assert "Traceback" not in result.stderr


# --- new faces from a generator ---


def test_generated_faces_repeatable(tmp_path):
    from networks import Generator

    generator = Generator(8, (16,), 12 * 12, np.random.default_rng(4))
    first = tmp_path / "first"
    second = tmp_path / "second"
    for folder in (first, second):
        folder.mkdir()
        report.write_generated_faces(generator, 70, 8, 12, 10, str(folder), seed=5)
    names = sorted(os.listdir(first / "generated"))
    assert names == [f"face_{index:04d}.png" for index in range(1, 71)] + ["grid.png"]
    face = cv2.imread(str(first / "generated" / "face_0001.png"), cv2.IMREAD_UNCHANGED)
    assert face.shape == (12, 12)
    assert face.dtype == np.uint8
    for name in names:
        assert (first / "generated" / name).read_bytes() == (second / "generated" / name).read_bytes()
    grid = cv2.imread(str(first / "generated" / "grid.png"), cv2.IMREAD_GRAYSCALE)
    assert grid.shape == grid_shape(report.GENERATED_GRID_FACES, 8, 10)


def test_generated_faces_replace_earlier(tmp_path):
    from networks import Generator

    generator = Generator(8, (16,), 10 * 10, np.random.default_rng(4))
    report.write_generated_faces(generator, 12, 8, 10, 10, str(tmp_path), seed=1)
    earlier = (tmp_path / "generated" / "face_0003.png").read_bytes()
    report.write_generated_faces(generator, 3, 8, 10, 10, str(tmp_path), seed=2)
    assert sorted(os.listdir(tmp_path / "generated")) == ["face_0001.png", "face_0002.png",
                                                          "face_0003.png", "grid.png"]
    assert (tmp_path / "generated" / "face_0003.png").read_bytes() != earlier


def test_generate_without_checkpoint(tmp_path):
    result = run_gan("--generate", "5", "--output-dir", str(tmp_path / "empty"))
    assert result.returncode == 1
    assert "No checkpoint found at" in result.stderr
    assert "python gan.py" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "empty" / "generated").exists()


@pytest.mark.parametrize("value", ["0", "lots", "2.5", "100001"])
def test_generate_invalid_count(tmp_path, value):
    result = run_gan("--generate", value, "--output-dir", str(tmp_path))
    assert result.returncode == 2
    assert f"Invalid --generate '{value}'" in result.stderr
    assert "Traceback" not in result.stderr


def test_generate_from_checkpoint(tmp_path):
    trained = run_gan(*TINY, "--num-epochs", "2", "--output-dir", str(tmp_path))
    assert trained.returncode == 0, trained.stderr
    checkpoint_bytes = (tmp_path / "checkpoint.npz").read_bytes()
    history_bytes = (tmp_path / "history.csv").read_bytes()
    folder = tmp_path / "generated"

    def generate(seed):
        result = run_gan("--generate", "10", "--seed", seed, "--sample-cell-size", "20",
                         "--output-dir", str(tmp_path))
        assert result.returncode == 0, result.stderr
        assert "Wrote 10 faces of 16x16 pixels" in result.stdout
        return {name: (folder / name).read_bytes() for name in sorted(os.listdir(folder))}

    first = generate("7")
    assert list(first) == [f"face_{index:04d}.png" for index in range(1, 11)] + ["grid.png"]
    faces = np.stack([cv2.imread(str(folder / name), cv2.IMREAD_UNCHANGED) for name in list(first)[:10]])
    assert faces.shape == (10, 16, 16)  # the checkpoint's image size, not the default of 25
    assert faces.std() > 5
    grid = cv2.imread(str(folder / "grid.png"), cv2.IMREAD_GRAYSCALE)
    assert grid.shape == grid_shape(10, 8, 20)
    assert grid.std() > 10

    assert generate("7") == first
    assert generate("8")["face_0001.png"] != first["face_0001.png"]
    # Generating trains nothing: the checkpoint and the history are as they were.
    assert (tmp_path / "checkpoint.npz").read_bytes() == checkpoint_bytes
    assert (tmp_path / "history.csv").read_bytes() == history_bytes


def test_resumed_run_keeps_history(tmp_path):
    first = run_gan(*TINY, "--num-epochs", "2", "--sample-every", "1", "--output-dir", str(tmp_path))
    assert first.returncode == 0, first.stderr
    second = run_gan(*TINY, "--num-epochs", "4", "--sample-every", "1", "--output-dir", str(tmp_path))
    assert second.returncode == 0, second.stderr
    with open(tmp_path / "history.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert [row["epoch"] for row in rows] == ["1", "2", "3", "4"]
    assert all(row["discriminator_loss"] for row in rows)
    frames = read_video(video_path(str(tmp_path), "timelapse"))
    assert len(frames) == 5  # grids of epochs 0 to 4, from both runs


def test_chart_draws_floor_with_its_figure():
    history = [{"epoch": 1, "discriminator_loss": 1.0, "generator_loss": 1.0, "d_real": 0.5, "d_fake": 0.5,
                "frechet_distance": 9.0, "frechet_floor": 4.0, "precision": 0.5, "recall": 0.2}]

    panels = report.chart_panels(history)

    titles = [title for title, _, _ in panels]
    assert "Frechet floor" not in titles
    assert ("Frechet distance", ["frechet_distance", "frechet_floor"], None) in panels
    assert ("Quality (0 to 1)", ["precision", "recall"], (0.0, 1.0)) in panels
