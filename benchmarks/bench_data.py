"""Measure the data loader: images per second of a first and a cached load, and peak memory of training.

    python benchmarks/bench_data.py                            # the full run
    python benchmarks/bench_data.py --mixed 2000 --many 20000  # a quicker one

Part 1 writes --mixed images of mixed sizes (48x48 up to 1600x1200) and
formats to a temporary folder, then times a first load (decoding every file
and writing the cache) and the median of five cached loads, both at 64x64.
Part 2 writes --many PNG images of 64x64 and starts training on them twice,
each time in a child process that runs a few training steps. The first start
builds the cache and the second reads it. For each, the benchmark prints the
child's peak memory (ru_maxrss) next to the uint8 size of the dataset.

Every file is written under the system's temporary folder (/tmp) and removed
at the end. The files were just written, so they are read from the page cache;
a first load from a cold disk is slower.
"""

import argparse
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import data  # noqa: E402

SIZE = 64
BASELINE_IMAGES = 1000

# (height, width, share of the images): a face set's usual sizes and some large photos.
SHAPES = [(48, 48, 0.25), (112, 92, 0.30), (243, 320, 0.25), (480, 640, 0.15), (1200, 1600, 0.05)]
FORMATS = [".png", ".jpg", ".pgm", ".bmp", ".webp", ".tif", ".gif"]
ENCODE_PARAMS = {".jpg": [cv2.IMWRITE_JPEG_QUALITY, 90], ".webp": [cv2.IMWRITE_WEBP_QUALITY, 90]}

# Run in a child process so that its peak memory is that of one training start only.
CHILD = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
import gan

class StopAfterChecks:
    '''Stand-in for gan.StopRequest whose request to stop comes after a fixed number of checks.'''
    def __init__(self, checks):
        self.checks = checks
        self.source = "the benchmark"  # named in the log line of the stop

    @property
    def requested(self):
        self.checks -= 1
        return self.checks < 0

load_seconds = []
original_load_images = gan.load_images

def timed_load_images(*arguments, **keywords):
    started = time.perf_counter()
    images = original_load_images(*arguments, **keywords)
    load_seconds.append(time.perf_counter() - started)
    return images

gan.load_images = timed_load_images
settings = gan.load_settings({arguments!r})
gan.train(settings, StopAfterChecks({steps}))
peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"peak_kib": peak_kib, "load_seconds": load_seconds[0]}}))
"""


def random_image(rng, height, width, colour):
    """Return a smooth random image: a few random values enlarged, plus noise so that files differ in size."""
    channels = 3 if colour else 1
    small = rng.integers(0, 256, (6, 6, channels), dtype=np.uint8)
    image = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
    image = cv2.add(image, rng.integers(0, 8, image.shape, dtype=np.uint8))
    return image if colour else image.reshape(height, width)


def write_mixed_images(folder, count, rng):
    """Write count images of the SHAPES and FORMATS, some without an extension; return the format counts."""
    formats = [extension for extension in FORMATS if cv2.haveImageWriter("x" + extension)]
    shares = np.array([share for _, _, share in SHAPES])
    format_counts = {}
    for index in range(count):
        height, width, _ = SHAPES[rng.choice(len(SHAPES), p=shares / shares.sum())]
        extension = formats[index % len(formats)]
        image = random_image(rng, height, width, colour=extension not in (".pgm",))
        ok, encoded = cv2.imencode(extension, image, ENCODE_PARAMS.get(extension, []))
        if not ok:
            raise RuntimeError(f"OpenCV could not write {extension}")
        # Every tenth file has no extension, like the Yale faces.
        name = f"face{index:06d}" + (".noext" if index % 10 == 9 else extension)
        subfolder = os.path.join(folder, f"part{index // 1000:03d}")
        os.makedirs(subfolder, exist_ok=True)
        with open(os.path.join(subfolder, name), "wb") as file:
            file.write(encoded.tobytes())
        format_counts[extension] = format_counts.get(extension, 0) + 1
    return format_counts


def write_small_pngs(folder, count, rng):
    for index in range(count):
        subfolder = os.path.join(folder, f"part{index // 10000:03d}")
        os.makedirs(subfolder, exist_ok=True)
        ok, encoded = cv2.imencode(".png", random_image(rng, SIZE, SIZE, colour=False))
        with open(os.path.join(subfolder, f"face{index:06d}.png"), "wb") as file:
            file.write(encoded.tobytes())


def time_load(folder, cache_dir):
    started = time.perf_counter()
    images, summary = data.read_dataset(folder, SIZE, cache_dir)
    return time.perf_counter() - started, len(images), summary


def training_start(folder, output, steps):
    arguments = ["--data-dir", folder, "--output-dir", output, "--image-size", str(SIZE),
                 "--num-epochs", "1", "--batch-size", "64"]
    code = CHILD.format(root=ROOT, arguments=arguments, steps=steps)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"the training start failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def measure_mixed_folder(workspace, count, rng):
    """Print the first and cached load rates of count images of mixed sizes and formats."""
    mixed = os.path.join(workspace, "mixed")
    started = time.perf_counter()
    format_counts = write_mixed_images(mixed, count, rng)
    print(f"Wrote {count} mixed images in {time.perf_counter() - started:.0f}s: {format_counts}")

    cache_dir = os.path.join(workspace, "cache")
    first_seconds, used, summary = time_load(mixed, cache_dir)
    cached = [time_load(mixed, cache_dir) for _ in range(5)]
    cached_seconds = statistics.median(seconds for seconds, _, _ in cached)
    assert all(result[2].from_cache for result in cached)
    print(f"Mixed folder: {used} images used, {summary.skipped_count()} skipped")
    print(f"  first load:  {first_seconds:7.2f}s  {used / first_seconds:9.0f} images/s")
    print(f"  cached load: {cached_seconds:7.2f}s  {used / cached_seconds:9.0f} images/s "
          f"(median of 5, {first_seconds / cached_seconds:.0f}x faster)")


def measure_training_memory(workspace, count, steps, rng):
    """Print the peak memory of training starts on count PNG images of 64x64, first and cached."""
    # The same training start on 1,000 images shows the memory that does not
    # depend on the dataset: Python, NumPy, OpenCV and both networks.
    few = os.path.join(workspace, "few")
    write_small_pngs(few, BASELINE_IMAGES, rng)
    baseline = training_start(few, os.path.join(workspace, "output-few"), steps)
    baseline_mib = baseline["peak_kib"] / 1024
    print(f"Training start on {BASELINE_IMAGES} images of {SIZE}x{SIZE}: peak memory {baseline_mib:.0f} MiB")

    many = os.path.join(workspace, "many")
    started = time.perf_counter()
    write_small_pngs(many, count, rng)
    print(f"Wrote {count} PNG images of {SIZE}x{SIZE} in {time.perf_counter() - started:.0f}s")
    dataset_mib = count * SIZE * SIZE / 2**20
    output = os.path.join(workspace, "output")
    for label in ("first start (decodes, writes the cache)", "second start (reads the cache)"):
        figures = training_start(many, output, steps)
        peak_mib = figures["peak_kib"] / 1024
        print(f"  {label}: load {figures['load_seconds']:.1f}s "
              f"({count / figures['load_seconds']:.0f} images/s), peak memory {peak_mib:.0f} MiB, "
              f"{peak_mib - baseline_mib:.0f} MiB above the {BASELINE_IMAGES}-image start, "
              f"for a {dataset_mib:.0f} MiB uint8 dataset")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mixed", type=int, default=10_000,
                        help="images of mixed sizes and formats (0 skips this part)")
    parser.add_argument("--many", type=int, default=100_000,
                        help="PNG images of 64x64 for the memory test (0 skips this part)")
    parser.add_argument("--steps", type=int, default=10, help="training steps of each training start")
    options = parser.parse_args()
    logging.getLogger("data").setLevel(logging.ERROR)  # the figures below replace the load summaries
    workspace = tempfile.mkdtemp(prefix="bench_data-")
    rng = np.random.default_rng(0)
    print(f"OpenCV {cv2.__version__}, NumPy {np.__version__}, {os.cpu_count()} CPU cores, "
          f"files in {workspace}")
    try:
        if options.mixed:
            measure_mixed_folder(workspace, options.mixed, rng)
        if options.many:
            measure_training_memory(workspace, options.many, options.steps, rng)
    finally:
        shutil.rmtree(workspace, ignore_errors=True)


if __name__ == "__main__":
    main()
