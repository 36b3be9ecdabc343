"""Print what the pictures, checkpoints and logging of a training run cost, against the training.

    python benchmarks/report_costs.py

First, the overhead of default gan.py runs on the built-in faces, whose 2
steps per epoch are the worst case for the default intervals. It is the
time of the training loop outside train_step and the weight average, per
part, as a percentage of the training time. Then the cost of a sample grid,
a checkpoint, each picture of report.py and the progress line, against one
training step. Every figure is the
median of several repeats within this one run. Compare the ratios rather
than the absolute times, which depend on the machine and its load.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

import cv2
import numpy as np

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPOSITORY)

from checkpoint_cost import default_training, median_seconds  # noqa: E402

import checkpoint  # noqa: E402
import gan  # noqa: E402
import report  # noqa: E402

REPEATS = 5


def print_training_overhead(epochs, runs):
    """Print the overhead of default training runs on the built-in faces: the median of runs runs."""
    measured = [measure_training_run(gan.config.IMAGE_SIZE, epochs) for _ in range(runs)]
    figures = {name: statistics.median(run[name] for run in measured) for name in measured[0]}
    shares = [overhead_shares(run) for run in measured]
    median_shares = {name: statistics.median(run[name] for run in shares) for name in shares[0]}
    for line in describe_training_run(gan.config.IMAGE_SIZE, epochs, figures, median_shares):
        print(line)
    each_run = ", ".join(f"{run_shares['overhead']:.1%}" for run_shares in shares)
    print(f"  (medians of {runs} runs, each figure and percentage on its own; the overhead of each "
          f"run: {each_run})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-epochs", type=int, default=gan.config.NUM_EPOCHS,
                        help=f"epochs of each gan.py run that measures the overhead (default "
                             f"{gan.config.NUM_EPOCHS}, as NUM_EPOCHS in config.py)")
    parser.add_argument("--runs", type=int, default=3, help="gan.py runs, for the median (default 3)")
    arguments = parser.parse_args()
    print_training_overhead(arguments.run_epochs, arguments.runs)

    folder = tempfile.mkdtemp(prefix="report-cost-")
    training = default_training(folder)
    settings, sampler, fixed_noise = training.settings, training.sampler, training.fixed_noise
    run = training.state
    step_seconds = median_seconds(training.step, repeats=21)

    calls = 100_000
    progress = report.ProgressLine(1000, 10, interval=3600.0)
    progress.start_epoch(1)

    def updates():
        for batch in range(1, calls + 1):
            progress.update(batch, settings.BATCH_SIZE)

    update_seconds = median_seconds(updates) / calls
    print(f"train_step and weight average, default networks, batch {settings.BATCH_SIZE}: "
          f"{step_seconds * 1e3:.2f} ms")
    print(f"ProgressLine.update per batch: {update_seconds * 1e9:.0f} ns "
          f"({update_seconds / step_seconds:.2e} of a training step)")

    # A folder as a whole default run leaves it: a grid every SAMPLE_EVERY epochs from epoch 0.
    epochs = settings.NUM_EPOCHS
    history = [{"epoch": epoch, "discriminator_loss": 1.3 + 0.1 * np.sin(epoch), "generator_loss": 0.8,
                "d_real": 0.5, "d_fake": 0.45, "seconds": 1.0} for epoch in range(1, epochs + 1)]
    grid_epochs = range(0, epochs + 1, settings.SAMPLE_EVERY)
    for epoch in grid_epochs:
        gan.write_samples(sampler, fixed_noise, settings, f"samples_epoch_{epoch:04d}.png")
    run.history = history
    history_file = report.HistoryFile(os.path.join(folder, "history.csv"))
    history_file.update(history)

    def append_row():
        history_file.rows -= 1  # as if the last row were new, so that update appends it again
        history_file.update(history)

    def save():
        run.saved_position = None  # so that save() writes again
        run.save()

    report.log.disabled = True
    checkpoint.log.disabled = True
    figures = {
        "sample grid (sampler forward, PNG, 2 files)": lambda: gan.write_samples(
            sampler, fixed_noise, settings, "samples.png"),
        "checkpoint save, synced to disk": save,
        "history.csv, a row appended (every epoch)": append_row,
        "history.csv, rewritten whole (when a column appears)": lambda: report.write_history_csv(
            history, os.path.join(folder, "history.csv")),
        "history.png": lambda: report.write_chart(history, os.path.join(folder, "history.png")),
        f"timelapse, {len(grid_epochs)} grids": lambda: report.write_timelapse(folder, epochs),
        "latent walk strip and video": lambda: report.write_latent_walk(sampler, settings),
        "nearest-neighbour sheet, 100 images": lambda: report.write_nearest_neighbours(
            sampler, training.training_images, settings),
    }
    print(f"Outputs of a {epochs}-epoch run at the default settings, median of {REPEATS}:")
    for name, function in figures.items():
        seconds = median_seconds(function, repeats=REPEATS)
        print(f"  {name}: {seconds:.3f} s ({seconds / step_seconds:.2g} training steps)")
    shutil.rmtree(folder)


# --- Overhead of a default training run ---

# Run in a child process: gan.train with every part of the training loop
# wrapped in a timer. Prints one JSON object: the calls of each part as
# [start, seconds] pairs, the run's total seconds and its peak memory.
TRAINING_RUN = """
import json, sys, time
import checkpoint, gan, report

calls = {}

def timed(owner, name, label):
    function = getattr(owner, name, None)
    if function is None:  # a part that this version of the program does not have
        return
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            calls.setdefault(label, []).append([start, time.perf_counter() - start])
    setattr(owner, name, wrapper)

timed(gan, "train_step", "train_step")
timed(gan.WeightAverage, "update", "weight average")
timed(gan, "write_samples", "sample grids")
timed(gan, "score_samples", "quality scores")
timed(checkpoint.TrainingState, "save", "checkpoints")
timed(checkpoint.TrainingState, "record_step", "NaN checks")
timed(checkpoint.TrainingState, "check_weights", "NaN checks")
timed(report.HistoryFile, "update", "history and chart")  # appends a row, or rewrites via write_history_csv
timed(report, "write_chart", "history and chart")
settings = gan.load_settings(sys.argv[1:])
start = time.perf_counter()
gan.train(settings, gan.StopRequest())
total = time.perf_counter() - start
with open("/proc/self/status") as status:
    peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))
print(json.dumps({"calls": calls, "total": total, "peak KiB": peak}))
"""

TRAINING = ("train_step", "weight average")  # the work of a step; everything else is overhead
OVERHEAD_PARTS = ("sample grids", "checkpoints", "quality scores", "history and chart", "NaN checks")


def write_resized_faces(size, folder):
    """Write the built-in faces into folder as size x size PNG files.

    gan.py skips images smaller than half the training size, so the 25x25
    built-in faces are enlarged here for the larger sizes.
    """
    faces = os.path.join(REPOSITORY, "faces")
    for name in sorted(os.listdir(faces)):
        if name.endswith(".png"):
            face = cv2.imread(os.path.join(faces, name), cv2.IMREAD_GRAYSCALE)
            cv2.imwrite(os.path.join(folder, name), cv2.resize(face, (size, size)))


def measure_training_run(size, epochs):
    """Train on the built-in faces at the default settings but size and epochs; return the loop's figures.

    The training loop runs from the start of the first train_step to the
    start of the checkpoint save that follows it. The figures are the seconds that the
    loop spent in the training itself (train_step and the weight average),
    in each part of OVERHEAD_PARTS and in the rest ("other": batches, noise,
    progress line, logging). They also give the seconds of the whole run,
    with loading and the pictures written at the end, and its peak memory.
    The peak is the child's VmHWM in /proc (Linux only). Unlike ru_maxrss,
    it does not count the memory of this process, which the child starts from.
    """
    with tempfile.TemporaryDirectory() as data, tempfile.TemporaryDirectory() as output:
        write_resized_faces(size, data)
        arguments = ["--data-dir", data, "--image-size", str(size), "--num-epochs", str(epochs),
                     "--output-dir", output]
        result = subprocess.run([sys.executable, "-c", TRAINING_RUN, *arguments], cwd=REPOSITORY,
                                capture_output=True, text=True, check=True)
    run = json.loads(result.stdout.splitlines()[-1])
    calls = run["calls"]
    loop_start = calls["train_step"][0][0]
    loop_end = calls["checkpoints"][-1][0]  # the save that every run makes after its last epoch

    def seconds_in_loop(label):
        return sum(seconds for start, seconds in calls.get(label, []) if loop_start <= start < loop_end)

    figures = {"loop": loop_end - loop_start, "training": sum(seconds_in_loop(label) for label in TRAINING)}
    for label in OVERHEAD_PARTS:
        figures[label] = seconds_in_loop(label)
    figures["other"] = figures["loop"] - sum(figures[label] for label in ("training", *OVERHEAD_PARTS))
    figures["total"] = run["total"]
    figures["peak MiB"] = run["peak KiB"] / 1024
    return figures


def overhead_shares(figures):
    """Return the overhead of a training run and of each part of it, as fractions of the training time."""
    training = figures["training"]
    shares = {"overhead": (figures["loop"] - training) / training}
    for label in (*OVERHEAD_PARTS, "other"):
        shares[label] = figures[label] / training
    return shares


def describe_training_run(size, epochs, figures, shares=None):
    """Return lines that give the overhead of each part as a percentage of the training time.

    shares defaults to overhead_shares(figures).
    """
    shares = shares or overhead_shares(figures)
    parts = ", ".join(f"{label} {shares[label]:.1%}" for label in (*OVERHEAD_PARTS, "other"))
    return [
        f"gan.py at {size}x{size}, {epochs} epochs of the built-in faces, default intervals: "
        f"run {figures['total']:.1f} s, training loop {figures['loop']:.2f} s, "
        f"peak memory {figures['peak MiB']:.0f} MiB",
        f"  overhead {shares['overhead']:.1%} of the training time ({figures['training']:.2f} s): {parts}",
    ]

if __name__ == "__main__":
    main()
