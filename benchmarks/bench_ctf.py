"""Coarse-to-fine metamer step vs. plain metamer step, Portilla-Simoncelli model.

Both run the same number of iterations of synthesis (streamed history off, default
Adam) on a texture; the coarse-to-fine one stays on a single coarse scale subset and
on "all" in two separate measurements, so both of its code paths are timed. Prints
ratios measured in this one run, interleaved. Usage:
    python benchmarks/bench_ctf.py [--size 256]
"""

import argparse

import torch
from _record import figure
from bench_synthesis import CALLS, interleaved_medians

import pipeline as po


def synthesis_runner(synthesis, **options):
    def run():
        synthesis.synthesize(
            CALLS, stop_criterion=0, keep_history=False, progress=False, **options
        )

    return run


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    torch.manual_seed(0)
    image = po.data.brick(size=args.size)
    model = po.models.PortillaSimoncelli(image.shape[-2:])
    po.remove_grad(model)
    plain = po.Metamer(image, model, loss_function=po.loss.l2_norm)
    coarse = po.MetamerCTF(image, model, loss_function=po.loss.l2_norm)
    at_all = po.MetamerCTF(image, model, loss_function=po.loss.l2_norm)
    never = {"change_scale_criterion": 1e-12, "ctf_iters_to_check": 10**9}
    at_all.synthesize(  # walk through every scale, so it then runs on "all"
        len(at_all.scales) - 1,
        change_scale_criterion=None,
        ctf_iters_to_check=1,
        progress=False,
    )
    assert at_all.scales == ("all",)
    times = interleaved_medians(
        {
            "plain": synthesis_runner(plain),
            "ctf, one scale": synthesis_runner(coarse, **never),
            "ctf, all scales": synthesis_runner(at_all, **never),
        },
        calls={"plain": 1, "ctf, one scale": 1, "ctf, all scales": 1},
        rounds=3,
    )
    per_step = {name: seconds / CALLS for name, seconds in times.items()}
    print(f"PortillaSimoncelli {args.size}x{args.size}, {CALLS} steps per measurement")
    for name, seconds in per_step.items():
        print(f"  {name:>16}: {seconds * 1e3:7.2f} ms/step")
    for name in ("ctf, one scale", "ctf, all scales"):
        ratio = per_step[name] / per_step["plain"]
        print(f"  {name} / plain metamer step: {ratio:.3f} (target <= 1.15)")
        figure(
            f"coarse-to-fine step ({name}) / plain metamer step, PS {args.size}²",
            f"{ratio:.2f}",
        )


if __name__ == "__main__":
    main()
