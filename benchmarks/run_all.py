"""Run the benchmarks and record their figures (`make bench`).

Every ``bench_*.py`` of this folder runs in turn (or those named with ``--only``);
the figures each reports (``_record.figure``) go into ``benchmarks/RECORD.md``, one
row per figure with the date, commit and machine it was measured on, and that table
is copied into the README between its markers. Rows of benchmarks not run are kept.

``--check`` runs nothing: it fails when the README's table is not RECORD.md's, or
when code a figure measures (``pipeline/``, ``workflow/``, ``Snakefile``,
``config.yaml``, ``benchmarks/``) changed since the commit it was measured at.

Usage::

    python benchmarks/run_all.py [--only bench_startup.py ...] [--check]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
from pathlib import Path

from _record import parse_figures

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RECORD = HERE / "RECORD.md"
README = REPO / "README.md"
BEGIN, END = "<!-- benchmark record: begin -->", "<!-- benchmark record: end -->"
MEASURED_CODE = [
    "pipeline",
    "workflow",
    "Snakefile",
    "config.yaml",
    "benchmarks",
    ":(exclude)benchmarks/RECORD.md",
]
COLUMNS = ["benchmark", "figure", "value", "date", "commit", "machine"]
HEADER = """# Benchmark record

Written by `make bench` (`benchmarks/run_all.py`): every figure the benchmarks report,
with the date, commit and machine it was measured on. The README's table is a copy.
Ratios are measured in one run, the two sides alternately.

"""


def git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=REPO, check=True, capture_output=True, text=True
    ).stdout.strip()


def current_commit() -> str:
    """HEAD's short hash, with ``+dirty`` when measured code has uncommitted changes."""
    dirty = git("status", "--porcelain", "--", *MEASURED_CODE)
    return git("rev-parse", "--short", "HEAD") + ("+dirty" if dirty else "")


def machine() -> str:
    """The machine in words: architecture, vector instructions, CPUs, versions.

    AVX2 and AVX512 machines differ by more than run-to-run noise, so a record
    names which one measured it.
    """
    import torch

    return (
        f"{platform.machine()} {torch.backends.cpu.get_cpu_capability()}, "
        f"{os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, torch {torch.__version__}"
    )


def read_rows(path: Path) -> list[list[str]]:
    """The table rows of a RECORD.md (empty when there is none)."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        if line.startswith("| ") and not line.startswith(("| benchmark", "| ---")):
            rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows


def table(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def readme_table(text: str) -> str:
    """The part of the README between the markers."""
    if BEGIN not in text or END not in text:
        raise SystemExit(f"README.md lacks the markers {BEGIN} ... {END}")
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip("\n") + "\n"


def run(scripts: list[Path]) -> None:
    rows = read_rows(RECORD)
    commit, today, where = current_commit(), datetime.date.today(), machine()
    for script in scripts:
        print(f"== {script.name}", flush=True)
        result = subprocess.run(
            [sys.executable, script], capture_output=True, text=True
        )
        print(result.stdout, end="", flush=True)
        if result.returncode != 0:
            raise SystemExit(f"{script.name} failed:\n{result.stderr}")
        name = f"`{script.name}`"
        rows = [row for row in rows if row[0] != name]
        rows += [
            [name, what, value, str(today), commit, where]
            for what, value in parse_figures(result.stdout)
        ]
    rows.sort(key=lambda row: row[0])  # stable: each benchmark's figures in order
    RECORD.write_text(HEADER + table(rows))
    text = README.read_text()
    before, after = text.split(BEGIN, 1)[0], text.split(END, 1)[1]
    README.write_text(f"{before}{BEGIN}\n{table(rows)}{END}{after}")
    print(f"recorded {len(rows)} figures in {RECORD.relative_to(REPO)} and README.md")


def stale_rows() -> list[str]:
    """Rows measured on code that has changed since (or on uncommitted code)."""
    stale = []
    for row in read_rows(RECORD):
        commit = row[4]
        changed = commit.endswith("+dirty") or (
            subprocess.run(
                ["git", "diff", "--quiet", commit, "HEAD", "--", *MEASURED_CODE],
                cwd=REPO,
                capture_output=True,
            ).returncode
            != 0
        )
        if changed:
            stale.append(f"{row[0]} {row[1]} (measured at {commit})")
    return stale


def check() -> int:
    problems = []
    if readme_table(README.read_text()) != table(read_rows(RECORD)):
        problems.append("the README's table differs from benchmarks/RECORD.md")
    problems += [f"stale: {row}" for row in stale_rows()]
    for problem in problems:
        print(problem)
    if problems:
        print("run `make bench` to measure again")
    return 1 if problems else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", metavar="SCRIPT", default=None)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    if args.check:
        return check()
    scripts = sorted(HERE.glob("bench_*.py"))
    if args.only:
        scripts = [HERE / Path(name).name for name in args.only]
    run(scripts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
