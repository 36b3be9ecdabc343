"""Train gan.py with several settings for a fixed wall time each and print their quality figures.

    python benchmarks/quality_runs.py --seconds 600 --data orl default batchnorm
    python benchmarks/quality_runs.py --list

Each run is `python gan.py` in a subprocess, as a user runs it, stopped with
Ctrl+C (SIGINT) after --seconds. gan.py then scores its last weights and
writes final.png, which this script reads from the run's log. Outputs go to
--output-root (under /tmp by default), one folder per run. The table gives the
steps done, because the machine's load changes how many steps fit in the time.
"""

import argparse
import os
import re
import signal
import subprocess
import sys
import time

COLUMNS = ["settings", "data", "steps", "seconds", "Frechet distance", "floor", "ratio", "precision",
           "recall", "grid"]
TABLE_HEADER = "| " + " | ".join(COLUMNS) + " |\n" + "|---" * len(COLUMNS) + "|"
REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

DATA_SETS = {
    "orl": ["--data-dir", os.path.join(os.path.dirname(REPOSITORY), "shared", "data", "orl_faces"),
            "--image-size", "32"],
    "faces": [],
}

# Named settings, as command-line options added to the defaults of config.py.
# "textbook" undoes every quality option: three plain sigmoid layers per
# network with Glorot weights and Adam at 2e-4. The "no-" entries turn off
# one default option each; the "plus-" entries add one option that is off.
RECIPES = {
    "default": [],
    "textbook": ["--generator-normalization", "none", "--discriminator-normalization", "none",
                 "--sigmoid-init", "false", "--centre-inputs", "false", "--real-label", "1",
                 "--generator-average-decay", "0"],
    "no-batch-norm": ["--generator-normalization", "none"],
    "no-layer-norm": ["--discriminator-normalization", "none"],
    "no-sigmoid-init": ["--sigmoid-init", "false"],
    "no-centre-inputs": ["--centre-inputs", "false"],
    "no-label-smoothing": ["--real-label", "1"],
    "no-weight-average": ["--generator-average-decay", "0"],
    "learning-rate-1e-3": ["--learning-rate", "0.001"],
    "plus-minibatch-std": ["--minibatch-std-group", "4"],
    "plus-instance-noise": ["--instance-noise", "0.05"],
    "plus-slower-discriminator": ["--discriminator-learning-rate", "0.0001"],
    "plus-faster-generator": ["--learning-rate", "0.0005", "--discriminator-learning-rate", "0.0002"],
    "plus-packing-2": ["--discriminator-packing", "2"],
    "plus-packing-4": ["--discriminator-packing", "4"],
    "plus-smaller-discriminator": ["--discriminator-hidden-sizes", "512,256,128"],
    "packing-2-smaller-discriminator": ["--discriminator-packing", "2",
                                        "--discriminator-hidden-sizes", "512,256,128"],
}
SMALL = ["--discriminator-packing", "2", "--discriminator-hidden-sizes", "512,256,128",
         "--generator-hidden-sizes", "128,256,512"]
RECIPES |= {
    "packing-2-smaller-networks": SMALL,
    "small-fm-1": SMALL + ["--feature-matching", "1"],
    "small-fm-10": SMALL + ["--feature-matching", "10"],
    "small-fm-10-lr-4": SMALL + ["--feature-matching", "10", "--learning-rate", "0.0004"],
    "small-fm-10-mbstd": SMALL + ["--feature-matching", "10", "--minibatch-std-group", "4"],
    "small-fm-10-ema-999": SMALL + ["--feature-matching", "10", "--generator-average-decay", "0.999"],
    "small-fm-10-noise": SMALL + ["--feature-matching", "10", "--instance-noise", "0.05"],
    "small-fm-10-mbstd-ema-999": SMALL + ["--feature-matching", "10", "--minibatch-std-group", "4",
                                          "--generator-average-decay", "0.999"],
}
BEST = SMALL + ["--feature-matching", "10", "--minibatch-std-group", "4", "--generator-average-decay", "0.999"]
RECIPES |= {
    "best-wide-g": BEST + ["--generator-hidden-sizes", "256,512,1024"],
    "best-label-1": BEST + ["--real-label", "1"],
    "best-fm-100": BEST + ["--feature-matching", "100"],
    "best-noise-32": BEST + ["--noise-size", "32"],
    "best-beta1-0": BEST + ["--adam-beta1", "0"],
    "best-label-1-wide-g": BEST + ["--real-label", "1", "--generator-hidden-sizes", "256,512,1024"],
    "best-label-095": BEST + ["--real-label", "0.95"],
}


def start_run(recipe, data, output_root, extra):
    """Start gan.py with a named recipe on a data set and return the process and its output folder.

    The run's output goes straight to log.txt in its output folder. A pipe
    that is read only at the end would fill up after about 64 KB of log
    lines and then stall the run.
    """
    output_dir = os.path.join(output_root, f"{data}-{recipe}")
    os.makedirs(output_dir, exist_ok=True)
    command = [sys.executable, os.path.join(REPOSITORY, "gan.py"), *DATA_SETS[data], *RECIPES[recipe],
               *extra, "--output-dir", output_dir, "--num-epochs", "1000000",
               "--sample-every", "1000000", "--quality-every", "1000000",
               "--checkpoint-every", "1000000", "--chart-every", "1000000"]
    with open(os.path.join(output_dir, "log.txt"), "w", encoding="utf-8") as log_file:
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)
    return process, output_dir


def collect(process, output_dir):
    """Wait for a stopped run and return its steps and final quality figures, read from its log.txt."""
    process.wait()
    with open(os.path.join(output_dir, "log.txt"), encoding="utf-8") as file:
        log = file.read()
    per_epoch = int(re.search(r"with (\d+) mini-batches", log).group(1))
    epochs = len(re.findall(r"^epoch ", log, re.MULTILINE))
    stopped = re.search(r"^Stopped by .* after batch (\d+)\.$", log, re.MULTILINE)
    steps = epochs * per_epoch + (int(stopped.group(1)) if stopped else 0)
    quality = re.findall(r"Frechet distance ([\d.]+) \(floor ([\d.]+), ratio ([\d.]+)\)\s+"
                         r"precision ([\d.]+)\s+recall ([\d.]+)", log)[-1]
    distance, floor, ratio, precision, recall = (float(value) for value in quality)
    return {"steps": steps, "frechet_distance": distance, "floor": floor, "ratio": ratio,
            "precision": precision, "recall": recall, "grid": os.path.join(output_dir, "final.png")}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipes", nargs="*", default=["default"], help="names of settings to run")
    parser.add_argument("--data", choices=sorted(DATA_SETS), default="orl")
    parser.add_argument("--seconds", type=float, default=600.0, help="wall time of each run")
    parser.add_argument("--parallel", type=int, default=1, help="runs at a time (each uses one BLAS thread)")
    parser.add_argument("--output-root", default="/tmp/gan-quality-runs")
    parser.add_argument("--list", action="store_true", help="list the named settings and exit")
    parser.add_argument("--extra", default="", help="more gan.py options for every run, space-separated")
    arguments = parser.parse_args()
    if arguments.list:
        for name, options in RECIPES.items():
            print(f"{name:20s} {' '.join(options)}")
        return 0
    unknown = [name for name in arguments.recipes if name not in RECIPES]
    if unknown:
        parser.error(f"unknown settings {', '.join(unknown)}; see --list")

    # One BLAS thread per run, so that parallel runs do not fight over cores.
    os.environ["OPENBLAS_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"] = "1"
    os.makedirs(arguments.output_root, exist_ok=True)
    print(f"load before: {os.getloadavg()[0]:.2f}")
    print(TABLE_HEADER)
    pending = list(arguments.recipes)
    while pending:
        group, pending = pending[:arguments.parallel], pending[arguments.parallel:]
        start = time.perf_counter()
        runs = [(name, *start_run(name, arguments.data, arguments.output_root, arguments.extra.split()))
                for name in group]
        time.sleep(arguments.seconds)
        for _, process, _ in runs:
            process.send_signal(signal.SIGINT)
        for name, process, output_dir in runs:
            figures = collect(process, output_dir)
            seconds = time.perf_counter() - start
            print(f"| {name} | {arguments.data} | {figures['steps']} | {seconds:.0f} "
                  f"| {figures['frechet_distance']:.2f} | {figures['floor']:.2f} | {figures['ratio']:.2f} "
                  f"| {figures['precision']:.2f} | {figures['recall']:.2f} | {figures['grid']} |", flush=True)
    print(f"load after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
