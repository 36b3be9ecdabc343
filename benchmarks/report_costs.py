"""Print what the pictures and the progress line of report.py cost, against a training step.

    python benchmarks/report_costs.py

Every figure is the median of several repeats within this one run. Compare
the ratios to a training step rather than the absolute times, which depend
on the machine and its load.
"""

import os
import shutil
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from checkpoint_cost import median_seconds  # noqa: E402

import gan  # noqa: E402
import report  # noqa: E402
from networks import Adam, Discriminator, Generator  # noqa: E402

REPEATS = 5


def main():
    folder = tempfile.mkdtemp(prefix="report-cost-")
    settings = gan.load_settings(["--output-dir", folder])
    rng = np.random.default_rng(0)
    pixels = settings.IMAGE_SIZE ** 2
    generator = Generator(settings.NOISE_SIZE, settings.GENERATOR_HIDDEN_SIZES, pixels, rng)
    discriminator = Discriminator(pixels, settings.DISCRIMINATOR_HIDDEN_SIZES, rng)
    generator_optimizer = Adam(generator.parameters(), settings.LEARNING_RATE, settings.ADAM_BETA1)
    discriminator_optimizer = Adam(discriminator.parameters(), settings.LEARNING_RATE, settings.ADAM_BETA1)
    real = rng.random((settings.BATCH_SIZE, pixels), dtype=np.float32)
    noise = rng.standard_normal((settings.BATCH_SIZE, settings.NOISE_SIZE), dtype=np.float32)

    def step():
        gan.train_step(real, generator, discriminator, generator_optimizer, discriminator_optimizer, noise)

    step_seconds = median_seconds(step, repeats=21)

    calls = 100_000
    progress = report.ProgressLine(1000, 10, interval=3600.0)
    progress.start_epoch(1)

    def updates():
        for batch in range(1, calls + 1):
            progress.update(batch, settings.BATCH_SIZE)

    update_seconds = median_seconds(updates) / calls
    print(f"train_step, default networks, batch {settings.BATCH_SIZE}: {step_seconds * 1e3:.2f} ms")
    print(f"ProgressLine.update per batch: {update_seconds * 1e9:.0f} ns "
          f"({update_seconds / step_seconds:.2e} of a training step)")

    # A folder as a whole default run leaves it: a grid for epochs 0 to NUM_EPOCHS.
    epochs = settings.NUM_EPOCHS
    history = [{"epoch": epoch, "discriminator_loss": 1.3 + 0.1 * np.sin(epoch), "generator_loss": 0.8,
                "d_real": 0.5, "d_fake": 0.45, "seconds": 1.0} for epoch in range(1, epochs + 1)]
    training_images = rng.integers(0, 256, (100, pixels), dtype=np.uint8)
    fixed_noise = rng.standard_normal((64, settings.NOISE_SIZE), dtype=np.float32)
    for epoch in range(epochs + 1):
        gan.write_samples(generator, fixed_noise, settings, f"samples_epoch_{epoch:04d}.png")
    report.log.disabled = True
    figures = {
        "history.csv (every epoch)": lambda: report.write_history_csv(
            history, os.path.join(folder, "history.csv")),
        "history.png": lambda: report.write_chart(history, os.path.join(folder, "history.png")),
        f"timelapse, {epochs + 1} grids": lambda: report.write_timelapse(folder, epochs),
        "latent walk strip and video": lambda: report.write_latent_walk(generator, settings),
        "nearest-neighbour sheet, 100 images": lambda: report.write_nearest_neighbours(
            generator, training_images, settings),
    }
    print(f"Outputs of a {epochs}-epoch run at the default settings, median of {REPEATS}:")
    for name, function in figures.items():
        seconds = median_seconds(function, repeats=REPEATS)
        print(f"  {name}: {seconds:.3f} s ({seconds / step_seconds:.2g} training steps)")
    shutil.rmtree(folder)

if __name__ == "__main__":
    main()
