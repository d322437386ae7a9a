"""The benchmark record: figures parsed from benchmark output, the README's table kept
a copy of benchmarks/RECORD.md, and no recorded figure older than the code it measures."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import run_all  # noqa: E402
from _record import figure, parse_figures  # noqa: E402


def test_figures_round_trip_through_printed_output(capsys):
    print("some table a reader wants")
    figure("PS forward+backward 256², ours / plenoptic", "0.38")
    figure("default workflow", "48 s")
    assert parse_figures(capsys.readouterr().out) == [
        ("PS forward+backward 256², ours / plenoptic", "0.38"),
        ("default workflow", "48 s"),
    ]
    with pytest.raises(ValueError, match="cannot hold"):
        figure("a | b", "1")


def test_a_repeated_figure_is_recorded_as_median_and_range():
    from bench_synthesis import spread

    assert spread([0.74, 0.5, 0.61], "{:+.2f} ms") == (
        "+0.61 ms (3 runs: +0.50 ms to +0.74 ms)"
    )
    assert spread([1.0, 1.1, 0.9, 1.3], "{:.2f}") == "1.05 (4 runs: 0.90 to 1.30)"
    assert spread([0.5], "{:+.2f} ms") == "+0.50 ms"


def test_counts_of_runs_and_rounds_must_be_positive():
    import argparse

    from bench_synthesis import positive

    assert positive("3") == 3
    with pytest.raises(argparse.ArgumentTypeError, match="positive integer, got 0"):
        positive("0")


def test_record_table_reads_back_what_it_wrote(tmp_path):
    rows = [["`bench_a.py`", "a / b", "0.50", "2026-12-02", "abc1234", "x86_64"]]
    (tmp_path / "RECORD.md").write_text(run_all.HEADER + run_all.table(rows))
    assert run_all.read_rows(tmp_path / "RECORD.md") == rows


def test_readme_table_is_the_record():
    readme = run_all.readme_table(run_all.README.read_text())
    assert readme == run_all.table(run_all.read_rows(run_all.RECORD))
    benchmarks = {row[0] for row in run_all.read_rows(run_all.RECORD)}
    scripts = {f"`{path.name}`" for path in run_all.HERE.glob("bench_*.py")}
    assert benchmarks == scripts, "every benchmark has figures in the record"


@pytest.mark.skipif(
    shutil.which("git") is None or not (REPO / ".git").exists(),
    reason="needs the git history",
)
def test_no_recorded_figure_is_older_than_the_code_it_measures():
    known = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", "HEAD"],
        cwd=REPO,
        capture_output=True,
    )
    if known.returncode != 0:
        pytest.skip("no commits")
    assert run_all.stale_rows() == [], "run `make bench` and commit the record"


def test_the_machine_names_its_vector_instructions():
    import torch

    described = run_all.machine()
    assert f" {torch.backends.cpu.get_cpu_capability()}, " in described
    assert f"{os.cpu_count()} CPUs" in described
