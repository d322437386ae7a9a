"""8 small metamers as one batch vs. the same 8 synthesized one after another.

Both in this process (no start-up cost counted), OnOff(31), 32x32 and 64x64 images,
100 iterations each, default Adam; the batch's results equal the separate ones
(tests/test_metamer_batch.py). Prints the ratio batch / separate, interleaved.
Usage:
    python benchmarks/bench_batch.py [--images 8] [--iterations 100]
"""

import argparse

import torch
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


if __name__ == "__main__":
    main()
