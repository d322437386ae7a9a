"""Time the Portilla-Simoncelli statistics: ours against straightforward code.

For one grayscale image (batch 1) at 256x256 and 512x512 with the default model
(4 scales, 4 orientations, 7x7 auto-correlations), times the forward pass and the
forward + backward pass (gradient of the sum of the statistics) of

- ours: ``pipeline.models.PortillaSimoncelli``;
- straightforward: the same math written plainly (``benchmarks/_naive_ps.py``):
  band-by-band pyramid, one full-size reconstruction per scale, one FFT
  auto-correlation per band, loops over orientation pairs;
- the reference library, when importable (skipped otherwise).

The straightforward version is first checked to give the same values as ours.
Prints median ms of interleaved repeats and the ratio ours / straightforward (< 1: ours is
faster).  With the reference library, it then prints, for each size, the ratio
ours / reference of the forward and of the forward + backward pass from a longer
alternating run of just those two (ours, reference, ours, ...; the best of each
side, which a shared machine disturbs least), e.g.
``ratio PS forward+backward 256x256 ours/plenoptic: 0.38``.

Usage::

    python benchmarks/bench_portilla_simoncelli.py [--sizes 256 512] [--threads N]
        [--rounds 5] [--ratio-rounds 15]
"""

from __future__ import annotations

import argparse
import platform
import sys
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _naive_ps import NaivePS
from _record import figure
from bench_synthesis import interleaved_medians, reference_library, set_threads

from pipeline.models import PortillaSimoncelli


def texture(size):
    g = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(
        torch.arange(size, dtype=torch.float32),
        torch.arange(size, dtype=torch.float32),
        indexing="ij",
    )
    img = 0.5 + 0.3 * torch.sin(xx / 5.0) * torch.cos(yy / 9.0)
    return (img + 0.1 * torch.rand(size, size, generator=g)).view(1, 1, size, size)


def forward(fn, x):
    def run():
        with torch.no_grad():
            fn(x)

    return run


def forward_backward(fn, x):
    x = x.clone().requires_grad_(True)

    def run():
        x.grad = None
        fn(x).sum().backward()

    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=3)
    parser.add_argument("--ratio-rounds", type=int, default=15)
    args = parser.parse_args()
    set_threads(args)
    plenoptic = reference_library()

    print(
        f"torch {torch.__version__}, {platform.machine()}, "
        f"{torch.get_num_threads()} threads, batch 1, gray, default PS model, "
        f"median ms of {args.rounds} interleaved rounds"
    )
    for size in args.sizes:
        x = texture(size)
        ours = PortillaSimoncelli((size, size))
        naive = NaivePS(ours)
        with torch.no_grad():
            a, b = ours(x), naive(x)
        err = ((a - b).abs().max() / a.abs().max()).item()
        if err > 1e-4:
            raise RuntimeError(f"{size}: straightforward differs from ours by {err}")
        models = {"ours": ours, "straightforward": naive}
        for label, make in (
            ("forward", forward),
            ("forward+backward", forward_backward),
        ):
            functions = {name: make(fn, x) for name, fn in models.items()}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t = interleaved_medians(functions, args.calls, args.rounds)
            line = f"{size}x{size} {label:16s}" + "".join(
                f"  {name} {1e3 * t[name]:8.1f}" for name in models
            )
            line += "  ratio ours/straightforward {:5.2f}".format(
                t["ours"] / t["straightforward"]
            )
            print(line, flush=True)
            figure(
                f"PS {label} {size}², ours / straightforward",
                f"{t['ours'] / t['straightforward']:.2f}",
            )
    if plenoptic is None:
        print("(reference library not importable: comparison skipped)")
        return
    for size in args.sizes:
        x = texture(size)
        models = {
            "ours": PortillaSimoncelli((size, size)),
            "reference": plenoptic.models.PortillaSimoncelli((size, size)),
        }
        for label, make in (
            ("forward", forward),
            ("forward+backward", forward_backward),
        ):
            functions = {name: make(fn, x) for name, fn in models.items()}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t = interleaved_medians(functions, 1, args.ratio_rounds, statistic=min)
            print(
                f"ratio PS {label} {size}x{size} ours/plenoptic: "
                f"{t['ours'] / t['reference']:.2f}  (best of {args.ratio_rounds} "
                f"alternating: ours {1e3 * t['ours']:.1f} ms, plenoptic "
                f"{1e3 * t['reference']:.1f} ms)",
                flush=True,
            )
            figure(
                f"PS {label} {size}², ours / plenoptic",
                f"{t['ours'] / t['reference']:.2f}",
            )


if __name__ == "__main__":
    main()
