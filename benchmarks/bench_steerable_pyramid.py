"""Time the steerable pyramid (forward, reconstruction, forward + backward).

For a batch of images, times ``pipeline.models.SteerablePyramidFreq`` against the
reference library's ``SteerablePyramidFreq`` (same arguments, same coefficients,
checked first) when it is importable; the comparison is skipped otherwise.
Configurations: real and complex (the Portilla-Simoncelli setting), downsampled.

Prints median ms per call and the ratios ours / reference (< 1: ours is faster).

Usage::

    python benchmarks/bench_steerable_pyramid.py [--size 256] [--batch 1]
        [--threads N] [--rounds 5]
"""

from __future__ import annotations

import argparse
import platform
import warnings

import torch
from _record import figure
from bench_synthesis import interleaved_medians, reference_library, set_threads

import pipeline as po


def forward(pyr, x):
    return lambda: pyr(x)


def recon(pyr, coeffs):
    return lambda: pyr.recon_pyr(coeffs)


def forward_backward(pyr, x):
    x = x.clone().requires_grad_(True)

    def run():
        x.grad = None
        sum(c.abs().pow(2).sum() for c in pyr(x).values()).backward()

    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    set_threads(args)
    plenoptic = reference_library()

    size = args.size
    x = torch.rand(
        args.batch, 1, size, size, generator=torch.Generator().manual_seed(0)
    )
    print(
        f"torch {torch.__version__}, {platform.machine()}, "
        f"{torch.get_num_threads()} threads, {size}x{size}, batch {args.batch}, "
        "median ms"
    )
    calls = max(1, int(2e6 // (size * size * args.batch)))
    configs = [
        ("real, order 3", {"order": 3}),
        ("complex, order 3", {"order": 3, "is_complex": True}),
    ]
    for name, kwargs in configs:
        ours = po.models.SteerablePyramidFreq((size, size), **kwargs)
        cases = {"forward": forward, "fwd+bwd": forward_backward}
        functions = {f"ours {k}": f(ours, x) for k, f in cases.items()}
        functions["ours recon"] = recon(ours, ours(x))
        if plenoptic is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ref = plenoptic.process.SteerablePyramidFreq((size, size), **kwargs)
            got, expected = ours(x), ref(x)
            for key, value in expected.items():
                err = float((got[key] - value).abs().max() / value.abs().max())
                if err > 1e-5:
                    raise RuntimeError(f"{name} {key}: relative deviation {err:.1e}")
            functions.update({f"ref {k}": f(ref, x) for k, f in cases.items()})
            functions["ref recon"] = recon(ref, expected)
        times = interleaved_medians(
            functions, dict.fromkeys(functions, calls), rounds=args.rounds
        )
        for case in ["forward", "recon", "fwd+bwd"]:
            t_ours = times[f"ours {case}"] * 1e3
            line = f"{name:17s} {case:8s} ours {t_ours:8.2f}"
            if plenoptic is not None:
                t_ref = times[f"ref {case}"] * 1e3
                line += f"  reference {t_ref:8.2f}  ratio ours/reference {t_ours / t_ref:5.2f}"
                figure(
                    f"steerable pyramid ({name}) {case} {size}², ours / plenoptic",
                    f"{t_ours / t_ref:.2f}",
                )
            print(line)
    if plenoptic is None:
        print("(reference library not importable: comparison skipped)")


if __name__ == "__main__":
    main()
