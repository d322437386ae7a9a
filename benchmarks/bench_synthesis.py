"""Synthesis step with the history streamed to disk vs. the bare model forward+backward.

Also the memory growth of a long synthesis that keeps every iterate (streamed).
Prints ratios measured in this one run. Usage:
    python benchmarks/bench_synthesis.py [--size 256] [--iterations 200]
        [--memory-iterations 5000]
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import psutil
import torch
import zarr

import pipeline as po
from pipeline.store import HistoryWriter


def per_call(function, repeats):
    function()  # warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bare_step(model, image):
    x = image.clone().requires_grad_(True)

    def run():
        model(x).sum().backward()

    return run


def streamed_synthesis_step(model, image, iterations, store_progress, directory):
    po.set_seed(0)
    met = po.Metamer(image, model)
    path = Path(directory) / "bench.zarr"
    zarr.open_group(str(path), mode="w")
    writer = HistoryWriter(path, "saved_metamer")
    met.synthesize(
        2,
        store_progress=store_progress,
        on_iteration=writer,
        keep_history=False,
        progress=False,
    )  # warm up
    start = time.perf_counter()
    met.synthesize(
        iterations,
        store_progress=store_progress,
        stop_criterion=0,
        on_iteration=writer,
        keep_history=False,
        progress=False,
    )
    return (time.perf_counter() - start) / iterations


def memory_growth(size, iterations, directory):
    model = po.models.Gaussian(5).eval()
    po.remove_grad(model)
    image = torch.rand(1, 1, size, size)
    met = po.Metamer(image, model)
    path = Path(directory) / "memory.zarr"
    zarr.open_group(str(path), mode="w")
    writer = HistoryWriter(path, "saved_metamer")
    process = psutil.Process()
    met.synthesize(
        20, store_progress=1, on_iteration=writer, keep_history=False, progress=False
    )
    before = process.memory_info().rss
    met.synthesize(
        iterations,
        store_progress=1,
        stop_criterion=0,
        on_iteration=writer,
        keep_history=False,
        progress=False,
    )
    return (process.memory_info().rss - before) / 2**20


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--store-progress", type=int, default=10)
    parser.add_argument("--memory-iterations", type=int, default=5000)
    args = parser.parse_args()
    torch.manual_seed(0)
    image = torch.rand(1, 1, args.size, args.size)
    with tempfile.TemporaryDirectory() as directory:
        for name, model in [
            ("CenterSurround(31)", po.models.CenterSurround(31)),
            ("OnOff(31, pretrained)", po.models.OnOff(31, pretrained=True)),
        ]:
            model.eval()
            po.remove_grad(model)
            bare = per_call(bare_step(model, image), 30)
            ours = streamed_synthesis_step(
                model, image, args.iterations, args.store_progress, directory
            )
            print(
                f"{name} {args.size}x{args.size}: step {ours * 1e3:.2f} ms, bare "
                f"forward+backward {bare * 1e3:.2f} ms, ratio {ours / bare:.3f}"
            )
        if args.memory_iterations:
            growth = memory_growth(args.size, args.memory_iterations, directory)
            print(
                f"memory growth over {args.memory_iterations} iterations keeping every "
                f"iterate ({args.size}x{args.size}): {growth:.1f} MB"
            )


if __name__ == "__main__":
    main()
