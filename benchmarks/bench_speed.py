"""Measure the training step's speed against the machine's matrix-multiply throughput.

    python benchmarks/bench_speed.py             # NumPy figures
    /path/to/venv-with-torch/bin/python benchmarks/bench_speed.py   # adds PyTorch

Prints, in one run and with two threads:
- the float32 matrix-multiply peak through NumPy (best of several square products);
- per image size (25, 32, 64), with batch 64, for two kinds of networks of
  the default sizes of config.py: "plain" sigmoid MLPs, and the "default"
  networks as gan.py builds them (normalisation layers, centred inputs, and
  the weight average updated after every step): images/second of the
  training step on random pixels (median of timed blocks after a warm-up)
  and the floating-point operations of one step, counted from the layer
  shapes, hence the achieved GFLOP/s and the fraction of peak;
- the time of the step's matrix products alone, on the same shapes and
  layouts, and the ratio of the step's time to it;
- when `import torch` works, the images/second of the same networks, batch
  and Adam in PyTorch (fused Adam), timed in blocks that alternate with the
  NumPy blocks;
- for `python gan.py` training runs on the built-in faces at the default
  image size and at 64x64: the peak resident memory, and the time of the
  training loop outside the training step (sample grids, checkpoints,
  quality scores, history, logging) as a percentage of the training time,
  at the default intervals (see report_costs.py).
The last line gives the 64x64 ratios of step time to matrix-product time.
PyTorch is never needed by the product; the comparison is optional.
"""

import os

THREADS = 2
# BLAS reads its thread count when it loads, so this must precede importing NumPy.
for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[variable] = str(THREADS)

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402

import numpy as np  # noqa: E402

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPOSITORY)

from report_costs import describe_training_run, measure_training_run  # noqa: E402

import config  # noqa: E402
import gan  # noqa: E402
from networks import Adam, Dense, Discriminator, Generator, Workspace  # noqa: E402

try:
    import torch
except ImportError:
    torch = None

BATCH = 64
IMAGE_SIZES = (25, 32, 64)
NETWORKS = ("plain", "default")  # see make_numpy_step
SEED = 0


def matmul_peak(size=2048, repeats=7):
    """Return the best GFLOP/s of a float32 (size x size) @ (size x size) product."""
    rng = np.random.default_rng(SEED)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    out = np.empty((size, size), dtype=np.float32)
    np.matmul(a, b, out=out)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        np.matmul(a, b, out=out)
        best = min(best, time.perf_counter() - start)
    return 2.0 * size**3 / best / 1e9


def dense_shapes(network):
    return [(layer.weights.shape[0], layer.weights.shape[1]) for layer in network.layers
            if isinstance(layer, Dense)]


def step_products(generator, discriminator, batch):
    """List the matrix products of one train_step as (a shape, b shape, a transposed, b transposed).

    Follows the step as it runs. The generator runs forward on the noise.
    The discriminator runs forward and backward on real and fake together,
    with weight gradients and the input gradients of all but its first layer.
    It runs forward and backward again on the fake batch, with the input
    gradients of every layer and no weight gradients. Last, the generator
    runs backward, with weight gradients and the input gradients of all but
    its first layer.
    """
    products = []

    def forward(shapes, rows):
        for n_in, n_out in shapes:
            products.append(((rows, n_in), (n_in, n_out), False, False))

    def backward(shapes, rows, first_input_grad, weight_grads):
        for index in range(len(shapes) - 1, -1, -1):
            n_in, n_out = shapes[index]
            if weight_grads:
                products.append(((rows, n_in), (rows, n_out), True, False))  # x.T @ grad
            if index > 0 or first_input_grad:
                products.append(((rows, n_out), (n_in, n_out), False, True))  # grad @ W.T

    g_shapes = dense_shapes(generator)
    d_shapes = dense_shapes(discriminator)
    packs = batch // discriminator.packing  # rows of the discriminator's products
    forward(g_shapes, batch)
    forward(d_shapes, 2 * packs)
    backward(d_shapes, 2 * packs, first_input_grad=False, weight_grads=True)
    forward(d_shapes, packs)
    backward(d_shapes, packs, first_input_grad=True, weight_grads=False)
    backward(g_shapes, batch, first_input_grad=False, weight_grads=True)
    return products


def product_flops(products):
    """Return the floating-point operations of the products: 2 * m * k * n each."""
    total = 0
    for a_shape, b_shape, a_transposed, b_transposed in products:
        m, k = a_shape[::-1] if a_transposed else a_shape
        n = b_shape[0] if b_transposed else b_shape[1]
        total += 2 * m * k * n
    return total


def make_products_run(products):
    """Return a function that runs the products alone, on random operands, into preallocated outputs."""
    rng = np.random.default_rng(SEED)
    operands = []
    for a_shape, b_shape, a_transposed, b_transposed in products:
        a = rng.standard_normal(a_shape, dtype=np.float32)
        b = rng.standard_normal(b_shape, dtype=np.float32)
        a = a.T if a_transposed else a
        b = b.T if b_transposed else b
        operands.append((a, b, np.empty((a.shape[0], b.shape[1]), dtype=np.float32)))

    def run():
        for a, b, out in operands:
            np.matmul(a, b, out=out)

    return run


def make_numpy_step(size, real, networks):
    """Return a function that runs one product training step, and the generator and discriminator.

    With networks "plain" they are sigmoid MLPs of the default sizes, and
    the step is gan.train_step alone. With "default" they are the networks
    that gan.py builds from config.py (normalisation layers, centred
    discriminator inputs, packing, the minibatch standard-deviation
    feature), the step uses its feature matching, and the step also updates
    the sampler's weight average, as the training loop does after every
    train_step.
    """
    init_rng = np.random.default_rng(SEED)
    noise_rng = np.random.default_rng(SEED + 1)
    pixels = size * size
    settings = gan.load_settings(["--image-size", str(size)])
    weight_average = None
    if networks == "default":
        images = np.rint(real * 255.0).astype(np.uint8)  # only their mean image is used
        generator, discriminator, _, weight_average = gan.build_networks(settings, images, init_rng)
    else:
        generator = Generator(settings.NOISE_SIZE, settings.GENERATOR_HIDDEN_SIZES, pixels, init_rng)
        discriminator = Discriminator(pixels, settings.DISCRIMINATOR_HIDDEN_SIZES, init_rng)
    optimizers = [Adam(network.parameters(), settings.LEARNING_RATE,
                       settings.ADAM_BETA1, settings.ADAM_BETA2, settings.ADAM_EPSILON)
                  for network in (generator, discriminator)]

    workspaces = defaultdict(Workspace)

    feature_matching = settings.FEATURE_MATCHING if networks == "default" else 0.0

    def step():
        noise = noise_rng.standard_normal((BATCH, settings.NOISE_SIZE), dtype=np.float32)
        gan.train_step(real, generator, discriminator, *optimizers, noise, settings.REAL_LABEL,
                       workspaces=workspaces, feature_matching=feature_matching)
        if weight_average is not None:
            weight_average.update()

    return step, generator, discriminator


def make_torch_step(size, real, networks):
    """Return a function that runs the same step in PyTorch with fused Adam on the CPU.

    For networks "default", the networks match those of gan.py. The
    generator has BatchNorm1d without running statistics, because the NumPy
    BatchNorm keeps none. The discriminator has LayerNorm, the mean image
    subtracted from its inputs, packs of DISCRIMINATOR_PACKING images and the
    minibatch standard-deviation feature. The step adds feature matching to
    the generator's loss and updates the same moving average
    of the generator's weights after every step.
    """
    torch.manual_seed(SEED)
    pixels = size * size
    settings = gan.load_settings(["--image-size", str(size)])
    default = networks == "default"

    def mlp(sizes, last_activation, normalization):
        layers = []
        for index, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            layers.append(torch.nn.Linear(n_in, n_out))
            is_hidden = index < len(sizes) - 2
            if is_hidden and normalization == "batch":
                layers.append(torch.nn.BatchNorm1d(n_out, track_running_stats=False))
            elif is_hidden and normalization == "layer":
                layers.append(torch.nn.LayerNorm(n_out))
            if is_hidden or last_activation:
                layers.append(torch.nn.Sigmoid())
        return torch.nn.Sequential(*layers)

    generator = mlp([settings.NOISE_SIZE, *settings.GENERATOR_HIDDEN_SIZES, pixels], True,
                    settings.GENERATOR_NORMALIZATION if default else "none")
    packing = settings.DISCRIMINATOR_PACKING if default else 1
    group = settings.MINIBATCH_STD_GROUP if default else 0
    feature_matching = settings.FEATURE_MATCHING if default else 0.0
    # The hidden layers, then the last Linear layer apart, whose input the
    # minibatch standard-deviation feature extends and feature matching reads.
    hidden = mlp([packing * pixels, *settings.DISCRIMINATOR_HIDDEN_SIZES, 1], False,
                 settings.DISCRIMINATOR_NORMALIZATION if default else "none")[:-1]
    last = torch.nn.Linear(settings.DISCRIMINATOR_HIDDEN_SIZES[-1] + (group > 0), 1)
    discriminator = torch.nn.Sequential(hidden, last)
    generator_parameters = list(generator.parameters())
    mean_image = None
    averages = []
    if default:
        mean_image = torch.from_numpy(np.rint(real * 255.0).mean(axis=0, dtype=np.float32) / 255.0)
        averages = [parameter.detach().clone() for parameter in generator_parameters]

    def discriminate(images):
        """Return the logits and the last layer's input features of images."""
        if mean_image is not None:
            images = images - mean_image  # centred inputs, as networks.Shift makes them
        features = hidden(images.reshape(len(images) // packing, -1))
        if group:
            grouped = features.reshape(-1, group, features.shape[1])
            spread = (grouped.var(dim=1, unbiased=False) + 1e-8).sqrt().mean(dim=1)
            features = torch.cat([features, spread.repeat_interleave(group)[:, None]], dim=1)
        return last(features), features

    betas = (settings.ADAM_BETA1, settings.ADAM_BETA2)
    g_optimizer, d_optimizer = (
        torch.optim.Adam(network.parameters(), lr=settings.LEARNING_RATE, betas=betas,
                         eps=settings.ADAM_EPSILON, fused=True)
        for network in (generator, discriminator))
    loss_function = torch.nn.BCEWithLogitsLoss()
    real = torch.from_numpy(real)
    packs = BATCH // packing
    ones = torch.ones(packs, 1)
    labels = torch.cat([torch.full((packs, 1), settings.REAL_LABEL), torch.zeros(packs, 1)])
    d_parameters = list(discriminator.parameters())

    def step():
        noise = torch.randn(BATCH, settings.NOISE_SIZE)
        fake = generator(noise)

        # Discriminator step on real and fake together, as the NumPy step does.
        d_optimizer.zero_grad(set_to_none=True)
        logits, features = discriminate(torch.cat([real, fake.detach()]))
        loss_function(logits[:packs], labels[:packs]).add_(
            loss_function(logits[packs:], labels[packs:])).backward()
        d_optimizer.step()
        real_feature_mean = features[:packs].detach().mean(dim=0)

        # Generator step; the discriminator's weight gradients are not computed.
        for parameter in d_parameters:
            parameter.requires_grad_(False)
        g_optimizer.zero_grad(set_to_none=True)
        logits, features = discriminate(fake)
        loss = loss_function(logits, ones)
        if feature_matching:
            loss = loss + feature_matching * (features.mean(dim=0) - real_feature_mean).square().sum()
        loss.backward()
        g_optimizer.step()
        for parameter in d_parameters:
            parameter.requires_grad_(True)

        # The sampler's moving average: average += (1 - decay) * (parameter - average).
        if averages:
            with torch.no_grad():
                torch._foreach_lerp_(averages, generator_parameters, 1.0 - settings.GENERATOR_AVERAGE_DECAY)

    return step


def step_to_products(figures):
    """Return the ratio of the NumPy step's time to the time of its matrix products alone."""
    return figures["numpy"] / figures["products"]


def time_block(step, steps):
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


def measure_size(size, networks, repeats, block, warmup):
    """Return the figures of one image size: step seconds (NumPy, PyTorch), FLOPs, product seconds.

    Each repeat times a block of NumPy steps, a block of PyTorch steps and a
    block of the products alone, one after another, so that a change in the
    load of the machine affects all three alike.
    """
    # Random pixels: the step's time does not depend on what the images show.
    real = np.random.default_rng(SEED).random((BATCH, size * size), dtype=np.float32)
    numpy_step, generator, discriminator = make_numpy_step(size, real, networks)
    products = step_products(generator, discriminator, BATCH)
    runs = {"numpy": numpy_step, "products": make_products_run(products)}
    if torch is not None:
        runs["torch"] = make_torch_step(size, real, networks)
    for run in runs.values():
        for _ in range(warmup):
            run()
    times = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            times[name].append(time_block(run, block))
    figures = {name: float(np.median(seconds)) for name, seconds in times.items()}
    figures.setdefault("torch", None)
    figures["flops"] = product_flops(products)
    return figures


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed blocks per image size (default 7)")
    parser.add_argument("--block", type=int, default=5, help="training steps per timed block (default 5)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps before timing (default 5)")
    # 100 epochs contain sample grids, charts and a checkpoint at the default intervals.
    parser.add_argument("--run-epochs", type=int, default=100,
                        help="epochs of the gan.py runs for peak memory and overhead (default 100)")
    arguments = parser.parse_args()

    peak = matmul_peak()
    print(f"NumPy {np.__version__}, {THREADS} threads, batch {BATCH}, "
          f"generator {config.GENERATOR_HIDDEN_SIZES}, discriminator {config.DISCRIMINATOR_HIDDEN_SIZES}")
    if torch is not None:
        torch.set_num_threads(THREADS)
        print(f"PyTorch {torch.__version__} found: comparing with its fused Adam")
    print(f"float32 matmul peak: {peak:.1f} GFLOP/s (2048 x 2048 products, best of 7)")
    print()
    print("networks: plain = sigmoid MLPs; default = as config.py builds them (normalisation, "
          "centred inputs, packing, minibatch std, feature matching, weight average)")
    header = (f"{'size':>5} {'networks':>8} {'images/s':>9} {'step ms':>8} {'GFLOP':>6} {'GFLOP/s':>8} "
              f"{'of peak':>7} {'matmul ms':>9} {'step/matmul':>11}")
    if torch is not None:
        header += f" {'torch img/s':>11} {'numpy/torch':>11}"
    print(header)
    results = {}
    for size in IMAGE_SIZES:
        for networks in NETWORKS:
            figures = measure_size(size, networks, arguments.repeats, arguments.block, arguments.warmup)
            results[size, networks] = figures
            achieved = figures["flops"] / figures["numpy"] / 1e9
            line = (f"{size:>5} {networks:>8} {BATCH / figures['numpy']:>9.0f} "
                    f"{figures['numpy'] * 1e3:>8.2f} {figures['flops'] / 1e9:>6.2f} "
                    f"{achieved:>8.1f} {achieved / peak:>7.0%} "
                    f"{figures['products'] * 1e3:>9.2f} {step_to_products(figures):>11.2f}")
            if torch is not None:
                line += f" {BATCH / figures['torch']:>11.0f} {figures['torch'] / figures['numpy']:>11.2f}"
            print(line, flush=True)

    print()
    for size in (config.IMAGE_SIZE, 64):
        figures = measure_training_run(size, arguments.run_epochs)
        for line in describe_training_run(size, arguments.run_epochs, figures):
            print(line)
    print()
    ratios = ", ".join(f"{step_to_products(results[64, networks]):.2f} ({networks})" for networks in NETWORKS)
    print(f"64x64 step time / matrix-product time: {ratios}")


if __name__ == "__main__":
    main()
