"""Start-up of one stage process vs. `python -c "import torch"`.

A one-iteration metamer stage (`pipeline synthesize metamer IMG MODEL OUT --max-iter 1`)
does little besides starting: importing torch and what the stage needs, building the
model, one step, writing the store. Prints the ratio of its wall time to that of the
bare torch import, both measured alternately in this run (best of each side).
Usage: python benchmarks/bench_startup.py [--rounds 7]
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _record import figure

BIN = Path(sys.executable).parent


def wall_time(command, cwd):
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    pipeline = str(BIN / "pipeline")
    with tempfile.TemporaryDirectory() as directory:
        run = Path(directory)
        subprocess.run(
            [pipeline, "prepare-images", "camera", "camera.zarr", "--size", "64"],
            cwd=run, check=True, capture_output=True,
        )  # fmt: skip
        subprocess.run(
            [pipeline, "build-model", "OnOff", "onoff.model",
             "--param", "kernel_size=31", "--param", "pretrained=true"],
            cwd=run, check=True, capture_output=True,
        )  # fmt: skip
        stage = [pipeline, "synthesize", "metamer", "camera.zarr", "onoff.model",
                 "met.zarr", "--max-iter", "1", "--quiet", "--device", "cpu"]  # fmt: skip
        torch_import = [sys.executable, "-c", "import torch"]
        stage_times, import_times = [], []
        for _ in range(args.rounds):
            for leftover in ("met.zarr", ".met.zarr.resume"):
                shutil.rmtree(run / leftover, ignore_errors=True)
            stage_times.append(wall_time(stage, run))
            import_times.append(wall_time(torch_import, run))
    best_stage, best_import = min(stage_times), min(import_times)
    print(
        f"one-iteration metamer stage {best_stage:.2f} s / import torch "
        f"{best_import:.2f} s = {best_stage / best_import:.2f} "
        f"(best of {args.rounds}, alternating; {os.cpu_count()} CPUs)"
    )
    figure(
        'one-iteration metamer stage process / `python -c "import torch"`',
        f"{best_stage / best_import:.2f}",
    )


if __name__ == "__main__":
    main()
