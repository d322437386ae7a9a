"""No-op `snakemake -n` after a full run / `snakemake --version`: what a parse costs.

Every dry run, every run and every cluster job parses the workflow: validates the
config, checks it, fingerprints the code and guards the stores. This benchmark runs
the default config (config.yaml) shrunk to seconds (the same sections, images, models
and jobs; every synthesis 2 iterations) in a temporary directory, then times
`snakemake -n` (nothing to do) and `snakemake --version` alternately, and prints the
ratio of their best times.

Usage: python benchmarks/bench_dryrun.py [--repeats 7] [--workdir DIR]
(--workdir keeps the run in DIR and reuses it the next time.)
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from _record import figure

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def shrunk_config():
    """config.yaml with every synthesis cut to 2 iterations."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    for section in ("metamer", "texture", "mad", "eigendistortion", "geodesic"):
        config[section]["max_iter"] = 2
    return config


def best_of(commands, cwd, env, repeats):
    """Best wall time of each command, run alternately (A, B, A, B...)."""
    best = [float("inf")] * len(commands)
    for _ in range(repeats):
        for index, command in enumerate(commands):
            start = time.perf_counter()
            result = subprocess.run(command, cwd=cwd, env=env, capture_output=True)
            elapsed = time.perf_counter() - start
            if result.returncode != 0:
                raise SystemExit(result.stdout.decode() + result.stderr.decode())
            best[index] = min(best[index], elapsed)
    return best


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    with tempfile.TemporaryDirectory() as temporary:
        workdir = args.workdir or Path(temporary)
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "config.yaml").write_text(yaml.safe_dump(shrunk_config()))
        snakemake = [
            str(BIN / "snakemake"),
            *("-s", str(REPO / "Snakefile"), "--configfile", "config.yaml"),
            *("--cores", "2"),
        ]
        subprocess.run(snakemake, cwd=workdir, env=env, check=True, capture_output=True)
        dry = subprocess.run(
            [*snakemake, "-n"], cwd=workdir, env=env, capture_output=True, text=True
        )
        if "Nothing to be done" not in dry.stdout:
            raise SystemExit(
                f"the dry run after a full run is not a no-op:\n{dry.stdout}"
            )
        version = [str(BIN / "snakemake"), "--version"]
        dry_time, version_time = best_of(
            [[*snakemake, "-n"], version], workdir, env, args.repeats
        )
        print(
            f"snakemake -n (up to date) {dry_time:.2f} s / snakemake --version "
            f"{version_time:.2f} s = {dry_time / version_time:.2f} "
            f"(best of {args.repeats}, alternating)"
        )
        figure(
            "no-op `snakemake -n` after a full run / `snakemake --version`",
            f"{dry_time / version_time:.2f}",
        )


if __name__ == "__main__":
    main()
