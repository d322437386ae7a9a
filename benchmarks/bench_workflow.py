"""The default workflow end to end, then `snakemake -n` on it vs. `snakemake --version`.

Runs in a temporary directory; prints the wall time of the full run on the cores given,
that time in units of `python -c "import torch"` (what each of its 20 synthesis and
model-building jobs pays first, and what differs most between machines), and the ratio
of the up-to-date dry run to the bare start-up of snakemake.
Usage: python benchmarks/bench_workflow.py [--cores 2]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _record import figure

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def timed(command, cwd, env, repeats=1):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cores", default="2")
    args = parser.parse_args()
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    snakemake = [
        str(BIN / "snakemake"),
        "-s",
        str(REPO / "Snakefile"),
        "--configfile",
        str(REPO / "config.yaml"),
        "--cores",
        args.cores,
    ]
    with tempfile.TemporaryDirectory() as directory:
        full = timed(snakemake, directory, env)
        torch_import = timed(
            [sys.executable, "-c", "import torch"], directory, env, repeats=5
        )
        print(
            f"default workflow end to end on {args.cores} cores: {full:.1f} s "
            f"= {full / torch_import:.0f} x `import torch` ({torch_import:.2f} s)"
        )
        figure(
            f"default workflow (`config.yaml`), `snakemake --cores {args.cores}`, "
            "fresh folder",
            f"{full:.0f} s",
        )
        figure(
            'default workflow wall time / `python -c "import torch"`',
            f"{full / torch_import:.0f}",
        )
        dry = timed([*snakemake, "-n"], directory, env, repeats=5)
        version = timed(
            [str(BIN / "snakemake"), "--version"], directory, env, repeats=5
        )
        print(
            f"snakemake -n (up to date) {dry:.2f} s / snakemake --version {version:.2f} s "
            f"= {dry / version:.2f}"
        )


if __name__ == "__main__":
    main()
