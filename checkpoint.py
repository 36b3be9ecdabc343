"""Save, check and restore training checkpoints, so that no stop loses training.

This is a module of its own so that gan.py stays a readable training loop:
everything about the checkpoint file (its layout, atomic writes, validation,
the messages for a bad or foreign file) lives here.

A checkpoint is one .npz file, output/checkpoint.npz by default, that
numpy.load(path, allow_pickle=False) reads. Pickle is never needed, because
loading pickled data can run code and people share checkpoints. It contains:

    format                      "numpy-face-gan checkpoint 1": marks the file and its layout version
    config                      JSON string: every setting of the run that wrote it
    state                       JSON string: epoch and step reached, random generator states,
                                optimiser step counts, sums of the unfinished epoch, history columns
    generator.param.N           the generator's parameters, in Generator.parameters() order
    sampler.param.N             the same for the generator that draws the samples (a moving
                                average of the generator's weights, or a copy of them)
    discriminator.param.N       the same for the discriminator
    discriminator.state.N       the power-iteration vectors u and v of each spectral-normalised
                                layer, in MLP.state_arrays() order, and absent without SPECTRAL_NORM
    generator.adam_m.N, ...     Adam's first and second moments (adam_v), with Adam only
    fixed_noise.0               (64, NOISE_SIZE) noise vectors of the sample grids
    history                     (epochs, columns) float64 table of the per-epoch figures, NaN where
                                a row has no value for a column

Scalars and dicts are stored as JSON in 0-d unicode arrays.

To use a trained generator elsewhere, for example to draw new faces:

    generator, config = checkpoint.load_generator("output/checkpoint.npz")
    images, _ = generator.forward(noise)  # noise: (count, config["NOISE_SIZE"]) float32
"""

import glob
import itertools
import json
import logging
import os
import tempfile
import time
import zlib

import numpy as np

from networks import Adam, Generator

log = logging.getLogger("gan")

CHECKPOINT_NAME = "checkpoint.npz"
FORMAT = "numpy-face-gan checkpoint 1"
TEMPORARY_PREFIX = ".checkpoint-"
TEMPORARY_SUFFIX = ".npz.tmp"

# Settings that fix the shapes of the networks, the optimiser state or the
# training data. A checkpoint whose values differ is not loaded. Settings such
# as LEARNING_RATE or NUM_EPOCHS may change between runs.
SHAPING_SETTINGS = (
    "DATA_DIR", "IMAGE_SIZE", "NOISE_SIZE",
    "GENERATOR_HIDDEN_SIZES", "DISCRIMINATOR_HIDDEN_SIZES", "OPTIMIZER",
    "GENERATOR_NORMALIZATION", "DISCRIMINATOR_NORMALIZATION", "MINIBATCH_STD_GROUP",
    "DISCRIMINATOR_PACKING", "HIDDEN_ACTIVATION", "SPECTRAL_NORM",
)

# Shaping settings added after checkpoints were first written, with the value
# that every checkpoint without them was trained with.
VALUES_BEFORE_RECORDED = {"DISCRIMINATOR_PACKING": 1, "HIDDEN_ACTIVATION": "sigmoid", "SPECTRAL_NORM": False}

# Files that a training run writes into the output folder. Starting fresh
# moves those of the earlier run into a subfolder instead of replacing them.
RUN_OUTPUT_PATTERNS = (
    CHECKPOINT_NAME, "samples_epoch_*.png", "final.png", "latest.png", "history.csv", "history.png",
    "timelapse.mp4", "timelapse.avi", "latent_walk.png", "latent_walk.mp4", "latent_walk.avi",
    "nearest_neighbours.png",
)
MAX_NAMED_FILES = 4  # how many moved file names a log line lists before it only counts them

WAYS_TO_START_FRESH = (
    "start a new training with --resume false (the earlier run's files are moved into a "
    "subfolder), or choose another folder with --output-dir"
)


class CheckpointError(Exception):
    """Raised when a checkpoint cannot be read, used or written; the message names the path and the fix."""


class TrainingDiverged(Exception):
    """Raised when a loss, weight or optimiser moment becomes NaN or infinite."""


# --- Reading ---


def read(path):
    """Read and check the checkpoint at path; return its config, state and arrays.

    Returns a dict with "config" and "state" (parsed JSON) and "arrays" (name
    to ndarray). Raises CheckpointError for a file that is missing, truncated,
    corrupt, needs pickle or was not written by this program.
    """
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        if str(arrays.get("format", "")) != FORMAT:
            raise ValueError(f'no "{FORMAT}" mark')
        config = json.loads(str(arrays.pop("config")))
        state = json.loads(str(arrays.pop("state")))
        if not isinstance(config, dict) or not isinstance(state, dict):
            raise ValueError("its config or state is not a JSON object")
    except FileNotFoundError:
        raise CheckpointError(f"No checkpoint found at {path}.") from None
    except Exception as error:  # any failure to parse means the file is not a usable checkpoint
        # NumPy reads any file that is not .npz or .npy as pickle, which
        # allow_pickle=False rejects with advice to load it unsafely. Leave that out.
        reason = f"{type(error).__name__}: {error}"
        if "allow_pickle" in str(error):
            reason = "not a NumPy .npz file"
        raise CheckpointError(
            f"The checkpoint {path} cannot be read ({reason}). It is truncated, "
            f"corrupt or not a checkpoint of gan.py, and it was left unchanged. Move it away, "
            f"{WAYS_TO_START_FRESH}."
        ) from None
    return {"config": config, "state": state, "arrays": arrays}


def load_generator(path):
    """Load the generator of the checkpoint at path; return it and the settings it was trained with.

    The settings are a dict of setting name to value as in config.py, with
    tuples stored as lists, for example config["NOISE_SIZE"] and
    config["IMAGE_SIZE"]. Raises CheckpointError for an unusable file.
    """
    checkpoint = read(path)
    config = checkpoint["config"]
    arrays = checkpoint["arrays"]
    try:
        generator = Generator(config["NOISE_SIZE"], tuple(config["GENERATOR_HIDDEN_SIZES"]),
                              config["IMAGE_SIZE"] ** 2, np.random.default_rng(0),
                              normalization=config.get("GENERATOR_NORMALIZATION", "none"),
                              activation=config.get("HIDDEN_ACTIVATION",
                                                    VALUES_BEFORE_RECORDED["HIDDEN_ACTIVATION"]))
        # The sampler is the generator whose samples the run showed and scored.
        prefix = "sampler.param" if "sampler.param.0" in arrays else "generator.param"
        copy_arrays(arrays, prefix, generator.parameters())
        generator.freeze_batch_statistics()
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(
            f"The checkpoint {path} does not contain a usable generator ({type(error).__name__}: {error})."
        ) from None
    return generator, config


def copy_arrays(arrays, prefix, targets):
    """Copy arrays[prefix.0], arrays[prefix.1], ... into targets in place, checking shapes and dtypes."""
    names = sorted((name for name in arrays if name.rsplit(".", 1)[0] == prefix),
                   key=lambda name: int(name.rsplit(".", 1)[1]))
    if len(names) != len(targets):
        raise ValueError(f"{len(names)} arrays named {prefix}.N, expected {len(targets)}")
    for name, target in zip(names, targets, strict=True):
        saved = arrays[name]
        if saved.shape != target.shape or saved.dtype != target.dtype:
            raise ValueError(f"{name} is {saved.dtype} {saved.shape}, expected {target.dtype} {target.shape}")
        target[...] = saved


def format_value(value):
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def as_json_value(value):
    """Return value as it reads back from JSON, so that a tuple compares equal to its saved list."""
    return json.loads(json.dumps(value))


def find_config_differences(saved_config, settings):
    """Return one line per shaping setting whose checkpoint value differs from the current one."""
    lines = []
    for name in SHAPING_SETTINGS:
        if not hasattr(settings, name):
            continue
        current = as_json_value(getattr(settings, name))
        saved = saved_config.get(name, VALUES_BEFORE_RECORDED.get(name))
        if saved is None:
            lines.append(f"  {name}: not recorded in the checkpoint, now {format_value(current)}")
        elif saved != current:
            lines.append(f"  {name}: checkpoint {format_value(saved)}, now {format_value(current)}")
    return lines


# --- Writing ---


def write_atomically(path, arrays):
    """Write arrays to path as .npz so that path contains the old file or the complete new one.

    The data goes to a temporary file in the same folder, which is flushed
    and synced to disk before os.replace puts it in place. An error, or an
    exit at any moment, leaves the previous file as it was. Raises OSError.
    """
    folder = os.path.dirname(path)
    descriptor, temporary = tempfile.mkstemp(prefix=TEMPORARY_PREFIX, suffix=TEMPORARY_SUFFIX, dir=folder)
    try:
        with os.fdopen(descriptor, "wb") as file:
            # mkstemp makes the file readable by its owner only; give it the
            # permissions that the user's umask gives any new file.
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(temporary, 0o666 & ~umask)
            np.savez(file, **arrays)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
    sync_folder(folder)


def sync_folder(folder):
    """Sync the folder's entries to disk, so that a rename survives a power cut.

    Some systems, Windows among them, cannot open a folder for syncing; the
    rename itself is done there, so that failure is ignored.
    """
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def check_writable(folder):
    """Raise CheckpointError naming folder unless a file can be created in it."""
    try:
        descriptor, probe = tempfile.mkstemp(prefix=TEMPORARY_PREFIX, suffix=TEMPORARY_SUFFIX, dir=folder)
        os.close(descriptor)
        os.unlink(probe)
    except OSError as error:
        raise CheckpointError(
            f"Cannot write to the output folder {folder} ({error.strerror or error}). Make it writable, "
            f"free some disk space, or choose another folder with --output-dir."
        ) from None


def remove_unfinished_writes(folder):
    """Delete temporary checkpoint files that an exit in the middle of a write left behind."""
    for path in glob.glob(os.path.join(glob.escape(folder), TEMPORARY_PREFIX + "*" + TEMPORARY_SUFFIX)):
        try:
            os.unlink(path)
            log.info("Removed %s, the unfinished file of an interrupted checkpoint write.", path)
        except OSError:
            pass


def move_earlier_run_aside(folder, reason):
    """Move the files of an earlier run in folder into a new subfolder, logging both paths.

    Nothing is moved, and nothing is logged, when folder contains no such file.
    """
    names = sorted({os.path.basename(path)
                    for pattern in RUN_OUTPUT_PATTERNS
                    for path in glob.glob(os.path.join(glob.escape(folder), pattern))
                    if os.path.isfile(path)})
    if not names:
        return
    stamp = time.strftime("%Y%m%d-%H%M%S")
    destination = os.path.join(folder, f"previous-run-{stamp}")
    for suffix in itertools.count(2):
        if not os.path.exists(destination):
            break
        destination = os.path.join(folder, f"previous-run-{stamp}-{suffix}")
    os.mkdir(destination)
    for name in names:
        os.replace(os.path.join(folder, name), os.path.join(destination, name))
    listed = ", ".join(names[:MAX_NAMED_FILES])
    if len(names) > MAX_NAMED_FILES:
        listed += f" and {len(names) - MAX_NAMED_FILES} more"
    log.info("%s: moved %d files of the earlier run (%s) from %s to %s.",
             reason, len(names), listed, folder, destination)


# --- Checking for NaN and infinity ---


def find_non_finite(named_arrays):
    """Return the name of the first array that contains NaN or infinity, or None."""
    for name, arrays in named_arrays:
        for array in arrays:
            # The sum is fast, and it is NaN or infinite whenever an element is.
            # The full check only runs to rule out an overflow of finite elements.
            if not np.isfinite(array.sum()) and not np.isfinite(array).all():
                return name
    return None


# --- The training state ---


def read_for_resume(settings):
    """Read and check the checkpoint that training will continue from, or return None.

    Returns None when training starts fresh: RESUME is false or the output
    folder has no checkpoint. Raises CheckpointError for an unreadable
    checkpoint or one made with other network or data settings. gan.py calls
    this before it loads any images, so a refusal costs no loading time.
    """
    path = os.path.join(settings.OUTPUT_DIR, CHECKPOINT_NAME)
    if not settings.RESUME or not os.path.exists(path):
        return None
    saved = read(path)
    differences = find_config_differences(saved["config"], settings)
    if differences:
        raise CheckpointError(
            f"The checkpoint {path} was made with other settings, so it was not loaded and "
            f"was left unchanged:\n" + "\n".join(differences) + "\n"
            f"To continue that training, set these values back (in config.py or on the command "
            f"line); otherwise {WAYS_TO_START_FRESH}."
        )
    return saved


class TrainingState:
    """Everything a checkpoint saves: the objects of a training run and the position it reached.

    The networks, optimisers, random generators and fixed noise are the
    caller's objects; restoring a checkpoint overwrites them in place.
    """

    def __init__(self, settings, generator, discriminator, generator_optimizer, discriminator_optimizer,
                 fixed_noise, rngs, data_fingerprint, sampler=None):
        self.settings = settings
        self.data_fingerprint = data_fingerprint  # see fingerprint_images
        self.path = os.path.join(settings.OUTPUT_DIR, CHECKPOINT_NAME)
        self.networks = {"generator": generator, "discriminator": discriminator}
        if sampler is not None:
            self.networks["sampler"] = sampler
        self.optimizers = {"generator": generator_optimizer, "discriminator": discriminator_optimizer}
        self.fixed_noise = fixed_noise
        self.rngs = rngs  # name to np.random.Generator; "shuffle" orders and flips the batches
        self.history = []  # one dict of figures per finished epoch
        self.epoch = 0  # epochs finished
        self.step = 0  # batches finished in epoch self.epoch + 1
        self.totals = {}  # sums of the train_step figures over those batches
        self.epoch_shuffle_state = None  # state of rngs["shuffle"] when epoch self.epoch + 1 began
        self.saved_position = None  # (epoch, step) of the checkpoint on disk, if this run wrote or read it
        self.saved_time = time.monotonic()  # when this run started or last saved

    # --- Starting ---

    def resume_or_start(self, saved):
        """Restore the checkpoint that read_for_resume returned, or start fresh if it returned None.

        Return True if a checkpoint was restored. Starting fresh moves the
        earlier run's files into a subfolder. Raises CheckpointError for an
        unwritable folder or a checkpoint that does not fit the networks.
        """
        folder = self.settings.OUTPUT_DIR
        check_writable(folder)
        remove_unfinished_writes(folder)
        if not self.settings.RESUME:
            move_earlier_run_aside(folder, "Starting fresh because RESUME is false")
            return False
        if saved is None:
            move_earlier_run_aside(folder, f"No checkpoint in {folder}, so training starts fresh")
            return False

        self.restore(saved)
        log.info("Resuming from %s, %s.", self.path, self.describe_position())
        return True

    def restore(self, checkpoint):
        """Overwrite the training objects and position with those of a checkpoint read by read()."""
        try:
            self.restore_arrays_and_state(checkpoint["arrays"], checkpoint["state"])
        except (KeyError, TypeError, ValueError) as error:
            raise CheckpointError(
                f"The checkpoint {self.path} does not match the networks of these settings "
                f"({type(error).__name__}: {error}), so it is corrupt and was left unchanged. Move it "
                f"away, {WAYS_TO_START_FRESH}."
            ) from None
        self.saved_position = (self.epoch, self.step)

        saved_fingerprint = checkpoint["state"].get("data_fingerprint")
        if saved_fingerprint != self.data_fingerprint:
            log.warning("The training images changed since the checkpoint was saved (%s then, %s now), "
                        "so this run will not match an unbroken run on the old images.",
                        saved_fingerprint, self.data_fingerprint)

        saved_batch_size = checkpoint["config"].get("BATCH_SIZE")
        if self.step and saved_batch_size != self.settings.BATCH_SIZE:
            log.info("BATCH_SIZE changed from %s to %d, so epoch %d restarts from its first batch "
                     "(the networks keep what they learned in it).",
                     saved_batch_size, self.settings.BATCH_SIZE, self.epoch + 1)
            self.step = 0
            self.totals = {}
            self.rngs["shuffle"].bit_generator.state = self.epoch_shuffle_state

    def restore_arrays_and_state(self, arrays, state):
        for name, network in self.networks.items():
            # A checkpoint without a sampler starts the sampler from the generator.
            prefix = "generator" if name == "sampler" and "sampler.param.0" not in arrays else name
            copy_arrays(arrays, f"{prefix}.param", network.parameters())
            copy_arrays(arrays, f"{prefix}.state", network.state_arrays())
        for name, optimizer in self.optimizers.items():
            if isinstance(optimizer, Adam):
                copy_arrays(arrays, f"{name}.adam_m", optimizer.first_moments)
                copy_arrays(arrays, f"{name}.adam_v", optimizer.second_moments)
                optimizer.step_count = int(state["optimizer_steps"][name])
        copy_arrays(arrays, "fixed_noise", [self.fixed_noise])
        for name, rng in self.rngs.items():
            rng.bit_generator.state = state["rng_states"][name]

        self.epoch = int(state["epoch"])
        self.step = int(state["step"])
        self.totals = {key: float(value) for key, value in state["totals"].items()}
        self.epoch_shuffle_state = state["epoch_shuffle_state"]
        self.history[:] = read_history(arrays["history"], state["history_columns"],
                                       state["history_integer_columns"])

    # --- Training ---

    def epoch_batches(self, dataset, batch_size):
        """Return an iterator over the batches of epoch self.epoch + 1 that are still to train.

        A resumed epoch restarts from the shuffle generator's state at the
        epoch's start and skips the batches already trained. So the order,
        the flips and every generator state equal those of an unbroken run.
        """
        shuffle_rng = self.rngs["shuffle"]
        if self.step == 0:
            self.epoch_shuffle_state = shuffle_rng.bit_generator.state
        else:
            shuffle_rng.bit_generator.state = self.epoch_shuffle_state
        return itertools.islice(dataset.batches(batch_size, shuffle_rng), self.step, None)

    def record_step(self, results):
        """Add one train_step's figures to the epoch's sums; raise TrainingDiverged if one is not finite.

        Only the losses and D outputs are checked here, because summing
        every weight after every step costs a pass over all parameters. A NaN
        or infinite weight makes the next step's losses NaN or infinite, so
        it stops training one step later.
        """
        # NOTE: a non-finite value can leave the losses finite, for example a
        # NaN in the sampler's weights after the last step of an epoch. Then
        # check_weights finds it before the next sample grid, or save()
        # before the next checkpoint, not at its step.
        self.step += 1
        for key, value in results.items():
            self.totals[key] = self.totals.get(key, 0.0) + value
        problem = find_non_finite(
            [(f"the {key.replace('_', ' ')}", [np.asarray(value)]) for key, value in results.items()])
        if problem:
            raise TrainingDiverged(self.describe_divergence(problem))

    def check_weights(self, name):
        """Raise TrainingDiverged if a weight of the network called name is NaN or infinite."""
        problem = find_non_finite([(f"the {name}'s weights", self.networks[name].parameters())])
        if problem:
            raise TrainingDiverged(self.describe_divergence(problem))

    def finish_epoch(self):
        """Move on to the next epoch; return the means of the finished epoch's figures."""
        means = {key: total / self.step for key, total in self.totals.items()}
        self.epoch += 1
        self.step = 0
        self.totals = {}
        return means

    def describe_position(self, position=None):
        """Return "after epoch E" or "in epoch E after batch B" for position, by default the current one."""
        epoch, step = position or (self.epoch, self.step)
        if step == 0:
            return f"after epoch {epoch}"
        return f"in epoch {epoch + 1} after batch {step}"

    def describe_divergence(self, problem):
        if self.saved_position is None:
            kept = "No checkpoint of this run was written yet, so nothing was saved."
        else:
            kept = (f"The last good checkpoint, {self.path} "
                    f"({self.describe_position(self.saved_position)}), is kept.")
        return (f"Training diverged: {problem} became NaN or infinite {self.describe_position()}. {kept} "
                f"Lower the learning rate (now {self.settings.LEARNING_RATE}), "
                f"for example --learning-rate {self.settings.LEARNING_RATE / 2:g}, and run again.")

    # --- Saving ---

    def save(self):
        """Write the checkpoint atomically, unless the file on disk is already at this position.

        Raises TrainingDiverged instead of writing a state with a NaN or
        infinite value, and CheckpointError naming the path if the write
        fails; the previous checkpoint is then unchanged in both cases.
        """
        if self.saved_position == (self.epoch, self.step):
            return
        arrays = self.collect_arrays()
        problem = find_non_finite((name, [array]) for name, array in arrays.items()
                                  if array.dtype.kind == "f" and name != "history")
        if problem:
            raise TrainingDiverged(self.describe_divergence(f"the array {problem}"))
        try:
            write_atomically(self.path, arrays)
        except OSError as error:
            kept = "There was no earlier checkpoint."
            if os.path.exists(self.path):
                kept = "The previous checkpoint there is unchanged."
            raise CheckpointError(
                f"Could not write the checkpoint {self.path} ({error.strerror or error}). {kept} "
                f"Free some disk space or make the folder writable, then run again to resume, or "
                f"choose another folder with --output-dir."
            ) from None
        self.saved_position = (self.epoch, self.step)
        self.saved_time = time.monotonic()
        log.info("Checkpoint saved: %s, %s.", self.path, self.describe_position())

    def collect_arrays(self):
        """Return every array and JSON string of the checkpoint, by its name in the file."""
        arrays = {}
        optimizer_steps = {}
        for name, network in self.networks.items():
            arrays.update(numbered(f"{name}.param", network.parameters()))
            arrays.update(numbered(f"{name}.state", network.state_arrays()))
        for name, optimizer in self.optimizers.items():
            if isinstance(optimizer, Adam):
                arrays.update(numbered(f"{name}.adam_m", optimizer.first_moments))
                arrays.update(numbered(f"{name}.adam_v", optimizer.second_moments))
                optimizer_steps[name] = optimizer.step_count
        arrays["fixed_noise.0"] = self.fixed_noise
        columns, integer_columns, table = history_table(self.history)
        arrays["history"] = table

        state = {
            "epoch": self.epoch,
            "step": self.step,
            "totals": self.totals,
            "epoch_shuffle_state": self.epoch_shuffle_state,
            "rng_states": {name: rng.bit_generator.state for name, rng in self.rngs.items()},
            "optimizer_steps": optimizer_steps,
            "history_columns": columns,
            "history_integer_columns": integer_columns,
            "data_fingerprint": self.data_fingerprint,
        }
        arrays["format"] = np.array(FORMAT)
        arrays["config"] = np.array(json.dumps(vars(self.settings)))
        arrays["state"] = np.array(json.dumps(state))
        return arrays


def fingerprint_images(images):
    """Return a short text that changes when the prepared training images change: count and CRC-32."""
    return f"{len(images)} images, CRC-32 {zlib.crc32(images):08x}"


def numbered(prefix, arrays):
    return {f"{prefix}.{index}": array for index, array in enumerate(arrays)}


# --- History ---


def history_table(history):
    """Return the column names, the integer columns and a float64 table of the history rows.

    A row that has no value for a column gets NaN there.
    """
    columns = list(dict.fromkeys(key for row in history for key in row))
    table = np.full((len(history), len(columns)), np.nan)
    for index, row in enumerate(history):
        for column, key in enumerate(columns):
            if key in row:
                table[index, column] = float(row[key])
    integer_columns = [
        key for key in columns
        if all(isinstance(row[key], (int, np.integer)) and not isinstance(row[key], bool)
               for row in history if key in row)
    ]
    return columns, integer_columns, table


def read_history(table, columns, integer_columns):
    """Return the history rows of a table made by history_table; NaN stays NaN."""
    if table.ndim != 2 or table.shape[1] != len(columns):
        raise ValueError(f"history table has shape {table.shape} for {len(columns)} columns")
    rows = []
    for values in table:
        row = {}
        for key, value in zip(columns, values.tolist(), strict=True):
            row[key] = int(value) if key in integer_columns and value == value else value
        rows.append(row)
    return rows
