"""Measure what checkpoints cost next to training, with the default networks of config.py.

    python benchmarks/checkpoint_cost.py

Prints the median time of one training step (a batch of BATCH_SIZE, with the
weight average update), of the NaN/infinity check of the losses that runs
after every step, of one checkpoint save
(synced to disk, in a temporary folder under the system's temp folder), and
the checkpoint's size. The figures depend on the machine and its disk.
"""

import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import checkpoint  # noqa: E402
import gan  # noqa: E402
from networks import Workspace  # noqa: E402

REPEATS = 15


def median_seconds(function, repeats=REPEATS):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def default_training(output_dir):
    """Return the default networks of config.py, a TrainingState that saves into output_dir, and a step.

    The training images are 100 random ones, and step() runs train_step on
    one random batch as the training loop does, weight average included.
    """
    settings = gan.load_settings(["--output-dir", output_dir])
    rng = np.random.default_rng(0)
    pixels = settings.IMAGE_SIZE ** 2
    training_images = rng.integers(0, 256, (100, pixels), dtype=np.uint8)
    generator, discriminator, sampler, weight_average = gan.build_networks(settings, training_images, rng)
    generator_optimizer = gan.make_optimizer(generator.parameters(), settings, settings.LEARNING_RATE)
    discriminator_optimizer = gan.make_optimizer(discriminator.parameters(), settings, settings.LEARNING_RATE)
    fixed_noise = rng.standard_normal((64, settings.NOISE_SIZE), dtype=np.float32)
    real = rng.random((settings.BATCH_SIZE, pixels), dtype=np.float32)
    noise = rng.standard_normal((settings.BATCH_SIZE, settings.NOISE_SIZE), dtype=np.float32)
    state = checkpoint.TrainingState(settings, generator, discriminator, generator_optimizer,
                                     discriminator_optimizer, fixed_noise, {"shuffle": rng}, "", sampler)
    workspaces = defaultdict(Workspace)

    def step():
        gan.train_step(real, generator, discriminator, generator_optimizer, discriminator_optimizer, noise,
                       settings.REAL_LABEL, workspaces=workspaces, feature_matching=settings.FEATURE_MATCHING)
        weight_average.update()

    return SimpleNamespace(settings=settings, training_images=training_images, generator=generator,
                           discriminator=discriminator, sampler=sampler, fixed_noise=fixed_noise,
                           state=state, step=step)


def main():
    output_dir = tempfile.mkdtemp(prefix="checkpoint-cost-")
    training = default_training(output_dir)
    settings, state, step = training.settings, training.state, training.step

    def check():
        state.step = 0
        state.record_step({"discriminator_loss": 1.0, "generator_loss": 1.0, "d_real": 0.5, "d_fake": 0.5})

    def save():
        state.saved_position = None
        state.save()

    step_time = median_seconds(step)
    check_time = median_seconds(check)
    save_time = median_seconds(save, repeats=7)
    size = os.path.getsize(state.path)
    os.unlink(state.path)
    os.rmdir(output_dir)

    networks = (training.generator, training.discriminator, training.sampler)
    parameters = sum(p.size for network in networks for p in network.parameters())
    print(f"networks: {parameters:,} parameters; batch size {settings.BATCH_SIZE}")
    print(f"training step:           {step_time * 1000:8.2f} ms")
    print(f"loss check after a step: {check_time * 1000:8.2f} ms  ({check_time / step_time:.1%} of a step)")
    print(f"checkpoint save:         {save_time * 1000:8.2f} ms  ({save_time / step_time:.1f} steps)")
    print(f"checkpoint size:         {size / 1e6:8.1f} MB")


if __name__ == "__main__":
    main()
