"""The quality benchmarks run end to end, as their commands in benchmarks/README-quality.md do.

Their figures come from runs of minutes, so these short runs check only that
each script trains, scores and prints a table row. A change to the layer
interface once broke the framework recipe, and no other test noticed.
"""

import subprocess
import sys

from conftest import REPO


def table_row(output, name):
    """Return the cells of the table row whose first cell is name."""
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if cells[0] == name:
            return cells
    raise AssertionError(f"no table row {name!r} in:\n{output}")


def run_benchmark(*arguments):
    result = subprocess.run([sys.executable, *arguments], cwd=REPO, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_framework_recipe_trains_and_scores(tmp_path):
    output = run_benchmark("benchmarks/framework_recipe.py", "--seconds", "2", "--data", "faces",
                           "--output-dir", str(tmp_path))

    cells = table_row(output, "framework recipe")
    assert int(cells[2]) > 0  # steps
    assert float(cells[4]) > 0  # Frechet distance
    assert (tmp_path / "final.png").is_file()


def test_quality_runs_stops_after_seconds(tmp_path):
    output = run_benchmark("benchmarks/quality_runs.py", "--seconds", "4", "--data", "faces",
                           "--output-root", str(tmp_path), "default")

    cells = table_row(output, "default")
    assert int(cells[2]) > 0  # steps
    assert 0 <= float(cells[7]) <= 1  # precision
    assert (tmp_path / "faces-default" / "final.png").is_file()


def test_quality_runs_ends_after_epochs(tmp_path):
    output = run_benchmark("benchmarks/quality_runs.py", "--epochs", "1", "--seconds", "250",
                           "--parallel", "2", "--data", "faces", "--output-root", str(tmp_path),
                           "default", "leaky-relu")

    for name in ("default", "leaky-relu"):
        cells = table_row(output, name)
        assert int(cells[2]) == 2  # one epoch of the 100 built-in faces in batches of 64
        assert float(cells[3]) < 250  # ended by itself, not stopped
        assert (tmp_path / f"faces-{name}" / "final.png").is_file()
