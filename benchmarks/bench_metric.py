"""Time SSIM and NLPD (forward + backward) against straightforward implementations.

For a 256x256 grayscale image (batch 1) and a noisy copy, times the value and its
gradient with respect to the noisy image, as one MAD-competition step does, for

- ours: ``pipeline.metric.ssim`` / ``pipeline.metric.nlpd``;
- straightforward: the same math written plainly here: SSIM with five separate
  ``conv2d`` calls with the full 11x11 window; NLPD with each image run through its
  own pyramid, full 5x5 2-D filters, one scale at a time;
- the reference library, when importable (the line is skipped otherwise).

The straightforward versions are checked to give the same values as ours first.
Prints times in ms and the ratios ours / other (< 1: ours is faster).

Usage::

    python benchmarks/bench_metric.py [--size 256] [--threads N] [--min-time 1]
"""

from __future__ import annotations

import argparse
import math
import platform
import warnings

import torch
import torch.nn.functional as F
from _record import figure
from bench_synthesis import reference_library, set_threads
from torch.utils import benchmark

from pipeline import metric
from pipeline.metric.perceptual import NLPD_POOLING_TAPS, NLPD_SIGMAS


# ----------------------------------------------------------------------------------
# straightforward SSIM: 2-D window, five separate convolutions
def window2d(size=11, std=1.5, dtype=torch.float32):
    coords = torch.arange(1, size + 1, dtype=torch.float64) - (size + 1) / 2
    g = torch.exp(-(coords[:, None] ** 2 + coords[None, :] ** 2) / (2 * std**2))
    return (g / g.sum()).to(dtype).view(1, 1, size, size)


def plain_ssim(img1, img2):
    win = window2d(min(11, *img1.shape[-2:]), dtype=img1.dtype)
    mu1 = F.conv2d(img1, win)
    mu2 = F.conv2d(img2, win)
    s11 = F.conv2d(img1 * img1, win) - mu1**2
    s22 = F.conv2d(img2 * img2, win) - mu2**2
    s12 = F.conv2d(img1 * img2, win) - mu1 * mu2
    c1, c2 = 0.01**2, 0.03**2
    lum = (2 * mu1 * mu2 + c1) / (mu1**2 + mu2**2 + c1)
    cs = (2 * s12 + c2) / (s11 + s22 + c2)
    return (lum * cs).mean((-2, -1))


# ----------------------------------------------------------------------------------
# straightforward NLPD: one image at a time, full 2-D filters, scale by scale
def binom2d(gain, dtype):
    b = torch.tensor([1.0, 4, 6, 4, 1], dtype=torch.float64) / 16
    return (gain * torch.outer(b, b)).to(dtype).view(1, 1, 5, 5)


def plain_pyramid(img):
    down_filt = binom2d(1, img.dtype)
    up_filt = binom2d(4, img.dtype)
    bands = []
    x = img
    for level in range(6):
        if level < 5:
            h, w = x.shape[-2:]
            down = F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), down_filt, stride=2)
            # zero insertion, then a 5x5 blur
            padded = F.pad(down, (1, 1, 1, 1), mode="reflect")
            zeros = torch.zeros(
                1, 1, 2 * padded.shape[-2], 2 * padded.shape[-1], dtype=img.dtype
            )
            zeros[..., ::2, ::2] = padded
            up = F.conv2d(zeros, up_filt)[..., :h, :w]
            band = x - up
        else:
            band = x
        filt = torch.zeros(5, 5, dtype=torch.float64)
        for (r, c), v in NLPD_POOLING_TAPS[level].items():
            filt[r, c] = v
        pooled = F.conv2d(band.abs(), filt.to(img.dtype).view(1, 1, 5, 5), padding=2)
        bands.append(band / (NLPD_SIGMAS[level] + pooled))
        if level < 5:
            x = down
    return bands


def plain_nlpd(img1, img2):
    dists = [
        torch.sqrt(torch.mean((a - b) ** 2, dim=(2, 3)) + 1e-10)
        for a, b in zip(plain_pyramid(img1), plain_pyramid(img2), strict=True)
    ]
    return torch.stack(dists).mean(0)


# ----------------------------------------------------------------------------------
def fwd_bwd(fn, ref, x):
    x.grad = None
    fn(ref, x).sum().backward()


def timeit(fn, ref, x, min_time):
    fwd_bwd(fn, ref, x)  # warm-up, builds cached filters
    timer = benchmark.Timer(
        stmt="fwd_bwd(fn, ref, x)",
        globals={"fwd_bwd": fwd_bwd, "fn": fn, "ref": ref, "x": x},
    )
    return timer.blocked_autorange(min_run_time=min_time).median * 1e3


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--min-time", type=float, default=1.0)
    args = parser.parse_args()
    set_threads(args)
    plenoptic = reference_library()

    torch.manual_seed(0)
    size = args.size
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    ref = (0.5 + 0.4 * torch.sin(xx / 7.0) * torch.cos(yy / 11.0)).view(
        1, 1, size, size
    )
    x = (ref + 0.05 * torch.randn_like(ref)).clamp(0, 1).requires_grad_()

    print(
        f"torch {torch.__version__}, {platform.machine()}, "
        f"{torch.get_num_threads()} threads, {size}x{size}, batch 1, gray, "
        "forward + backward, median ms"
    )
    cases = [
        ("ssim", metric.ssim, plain_ssim, "ssim"),
        ("nlpd", metric.nlpd, plain_nlpd, "nlpd"),
    ]
    for name, ours, plain, ref_name in cases:
        with torch.no_grad():
            a, b = ours(ref, x).item(), plain(ref, x).item()
        if not math.isclose(a, b, rel_tol=1e-4):
            raise RuntimeError(f"{name}: ours {a} != straightforward {b}")
        t_ours = timeit(ours, ref, x, args.min_time)
        t_plain = timeit(plain, ref, x, args.min_time)
        line = (
            f"{name:5s} ours {t_ours:8.2f}  straightforward {t_plain:8.2f}  "
            f"ratio ours/straightforward {t_ours / t_plain:5.2f}"
        )
        figure(
            f"{name} forward+backward {size}², ours / straightforward",
            f"{t_ours / t_plain:.2f}",
        )
        if plenoptic is not None:
            ref_fn = getattr(plenoptic.metric, ref_name)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t_ref = timeit(ref_fn, ref, x, args.min_time)
            line += (
                f"  reference {t_ref:8.2f}  ratio ours/reference {t_ours / t_ref:5.2f}"
            )
            figure(
                f"{name} forward+backward {size}², ours / plenoptic",
                f"{t_ours / t_ref:.2f}",
            )
        print(line)
    if plenoptic is None:
        print("(reference library not importable: comparison skipped)")


if __name__ == "__main__":
    main()
