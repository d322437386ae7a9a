"""8 small metamers as one batch vs. the same 8 synthesized one after another.

First in this process (no start-up cost counted): OnOff(31), 32x32 and 64x64 images,
100 iterations each, default Adam; then as the workflow runs them: one
``pipeline synthesize metamer-batch`` process vs. eight ``pipeline synthesize
metamer`` processes (64x64). The batch's results equal the separate ones
(tests/test_metamer_batch.py, tests/test_cli.py). Prints the ratios batch / separate.
Usage:
    python benchmarks/bench_batch.py [--images 8] [--iterations 100]
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from _record import figure
from bench_synthesis import interleaved_medians

import pipeline as po
from pipeline.synthesis import MetamerBatch


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--iterations", type=int, default=100)
    args = parser.parse_args()
    model = po.models.OnOff(31, pretrained=True).eval()
    po.remove_grad(model)
    for size in (32, 64):
        torch.manual_seed(0)
        images = torch.rand(args.images, 1, size, size)

        def batched(images=images):
            batch = MetamerBatch(images, model)
            batch.synthesize(args.iterations, stop_criterion=0, progress=False)

        def separate(images=images):
            for b in range(args.images):
                alone = po.Metamer(images[b : b + 1], model)
                alone.synthesize(args.iterations, stop_criterion=0, progress=False)

        times = interleaved_medians(
            {"batch": batched, "separate": separate}, calls=1, rounds=3
        )
        print(
            f"{args.images} metamers {size}x{size}, {args.iterations} iterations: "
            f"batch {times['batch']:.2f} s, one by one {times['separate']:.2f} s, "
            f"ratio {times['batch'] / times['separate']:.2f} (aim <= 0.5)"
        )
        figure(
            f"{args.images} OnOff metamers {size}², one batch / one by one, in one process",
            f"{times['batch'] / times['separate']:.2f}",
        )
    with tempfile.TemporaryDirectory() as directory:
        processes(Path(directory), args.images, args.iterations)


def processes(directory, n_images, iterations):
    """One batch process against one process per metamer, as the workflow runs."""
    pipeline = Path(sys.executable).parent / "pipeline"

    def run(*args):
        subprocess.run([pipeline, *map(str, args)], check=True, capture_output=True)

    names = ["camera", "astronaut", "moon", "coffee", "brick", "grass", "gravel"]
    stores = []
    for i in range(n_images):
        stores.append(directory / f"image{i}.zarr")
        run("prepare-images", names[i % len(names)], stores[-1], "--size", 64,
            "--rotate", i)  # fmt: skip
    run("build-model", "OnOff", directory / "m.model", "--param", "kernel_size=31",
        "--param", "pretrained=true")  # fmt: skip
    options = ["--max-iter", iterations, "--device", "cpu", "--quiet"]
    start = time.perf_counter()
    runs = [
        w for i, s in enumerate(stores) for w in ("--run", s, directory / f"b{i}.zarr")
    ]
    run("synthesize", "metamer-batch", directory / "m.model", *runs, *options)
    batch = time.perf_counter() - start
    start = time.perf_counter()
    for i, store in enumerate(stores):
        run("synthesize", "metamer", store, directory / "m.model",
            directory / f"s{i}.zarr", *options)  # fmt: skip
    separate = time.perf_counter() - start
    print(
        f"{n_images} metamers 64x64 as processes: one batch {batch:.1f} s, one per "
        f"metamer {separate:.1f} s, ratio {batch / separate:.2f}"
    )
    figure(
        f"{n_images} OnOff metamers 64², one batch process / one process each",
        f"{batch / separate:.2f}",
    )


if __name__ == "__main__":
    main()
