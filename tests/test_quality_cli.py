"""Run `python gan.py` with quality scoring and the optional layers, as a user does."""

import re
import subprocess
import sys

import test_checkpoint
from conftest import REPO

SMALL = ["--generator-hidden-sizes", "32,32,32", "--discriminator-hidden-sizes", "32,32,32"]
QUALITY_LINE = (r"quality  Frechet distance ([\d.]+) \(floor ([\d.]+), ratio [\d.]+\)  "
                r"precision ([\d.]+)  recall ([\d.]+)")


def run_gan(*arguments):
    return subprocess.run([sys.executable, "gan.py", *arguments], cwd=REPO, capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)


def test_quality_logged_every_few_epochs(tmp_path):
    result = run_gan("--num-epochs", "4", "--quality-every", "2", "--output-dir", str(tmp_path), *SMALL)

    assert result.returncode == 0, result.stderr
    assert len(re.findall(r"^Quality floor .*: [\d.]+$", result.stdout, re.MULTILINE)) == 1
    scores = re.findall(QUALITY_LINE, result.stdout)
    assert len(scores) == 2  # after epochs 2 and 4, and no extra final score
    for distance, floor, precision, recall in scores:
        assert float(distance) > 0.0
        assert float(floor) > 0.0
        assert 0.0 <= float(precision) <= 1.0
        assert 0.0 <= float(recall) <= 1.0


def test_final_quality_when_last_epoch_unscored(tmp_path):
    result = run_gan("--num-epochs", "3", "--quality-every", "2", "--output-dir", str(tmp_path), *SMALL)

    assert result.returncode == 0, result.stderr
    assert len(re.findall(QUALITY_LINE, result.stdout)) == 2
    assert re.search("^final " + QUALITY_LINE, result.stdout, re.MULTILINE)


def test_quality_off(tmp_path):
    result = run_gan("--num-epochs", "1", "--quality-every", "0", "--output-dir", str(tmp_path), *SMALL)

    assert result.returncode == 0, result.stderr
    assert "Frechet" not in result.stdout
    assert "Quality floor" not in result.stdout


def test_every_option_on_trains(tmp_path):
    result = run_gan("--num-epochs", "2", "--quality-every", "1", "--output-dir", str(tmp_path), *SMALL,
                     "--generator-normalization", "layer", "--discriminator-normalization", "layer",
                     "--minibatch-std-group", "4", "--centre-inputs", "true", "--sigmoid-init", "true",
                     "--discriminator-learning-rate", "0.0005",
                     "--real-label", "0.9", "--instance-noise", "0.05", "--generator-average-decay", "0.9")

    assert result.returncode == 0, result.stderr
    assert len(re.findall(QUALITY_LINE, result.stdout)) == 2
    assert (tmp_path / "final.png").is_file()


def test_invalid_option_values_rejected(tmp_path):
    cases = [
        ("--discriminator-normalization", "batch", "DISCRIMINATOR_NORMALIZATION"),
        ("--generator-average-decay", "0.3", "GENERATOR_AVERAGE_DECAY"),
        ("--real-label", "0.2", "REAL_LABEL"),
        ("--quality-every", "-1", "QUALITY_EVERY"),
        ("--batch-size", "1", "BATCH_SIZE 1 with GENERATOR_NORMALIZATION"),
    ]
    for option, value, setting in cases:
        result = run_gan(option, value, "--output-dir", str(tmp_path))
        assert result.returncode == 2, (option, result.stdout)
        assert setting in result.stderr
        assert "Traceback" not in result.stderr


def test_resume_with_batch_norm_and_average_is_exact(tmp_path):
    """Batch normalisation and the sampler's weight average survive a stop and resume bit for bit."""
    options = ["--batch-size", "8", "--generator-normalization", "batch",
               "--generator-average-decay", "0.9", "--quality-every", "2"]
    unbroken_dir, resumed_dir = tmp_path / "unbroken", tmp_path / "resumed"
    assert test_checkpoint.run_gan(unbroken_dir, *options, "--num-epochs", "4").returncode == 0
    assert test_checkpoint.run_gan(resumed_dir, *options, "--num-epochs", "2").returncode == 0
    second = test_checkpoint.run_gan(resumed_dir, *options, "--num-epochs", "4")
    assert second.returncode == 0, second.stderr

    unbroken = test_checkpoint.read_checkpoint(unbroken_dir)
    resumed = test_checkpoint.read_checkpoint(resumed_dir)
    assert "sampler.param.0" in resumed["arrays"]
    assert "frechet_distance" in resumed["state"]["history_columns"]
    test_checkpoint.assert_same_training(unbroken, resumed)
