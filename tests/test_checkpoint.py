"""Checkpoints: exact resume, Ctrl+C at random moments, bad files, NaN and write failures.

Most tests run `python gan.py` in a subprocess, as a user does, with tiny
networks and 12x12 images so that each run takes about a second.
"""

import errno
import glob
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import types

import numpy as np
import pytest
from conftest import REPO

import checkpoint
import gan
from networks import LeakyReLU, Sigmoid

TINY = [
    "--generator-hidden-sizes", "16,16,16", "--discriminator-hidden-sizes", "16,16,16",
    "--noise-size", "8", "--image-size", "12", "--sample-cell-size", "8",
    # Batch normalisation, the default, needs batches of 2 or more images.
    "--generator-normalization", "layer",
]
RUN_TIMEOUT = 120  # seconds; a tiny run takes about one


def run_gan(output_dir, *options):
    return subprocess.run(
        [sys.executable, "gan.py", *TINY, "--output-dir", str(output_dir), *options],
        cwd=REPO, capture_output=True, text=True, timeout=RUN_TIMEOUT,
    )


def start_gan(output_dir, *options):
    return subprocess.Popen(
        [sys.executable, "gan.py", *TINY, "--output-dir", str(output_dir), *options],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def wait_for_line(process, text):
    """Read the process's output until a line contains text; return all lines read."""
    lines = []
    for line in process.stdout:
        lines.append(line)
        if text in line:
            return lines
    raise AssertionError(f"gan.py exited without printing {text!r}; output:\n{''.join(lines)}")


def finish(process):
    stdout, stderr = process.communicate(timeout=RUN_TIMEOUT)
    return process.returncode, stdout, stderr


def read_checkpoint(output_dir):
    return checkpoint.read(os.path.join(output_dir, checkpoint.CHECKPOINT_NAME))


def position(saved):
    return saved["state"]["epoch"], saved["state"]["step"]


def assert_same_training(expected, actual):
    """Assert that two checkpoints contain bit-identical weights, optimiser state, generators and history."""
    assert sorted(expected["arrays"]) == sorted(actual["arrays"])
    for name, array in expected["arrays"].items():
        if name == "history":
            continue
        assert array.dtype == actual["arrays"][name].dtype, name
        assert array.tobytes() == actual["arrays"][name].tobytes(), f"{name} differs"
    columns = expected["state"]["history_columns"]
    timed = [index for index, key in enumerate(columns) if key == "seconds"]
    expected_history = np.delete(expected["arrays"]["history"], timed, axis=1)
    actual_history = np.delete(actual["arrays"]["history"], timed, axis=1)
    assert expected_history.tobytes() == actual_history.tobytes()
    assert expected["state"] == actual["state"]


@pytest.fixture(scope="module", params=[[], ["--spectral-norm", "true"]], ids=["plain", "spectral_norm"])
def unbroken_run(request, tmp_path_factory):
    """The options and the checkpoint of 4 epochs trained in one run, with batches of 1 (100 per epoch).

    With spectral normalisation, an exact resume also needs the saved power-iteration vectors.
    """
    options = ["--batch-size", "1", *request.param]
    output_dir = tmp_path_factory.mktemp("unbroken")
    result = run_gan(output_dir, *options, "--num-epochs", "4")
    assert result.returncode == 0, result.stderr
    return options, read_checkpoint(output_dir)


def test_resume_after_finished_epochs_is_exact(tmp_path, unbroken_run):
    options, unbroken = unbroken_run
    first = run_gan(tmp_path, *options, "--num-epochs", "2")
    assert first.returncode == 0, first.stderr
    after_two = read_checkpoint(tmp_path)
    assert position(after_two) == (2, 0)

    second = run_gan(tmp_path, *options, "--num-epochs", "4")

    assert second.returncode == 0, second.stderr
    assert f"Resuming from {tmp_path / 'checkpoint.npz'}, after epoch 2." in second.stdout
    resumed = read_checkpoint(tmp_path)
    assert position(resumed) == (4, 0)
    assert_same_training(unbroken, resumed)
    # Training moved the weights on after the stop, so the equality above is not trivial.
    weights_after_two = after_two["arrays"]["generator.param.0"]
    assert weights_after_two.tobytes() != resumed["arrays"]["generator.param.0"].tobytes()


def test_resume_after_ctrl_c_mid_epoch_is_exact(tmp_path, unbroken_run):
    options, unbroken = unbroken_run
    # The stop must fall inside an epoch, which takes about 0.1 s here. In
    # the rare case that it falls at an epoch's end, the run is repeated.
    for attempt in range(5):
        output_dir = tmp_path / f"attempt{attempt}"
        process = start_gan(output_dir, *options, "--num-epochs", "4", "--checkpoint-every", "1")
        wait_for_line(process, "Checkpoint saved")  # written after epoch 1, when epoch 2 begins
        time.sleep(0.02)
        process.send_signal(signal.SIGINT)
        returncode, stdout, stderr = finish(process)
        assert returncode == gan.EXIT_INTERRUPTED, stderr
        stopped = read_checkpoint(output_dir)
        if stopped["state"]["step"] > 0:
            break
    else:
        raise AssertionError("five Ctrl+C stops in a row fell on an epoch's end")
    assert "Stopped by Ctrl+C in epoch 2 after batch" in stdout
    assert "Checkpoint saved" in stdout
    assert os.path.exists(output_dir / "final.png")

    resumed_run = run_gan(output_dir, *options, "--num-epochs", "4")

    assert resumed_run.returncode == 0, resumed_run.stderr
    epoch, step = position(stopped)
    assert f"in epoch {epoch + 1} after batch {step}" in resumed_run.stdout
    assert_same_training(unbroken, read_checkpoint(output_dir))


def test_thirty_random_ctrl_c_leave_a_loadable_checkpoint(tmp_path):
    options = ["--batch-size", "50", "--checkpoint-every", "1", "--sample-every", "1"]
    first = run_gan(tmp_path, *options, "--num-epochs", "1")
    assert first.returncode == 0, first.stderr
    reached = position(read_checkpoint(tmp_path))
    chooser = random.Random(20261204)

    for trial in range(30):
        process = start_gan(tmp_path, *options, "--num-epochs", "1000000")
        # Most stops fall in training, while grids and checkpoints are written;
        # every third one may fall in start-up or while the checkpoint loads.
        if trial % 3:
            wait_for_line(process, "Resuming from")
        time.sleep(chooser.uniform(0.0, 0.4))
        process.send_signal(signal.SIGINT)
        if chooser.random() < 0.3:
            # A second Ctrl+C exits at once, possibly in the middle of a write.
            time.sleep(chooser.uniform(0.0, 0.02))
            process.send_signal(signal.SIGINT)
        finish(process)

        saved = read_checkpoint(tmp_path)  # raises CheckpointError if the file is unusable
        generator, _ = checkpoint.load_generator(tmp_path / "checkpoint.npz")
        assert all(np.isfinite(p).all() for p in generator.parameters())
        assert position(saved) >= reached, f"trial {trial} lost training"
        reached = position(saved)

    last = run_gan(tmp_path, *options, "--num-epochs", str(reached[0] + 1))
    assert last.returncode == 0, last.stderr
    assert "Resuming from" in last.stdout
    assert position(read_checkpoint(tmp_path)) == (reached[0] + 1, 0)
    assert glob.glob(str(tmp_path / ".checkpoint-*")) == []
    assert reached > (1, 0), "no trial trained, so the stops hit nothing"


def test_sigterm_saves_checkpoint_like_ctrl_c(tmp_path):
    process = start_gan(tmp_path, "--batch-size", "1", "--num-epochs", "1000", "--checkpoint-every", "1")
    wait_for_line(process, "Checkpoint saved")
    time.sleep(0.02)

    process.send_signal(signal.SIGTERM)
    returncode, stdout, stderr = finish(process)

    assert returncode == 128 + signal.SIGTERM
    assert "SIGTERM: stopping after this step" in stderr
    assert "Checkpoint saved" in stdout
    assert position(read_checkpoint(tmp_path)) > (1, 0)


def test_other_settings_are_not_loaded(tmp_path):
    first = run_gan(tmp_path, "--num-epochs", "1")
    assert first.returncode == 0, first.stderr
    before = (tmp_path / "checkpoint.npz").read_bytes()

    result = run_gan(tmp_path, "--num-epochs", "2", "--image-size", "10", "--generator-hidden-sizes", "8,8")

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "IMAGE_SIZE: checkpoint 12, now 10" in result.stderr
    assert "GENERATOR_HIDDEN_SIZES: checkpoint 16,16,16, now 8,8" in result.stderr
    assert "NOISE_SIZE" not in result.stderr
    assert "--resume false" in result.stderr
    assert "--output-dir" in result.stderr
    assert (tmp_path / "checkpoint.npz").read_bytes() == before


def test_other_hidden_activation_is_not_loaded(tmp_path):
    """Both activations give weights of the same shapes, so only the recorded setting distinguishes them."""
    first = run_gan(tmp_path, "--num-epochs", "1", "--hidden-activation", "leaky_relu")
    assert first.returncode == 0, first.stderr
    before = (tmp_path / "checkpoint.npz").read_bytes()

    result = run_gan(tmp_path, "--num-epochs", "2")

    assert result.returncode == 1
    assert "HIDDEN_ACTIVATION: checkpoint leaky_relu, now sigmoid" in result.stderr
    assert (tmp_path / "checkpoint.npz").read_bytes() == before


def test_spectral_norm_trains_from_command_line(tmp_path):
    result = run_gan(tmp_path, "--num-epochs", "2", "--spectral-norm", "true")

    assert result.returncode == 0, result.stderr
    assert (tmp_path / "final.png").exists()
    saved = read_checkpoint(tmp_path)
    assert saved["config"]["SPECTRAL_NORM"] is True
    # u and v of each of the discriminator's 4 Dense layers, as unit vectors.
    vectors = [saved["arrays"][f"discriminator.state.{index}"] for index in range(8)]
    assert "discriminator.state.8" not in saved["arrays"]
    for vector in vectors:
        assert np.linalg.norm(vector) == pytest.approx(1.0, rel=1e-5)


def test_other_spectral_norm_is_not_loaded(tmp_path):
    """Spectral normalisation keeps the weights' shapes, so only the recorded setting differs."""
    first = run_gan(tmp_path, "--num-epochs", "1")
    assert first.returncode == 0, first.stderr
    assert "discriminator.state.0" not in read_checkpoint(tmp_path)["arrays"]
    before = (tmp_path / "checkpoint.npz").read_bytes()

    result = run_gan(tmp_path, "--num-epochs", "2", "--spectral-norm", "true")

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "SPECTRAL_NORM: checkpoint false, now true" in result.stderr
    assert (tmp_path / "checkpoint.npz").read_bytes() == before


def test_missing_setting_uses_earlier_value(tmp_path):
    """Checkpoints written before a shaping setting existed were trained with its earlier value."""
    first = run_gan(tmp_path, "--num-epochs", "1", "--discriminator-packing", "1")
    assert first.returncode == 0, first.stderr
    saved_config = read_checkpoint(tmp_path)["config"]
    older_config = {name: value for name, value in saved_config.items()
                    if name not in ("HIDDEN_ACTIVATION", "DISCRIMINATOR_PACKING", "SPECTRAL_NORM")}

    same = types.SimpleNamespace(**saved_config)
    assert checkpoint.find_config_differences(older_config, same) == []
    other = types.SimpleNamespace(**{**saved_config, "HIDDEN_ACTIVATION": "leaky_relu"})
    assert checkpoint.find_config_differences(older_config, other) == [
        "  HIDDEN_ACTIVATION: checkpoint sigmoid, now leaky_relu"]
    spectral = types.SimpleNamespace(**{**saved_config, "SPECTRAL_NORM": True})
    assert checkpoint.find_config_differences(older_config, spectral) == [
        "  SPECTRAL_NORM: checkpoint false, now true"]


def test_learning_rate_may_change_on_resume(tmp_path):
    first = run_gan(tmp_path, "--num-epochs", "1")
    assert first.returncode == 0, first.stderr

    result = run_gan(tmp_path, "--num-epochs", "2", "--learning-rate", "0.0005")

    assert result.returncode == 0, result.stderr
    assert "Resuming from" in result.stdout
    assert position(read_checkpoint(tmp_path)) == (2, 0)


def make_foreign_npz(path):
    np.savez(path, weights=np.zeros(3))


def make_pickled_npz(path):
    np.savez(path, format=np.array(checkpoint.FORMAT), config=np.array([{"a": 1}], dtype=object))


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "foreign", "pickled"])
def test_damaged_checkpoint_is_reported_and_kept(tmp_path, damage):
    first = run_gan(tmp_path, "--num-epochs", "1")
    assert first.returncode == 0, first.stderr
    path = tmp_path / "checkpoint.npz"
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "garbage":
        path.write_bytes(bytes(random.Random(1).randrange(256) for _ in range(5000)))
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "foreign":
        make_foreign_npz(path)
    else:
        make_pickled_npz(path)
    damaged = path.read_bytes()

    result = run_gan(tmp_path, "--num-epochs", "2")

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"The checkpoint {path} cannot be read" in result.stderr
    assert "left unchanged" in result.stderr
    assert "allow_pickle" not in result.stderr
    assert path.read_bytes() == damaged


def test_resume_false_moves_earlier_run_aside(tmp_path):
    first = run_gan(tmp_path, "--num-epochs", "1", "--sample-every", "1")
    assert first.returncode == 0, first.stderr
    earlier = (tmp_path / "checkpoint.npz").read_bytes()

    result = run_gan(tmp_path, "--num-epochs", "1", "--resume", "false")

    assert result.returncode == 0, result.stderr
    [folder] = glob.glob(str(tmp_path / "previous-run-*"))
    assert f"from {tmp_path} to {folder}" in result.stdout
    assert open(os.path.join(folder, "checkpoint.npz"), "rb").read() == earlier
    assert os.path.exists(os.path.join(folder, "samples_epoch_0001.png"))
    assert "Resuming" not in result.stdout
    assert position(read_checkpoint(tmp_path)) == (1, 0)


def test_output_folder_under_a_file_is_reported(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    output_dir = blocker / "output"

    result = run_gan(output_dir, "--num-epochs", "1")

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert str(output_dir) in result.stderr


# --- In-process tests of what a subprocess cannot provoke ---


def tiny_settings(output_dir, *options):
    return gan.load_settings([*TINY, "--output-dir", str(output_dir), *options])


def test_nan_weight_stops_training_and_keeps_checkpoint(tmp_path, monkeypatch, capsys):
    calls = []

    def poisoned_train_step(real, generator, *args):
        results = gan_train_step(real, generator, *args)
        calls.append(1)
        if len(calls) == 3 * 25 + 7:  # step 7 of epoch 4, with 25 batches per epoch
            generator.parameters()[0][0, 0] = np.nan
        return results

    gan_train_step = gan.train_step
    monkeypatch.setattr(gan, "train_step", poisoned_train_step)
    monkeypatch.setattr(gan.StopRequest, "install", lambda self: None)
    argv = [*TINY, "--output-dir", str(tmp_path), "--batch-size", "4", "--num-epochs", "6",
            "--checkpoint-every", "2"]

    status = gan.main(argv)

    message = capsys.readouterr().err
    assert status == 1
    # The weights are not checked after each step, but the next step's losses are NaN.
    assert "the discriminator loss became NaN or infinite in epoch 4 after batch 8" in message
    assert "--learning-rate 0.0001" in message  # half of the default 0.0002
    assert f"{tmp_path / 'checkpoint.npz'} (after epoch 2), is kept" in message
    saved = read_checkpoint(tmp_path)
    assert position(saved) == (2, 0)
    assert all(np.isfinite(array).all() for array in saved["arrays"].values() if array.dtype.kind == "f")
    assert not os.path.exists(tmp_path / "final.png")


def test_nan_sampler_stops_before_sample_grid(tmp_path, monkeypatch, capsys):
    # A NaN in the sampler's weights leaves the losses finite, so only the
    # check before the next sample grid finds it.
    samplers = []
    updates = []
    monkeypatch.setattr(gan.StopRequest, "install", lambda self: None)
    build_networks = gan.build_networks

    def build_and_keep_sampler(*args):
        networks = build_networks(*args)
        samplers.append(networks[2])
        return networks

    def poisoned_update(self):
        average_update(self)
        updates.append(1)
        if len(updates) == 3 * 25 + 7:  # step 7 of epoch 4, with 25 batches per epoch
            samplers[0].parameters()[0][0, 0] = np.nan

    average_update = gan.WeightAverage.update
    monkeypatch.setattr(gan, "build_networks", build_and_keep_sampler)
    monkeypatch.setattr(gan.WeightAverage, "update", poisoned_update)
    argv = [*TINY, "--output-dir", str(tmp_path), "--batch-size", "4", "--num-epochs", "6",
            "--checkpoint-every", "2", "--sample-every", "1"]

    status = gan.main(argv)

    message = capsys.readouterr().err
    assert status == 1
    assert "the sampler's weights became NaN or infinite after epoch 4" in message
    assert f"{tmp_path / 'checkpoint.npz'} (after epoch 2), is kept" in message
    assert position(read_checkpoint(tmp_path)) == (2, 0)
    assert os.path.exists(tmp_path / "samples_epoch_0003.png")
    assert not os.path.exists(tmp_path / "samples_epoch_0004.png")


def test_infinite_loss_stops_training(tmp_path):
    state = checkpoint.TrainingState(tiny_settings(tmp_path), *[None] * 4, None, {}, None)
    state.networks = {}

    with pytest.raises(checkpoint.TrainingDiverged, match="the generator loss became NaN or infinite"):
        state.record_step({"discriminator_loss": 1.0, "generator_loss": float("inf")})


def fail_after_some_bytes(file, **arrays):
    file.write(b"PK\x03\x04 the start of a zip file")
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_full_disk_keeps_previous_checkpoint(tmp_path, monkeypatch, capsys):
    first = run_gan(tmp_path, "--batch-size", "4", "--num-epochs", "1")
    assert first.returncode == 0, first.stderr
    good = (tmp_path / "checkpoint.npz").read_bytes()
    monkeypatch.setattr(checkpoint.np, "savez", fail_after_some_bytes)
    monkeypatch.setattr(gan.StopRequest, "install", lambda self: None)

    status = gan.main([*TINY, "--output-dir", str(tmp_path), "--batch-size", "4", "--num-epochs", "2",
                       "--checkpoint-every", "1"])

    message = capsys.readouterr().err
    assert status == 1
    assert f"Could not write the checkpoint {tmp_path / 'checkpoint.npz'}" in message
    assert "No space left on device" in message
    assert "The previous checkpoint there is unchanged" in message
    assert (tmp_path / "checkpoint.npz").read_bytes() == good
    assert glob.glob(str(tmp_path / ".checkpoint-*")) == []


def test_unwritable_folder_is_reported_before_training(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(checkpoint.tempfile, "mkstemp", refuse)

    with pytest.raises(checkpoint.CheckpointError, match=f"Cannot write to the output folder {tmp_path}"):
        checkpoint.check_writable(str(tmp_path))


def test_interrupted_write_leaves_old_file(tmp_path, monkeypatch):
    path = str(tmp_path / "checkpoint.npz")
    checkpoint.write_atomically(path, {"a": np.arange(3)})
    monkeypatch.setattr(checkpoint.os, "fsync", lambda descriptor: (_ for _ in ()).throw(KeyboardInterrupt))

    with pytest.raises(KeyboardInterrupt):
        checkpoint.write_atomically(path, {"a": np.arange(5)})

    assert np.load(path)["a"].tolist() == [0, 1, 2]
    assert os.listdir(tmp_path) == ["checkpoint.npz"]


def test_history_round_trip_keeps_types_and_gaps():
    history = [
        {"epoch": 1, "generator_loss": 0.5, "seconds": 1.25},
        {"epoch": 2, "generator_loss": 0.25, "seconds": 1.0, "quality": np.float32(3.5)},
    ]

    columns, integer_columns, table = checkpoint.history_table(history)
    restored = checkpoint.read_history(table, columns, integer_columns)

    assert columns == ["epoch", "generator_loss", "seconds", "quality"]
    assert restored[0]["epoch"] == 1 and isinstance(restored[0]["epoch"], int)
    assert restored[1] == {"epoch": 2, "generator_loss": 0.25, "seconds": 1.0, "quality": 3.5}
    assert np.isnan(restored[0]["quality"])


def test_leaky_relu_run_saves_leaky_relu_generator(tmp_path):
    result = run_gan(tmp_path, "--num-epochs", "1", "--hidden-activation", "leaky_relu")
    assert result.returncode == 0, result.stderr

    generator, config = checkpoint.load_generator(tmp_path / "checkpoint.npz")

    assert config["HIDDEN_ACTIVATION"] == "leaky_relu"
    hidden_activations = [type(layer) for layer in generator.layers[:-1]
                          if isinstance(layer, (LeakyReLU, Sigmoid))]
    assert hidden_activations == [LeakyReLU] * 3
    settings = gan.load_settings(["--hidden-activation", "leaky_relu", "--discriminator-packing", "1"])
    images = np.zeros((4, 25 * 25), np.uint8)
    generator, discriminator, sampler, _ = gan.build_networks(settings, images, np.random.default_rng(0))
    for network in (generator, discriminator, sampler):
        assert not any(isinstance(layer, Sigmoid) for layer in network.layers[:-1])


def test_load_generator_matches_training(tmp_path):
    result = run_gan(tmp_path, "--num-epochs", "1")
    assert result.returncode == 0, result.stderr

    generator, config = checkpoint.load_generator(tmp_path / "checkpoint.npz")

    saved = read_checkpoint(tmp_path)
    assert config["IMAGE_SIZE"] == 12
    assert config["NOISE_SIZE"] == 8
    # The loaded generator is the sampler: the weight average that drew the run's samples.
    for index, parameter in enumerate(generator.parameters()):
        assert parameter.tobytes() == saved["arrays"][f"sampler.param.{index}"].tobytes()
    images, _ = generator.forward(saved["arrays"]["fixed_noise.0"])
    assert images.shape == (64, 144)
    with np.load(tmp_path / "checkpoint.npz", allow_pickle=False) as raw:
        assert json.loads(str(raw["config"]))["GENERATOR_HIDDEN_SIZES"] == [16, 16, 16]


def test_same_folder_spelled_differently_resumes(tmp_path):
    first = run_gan(tmp_path, "--num-epochs", "1", "--data-dir", "faces/")
    assert first.returncode == 0, first.stderr
    link = tmp_path / "faces link"
    link.symlink_to(os.path.join(REPO, "faces"))

    spelled = f"{tmp_path}/../{tmp_path.name}/faces link/"
    result = run_gan(tmp_path, "--num-epochs", "2", "--data-dir", spelled)

    assert result.returncode == 0, result.stderr
    assert "Resuming from" in result.stdout
    assert position(read_checkpoint(tmp_path)) == (2, 0)


def test_other_settings_refused_before_loading(tmp_path):
    first = run_gan(tmp_path, "--num-epochs", "1")
    assert first.returncode == 0, first.stderr
    caches = {path: path.read_bytes() for path in (tmp_path / "cache").iterdir()}

    result = run_gan(tmp_path, "--num-epochs", "2", "--image-size", "10")

    assert result.returncode == 1
    assert "IMAGE_SIZE: checkpoint 12, now 10" in result.stderr
    assert "Loaded" not in result.stdout
    assert {path: path.read_bytes() for path in (tmp_path / "cache").iterdir()} == caches


def test_changed_images_warn_on_resume(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(os.path.join(REPO, "faces"), data)
    output = tmp_path / "out"
    first = run_gan(output, "--num-epochs", "1", "--data-dir", str(data))
    assert first.returncode == 0, first.stderr
    unchanged = run_gan(output, "--num-epochs", "2", "--data-dir", str(data))
    assert "training images changed" not in unchanged.stderr
    os.remove(data / "lfw_000.png")

    result = run_gan(output, "--num-epochs", "3", "--data-dir", str(data))

    assert result.returncode == 0, result.stderr
    assert "The training images changed since the checkpoint was saved (100 images" in result.stderr
    assert "99 images" in result.stderr
