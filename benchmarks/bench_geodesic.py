"""Geodesic step (history streamed) vs. one batched forward+backward of all its frames.

OnOff(31, pretrained) at 64x64 with 10 steps (11 frames). Ratio from one run,
interleaved, measured ``--repeats`` times (each a fresh geodesic) and recorded as
their median and range. Usage:
    python benchmarks/bench_geodesic.py [--size 64] [--n-steps 10] [--repeats 5]
"""

import argparse
import tempfile

import torch
from _record import figure
from bench_synthesis import (
    CALLS,
    add_repeats_argument,
    checkpointed,
    interleaved_medians,
    spread,
)

import pipeline as po


def step_ratio(model, a, b, n_steps, directory):
    """A geodesic step's time over one forward+backward of its frames, interleaved."""
    frames = torch.cat([a] * (n_steps + 1)).requires_grad_(True)

    def bare():
        model(frames).sum().backward()

    geodesic = po.Geodesic(a, b, model, n_steps=n_steps)
    geodesic.setup()
    writer = checkpointed(geodesic, directory)

    def ours():
        geodesic.synthesize(
            CALLS,
            store_progress=10,
            stop_criterion=0,
            on_iteration=writer,
            keep_history=False,
            progress=False,
        )

    times = interleaved_medians(
        {"bare": bare, "ours": ours}, calls={"bare": CALLS, "ours": 1}
    )
    step = times["ours"] / CALLS
    print(
        f"Geodesic OnOff(31) {a.shape[-1]}x{a.shape[-1]}, {n_steps} steps: streamed "
        f"step {step * 1e3:.2f} ms; batched forward+backward of {n_steps + 1} frames "
        f"{times['bare'] * 1e3:.2f} ms (ratio {step / times['bare']:.3f})",
        flush=True,
    )
    return step / times["bare"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--n-steps", type=int, default=10)
    add_repeats_argument(parser)
    args = parser.parse_args()
    model = po.models.OnOff(31, pretrained=True).eval()
    po.remove_grad(model)
    a = po.data.camera(size=args.size)
    b = a.roll(4, dims=-1)
    ratios = []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as directory:
            ratios.append(step_ratio(model, a, b, args.n_steps, directory))
    figure(
        f"geodesic step, OnOff {args.size}², {args.n_steps} steps / forward+backward "
        "of its frames",
        spread(ratios, "{:.2f}"),
    )


if __name__ == "__main__":
    main()
