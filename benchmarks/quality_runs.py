"""Train gan.py with several settings for a fixed wall time each and print their quality figures.

    python benchmarks/quality_runs.py --seconds 600 --data orl default earlier-default
    python benchmarks/quality_runs.py --epochs 2000 --data faces default no-packing
    python benchmarks/quality_runs.py --list

Each run is `python gan.py` in a subprocess, as a user runs it. It stops
with Ctrl+C (SIGINT) after --seconds unless it ends its --epochs first.
gan.py then scores its last weights and writes final.png, which this script
reads from the run's log. Outputs go to --output-root (under /tmp by
default), one folder per run. The table gives the steps done, because the
machine's load changes how many steps fit in the time.
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
# network with Glorot weights and Adam at 2e-4. "earlier-default" is the
# default before packing, feature matching, the minibatch standard-deviation
# feature and the smaller networks. The "step-" entries add those one at a
# time, in the order in which they were measured, ending at the default. The
# "no-" entries turn off one default option each, and "earlier-sizes" brings
# back the earlier network widths. The other entries change one default,
# except three that change two. "two-time-scales" gives the discriminator
# four times the generator's learning rate (Heusel et al., 2017).
# "spectral-norm-no-layer-norm" also drops layer normalisation, which would
# undo the scaling of every spectrally normalised layer but the last.
# "leaky-relu-no-label-smoothing" makes the two changes its name lists.
EARLIER_NETWORKS = ["--generator-hidden-sizes", "256,512,1024",
                    "--discriminator-hidden-sizes", "1024,512,256", "--discriminator-packing", "1",
                    "--feature-matching", "0", "--minibatch-std-group", "0"]
EARLIER = EARLIER_NETWORKS + ["--generator-average-decay", "0.99"]
RECIPES = {
    "default": [],
    "textbook": EARLIER_NETWORKS + ["--generator-normalization", "none",
                                    "--discriminator-normalization", "none", "--sigmoid-init", "false",
                                    "--centre-inputs", "false", "--real-label", "1",
                                    "--generator-average-decay", "0"],
    "earlier-default": EARLIER,
    "step-1-packing": EARLIER + ["--discriminator-packing", "2"],
    "step-2-smaller-discriminator": EARLIER + ["--discriminator-packing", "2",
                                               "--discriminator-hidden-sizes", "512,256,128"],
    "step-3-smaller-generator": ["--feature-matching", "0", "--minibatch-std-group", "0",
                                 "--generator-average-decay", "0.99"],
    "step-4-feature-matching": ["--minibatch-std-group", "0", "--generator-average-decay", "0.99"],
    "step-5-minibatch-std": ["--generator-average-decay", "0.99"],
    "no-packing": ["--discriminator-packing", "1"],
    "packing-4": ["--discriminator-packing", "4"],
    "no-feature-matching": ["--feature-matching", "0"],
    "feature-matching-1": ["--feature-matching", "1"],
    "no-minibatch-std": ["--minibatch-std-group", "0"],
    "no-label-smoothing": ["--real-label", "1"],
    "label-0.95": ["--real-label", "0.95"],
    "learning-rate-4e-4": ["--learning-rate", "0.0004"],
    "wider-generator": ["--generator-hidden-sizes", "256,512,1024"],
    "earlier-sizes": ["--generator-hidden-sizes", "256,512,1024",
                      "--discriminator-hidden-sizes", "1024,512,256"],
    "no-batch-norm": ["--generator-normalization", "none"],
    "no-layer-norm": ["--discriminator-normalization", "none"],
    "no-sigmoid-init": ["--sigmoid-init", "false"],
    "no-centre-inputs": ["--centre-inputs", "false"],
    "no-weight-average": ["--generator-average-decay", "0"],
    "learning-rate-1e-3": ["--learning-rate", "0.001"],
    "plus-instance-noise": ["--instance-noise", "0.05"],
    "plus-slower-discriminator": ["--discriminator-learning-rate", "0.0001"],
    "leaky-relu": ["--hidden-activation", "leaky_relu"],
    "leaky-relu-no-label-smoothing": ["--hidden-activation", "leaky_relu", "--real-label", "1"],
    "two-time-scales": ["--learning-rate", "0.0001", "--discriminator-learning-rate", "0.0004"],
    "spectral-norm-no-layer-norm": ["--spectral-norm", "true", "--discriminator-normalization", "none"],
    "minibatch-std-8": ["--minibatch-std-group", "8"],
    "plus-spectral-norm": ["--spectral-norm", "true"],
}


def start_run(recipe, data, output_root, extra, epochs=1000000):
    """Start gan.py with a named recipe on a data set and return the process and its output folder.

    The run's output goes straight to log.txt in its output folder. A pipe
    that is read only at the end would fill up after about 64 KB of log
    lines and then stall the run.
    """
    output_dir = os.path.join(output_root, f"{data}-{recipe}")
    os.makedirs(output_dir, exist_ok=True)
    command = [sys.executable, os.path.join(REPOSITORY, "gan.py"), *DATA_SETS[data], *RECIPES[recipe],
               *extra, "--output-dir", output_dir, "--resume", "false", "--num-epochs", str(epochs),
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
    per_epoch = int(re.search(r"with (\d+) mini-batch", log).group(1))
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
    parser.add_argument("--epochs", type=int, default=1000000,
                        help="end each run after this many epochs, if --seconds has not stopped it first")
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
        runs = [(name, *start_run(name, arguments.data, arguments.output_root, arguments.extra.split(),
                                  arguments.epochs))
                for name in group]
        seconds_of = {}  # the wall time of each run that ended its epochs by itself
        while time.perf_counter() - start < arguments.seconds and len(seconds_of) < len(runs):
            for name, process, _ in runs:
                if name not in seconds_of and process.poll() is not None:
                    seconds_of[name] = time.perf_counter() - start
            time.sleep(0.1)
        for _, process, _ in runs:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for name, process, output_dir in runs:
            figures = collect(process, output_dir)
            seconds = seconds_of.get(name, time.perf_counter() - start)
            print(f"| {name} | {arguments.data} | {figures['steps']} | {seconds:.0f} "
                  f"| {figures['frechet_distance']:.2f} | {figures['floor']:.2f} | {figures['ratio']:.2f} "
                  f"| {figures['precision']:.2f} | {figures['recall']:.2f} | {figures['grid']} |", flush=True)
    print(f"load after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
