"""Time another version of networks.py against this one, side by side in one process.

    git show COMMIT:networks.py > /tmp/networks_before.py
    python benchmarks/compare_networks.py /tmp/networks_before.py
    OPENBLAS_NUM_THREADS=1 python benchmarks/compare_networks.py /tmp/networks_before.py

Both versions build the default networks of config.py (batch normalisation
in the generator, layer normalisation and centred inputs in the
discriminator, the sampler's weight average) and run gan.train_step from
this checkout on them. Blocks of each version alternate, so a change in the
machine's load affects both alike. The script prints the median time of
four things: a training step with the weight-average update, the update
alone, drawing the 64 faces of a sample grid (freezing the batch
statistics, then the forward pass), and the normalisation layers' forward
and backward passes. Then it prints the peak memory allocated inside one
step (tracemalloc).
"""

import os

# Two BLAS threads unless OPENBLAS_NUM_THREADS is set. BLAS reads its thread
# count when it loads, so this must precede importing NumPy.
THREADS = int(os.environ.get("OPENBLAS_NUM_THREADS", "2"))
for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[variable] = str(THREADS)

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from collections import defaultdict  # noqa: E402

import numpy as np  # noqa: E402

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPOSITORY)

import gan  # noqa: E402

BATCH = 64
IMAGE_SIZES = (25, 64)
SEED = 0


def load_module(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_runs(networks, size, settings):
    """Return the timed functions of one version at one image size, by name."""
    rng = np.random.default_rng(SEED)
    pixels = size * size
    real = rng.random((BATCH, pixels), dtype=np.float32)
    generator_shape = (settings.NOISE_SIZE, settings.GENERATOR_HIDDEN_SIZES, pixels)
    generator = networks.Generator(*generator_shape, rng, normalization="batch")
    discriminator = networks.Discriminator(pixels, settings.DISCRIMINATOR_HIDDEN_SIZES, rng,
                                           normalization="layer", input_offset=real.mean(axis=0))
    if not hasattr(discriminator, "update_spectral_norms"):
        # A networks.py from before spectral normalisation, which gan.train_step now calls.
        discriminator.update_spectral_norms = lambda: None
    networks.init_for_sigmoid(generator)
    sampler = networks.Generator(*generator_shape, rng, normalization="batch")
    weight_average = networks.WeightAverage(generator, sampler, settings.GENERATOR_AVERAGE_DECAY)
    weight_average.update_count = 1000  # past the warm-up of the decay
    optimizers = [networks.Adam(network.parameters(), settings.LEARNING_RATE, settings.ADAM_BETA1)
                  for network in (generator, discriminator)]
    workspaces = defaultdict(networks.Workspace)
    noise_rng = np.random.default_rng(SEED + 1)
    fixed_noise = noise_rng.standard_normal((BATCH, settings.NOISE_SIZE), dtype=np.float32)

    def step():
        noise = noise_rng.standard_normal((BATCH, settings.NOISE_SIZE), dtype=np.float32)
        gan.train_step(real, generator, discriminator, *optimizers, noise, settings.REAL_LABEL,
                       workspaces=workspaces)
        weight_average.update()

    def grid_faces():
        sampler.freeze_batch_statistics()
        sampler.forward(fixed_noise)

    # The largest normalisation layers: BatchNorm after the generator's
    # 1024-wide layer, LayerNorm after the discriminator's, on real and fake.
    batch_norm, layer_norm = networks.BatchNorm(1024), networks.LayerNorm(1024)
    buffers = [networks.Buffers(), networks.Buffers()]
    activations = [rng.standard_normal((rows, 1024), dtype=np.float32) for rows in (BATCH, 2 * BATCH)]

    def normalisation_layers():
        for layer, x, layer_buffers in zip((batch_norm, layer_norm), activations, buffers, strict=True):
            output, cache = layer.forward(x, buffers=layer_buffers)
            layer.backward(cache, x, buffers=layer_buffers)

    return {"training step and weight average": step, "weight average alone": weight_average.update,
            "faces of a sample grid": grid_faces, "BatchNorm and LayerNorm, 1024 wide": normalisation_layers}


def time_block(function, calls):
    start = time.perf_counter()
    for _ in range(calls):
        function()
    return (time.perf_counter() - start) / calls


def print_load_average():
    with open("/proc/loadavg") as file:
        print("load average:", " ".join(file.read().split()[:3]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", help="path of the other version of networks.py")
    parser.add_argument("--rounds", type=int, default=10, help="alternating blocks per figure (default 10)")
    parser.add_argument("--block", type=int, default=3, help="calls per timed block (default 3)")
    arguments = parser.parse_args()

    versions = {"before": load_module("networks_before", arguments.before),
                "after": load_module("networks_after", os.path.join(REPOSITORY, "networks.py"))}
    settings = gan.load_settings([])
    print(f"NumPy {np.__version__}, {THREADS} threads, batch {BATCH}; medians of {arguments.rounds} "
          f"alternating blocks of {arguments.block} calls")
    print_load_average()
    for size in IMAGE_SIZES:
        runs = {name: make_runs(networks, size, settings) for name, networks in versions.items()}
        for version_runs in runs.values():
            for function in version_runs.values():
                for _ in range(arguments.block):
                    function()  # warm-up, which also makes the reused arrays
        times = defaultdict(list)
        for _ in range(arguments.rounds):
            for name, version_runs in runs.items():
                for label, function in version_runs.items():
                    times[name, label].append(time_block(function, arguments.block))
        for label in runs["after"]:
            before = statistics.median(times["before", label])
            after = statistics.median(times["after", label])
            print(f"{size}x{size} {label:<36} before {before * 1e3:8.2f} ms  after {after * 1e3:8.2f} ms  "
                  f"speed-up {before / after:.2f}")
        for name, version_runs in runs.items():
            # Tracing starts with nothing traced, so its peak is what the step allocated.
            tracemalloc.start()
            version_runs["training step and weight average"]()
            _, allocated = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            print(f"{size}x{size} peak allocation inside one step, {name}: {allocated / 1e6:.3f} MB")
    print_load_average()


if __name__ == "__main__":
    main()
