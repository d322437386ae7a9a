"""MAD competition step with its history streamed vs. the two metrics' forward+backward.

mse vs 1 - ssim at 256x256 (maximizing mse, holding ssim). Prints the ratio and the
step overhead (step minus both metrics' forward+backward, ms), and the ratio of our
step to a hand-written PyTorch loop of the same math (objective, range penalty, Adam
with amsgrad) without any bookkeeping, all measured in this one run: the best of
alternating rounds, so a busy shared machine favours no side, measured ``--repeats``
times (the record gives their median and range). Usage:
    python benchmarks/bench_mad.py [--size 256] [--repeats 5] [--threads 1]
        [--rounds 9] [--cpu-time] [--default-heap]
"""

import argparse
import tempfile
import warnings

import torch
from _record import figure
from bench_synthesis import (
    CALLS,
    add_repeats_argument,
    add_timing_arguments,
    apply_timing_arguments,
    checkpointed,
    interleaved_medians,
    spread,
    timing_clock,
)

import pipeline as po
from pipeline.synthesis.base import default_adam_kwargs


def mse(x, y):
    return po.metric.mse(x, y).mean()


def dssim(x, y):
    return 1 - po.metric.ssim(x, y).mean()


def handwritten_step(image, start, tradeoff, penalty_lambda, lr):
    """The math of a MAD step (maximize mse, hold 1 - ssim) as a plain PyTorch loop."""
    x = start.clone().requires_grad_(True)
    held_at = dssim(image, x).detach()
    optimizer = torch.optim.Adam([x], **default_adam_kwargs(lr, x.device))

    def run():
        optimizer.zero_grad(set_to_none=True)
        loss = (
            -mse(image, x)
            + tradeoff * (held_at - dssim(image, x)).pow(2)
            + penalty_lambda * po.regularize.penalize_range(x)
        )
        loss.backward()
        optimizer.step()

    return run


def mad_step_times(image, args, directory):
    """Seconds per call of a streamed MAD step, both metrics and the plain loop.

    Returns a dict with ``step``, ``bare`` (both metrics' forward+backward) and
    ``plain`` (the hand-written loop), each the best of alternating rounds.
    """
    x = (image + 0.1 * torch.randn_like(image)).requires_grad_(True)

    def bare():
        (mse(image, x) + dssim(image, x)).backward()

    mad = po.MADCompetition(image, mse, dssim, "max", metric_tradeoff_lambda=1e4)
    mad.setup(0.1)
    writer = checkpointed(mad, directory)

    def ours():
        mad.synthesize(
            CALLS,
            store_progress=args.store_progress,
            stop_criterion=0,
            on_iteration=writer,
            keep_history=False,
            progress=False,
        )

    plain = handwritten_step(
        image,
        mad.mad_image.detach(),
        mad.metric_tradeoff_lambda,
        mad.penalty_lambda,
        mad.optimizer.param_groups[0]["lr"],
    )
    times = interleaved_medians(
        {"bare": bare, "plain": plain, "ours": ours},
        calls={"bare": CALLS, "plain": CALLS, "ours": 1},
        rounds=args.rounds,
        statistic=min,
        clock=timing_clock(args),
    )
    return {
        "step": times["ours"] / CALLS,
        "bare": times["bare"],
        "plain": times["plain"],
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--store-progress", type=int, default=10)
    add_repeats_argument(parser)
    add_timing_arguments(parser)
    args = parser.parse_args()
    apply_timing_arguments(args)
    warnings.filterwarnings("ignore", message="Image range falls outside")
    torch.manual_seed(0)
    image = po.data.camera(size=args.size)
    runs = []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as directory:
            runs.append(mad_step_times(image, args, directory))
        t = runs[-1]
        print(
            f"MAD mse vs ssim {args.size}x{args.size}: streamed step "
            f"{t['step'] * 1e3:.2f} ms; both metrics forward+backward "
            f"{t['bare'] * 1e3:.2f} ms (ratio {t['step'] / t['bare']:.3f}); step "
            f"overhead {(t['step'] - t['bare']) * 1e3:+.2f} ms; hand-written loop of "
            f"the same math {t['plain'] * 1e3:.2f} ms (ratio "
            f"{t['step'] / t['plain']:.3f})",
            flush=True,
        )
    figure(
        f"MAD step overhead, mse vs 1-ssim {args.size}², step - both metrics' "
        "forward+backward",
        spread([(t["step"] - t["bare"]) * 1e3 for t in runs], "{:+.2f} ms"),
    )
    figure(
        f"MAD step / hand-written PyTorch loop of the same math, mse vs 1-ssim "
        f"{args.size}²",
        spread([t["step"] / t["plain"] for t in runs], "{:.2f}"),
    )


if __name__ == "__main__":
    main()
