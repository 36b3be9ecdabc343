"""Train a generative adversarial network on grayscale faces, with NumPy only.

    python gan.py                      # train on the built-in faces
    python gan.py --data-dir ~/faces   # train on your own photos
    python gan.py --generate 16        # 16 new faces from the trained generator
    python gan.py --help               # every setting and its default

Settings come from config.py and can be overridden for one run on the command
line. Sample grids, history.csv and a chart of it appear in the output folder
as training goes, and videos of the run when it stops. Press Ctrl+C once to
stop cleanly after the current step, twice to exit at once. A stop by Ctrl+C
saves a checkpoint in the output folder, and the next run continues from it.
"""

import argparse
import logging
import os
import signal
import sys
import time
import traceback
from collections import defaultdict
from types import SimpleNamespace

# One thread for NumPy's matrix products unless the environment sets another
# count. BLAS threads wait for each other, so while another program kept a
# core busy, two threads trained up to 10 times slower than one. On free
# cores, two were at most 1.2 times faster. BLAS reads this once, when NumPy
# is first imported, so it must come before that import.
for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(variable, "1")

import numpy as np

import checkpoint
import report
from data import Dataset, NoImagesError, load_images
from networks import (
    ACTIVATIONS,
    SGD,
    Adam,
    Discriminator,
    Generator,
    WeightAverage,
    Workspace,
    bce_with_logits,
    init_for_sigmoid,
    sigmoid,
)
from quality import QualityMeter
from report import format_duration, make_grid, write_png

try:
    import config
except Exception as error:  # any mistake in config.py; main() reports it in one line
    config = None
    CONFIG_IMPORT_ERROR = error
else:
    CONFIG_IMPORT_ERROR = None

log = logging.getLogger("gan")

CONFIG_FOLDER = os.path.dirname(os.path.abspath(__file__))
CONFIG_PATH = os.path.join(CONFIG_FOLDER, "config.py")
PYTHON_VALUES_HINT = ("config.py takes Python values: True or False, numbers without quotes, "
                      "quoted strings and tuples such as (256, 512, 1024).")
PATH_SETTINGS = ("DATA_DIR", "OUTPUT_DIR")
STRING_SETTINGS = (*PATH_SETTINGS, "OPTIMIZER")
SAMPLE_GRID_SIDE = report.GRID_COLUMNS  # the sample grid shows 8 x 8 = 64 faces
EXIT_INTERRUPTED = 130  # the shell's usual status for a program stopped by SIGINT (128 + 2)
MAX_GENERATED_FACES = 100_000  # largest N of --generate


# --- Settings: config.py, command-line overrides and validation ---


class SettingsError(Exception):
    """Raised for an invalid setting. The message names the setting, its value and the fix."""


def integer_in(low, high):
    def check(value):
        return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
    return check, f"an integer from {low} to {high}"


def number_in(low, high, include_low):
    def check(value):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        above_low = value >= low if include_low else value > low
        return above_low and value <= high
    bound = f"at least {low}" if include_low else f"greater than {low}"
    return check, f"a number {bound} and at most {high}"


def below_one():
    def check(value):
        return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 1
    return check, "a number from 0 up to but not including 1"


def average_decay():
    def check(value):
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        return is_number and (value == 0 or 0.5 <= value < 1)
    return check, "0 (off) or a number from 0.5 up to but not including 1"


def sizes_in(low, high):
    def check(value):
        return (isinstance(value, tuple) and len(value) >= 1
                and all(integer_in(low, high)[0](size) for size in value))
    return check, f"one or more comma-separated integers from {low} to {high}"


def one_of(*choices):
    return (lambda value: value in choices), " or ".join(f'"{c}"' for c in choices)


def boolean():
    return (lambda value: isinstance(value, bool)), "true or false"


def existing_folder():
    return (lambda value: isinstance(value, str) and os.path.isdir(value)), "an existing folder"


def writable_folder_path():
    def check(value):
        return isinstance(value, str) and value != "" and not os.path.isfile(value)
    return check, "a folder path that is not an existing file"


# Each setting's rule: a check and the range that an error message states.
RULES = {
    "DATA_DIR": existing_folder(),
    "IMAGE_SIZE": integer_in(8, 256),
    "HORIZONTAL_FLIP": boolean(),
    "DATA_CACHE": boolean(),
    "NOISE_SIZE": integer_in(1, 4096),
    "GENERATOR_HIDDEN_SIZES": sizes_in(1, 16384),
    "DISCRIMINATOR_HIDDEN_SIZES": sizes_in(1, 16384),
    "HIDDEN_ACTIVATION": one_of(*ACTIVATIONS),
    "GENERATOR_NORMALIZATION": one_of("none", "batch", "layer"),
    "DISCRIMINATOR_NORMALIZATION": one_of("none", "layer"),
    "MINIBATCH_STD_GROUP": integer_in(0, 64),
    "DISCRIMINATOR_PACKING": integer_in(1, 16),
    "SPECTRAL_NORM": boolean(),
    "CENTRE_INPUTS": boolean(),
    "SIGMOID_INIT": boolean(),
    "NUM_EPOCHS": integer_in(1, 1_000_000),
    "BATCH_SIZE": integer_in(1, 65536),
    "OPTIMIZER": one_of("adam", "sgd"),
    "LEARNING_RATE": number_in(0, 1, include_low=False),
    "DISCRIMINATOR_LEARNING_RATE": number_in(0, 1, include_low=True),
    "ADAM_BETA1": below_one(),
    "ADAM_BETA2": below_one(),
    "ADAM_EPSILON": number_in(0, 1, include_low=False),
    "REAL_LABEL": number_in(0.5, 1, include_low=True),
    "INSTANCE_NOISE": number_in(0, 1, include_low=True),
    "FEATURE_MATCHING": number_in(0, 1000, include_low=True),
    "GENERATOR_AVERAGE_DECAY": average_decay(),
    "SEED": integer_in(0, 2**32 - 1),
    "OUTPUT_DIR": writable_folder_path(),
    "SAMPLE_EVERY": integer_in(1, 1_000_000),
    "QUALITY_EVERY": integer_in(0, 1_000_000),
    "SAMPLE_CELL_SIZE": integer_in(8, 512),
    "CHECKPOINT_EVERY": integer_in(1, 1_000_000),
    "CHECKPOINT_MINUTES": number_in(0, 1440, include_low=False),
    "RESUME": boolean(),
    "CHART_EVERY": integer_in(1, 1_000_000),
    "PROGRESS_INTERVAL": number_in(0, 86400, include_low=False),
}


def option_name(setting):
    return "--" + setting.lower().replace("_", "-")


def read_config_comments():
    """Return each setting's comment in config.py, joined into one line, for --help."""
    comments = {}
    pending = []
    with open(CONFIG_PATH, encoding="utf-8") as file:
        for line in file:
            stripped = line.strip()
            if stripped.startswith("#") and not stripped.startswith("# ---"):
                pending.append(stripped.lstrip("# "))
            elif "=" in stripped and stripped.split("=")[0].strip().isupper():
                comments[stripped.split("=")[0].strip()] = " ".join(pending)
            elif not stripped:
                pending = []
    return comments


def parse_value(text, default):
    """Convert a command-line string to the type of the setting's default value in config.py."""
    if isinstance(default, bool):
        lowered = text.strip().lower()
        if lowered == "true":
            return True
        if lowered == "false":
            return False
        raise ValueError(text)
    if isinstance(default, tuple):
        # int("") raises, so an empty item, as in "128,,512" or "128,", is invalid.
        return tuple(int(part) for part in text.split(","))
    if isinstance(default, int):
        return int(text)
    if isinstance(default, float):
        return float(text)
    return text


def format_value(value):
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def build_parser():
    comments = read_config_comments()
    parser = argparse.ArgumentParser(
        prog="gan.py",
        description="Train a GAN on grayscale face images. Every setting below "
                    "defaults to its value in config.py.",
    )
    for setting in RULES:
        default = format_value(getattr(config, setting, "missing from config.py"))
        parser.add_argument(
            option_name(setting), dest=setting, metavar="VALUE", default=None,
            # argparse formats help with %, so a literal % in a comment must be doubled.
            help=f"{comments.get(setting, '')} (default: {default})".strip().replace("%", "%%"),
        )
    parser.add_argument(
        "--generate", metavar="N", default=None,
        help=f"Do not train: write N new faces (1 to {MAX_GENERATED_FACES}) with the generator of the "
             f"checkpoint in the output folder, as PNG files and one grid in OUTPUT_DIR/generated. "
             f"--seed chooses the faces, and the same seed gives the same faces.",
    )
    return parser


def parse_face_count(text):
    """Return the N of --generate as an int, or None without the option; raise SettingsError if invalid."""
    if text is None:
        return None
    check, valid_range = integer_in(1, MAX_GENERATED_FACES)
    try:
        count = int(text)
    except ValueError:
        count = None
    if not check(count):
        raise SettingsError(f"Invalid --generate {text!r}: expected {valid_range}. Fix --generate.")
    return count


def load_settings(argv=None):
    """Return the settings of this run: config.py, then the command line, validated.

    Raises SettingsError naming the first invalid setting, its value and its
    valid range, before any work is done.
    """
    arguments = build_parser().parse_args(argv)
    settings = SimpleNamespace()
    for setting, (check, valid_range) in RULES.items():
        if not hasattr(config, setting):
            raise SettingsError(f"Missing {setting} in config.py. Add it back, with the value that "
                                f"the README's settings table gives.")
        value = getattr(config, setting)
        given = getattr(arguments, setting)
        if given is None:
            shown = repr(value)
            fix = f"Change {setting} in config.py."
            if isinstance(value, (str, list)) and setting not in STRING_SETTINGS:
                fix = f"Change {setting} in config.py. {PYTHON_VALUES_HINT}"
        else:
            shown = repr(given)
            fix = f"Fix {option_name(setting)}."
            try:
                value = parse_value(given, value)
            except ValueError:
                raise SettingsError(f"Invalid {setting} {shown}: expected {valid_range}. {fix}") from None

        # realpath makes one folder one value, however it is spelled (a trailing
        # slash, "..", a symbolic link), so a checkpoint recognises its data.
        # An empty path stays empty so that its check fails, because made
        # absolute it would silently mean the current folder.
        if setting in PATH_SETTINGS and isinstance(value, str) and value.strip():
            folder = CONFIG_FOLDER if given is None else os.getcwd()
            value = os.path.realpath(os.path.join(folder, os.path.expanduser(value)))
        if not check(value):
            raise SettingsError(f"Invalid {setting} {shown}: expected {valid_range}. {fix}")
        setattr(settings, setting, value)
    # NOTE: a last batch of one image, left when the image count is one more
    # than a multiple of BATCH_SIZE, still reaches batch normalisation. That
    # step teaches the generator nothing, because the normalised values are 0.
    if settings.BATCH_SIZE == 1 and settings.GENERATOR_NORMALIZATION == "batch":
        raise SettingsError("Invalid BATCH_SIZE 1 with GENERATOR_NORMALIZATION \"batch\": batch "
                            "normalisation needs at least 2 images per batch. Raise --batch-size, or "
                            "choose --generator-normalization layer or none.")
    settings.generate = parse_face_count(arguments.generate)
    return settings


def describe_config_error(error):
    """Return one line that names the line of config.py that failed to load, and the fix."""
    if isinstance(error, SyntaxError):
        line = (error.text or "").strip()
        return f"config.py line {error.lineno} is not valid Python: {line!r}. Fix it. {PYTHON_VALUES_HINT}"
    frames = [frame for frame in traceback.extract_tb(error.__traceback__)
              if os.path.abspath(frame.filename) == CONFIG_PATH]
    where = f"config.py line {frames[-1].lineno}" if frames else "config.py"
    return f"{where} failed to load ({type(error).__name__}: {error}). Fix it. {PYTHON_VALUES_HINT}"


# --- Sample grids ---


def write_samples(generator, fixed_noise, settings, name):
    """Write the fixed-noise sample grid as name and as latest.png in the output folder."""
    generator.freeze_batch_statistics()
    images, _ = generator.forward(fixed_noise)
    grid = make_grid(images, settings.IMAGE_SIZE, settings.SAMPLE_CELL_SIZE)
    path = os.path.join(settings.OUTPUT_DIR, name)
    write_png(path, grid, os.path.join(settings.OUTPUT_DIR, "latest.png"))
    return path


# --- Ctrl+C ---


class StopRequest:
    """SIGINT and SIGTERM handler: the first signal requests that training stop after the current step.

    The second one exits at once. SIGTERM, which `kill` sends, stops
    training the same way as Ctrl+C, so that it saves a checkpoint too.
    """

    def __init__(self):
        self.requested = False
        self.source = "Ctrl+C"  # what requested the stop, for the log
        self.exit_status = EXIT_INTERRUPTED

    def install(self):
        signal.signal(signal.SIGINT, self.handle)
        signal.signal(signal.SIGTERM, self.handle)

    def handle(self, signum, frame):
        name = "Ctrl+C" if signum == signal.SIGINT else signal.Signals(signum).name
        # 128 + the signal's number is the status shells report for a program
        # that a signal stopped: 130 for SIGINT, 143 for SIGTERM.
        status = 128 + signum
        if self.requested:
            sys.stderr.write(f"\nSecond {name}: exiting at once.\n")
            os._exit(status)
        self.requested = True
        self.source = name
        self.exit_status = status
        again = "Press Ctrl+C" if signum == signal.SIGINT else f"Send {name}"
        sys.stderr.write(f"\n{name}: stopping after this step. {again} again to exit at once.\n")


# --- Training ---


def make_optimizer(parameters, settings, learning_rate):
    if settings.OPTIMIZER == "sgd":
        return SGD(parameters, learning_rate)
    return Adam(parameters, learning_rate,
                settings.ADAM_BETA1, settings.ADAM_BETA2, settings.ADAM_EPSILON)


def build_networks(settings, images, rng):
    """Return the generator, the discriminator, the sampler and the WeightAverage that updates it.

    The sampler is a second generator that draws every sample: a moving
    average of the trained generator's weights, or with
    GENERATOR_AVERAGE_DECAY 0 a copy of them. Because it is never trained,
    its batch normalisation can use fixed statistics (see
    Generator.freeze_batch_statistics), so it draws any number of faces.
    """
    pixels = settings.IMAGE_SIZE ** 2
    generator_shape = (settings.NOISE_SIZE, settings.GENERATOR_HIDDEN_SIZES, pixels)
    generator_options = {"normalization": settings.GENERATOR_NORMALIZATION,
                         "activation": settings.HIDDEN_ACTIVATION}
    generator = Generator(*generator_shape, rng, **generator_options)
    mean_image = images.mean(axis=0) / 255.0
    discriminator = Discriminator(pixels, settings.DISCRIMINATOR_HIDDEN_SIZES, rng,
                                  normalization=settings.DISCRIMINATOR_NORMALIZATION,
                                  minibatch_std_group=settings.MINIBATCH_STD_GROUP,
                                  input_offset=mean_image if settings.CENTRE_INPUTS else None,
                                  packing=settings.DISCRIMINATOR_PACKING,
                                  activation=settings.HIDDEN_ACTIVATION,
                                  spectral_norm=settings.SPECTRAL_NORM)
    if settings.SIGMOID_INIT and settings.HIDDEN_ACTIVATION == "sigmoid":
        init_for_sigmoid(generator)
    sampler = Generator(*generator_shape, rng, **generator_options)
    weight_average = WeightAverage(generator, sampler, settings.GENERATOR_AVERAGE_DECAY)
    return generator, discriminator, sampler, weight_average


def score_samples(meter, sampler, noise, label="quality"):
    """Return the quality figures of the samples that sampler draws from noise, and log them."""
    sampler.freeze_batch_statistics()
    images, _ = sampler.forward(noise)
    scores = meter.score(images)
    log.info("%s  Frechet distance %.2f (floor %.2f, ratio %.2f)  precision %.2f  recall %.2f",
             label, scores["frechet_distance"], meter.floor, scores["frechet_distance"] / meter.floor,
             scores["precision"], scores["recall"])
    return scores


def fill_batch(real, multiple):
    """Return the batch real, with its first images repeated at its end to make its size a multiple.

    The discriminator judges whole packs of images, and its minibatch
    standard-deviation feature whole groups of packs; Discriminator.batch_multiple
    gives the size that keeps every pack and group within the real images.
    Only an epoch's last, shorter batch can need filling.
    """
    rows = -(-len(real) // multiple) * multiple
    return real if rows == len(real) else np.resize(real, (rows, real.shape[1]))


def train_step(real, generator, discriminator, generator_optimizer, discriminator_optimizer, noise,
               real_label=1.0, instance_noise=None, workspaces=None, feature_matching=0.0):
    """Run one discriminator step and one generator step, and return the batch's losses and D outputs.

    real_label is the target of real images (below 1 for one-sided label
    smoothing). feature_matching > 0 adds that weight times the squared
    distance between the mean features of the real and the generated images
    to the generator's loss, and the results report that part apart, as
    feature_matching_loss. instance_noise, if given, is an array of Gaussian
    noise of shape (3 * batch, pixels): its first two thirds are added to the
    discriminator's inputs in its own step, the last third in the generator's.
    workspaces maps each pass of the step to the networks.Workspace that
    contains its arrays. Keep one defaultdict(Workspace) from step to step,
    so that the step reuses its arrays instead of allocating new ones. Each
    pass has a workspace of its own, so no pass overwrites another's caches.
    """
    if workspaces is None:
        workspaces = defaultdict(Workspace)
    batch = len(real)
    generator_workspace = workspaces["generator"]
    discriminator_workspace = workspaces["discriminator on real and fake"]
    generator_step_workspace = workspaces["discriminator in the generator step"]

    fake, generator_caches = generator.forward(noise, generator_workspace)  # (batch, pixels) in [0, 1]

    # Discriminator step: real images have label real_label, generated images label 0.
    # Both halves go through one forward pass, whose caches stay in its own workspace.
    # With spectral normalisation, each of D's layers first runs one step of power iteration.
    discriminator.update_spectral_norms()
    inputs = discriminator_workspace.array("real and fake", (2 * batch, real.shape[1]), fake.dtype)
    np.concatenate([real, fake], out=inputs)
    if instance_noise is not None:
        inputs += instance_noise[:2 * batch]
    logits, caches = discriminator.forward(inputs, discriminator_workspace)
    real_logits, fake_logits = np.split(logits, 2)  # one logit per image or per pack of images
    loss_real, grad_real = bce_with_logits(real_logits, real_label)
    loss_fake, grad_fake = bce_with_logits(fake_logits, 0.0)
    _, discriminator_grads = discriminator.backward(
        caches, np.concatenate([grad_real, grad_fake]), need_input_grad=False,
        workspace=discriminator_workspace)
    discriminator_optimizer.step(discriminator_grads)
    if feature_matching:  # the features are the input of D's last layer, here for the real images
        real_feature_mean = discriminator.features(caches)[:len(real_logits)].mean(axis=0)

    # Generator step with the non-saturating loss: it maximises log D(G(z)) by
    # minimising the cross-entropy of D's output on generated images against
    # label 1. Only D's input gradient is needed here, not its weight gradients.
    if instance_noise is not None:
        noisy_fake = generator_step_workspace.array("noisy fake", fake.shape, fake.dtype)
        fake = np.add(fake, instance_noise[2 * batch:], out=noisy_fake)
    judged_logits, caches = discriminator.forward(fake, generator_step_workspace)
    generator_loss, grad_logits = bce_with_logits(judged_logits, 1.0)
    hidden_grads = None
    feature_matching_loss = None
    if feature_matching:
        # Feature matching (Salimans et al., 2016): the generated images' mean
        # features should equal the real images'. The gradient of
        # weight * ||mean - real mean||^2 with respect to each row is
        # 2 * weight * (mean - real mean) / rows.
        features = discriminator.features(caches)
        difference = features.mean(axis=0) - real_feature_mean
        feature_matching_loss = float(feature_matching * np.square(difference).sum())
        row_grad = (2.0 * feature_matching / len(features)) * difference
        hidden_grads = {len(discriminator.layers) - 2: np.broadcast_to(row_grad, features.shape)}
    grad_fake_images, _ = discriminator.backward(caches, grad_logits, need_param_grads=False,
                                                 workspace=generator_step_workspace,
                                                 hidden_grads=hidden_grads)
    _, generator_grads = generator.backward(generator_caches, grad_fake_images, need_input_grad=False,
                                            workspace=generator_workspace)
    generator_optimizer.step(generator_grads)

    results = {
        "discriminator_loss": loss_real + loss_fake,
        "generator_loss": generator_loss,  # the adversarial part alone, -log D(G(z))
        "d_real": float(sigmoid(real_logits).mean()),
        "d_fake": float(sigmoid(fake_logits).mean()),
    }
    if feature_matching_loss is not None:
        results["feature_matching_loss"] = feature_matching_loss
    return results


def train(settings, stop):
    """Train on settings.DATA_DIR, writing sample grids to settings.OUTPUT_DIR, and return the exit status."""
    init_rng, shuffle_rng, noise_rng, fixed_noise_rng, quality_rng = (
        np.random.default_rng(seed) for seed in np.random.SeedSequence(settings.SEED).spawn(5))

    # Refuse an unusable checkpoint before the slow work of loading the images.
    saved = checkpoint.read_for_resume(settings)

    cache_dir = os.path.join(settings.OUTPUT_DIR, "cache") if settings.DATA_CACHE else None
    images = load_images(settings.DATA_DIR, settings.IMAGE_SIZE, cache_dir, excluded=[settings.OUTPUT_DIR])
    dataset = Dataset(images, settings.IMAGE_SIZE, settings.HORIZONTAL_FLIP)
    pixels = settings.IMAGE_SIZE ** 2

    generator, discriminator, sampler, weight_average = build_networks(settings, images, init_rng)
    generator_optimizer = make_optimizer(generator.parameters(), settings, settings.LEARNING_RATE)
    discriminator_optimizer = make_optimizer(
        discriminator.parameters(), settings, settings.DISCRIMINATOR_LEARNING_RATE or settings.LEARNING_RATE)
    fixed_noise = fixed_noise_rng.standard_normal(
        (SAMPLE_GRID_SIDE ** 2, settings.NOISE_SIZE), dtype=np.float32)
    instance_noise = None

    # The quality meter fits its feature space and its floor once, and then
    # scores as many samples as its reference set has images, from fixed noise.
    meter = None
    if settings.QUALITY_EVERY:
        meter = QualityMeter(images / 255.0, quality_rng, settings.IMAGE_SIZE, settings.HORIZONTAL_FLIP)
        quality_noise = quality_rng.standard_normal(
            (meter.sample_count, settings.NOISE_SIZE), dtype=np.float32)
        log.info("Quality floor (Frechet distance between two halves of the training set): %.2f",
                 meter.floor)

    # Continue from the checkpoint in the output folder, which overwrites the
    # objects above in place, or start fresh.
    os.makedirs(settings.OUTPUT_DIR, exist_ok=True)
    rngs = {"init": init_rng, "shuffle": shuffle_rng, "noise": noise_rng, "fixed_noise": fixed_noise_rng}
    run = checkpoint.TrainingState(settings, generator, discriminator, generator_optimizer,
                                   discriminator_optimizer, fixed_noise, rngs,
                                   checkpoint.fingerprint_images(images), sampler)
    resumed = run.resume_or_start(saved)
    batches_per_epoch = dataset.batches_per_epoch(settings.BATCH_SIZE)
    weight_average.update_count = run.epoch * batches_per_epoch + run.step  # its warm-up goes on
    if not resumed:
        write_samples(sampler, fixed_noise, settings, "samples_epoch_0000.png")
    if run.epoch >= settings.NUM_EPOCHS:
        log.info("Training already reached epoch %d, and NUM_EPOCHS is %d. Raise --num-epochs to "
                 "train longer, or use --resume false to start fresh.", run.epoch, settings.NUM_EPOCHS)
        return 0
    log.info("Training until epoch %d with %d mini-batch%s of up to %d images per epoch; "
             "sample grids go to %s", settings.NUM_EPOCHS, batches_per_epoch,
             "" if batches_per_epoch == 1 else "es", settings.BATCH_SIZE, settings.OUTPUT_DIR)
    progress = report.ProgressLine(batches_per_epoch, settings.NUM_EPOCHS, settings.PROGRESS_INTERVAL)

    history = run.history  # one dict of figures per finished epoch, restored on resume
    history_file = report.HistoryFile(os.path.join(settings.OUTPUT_DIR, "history.csv"))
    first_epoch = run.epoch + 1
    workspaces = defaultdict(Workspace)  # the arrays that train_step reuses from step to step
    start = time.perf_counter()
    for epoch in range(first_epoch, settings.NUM_EPOCHS + 1):
        epoch_start = time.perf_counter()
        progress.start_epoch(epoch, run.step)
        for real in run.epoch_batches(dataset, settings.BATCH_SIZE):  # only the batches still to train
            real = fill_batch(real, discriminator.batch_multiple)
            # Sample the noise, then train D and G on one batch.
            noise = noise_rng.standard_normal((len(real), settings.NOISE_SIZE), dtype=np.float32)
            if settings.INSTANCE_NOISE:  # for the discriminator's inputs in both steps
                instance_noise = noise_rng.standard_normal((3 * len(real), pixels), dtype=np.float32)
                instance_noise *= np.float32(settings.INSTANCE_NOISE)
            results = train_step(real, generator, discriminator,
                                 generator_optimizer, discriminator_optimizer, noise,
                                 settings.REAL_LABEL, instance_noise, workspaces,
                                 settings.FEATURE_MATCHING)
            weight_average.update()
            run.record_step(results)  # raises TrainingDiverged on a NaN or infinite loss
            progress.update(run.step, len(real))
            if stop.requested:
                break
        progress.clear()
        if run.step < batches_per_epoch:  # stopped inside the epoch
            break

        # One row of per-epoch figures: the means over the epoch's batches.
        row = {"epoch": epoch, **run.finish_epoch()}
        row["seconds"] = time.perf_counter() - epoch_start
        # Quality figures every QUALITY_EVERY epochs, stored in this epoch's row.
        if meter is not None and epoch % settings.QUALITY_EVERY == 0:
            row.update(score_samples(meter, sampler, quality_noise, f"epoch {epoch} quality"))
            row["frechet_floor"] = meter.floor
        history.append(row)
        history_file.update(history)
        remaining = (time.perf_counter() - start) / (epoch - first_epoch + 1) * (settings.NUM_EPOCHS - epoch)
        log.info("epoch %*d/%d  D loss %.3f  G loss %.3f  D(x) %.3f  D(G(z)) %.3f  %.2fs  ETA %s",
                 len(str(settings.NUM_EPOCHS)), epoch, settings.NUM_EPOCHS,
                 row["discriminator_loss"], row["generator_loss"], row["d_real"], row["d_fake"],
                 row["seconds"], format_duration(remaining))

        # Save a sample grid and a checkpoint when their epochs come.
        if epoch % settings.SAMPLE_EVERY == 0:
            run.check_weights("sampler")  # a NaN weight would draw a grid of noise
            write_samples(sampler, fixed_noise, settings, f"samples_epoch_{epoch:04d}.png")
        if (epoch % settings.CHECKPOINT_EVERY == 0
                or time.monotonic() - run.saved_time >= 60 * settings.CHECKPOINT_MINUTES):
            run.save()
        if epoch % settings.CHART_EVERY == 0:
            report.write_chart(history, os.path.join(settings.OUTPUT_DIR, "history.png"))
        if stop.requested:
            break

    # Every stop saves a checkpoint, so running the same command again resumes.
    if stop.requested:
        log.info("Stopped by %s %s.", stop.source, run.describe_position())
    run.save()
    # Score the final weights too, unless the last finished epoch just did.
    if meter is not None and (stop.requested or not history or "precision" not in history[-1]):
        score_samples(meter, sampler, quality_noise, "final quality")
    final_path = write_samples(sampler, fixed_noise, settings, "final.png")
    log.info("Final sample grid: %s (also latest.png)", final_path)
    report.write_run_outputs(history, sampler, dataset.images, settings)
    log.info("All outputs are in %s", settings.OUTPUT_DIR)
    return stop.exit_status if stop.requested else 0


def configure_logging():
    """Send progress to stdout and warnings to stderr, as one plain line each."""
    formatter = logging.Formatter("%(message)s")
    progress = logging.StreamHandler(sys.stdout)
    progress.setFormatter(formatter)
    progress.addFilter(lambda record: record.levelno < logging.WARNING)
    warnings = logging.StreamHandler(sys.stderr)
    warnings.setFormatter(formatter)
    warnings.setLevel(logging.WARNING)
    logging.basicConfig(level=logging.INFO, handlers=[progress, warnings])
    # A closed pipe, as in `python gan.py | head`, must not print a traceback
    # for every later log line or stop training.
    logging.raiseExceptions = False


def generate(settings):
    """Write settings.generate new faces with the checkpoint's generator, and return the exit status."""
    path = os.path.join(settings.OUTPUT_DIR, checkpoint.CHECKPOINT_NAME)
    if not os.path.isfile(path):
        print(f"gan.py: error: No checkpoint found at {path}, so there is no trained generator to draw "
              f"faces with. Train one first with `python gan.py`, giving the same --output-dir, then run "
              f"--generate again.", file=sys.stderr)
        return 1
    generator, saved_settings = checkpoint.load_generator(path)
    log.info("Loaded the generator from %s", path)
    report.write_generated_faces(generator, settings.generate, saved_settings["NOISE_SIZE"],
                                 saved_settings["IMAGE_SIZE"], settings.SAMPLE_CELL_SIZE,
                                 settings.OUTPUT_DIR, settings.SEED)
    return 0


def main(argv=None):
    configure_logging()
    if CONFIG_IMPORT_ERROR is not None:
        print(f"gan.py: error: {describe_config_error(CONFIG_IMPORT_ERROR)}", file=sys.stderr)
        return 2
    try:
        settings = load_settings(argv)
    except SettingsError as error:
        print(f"gan.py: error: {error}", file=sys.stderr)
        return 2

    stop = StopRequest()
    stop.install()
    try:
        if settings.generate:
            return generate(settings)
        return train(settings, stop)
    except (NoImagesError, checkpoint.CheckpointError, checkpoint.TrainingDiverged) as error:
        print(f"gan.py: error: {error}", file=sys.stderr)
        return 1
    except MemoryError:
        print("gan.py: error: not enough memory for the networks and data of these settings. "
              "Lower GENERATOR_HIDDEN_SIZES, DISCRIMINATOR_HIDDEN_SIZES, IMAGE_SIZE or BATCH_SIZE.",
              file=sys.stderr)
        return 1
    except OSError as error:
        print(f"gan.py: error: could not write to the output folder {settings.OUTPUT_DIR}: "
              f"{error.strerror or error} ({error.filename}). Make the folder writable, free some "
              f"disk space, or choose another folder with --output-dir.", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
