"""Train the common framework recipe for an MLP GAN in NumPy and score it like gan.py's samples.

    python benchmarks/framework_recipe.py --seconds 600 --data orl

A common recipe for a fully connected GAN in framework tutorials has
LeakyReLU (slope 0.2) hidden layers in both networks, batch normalisation
in the generator and a tanh output. Images are scaled to [-1, 1] and
flipped horizontally, and Adam runs with a learning rate of 2e-4 and beta1 0.5. It runs on the same
data, for the same wall time and with the same quality meter as
benchmarks/quality_runs.py, as the yardstick for gan.py's sigmoid networks.
Outputs go to --output-dir (under /tmp by default).
"""

import argparse
import os
import sys
import time

import numpy as np

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPOSITORY)

from quality_runs import TABLE_HEADER  # noqa: E402  (this script's own folder is on sys.path)

from data import Dataset, load_images  # noqa: E402
from gan import make_grid, train_step, write_png  # noqa: E402
from networks import MLP, Adam, BatchNorm, Dense, LeakyReLU  # noqa: E402
from quality import QualityMeter  # noqa: E402

DATA_SETS = {
    "orl": (os.path.join(os.path.dirname(REPOSITORY), "shared", "data", "orl_faces"), 32),
    "faces": (os.path.join(REPOSITORY, "faces"), 25),
}


class ScaledTanh:
    """(tanh(x) + 1) / 2: a tanh output mapped to [0, 1], so that train_step's real images fit it.

    Scaling the tanh's [-1, 1] to the [0, 1] of the images is the same as
    scaling the images to [-1, 1] and halving the discriminator's first weights.
    """

    def parameters(self):
        return []

    def forward(self, x, buffers=None):
        y = np.tanh(x)
        return 0.5 * (y + 1.0), y

    def backward(self, cache, grad_output, need_input_grad=True, need_param_grads=True, buffers=None):
        return grad_output * 0.5 * (1.0 - cache * cache), []


class CentredInput:
    """Map images in [0, 1] to [-1, 1] at the discriminator's input."""

    def parameters(self):
        return []

    def forward(self, x, buffers=None):
        return 2.0 * x - 1.0, None

    def backward(self, cache, grad_output, need_input_grad=True, need_param_grads=True, buffers=None):
        return 2.0 * grad_output, []


def build(noise_size, pixels, rng):
    generator_layers = []
    sizes = [noise_size, 256, 512, 1024]
    for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
        generator_layers += [Dense(n_in, n_out, rng), BatchNorm(n_out), LeakyReLU()]
    generator_layers += [Dense(1024, pixels, rng), ScaledTanh()]
    discriminator_layers = [CentredInput()]
    sizes = [pixels, 1024, 512, 256]
    for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
        discriminator_layers += [Dense(n_in, n_out, rng), LeakyReLU()]
    discriminator_layers.append(Dense(256, 1, rng))
    return MLP(generator_layers), MLP(discriminator_layers)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=sorted(DATA_SETS), default="orl")
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output-dir", default="/tmp/gan-quality-runs/framework")
    arguments = parser.parse_args()

    folder, size = DATA_SETS[arguments.data]
    rng = np.random.default_rng(arguments.seed)
    images = load_images(folder, size)
    dataset = Dataset(images, size, horizontal_flip=True)
    meter = QualityMeter(images / 255.0, rng, size, mirrored=True)
    generator, discriminator = build(100, size * size, rng)
    generator_optimizer = Adam(generator.parameters(), 2e-4, 0.5)
    discriminator_optimizer = Adam(discriminator.parameters(), 2e-4, 0.5)

    steps = 0
    start = time.perf_counter()
    while time.perf_counter() - start < arguments.seconds:
        for real in dataset.batches(64, rng):
            noise = rng.standard_normal((len(real), 100), dtype=np.float32)
            train_step(real, generator, discriminator, generator_optimizer, discriminator_optimizer, noise)
            steps += 1
            if time.perf_counter() - start >= arguments.seconds:
                break
    elapsed = time.perf_counter() - start

    samples, _ = generator.forward(rng.standard_normal((meter.sample_count, 100), dtype=np.float32))
    scores = meter.score(samples)
    os.makedirs(arguments.output_dir, exist_ok=True)
    grid_path = os.path.join(arguments.output_dir, "final.png")
    write_png(grid_path, make_grid(samples[:64], size, 100))
    distance = scores["frechet_distance"]
    print(TABLE_HEADER)
    print(f"| framework recipe | {arguments.data} | {steps} | {elapsed:.0f} | {distance:.2f} "
          f"| {meter.floor:.2f} | {distance / meter.floor:.2f} "
          f"| {scores['precision']:.2f} | {scores['recall']:.2f} | {grid_path} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
