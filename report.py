"""Pictures and files about a training run, and the progress line inside an epoch.

This module is separate from gan.py because these outputs need more code than
the training loop itself, and inlining it would bury that loop. It writes, in
the output folder:

    history.csv               one row per finished epoch: losses, D outputs, seconds, quality figures
    history.png               a chart of history.csv
    timelapse.mp4 (or .avi)   one frame per fixed-noise sample grid, in epoch order
    latent_walk.png           rows of faces along a path between two noise vectors
    latent_walk.mp4 (or .avi) faces morphing through several noise vectors and back
    nearest_neighbours.png    generated faces above the training images closest to them
    generated/                new faces that `python gan.py --generate N` writes

Every file is written under a temporary name and then renamed, so a reader
sees the old file or the new one, never half of one.
"""

import csv
import glob
import io
import logging
import math
import numbers
import os
import re
import secrets
import sys
import tempfile
import time

import cv2
import numpy as np

log = logging.getLogger("gan")

GRID_COLUMNS = 8  # faces per row in every grid of faces
GRID_BACKGROUND = 40  # grey level of the gaps between faces
FONT = cv2.FONT_HERSHEY_SIMPLEX

HISTORY_COLUMNS = ("epoch", "discriminator_loss", "generator_loss", "d_real", "d_fake", "seconds")
SERIES_LABELS = {
    "discriminator_loss": "D loss",
    "generator_loss": "G loss",
    "d_real": "D(x)",
    "d_fake": "D(G(z))",
    "feature_matching_loss": "feature matching",
}

TIMELAPSE_FPS = 10  # grids per second in the timelapse video
WALK_ROWS = 4  # latent_walk.png: one interpolation per row
WALK_VIDEO_FACES = 16  # latent_walk video: faces morphing side by side
WALK_VIDEO_WAYPOINTS = 4  # noise vectors each face passes through before returning to the first
WALK_VIDEO_STEPS = 16  # frames from one waypoint to the next
WALK_VIDEO_FPS = 16
NEIGHBOUR_FACES = 8  # generated faces on the nearest-neighbour sheet
NEIGHBOUR_BASELINE_IMAGES = 256  # training images whose own nearest neighbour gives the baseline distance
TERMINAL_REFRESH_SECONDS = 0.5  # maximum seconds between rewrites of the progress line on a terminal


# --- Writing files atomically ---


TEMPORARY_NAME = re.compile(r"\.tmp-[0-9a-f]{12}-.+")  # the names that replace_atomically writes first


def remove_unfinished_files(folder):
    """Delete the temporary files that an exit in the middle of a write left in folder.

    A second Ctrl+C exits at once, possibly while a video is being written.
    """
    for name in os.listdir(folder):
        if TEMPORARY_NAME.fullmatch(name):
            try:
                os.unlink(os.path.join(folder, name))
            except OSError as error:
                log.warning("Could not delete the unfinished file %s: %s", name, error)


def replace_atomically(path, write):
    """Call write(temporary_path) to create a file beside path, then rename it to path.

    The temporary name is new and hidden, and write creates the file, so it
    gets the usual permissions (mkstemp would make it readable by its owner
    only). The temporary file is removed if write raises, so a failed write
    never leaves a half-written file under either name.
    """
    folder, name = os.path.split(os.path.abspath(path))
    temporary = os.path.join(folder, f".tmp-{secrets.token_hex(6)}-{name}")
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def write_png(path, image, *more_paths):
    """Write image as PNG to path and to more_paths, atomically: a reader sees the old file or the new one.

    The image is encoded once for all the paths.
    """
    # Run-length deflate: the nearest-neighbour enlarged faces of a sample grid
    # have long runs of equal pixels. On an 836 x 836 grid with OpenCV 5.1
    # this made the file 4 times smaller than the default and encoded it
    # about 10% faster.
    ok, encoded = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE])
    if not ok:
        raise OSError(f"OpenCV could not encode a PNG for {path}")

    def write(temporary):
        with open(temporary, "xb") as file:
            file.write(encoded.tobytes())

    for destination in (path, *more_paths):
        replace_atomically(destination, write)


# --- Grids of faces ---


def make_grid(images, image_size, cell_size, columns=GRID_COLUMNS):
    """Arrange images (count, image_size ** 2) in [0, 1] into one uint8 grid, columns per row."""
    count = len(images)
    rows = -(-count // columns)
    gap = max(1, cell_size // 25)
    step = cell_size + gap
    grid = np.full((rows * step + gap, columns * step + gap), GRID_BACKGROUND, dtype=np.uint8)
    pixels = np.clip(np.rint(images * 255.0), 0, 255).astype(np.uint8)
    for index, face in enumerate(pixels.reshape(count, image_size, image_size)):
        row, column = divmod(index, columns)
        cell = cv2.resize(face, (cell_size, cell_size), interpolation=cv2.INTER_NEAREST)
        top = gap + row * step
        left = gap + column * step
        grid[top:top + cell_size, left:left + cell_size] = cell
    return grid


def generate_images(generator, noise, batch_size=256):
    """Run the generator on noise (count, noise_size) in batches and return images (count, pixels)."""
    parts = [generator.forward(noise[start:start + batch_size])[0]
             for start in range(0, len(noise), batch_size)]
    return np.concatenate(parts)


def fit_scale(text, width, largest=0.5, smallest=0.3):
    """Return the largest font scale, from largest down to smallest, at which text fits in width pixels."""
    scale = largest
    while scale > smallest and cv2.getTextSize(text, FONT, scale, 1)[0][0] > width:
        scale -= 0.05
    return scale


def text_fits(text, width, scale):
    return cv2.getTextSize(text, FONT, scale, 1)[0][0] <= width


def caption_band(width, text, height=24):
    """Return a grey uint8 band of width x height pixels that shows text in light grey.

    The font shrinks, down to a minimum, until the text fits the width.
    """
    band = np.full((height, width), GRID_BACKGROUND, dtype=np.uint8)
    cv2.putText(band, text, (6, height - 7), FONT, fit_scale(text, width - 12), 230, 1, cv2.LINE_AA)
    return band


def add_caption(image, text):
    """Return image with a band below it that shows text."""
    return np.vstack([image, caption_band(image.shape[1], text)])


# --- history.csv ---


def history_columns(history):
    """Return the CSV columns: the fixed ones first, then other keys in the order they first appear."""
    columns = list(HISTORY_COLUMNS)
    for row in history:
        columns.extend(key for key in row if key not in columns)
    return columns


def format_cell(value):
    """Format one CSV cell: 6 significant digits, and an empty cell for None or NaN."""
    if value is None or (isinstance(value, numbers.Real) and math.isnan(value)):
        return ""
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return f"{float(value):.6g}"
    return str(value)


def write_history_csv(history, path):
    """Write history (a list of per-epoch dicts) to path as CSV.

    A cell is empty where a row lacks a key or its value is NaN, because a
    history restored from a checkpoint marks missing values with NaN.
    """
    columns = history_columns(history)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in history:
        writer.writerow([format_cell(row.get(column)) for column in columns])

    def write(temporary):
        with open(temporary, "x", encoding="utf-8", newline="") as file:
            file.write(buffer.getvalue())

    replace_atomically(path, write)


class HistoryFile:
    """history.csv of a training run, kept up to date after every epoch at a cost that does not grow.

    Rewriting the whole file costs time in proportion to the epochs so far:
    at epoch 2000 of the built-in faces, a rewrite cost more than a training
    step. update appends the newest row instead, and rewrites the file only
    when that row adds a column or the rows on disk are not the history's.
    """

    def __init__(self, path):
        self.path = path
        self.columns = None  # the columns and the row count of the file on disk, once written
        self.rows = 0

    def update(self, history):
        """Bring the file up to date with history, whose rows before the last are already written."""
        last = history[-1]
        if (self.columns is not None and self.rows == len(history) - 1
                and all(key in self.columns for key in last)):
            # NOTE: an append is not atomic: a reader can see a half-written
            # last line, and a crash can leave one, which the next run rewrites.
            with open(self.path, "a", encoding="utf-8", newline="") as file:
                csv.writer(file, lineterminator="\n").writerow(
                    [format_cell(last.get(column)) for column in self.columns])
        else:
            self.columns = history_columns(history)
            write_history_csv(history, self.path)
        self.rows = len(history)


# --- history.png: a chart drawn with OpenCV ---

CHART_WIDTH = 900
PANEL_HEIGHT = 260
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 72, 24, 34, 42
SERIES_COLOURS = [(180, 119, 31), (14, 127, 255), (44, 160, 44), (40, 39, 214), (189, 103, 148),
                  (75, 86, 140)]  # BGR: blue, orange, green, red, purple, brown
TEXT_COLOUR = (40, 40, 40)
GRID_LINE_COLOUR = (225, 225, 225)


def tick_step(span, target_ticks=5):
    """Return a tick spacing of 1, 2 or 5 times a power of ten giving about target_ticks ticks over span."""
    raw = span / target_ticks
    power = 10.0 ** math.floor(math.log10(raw))
    for multiple in (1, 2, 5, 10):
        if multiple * power >= raw:
            return multiple * power
    return 10 * power


def format_tick(value, step):
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    return f"{value:.{decimals}f}"


def series_values(history, key):
    """Return the epochs and finite values of key, skipping rows that lack it."""
    points = [(row["epoch"], row[key]) for row in history
              if isinstance(row.get(key), numbers.Real) and math.isfinite(row[key])]
    return [epoch for epoch, _ in points], [float(value) for _, value in points]


def chart_panels(history):
    """Return (title, keys, fixed y range or None) for each panel of the chart."""
    panels = [("Loss", ["discriminator_loss", "generator_loss"], None),
              ("Mean discriminator output", ["d_real", "d_fake"], (0.0, 1.0))]
    # Feature matching's loss can be 100 times the others, so it gets a panel of its own.
    if series_values(history, "feature_matching_loss")[1]:
        panels.append(("Feature matching loss", ["feature_matching_loss"], None))
    extras = [key for key in history_columns(history) if key not in HISTORY_COLUMNS
              and key != "feature_matching_loss" and series_values(history, key)[1]]
    unit_range = [key for key in extras if all(0 <= v <= 1 for v in series_values(history, key)[1])]
    if unit_range:
        panels.append(("Quality (0 to 1)", unit_range, (0.0, 1.0)))
    # A figure named "NAME_floor" is drawn in the panel of the figure whose name
    # starts with "NAME_", so frechet_distance and frechet_floor share an axis.
    floor_of = {}
    for floor in [key for key in extras if key.endswith("_floor")]:
        prefix = floor[: -len("floor")]
        partners = [key for key in extras if key.startswith(prefix) and key != floor]
        if partners:
            floor_of[partners[0]] = floor
    for key in extras:
        if key not in unit_range and key not in floor_of.values():
            keys = [key, floor_of[key]] if key in floor_of else [key]
            panels.append((key.replace("_", " ").capitalize(), keys, None))
    return panels


def draw_panel(canvas, top, title, history, keys, y_range, epochs_range):
    """Draw one panel of line plots into canvas, starting top pixels from its top edge."""
    left, right = MARGIN_LEFT, CHART_WIDTH - MARGIN_RIGHT
    plot_top, plot_bottom = top + MARGIN_TOP, top + PANEL_HEIGHT - MARGIN_BOTTOM
    cv2.putText(canvas, title, (left, top + 22), FONT, 0.6, TEXT_COLOUR, 1, cv2.LINE_AA)

    series = [series_values(history, key) for key in keys]
    if y_range is None:
        values = [v for _, vs in series for v in vs] or [0.0]
        low, high = min(values), max(values)
        padding = (high - low) * 0.05 or max(abs(high) * 0.1, 0.5)
        y_range = (low - padding, high + padding)
    y_low, y_high = y_range
    x_low, x_high = epochs_range

    def to_pixel(epoch, value):
        x = left + (epoch - x_low) / (x_high - x_low) * (right - left)
        y = plot_bottom - (value - y_low) / (y_high - y_low) * (plot_bottom - plot_top)
        return int(round(x)), int(round(y))

    # Axes with grid lines and labelled ticks.
    y_step = tick_step(y_high - y_low)
    for index in range(math.ceil(y_low / y_step), math.floor(y_high / y_step) + 1):
        value = index * y_step
        _, y = to_pixel(x_low, value)
        cv2.line(canvas, (left, y), (right, y), GRID_LINE_COLOUR, 1)
        label = format_tick(value, y_step)
        (width, _), _ = cv2.getTextSize(label, FONT, 0.45, 1)
        cv2.putText(canvas, label, (left - width - 8, y + 5), FONT, 0.45, TEXT_COLOUR, 1, cv2.LINE_AA)
    x_step = max(1.0, tick_step(x_high - x_low, target_ticks=8))
    for index in range(math.ceil(x_low / x_step), math.floor(x_high / x_step) + 1):
        epoch = index * x_step
        x, _ = to_pixel(epoch, y_low)
        cv2.line(canvas, (x, plot_bottom), (x, plot_bottom + 5), TEXT_COLOUR, 1)
        label = format_tick(epoch, x_step)
        (width, _), _ = cv2.getTextSize(label, FONT, 0.45, 1)
        cv2.putText(canvas, label, (x - width // 2, plot_bottom + 20), FONT, 0.45, TEXT_COLOUR, 1,
                    cv2.LINE_AA)
    cv2.putText(canvas, "epoch", ((left + right) // 2 - 20, plot_bottom + 36), FONT, 0.45, TEXT_COLOUR, 1,
                cv2.LINE_AA)
    cv2.rectangle(canvas, (left, plot_top), (right, plot_bottom), TEXT_COLOUR, 1)

    # One line per series; points get markers when they are few or sparse.
    labels = [SERIES_LABELS.get(key, key.replace("_", " ")) for key in keys]
    label_widths = [cv2.getTextSize(label, FONT, 0.5, 1)[0][0] for label in labels]
    legend_x = right - sum(width + 34 for width in label_widths)
    for number, (epochs, values) in enumerate(series):
        colour = SERIES_COLOURS[number % len(SERIES_COLOURS)]
        points = np.array([to_pixel(e, v) for e, v in zip(epochs, values, strict=True)], dtype=np.int32)
        if len(points) > 1:
            cv2.polylines(canvas, [points], False, colour, 2, cv2.LINE_AA)
        if len(points) <= 30 or len(points) < len(history):
            for point in points:
                cv2.circle(canvas, tuple(int(c) for c in point), 3, colour, -1, cv2.LINE_AA)
        cv2.line(canvas, (legend_x, top + 17), (legend_x + 22, top + 17), colour, 3, cv2.LINE_AA)
        cv2.putText(canvas, labels[number], (legend_x + 27, top + 22), FONT, 0.5, TEXT_COLOUR, 1, cv2.LINE_AA)
        legend_x += label_widths[number] + 34


def draw_chart(history):
    """Return a BGR image with one panel per group of figures in history, against the epoch."""
    panels = chart_panels(history)
    canvas = np.full((PANEL_HEIGHT * len(panels), CHART_WIDTH, 3), 255, dtype=np.uint8)
    epochs = [row["epoch"] for row in history]
    first, last = min(epochs), max(epochs)
    epochs_range = (first, last) if last > first else (first - 1, last + 1)
    for index, (title, keys, y_range) in enumerate(panels):
        draw_panel(canvas, index * PANEL_HEIGHT, title, history, keys, y_range, epochs_range)
    return canvas


def write_chart(history, path):
    """Draw history as a chart and write it to path as PNG; return False if there is no epoch yet."""
    if not history:
        return False
    write_png(path, draw_chart(history))
    return True


# --- Videos ---

VIDEO_FORMATS = (("MP4", ".mp4", "mp4v"), ("AVI", ".avi", "MJPG"))
_video_format = []  # the format that works, found once per process


def video_format():
    """Return (name, extension, fourcc) of the first format this OpenCV can write and read back, or None.

    MP4 needs OpenCV built with an MPEG-4 encoder, which some builds lack, so
    each format is tried on a tiny file first.
    """
    if _video_format:
        return _video_format[0]
    found = None
    frames = [np.full((16, 16, 3), level, dtype=np.uint8) for level in (0, 255)]
    with tempfile.TemporaryDirectory() as folder:
        for name, extension, fourcc in VIDEO_FORMATS:
            path = os.path.join(folder, "probe" + extension)
            writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*fourcc), 5, (16, 16))
            if not writer.isOpened():
                continue
            for frame in frames:
                writer.write(frame)
            writer.release()
            if count_video_frames(path)[0] == len(frames):
                found = (name, extension, fourcc)
                break
    if found is None:
        log.warning("This OpenCV build can write neither MP4 (mp4v) nor AVI (MJPG) video; "
                    "no videos will be written.")
    elif found[0] != "MP4":
        log.info("This OpenCV build cannot write MP4 video; videos are written as AVI (MJPG).")
    _video_format.append(found)
    return found


def count_video_frames(path):
    """Return the number of frames that OpenCV decodes from the video at path, and their (height, width)."""
    capture = cv2.VideoCapture(path)
    count = 0
    size = None
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        count += 1
        size = frame.shape[:2]
    capture.release()
    return count, size


def even_size(height, width):
    # MPEG-4 and MJPEG store colour at half resolution, and FFmpeg drops an
    # odd last row or column, so frames are padded to even sides instead.
    return height + height % 2, width + width % 2


def write_video(path_stem, frames, frame_size, fps):
    """Write grayscale frames of frame_size (height, width) as a video at path_stem plus the extension.

    Frames of another size are resized to frame_size, then padded to even
    sides. Returns (path, format name, frame count), or None if this OpenCV
    can write no video format.
    """
    found = video_format()
    if found is None:
        return None
    name, extension, fourcc = found
    height, width = frame_size
    padded_height, padded_width = even_size(height, width)
    path = path_stem + extension
    count = 0

    def write(temporary):
        nonlocal count
        writer = cv2.VideoWriter(temporary, cv2.VideoWriter_fourcc(*fourcc), fps,
                                 (padded_width, padded_height))
        if not writer.isOpened():
            raise OSError(f"OpenCV could not open a {name} video writer for {path}")
        canvas = np.full((padded_height, padded_width), GRID_BACKGROUND, dtype=np.uint8)
        for frame in frames:
            if frame.shape[:2] != (height, width):
                frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
            canvas[:height, :width] = frame
            writer.write(cv2.cvtColor(canvas, cv2.COLOR_GRAY2BGR))
            count += 1
        writer.release()

    replace_atomically(path, write)
    return path, name, count


def sample_grid_paths(output_dir, last_epoch):
    """Return (epoch, path) of every samples_epoch_NNNN.png up to last_epoch, in epoch order.

    Grids of later epochs are left out: an earlier, longer run in the same
    folder wrote them, not this one.
    """
    found = []
    for path in glob.glob(os.path.join(glob.escape(output_dir), "samples_epoch_*.png")):
        match = re.fullmatch(r"samples_epoch_(\d+)\.png", os.path.basename(path))
        if match and int(match.group(1)) <= last_epoch:
            found.append((int(match.group(1)), path))
    return sorted(found)


def read_grid(path):
    """Decode the PNG at path as 8-bit grayscale, or return None if it cannot be read.

    Python reads the bytes, because cv2.imread cannot open every non-ASCII path.
    """
    try:
        encoded = np.fromfile(path, dtype=np.uint8)
    except OSError:
        return None
    return cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE) if encoded.size else None


def write_timelapse(output_dir, last_epoch):
    """Write the sample grids up to last_epoch as timelapse.mp4 (or .avi), each captioned with its epoch."""
    grids = sample_grid_paths(output_dir, last_epoch)
    if not grids:
        return None
    latest = read_grid(grids[-1][1])
    if latest is None:
        raise OSError(f"OpenCV could not read the sample grid {grids[-1][1]}")
    frame_size = add_caption(latest, "").shape

    def frames():
        for epoch, path in grids:
            grid = read_grid(path)
            if grid is None:
                log.warning("Skipped %s in the timelapse: OpenCV could not read it.", path)
                continue
            if grid.shape != latest.shape:
                grid = cv2.resize(grid, latest.shape[::-1], interpolation=cv2.INTER_AREA)
            yield add_caption(grid, f"epoch {epoch}")

    written = write_video(os.path.join(output_dir, "timelapse"), frames(), frame_size, TIMELAPSE_FPS)
    if written:
        path, name, count = written
        log.info("Timelapse: %s (%s, %d frame%s at %d per second)", path, name, count,
                 "" if count == 1 else "s", TIMELAPSE_FPS)
    return written


# --- Latent walk ---


def slerp(start, end, fractions):
    """Interpolate spherically from start to end (each (..., noise_size)) at fractions in [0, 1].

    Most of a Gaussian noise vector's probability lies near a sphere of radius
    sqrt(noise_size), and a straight line between two such vectors passes
    closer to the centre than almost any noise vector the generator saw in
    training. Spherical interpolation follows the arc instead. Falls back to
    a straight line where the two vectors are parallel.
    """
    unit_start = start / np.linalg.norm(start, axis=-1, keepdims=True)
    unit_end = end / np.linalg.norm(end, axis=-1, keepdims=True)
    cosine = np.clip(np.sum(unit_start * unit_end, axis=-1, keepdims=True), -1.0, 1.0)
    angle = np.arccos(cosine)
    sine = np.sin(angle)
    parallel = sine < 1e-6
    safe_sine = np.where(parallel, 1.0, sine)
    start_weight = np.where(parallel, 1.0 - fractions, np.sin((1.0 - fractions) * angle) / safe_sine)
    end_weight = np.where(parallel, fractions, np.sin(fractions * angle) / safe_sine)
    return (start_weight * start + end_weight * end).astype(np.float32)


def write_latent_walk(generator, settings):
    """Write latent_walk.png and a latent_walk video of faces along spherical paths between noise vectors.

    The noise vectors come from settings.SEED, so every stop of a run shows
    the same walk, and runs with the same seed can be compared.
    """
    rng = np.random.default_rng(settings.SEED)
    noise_size, image_size, cell_size = settings.NOISE_SIZE, settings.IMAGE_SIZE, settings.SAMPLE_CELL_SIZE

    # The strip: each row goes from one random noise vector to another.
    ends = rng.standard_normal((2, WALK_ROWS, 1, noise_size), dtype=np.float32)
    fractions = np.linspace(0.0, 1.0, GRID_COLUMNS, dtype=np.float32)[None, :, None]
    noise = slerp(ends[0], ends[1], fractions).reshape(-1, noise_size)  # (rows * columns, noise_size)
    strip = make_grid(generate_images(generator, noise), image_size, cell_size)
    strip_path = os.path.join(settings.OUTPUT_DIR, "latent_walk.png")
    write_png(strip_path, strip)

    # The video: every face passes through several waypoints and returns to
    # its first one, so the video loops without a jump.
    waypoints = rng.standard_normal((WALK_VIDEO_WAYPOINTS, WALK_VIDEO_FACES, noise_size), dtype=np.float32)
    fractions = np.arange(WALK_VIDEO_STEPS, dtype=np.float32)[:, None, None] / WALK_VIDEO_STEPS

    def frames():
        for index in range(WALK_VIDEO_WAYPOINTS):
            start, end = waypoints[index], waypoints[(index + 1) % WALK_VIDEO_WAYPOINTS]
            steps = slerp(start[None], end[None], fractions)  # (steps, faces, noise_size)
            images = generate_images(generator, steps.reshape(-1, noise_size))
            for step_images in images.reshape(WALK_VIDEO_STEPS, WALK_VIDEO_FACES, -1):
                yield make_grid(step_images, image_size, cell_size)

    frame_size = make_grid(np.zeros((WALK_VIDEO_FACES, image_size ** 2)), image_size, cell_size).shape
    video_stem = os.path.join(settings.OUTPUT_DIR, "latent_walk")
    video = write_video(video_stem, frames(), frame_size, WALK_VIDEO_FPS)
    video_path = video[0] if video else "no video"
    log.info("Latent walk: %s and %s (spherical interpolation between noise vectors)", strip_path, video_path)
    return strip_path, video


# --- Nearest-neighbour sheet ---


def nearest_images(queries, images, image_size, mirrored, exclude=None, chunk=4096):
    """Find, for each query, the closest of images by Euclidean distance in pixel space.

    queries: float32 (count, pixels) in [0, 1]. images: uint8 (n, pixels),
    read in chunks so memory stays bounded for large datasets. With mirrored,
    each image's left-right mirror is a candidate too, because training saw
    both. exclude[i], if given, is an index that query i must not match.
    Returns the matching pixels (count, pixels) in [0, 1] and the root mean
    square distances (count,).
    """
    count = len(queries)
    best_squared = np.full(count, np.inf, dtype=np.float32)
    best = np.zeros_like(queries)
    query_norms = np.einsum("ij,ij->i", queries, queries)
    for start in range(0, len(images), chunk):
        block = images[start:start + chunk].astype(np.float32) / 255.0
        candidates = [block]
        if mirrored:
            candidates.append(block.reshape(-1, image_size, image_size)[:, :, ::-1].reshape(len(block), -1))
        for candidate in candidates:
            # |q - c|^2 = |q|^2 - 2 q.c + |c|^2, for all pairs in one matrix product.
            squared = query_norms[:, None] - 2.0 * queries @ candidate.T
            squared += np.einsum("ij,ij->i", candidate, candidate)[None, :]  # (count, chunk)
            if exclude is not None:
                squared[exclude[:, None] == np.arange(start, start + len(block))[None, :]] = np.inf
            closest = squared.argmin(axis=1)
            distances = squared[np.arange(count), closest]
            better = distances < best_squared
            best_squared[better] = distances[better]
            best[better] = candidate[closest[better]]
    pixels = queries.shape[1]
    return best, np.sqrt(np.maximum(best_squared, 0.0) / pixels)


def write_nearest_neighbours(generator, training_images, settings):
    """Write nearest_neighbours.png: generated faces (top row) above their closest training images.

    Logs the mean root mean square distance, in [0, 1] pixel units, and the
    same figure between training images for comparison. A copied face has a
    distance near 0, but a blurred average face is also closer to the
    training set than its images are to each other.
    """
    rng = np.random.default_rng(settings.SEED)
    image_size, mirrored = settings.IMAGE_SIZE, settings.HORIZONTAL_FLIP
    noise = rng.standard_normal((NEIGHBOUR_FACES, settings.NOISE_SIZE), dtype=np.float32)
    faces = generate_images(generator, noise)
    matches, distances = nearest_images(faces, training_images, image_size, mirrored)

    baseline = None
    if len(training_images) > 1:
        picked = rng.choice(len(training_images), min(NEIGHBOUR_BASELINE_IMAGES, len(training_images)),
                            replace=False)
        queries = training_images[picked].astype(np.float32) / 255.0
        # A mirror of the image itself is excluded too, so flip-symmetric faces do not match themselves.
        _, baseline_distances = nearest_images(queries, training_images, image_size, mirrored, exclude=picked)
        baseline = float(baseline_distances.mean())

    sheet = make_grid(np.concatenate([faces, matches]), image_size, settings.SAMPLE_CELL_SIZE,
                      columns=NEIGHBOUR_FACES)
    # The legend takes one line where it fits and one line per part on narrow sheets.
    width = sheet.shape[1]
    legend = ["top: generated", "bottom: nearest training image", "number: RMS distance"]
    if text_fits(", ".join(legend), width - 12, 0.4):
        header = caption_band(width, ", ".join(legend))
    else:
        header = np.vstack([caption_band(width, line, height=18) for line in legend])

    footer = caption_band(width, "")
    step = width // NEIGHBOUR_FACES
    for index, distance in enumerate(distances):
        text = f"{distance:.3f}"
        if not text_fits(text, step - 4, 0.3):
            text = text[1:]  # ".104" on very narrow cells
        scale = fit_scale(text, step - 4, largest=0.45)
        cv2.putText(footer, text, (index * step + 3, 17), FONT, scale, 230, 1, cv2.LINE_AA)
    path = os.path.join(settings.OUTPUT_DIR, "nearest_neighbours.png")
    write_png(path, np.vstack([header, sheet, footer]))

    comparison = "" if baseline is None else f"; between training images: {baseline:.3f}"
    log.info("Nearest neighbours: %s (mean RMS pixel distance of generated faces to the training set: "
             "%.3f%s)", path, float(distances.mean()), comparison)
    return path, float(distances.mean()), baseline


# --- New faces from a trained generator ---

GENERATED_FOLDER = "generated"
GENERATED_GRID_FACES = 64  # grid.png shows at most this many of the generated faces


def write_generated_faces(generator, count, noise_size, image_size, cell_size, output_dir, seed):
    """Write count new faces as generated/face_NNNN.png at image_size, plus generated/grid.png.

    The noise vectors come from seed, so the same generator and seed give
    the same faces. face files of an earlier, larger request are deleted, so
    the folder contains only this request's faces. Returns the folder.
    """
    folder = os.path.join(output_dir, GENERATED_FOLDER)
    os.makedirs(folder, exist_ok=True)
    noise = np.random.default_rng(seed).standard_normal((count, noise_size), dtype=np.float32)
    images = generate_images(generator, noise)  # (count, image_size ** 2) in [0, 1]

    digits = max(4, len(str(count)))
    names = [f"face_{index:0{digits}d}.png" for index in range(1, count + 1)]
    earlier = [name for name in os.listdir(folder)
               if re.fullmatch(r"face_\d+\.png", name) and name not in names]
    for name in earlier:
        os.unlink(os.path.join(folder, name))
    if earlier:
        log.info("Deleted %d faces of an earlier request from %s.", len(earlier), folder)

    pixels = np.clip(np.rint(images * 255.0), 0, 255).astype(np.uint8).reshape(count, image_size, image_size)
    for name, face in zip(names, pixels, strict=True):
        write_png(os.path.join(folder, name), face)
    shown = min(count, GENERATED_GRID_FACES)
    grid = make_grid(images[:shown], image_size, cell_size, columns=min(shown, GRID_COLUMNS))
    write_png(os.path.join(folder, "grid.png"), grid)
    log.info("Wrote %d faces of %dx%d pixels (%s to %s) and grid.png with the first %d to %s",
             count, image_size, image_size, names[0], names[-1], shown, folder)
    return folder


# --- Everything at once ---


def write_run_outputs(history, generator, training_images, settings):
    """Write the chart, the timelapse, the latent walk and the nearest-neighbour sheet for this run.

    The timelapse ends at the last finished epoch in history.
    """
    output_dir = settings.OUTPUT_DIR
    remove_unfinished_files(output_dir)
    if write_chart(history, os.path.join(output_dir, "history.png")):
        log.info("Chart: %s (figures per epoch: %s)", os.path.join(output_dir, "history.png"),
                 os.path.join(output_dir, "history.csv"))
    write_timelapse(output_dir, history[-1]["epoch"] if history else 0)
    write_latent_walk(generator, settings)
    write_nearest_neighbours(generator, training_images, settings)


# --- Progress line inside an epoch ---


def format_duration(seconds):
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{seconds:02d}s"
    return f"{seconds}s"


class StatusLine:
    """One line of progress, rewritten in place on a terminal and logged as a plain line otherwise."""

    def __init__(self, stream=None, logger=log):
        self.stream = stream if stream is not None else sys.stdout
        self.logger = logger  # what writes the plain lines
        self.on_terminal = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.shown_width = 0

    def show(self, text):
        if self.on_terminal:
            self.stream.write("\r" + text.ljust(self.shown_width))
            self.stream.flush()
            self.shown_width = len(text)
        else:
            self.logger.info("%s", text)

    def clear(self):
        """Erase the line on a terminal, so that the next log line starts at the left edge."""
        if self.shown_width:
            self.stream.write("\r" + " " * self.shown_width + "\r")
            self.stream.flush()
            self.shown_width = 0


class ProgressLine:
    """Batches done and total, images per second and ETA, shown while an epoch runs.

    On a terminal the line rewrites itself in place every
    TERMINAL_REFRESH_SECONDS, or every interval seconds if that is shorter.
    Otherwise a plain line is logged every interval seconds. Nothing is shown
    in the first interval of an epoch, so short epochs print only their
    summary line. update() costs one clock read per batch until a line is due.
    """

    def __init__(self, batches_per_epoch, num_epochs, interval, stream=None):
        self.batches_per_epoch = batches_per_epoch
        self.num_epochs = num_epochs
        self.interval = interval
        self.line = StatusLine(stream)
        self.refresh = min(interval, TERMINAL_REFRESH_SECONDS) if self.line.on_terminal else interval

    def start_epoch(self, epoch, batches_done=0):
        """Start timing an epoch; batches_done counts batches trained before a resume in this epoch."""
        self.epoch = epoch
        self.first_batches = batches_done
        self.images = 0
        self.start = time.perf_counter()
        self.next_time = self.start + self.interval

    def update(self, batches_done, batch_images):
        """Count one finished batch of batch_images images; show the line if it is due."""
        self.images += batch_images
        now = time.perf_counter()
        if now < self.next_time:
            return
        self.next_time = now + self.refresh
        elapsed = now - self.start
        batch_rate = (batches_done - self.first_batches) / elapsed
        epoch_left = (self.batches_per_epoch - batches_done) / batch_rate
        run_left = epoch_left + (self.num_epochs - self.epoch) * self.batches_per_epoch / batch_rate
        epoch_width = len(str(self.num_epochs))  # as wide as in the epoch summary lines
        text = (f"epoch {self.epoch:{epoch_width}d}/{self.num_epochs}  "
                f"batch {batches_done}/{self.batches_per_epoch}  "
                f"{self.images / elapsed:.0f} images/s  ETA epoch {format_duration(epoch_left)}, "
                f"run {format_duration(run_left)}")
        self.line.show(text)

    def clear(self):
        """Erase the line on a terminal, so that the next log line starts at the left edge."""
        self.line.clear()
