"""Cost of resumability: checkpoint writes as a fraction of synthesis time.

Runs the real metamer stage (``pipeline synthesize metamer``'s function) on a
256x256 image and measures, in that one run, the time spent writing checkpoints
(history segments and state) and assembling the store, against the time spent
synthesizing. Usage:
    python benchmarks/bench_checkpoint.py [--size 256] [--max-iter 600]
        [--every 200]
"""

import argparse
import functools
import tempfile
import time
from pathlib import Path

from _record import figure

import pipeline as po
from pipeline.stages import _checkpoint
from pipeline.stages.metamer import synthesize_metamer
from pipeline.stages.models import build_model
from pipeline.stages.settings import MetamerSettings
from pipeline.store.schema import write_image_store
from pipeline.synthesis.base import OptimizedSynthesis

SPENT = {"checkpoint": [], "synthesize": []}


def timed(owner, name, key):
    original = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            SPENT[key].append(time.perf_counter() - start)

    setattr(owner, name, wrapper)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--max-iter", type=int, default=600)
    parser.add_argument("--every", type=int, default=200)
    args = parser.parse_args()
    timed(_checkpoint.Checkpoint, "write", "checkpoint")
    timed(OptimizedSynthesis, "synthesize", "synthesize")
    with tempfile.TemporaryDirectory() as directory:
        directory = Path(directory)
        write_image_store(
            directory / "image.zarr", po.data.camera(size=args.size), {"name": "camera"}
        )
        build_model(
            "OnOff", directory / "m.model", {"kernel_size": 31, "pretrained": True}
        )
        start = time.perf_counter()
        synthesize_metamer(
            directory / "image.zarr",
            directory / "m.model",
            directory / "out.zarr",
            MetamerSettings(max_iter=args.max_iter, store_progress=10, device="cpu"),
            progress=False,
            checkpoints=_checkpoint.CheckpointPolicy(every_iterations=args.every),
        )
        total = time.perf_counter() - start
    synthesis = sum(SPENT["synthesize"])
    writes = SPENT["checkpoint"]  # the last one, the final state, follows synthesis
    print(
        f"OnOff(31) metamer {args.size}x{args.size}, {args.max_iter} iterations, "
        f"checkpoint every {args.every}"
    )
    print(f"  synthesis: {synthesis:.2f} s, of which {len(writes) - 1} checkpoints")
    print(
        f"  checkpoint writes, all {len(writes)}: {sum(writes):.3f} s = "
        f"{sum(writes) / synthesis:.2%} of synthesis time"
    )
    figure(
        f"checkpoint writes / synthesis time, OnOff {args.size}², every {args.every} "
        "iterations",
        f"{sum(writes) / synthesis:.1%}",
    )
    rest = total - synthesis - writes[-1]
    print(f"  inputs and store assembly: {rest:.2f} s of {total:.2f} s in all")


if __name__ == "__main__":
    main()
