"""Time the front-end models against a direct 2-D convolution of the same kernels.

Times forward + backward (gradient with respect to the input image) of
CenterSurround(31) and OnOff(31, pretrained=True) on a 256x256 image, once with the
models of ``pipeline.models`` (separable / FFT filtering) and once with
``F.conv2d(F.pad(x, ..., mode), filt)`` of the full 2-D filters, and prints the
ratios ours / direct (< 1 means ours is faster).  Model parameters are frozen, as
in synthesis; the filters are rebuilt from them at every call in both versions.

Usage::

    python benchmarks/bench_frontend.py [--size 256] [--threads N] [--min-time 1]
"""

from __future__ import annotations

import argparse
import platform

import torch
import torch.nn.functional as F
from _record import figure
from torch.utils import benchmark

from pipeline import models
from pipeline.models._filters import conv2d_same


def direct_onoff(model, x):
    cs = conv2d_same(x, model.center_surround.filt, model.center_surround.pad_mode)
    lum = conv2d_same(x, model.luminance.filt, model.luminance.pad_mode)
    lum_normed = cs / (1 + model.luminance_scalar.view(1, 2, 1, 1) * lum)
    energy = conv2d_same(
        lum_normed**2, model.contrast.filt, model.contrast.pad_mode, groups=2
    )
    con = energy.sqrt() + 1e-6
    y = lum_normed / (1 + model.contrast_scalar.view(1, 2, 1, 1) * con)
    return F.softplus(y)


def fwd_bwd(fn, x):
    def run():
        (grad,) = torch.autograd.grad(fn(x).sum(), x)
        return grad

    return run


def time_it(run, threads, min_time):
    for _ in range(3):  # warm-up
        run()
    timer = benchmark.Timer("run()", globals={"run": run}, num_threads=threads)
    return timer.blocked_autorange(min_run_time=min_time).median


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--min-time", type=float, default=1.0)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    torch.manual_seed(0)

    cases = {
        "CenterSurround(31)": (
            models.CenterSurround(31),
            lambda m, x: conv2d_same(x, m.filt, m.pad_mode),
        ),
        "OnOff(31, pretrained=True)": (
            models.OnOff(31, pretrained=True),
            direct_onoff,
        ),
    }
    print(
        f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
        f"{args.threads} thread(s), {args.dtype}, image 1x1x{args.size}x{args.size}, "
        "forward + backward w.r.t. the input (median)"
    )
    print(f"{'model':28s} {'ours (ms)':>10s} {'direct (ms)':>12s} {'ours/direct':>12s}")
    for name, (model, direct) in cases.items():
        model = model.to(dtype)
        for p in model.parameters():
            p.requires_grad_(False)
        x = torch.rand(1, 1, args.size, args.size, dtype=dtype, requires_grad=True)
        # same result, so that both columns time the same computation
        ours_grad = fwd_bwd(model, x)()
        ref_grad = fwd_bwd(lambda x, m=model, d=direct: d(m, x), x)()
        tol = 1e-4 if dtype == torch.float32 else 1e-10
        torch.testing.assert_close(ours_grad, ref_grad, rtol=tol, atol=tol)
        t_ours = time_it(fwd_bwd(model, x), args.threads, args.min_time)
        t_direct = time_it(
            fwd_bwd(lambda x, m=model, d=direct: d(m, x), x),
            args.threads,
            args.min_time,
        )
        print(
            f"{name:28s} {t_ours * 1e3:10.2f} {t_direct * 1e3:12.2f} "
            f"{t_ours / t_direct:12.3f}"
        )
        figure(
            f"{name} forward+backward {args.size}², ours / direct convolution",
            f"{t_ours / t_direct:.2f}",
        )


if __name__ == "__main__":
    main()
