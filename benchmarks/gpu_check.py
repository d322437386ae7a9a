"""The GPU check in one command: the CUDA tests, then timings on the GPU.

For a machine with a CUDA device (a cluster node, a lent GPU). It runs

1. the tests that need a CUDA device (:data:`GPU_TESTS`: metamers, the steerable
   pyramid and Portilla-Simoncelli on the GPU agree with the CPU; a metamer saved
   on the GPU loads on the CPU);
2. a front-end metamer step (CenterSurround(31), OnOff(31, pretrained)) against the
   bare model forward+backward on the GPU, as ``bench_synthesis.py`` measures it on
   the CPU: history streamed, checkpoints written;
3. Portilla-Simoncelli forward+backward on the GPU against the same on this
   machine's CPU (and against the reference library's on the GPU, when it is
   importable);

and prints a markdown section with the date, commit and device, also written to
``--out``. The GPU is synchronized before every clock reading; each side's figure is
its best of alternating rounds. Needs torch and pytest, not zarr, and no install of
this checkout's ``pipeline``. ``benchmarks/run_all.py`` does not run it: the
record there is the CPU's. Without a CUDA device it refuses (exit 1), unless
``--device cpu`` asks for a smoke run of the same code.

Usage::

    python benchmarks/gpu_check.py [--commit SHA] [--out gpu.md]
        [--device cuda] [--size 256] [--ps-sizes 256 512] [--rounds 9] [--skip-tests]
"""

from __future__ import annotations

import argparse
import copy
import datetime
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(HERE), str(REPO)]

from bench_portilla_simoncelli import forward_backward, texture  # noqa: E402
from bench_synthesis import (  # noqa: E402
    interleaved_medians,
    metamer_step_overhead,
    positive,
    reference_library,
)

import pipeline as po  # noqa: E402

#: every test that skips without a CUDA device
GPU_TESTS = [
    "tests/test_gpu.py",
    "tests/test_steerable_pyramid.py::test_cuda",
    "tests/test_seed_examples.py::test_seed002_load_cuda_metamer_with_map_location",
]


def synchronized_clock(device: torch.device):
    """``time.perf_counter`` read once the device has finished its queued work."""
    if device.type != "cuda":
        return time.perf_counter

    def clock():
        torch.cuda.synchronize(device)
        return time.perf_counter()

    return clock


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.machine()} CPU"


def run_gpu_tests() -> str:
    """Run :data:`GPU_TESTS`; pytest's summary line, or exit when one failed."""
    path = [str(REPO), os.environ.get("PYTHONPATH", "")]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *GPU_TESTS],
        cwd=REPO,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, path))),
        capture_output=True,
        text=True,
    )
    print(result.stdout, end="", flush=True)
    summary = (result.stdout.strip().splitlines() or ["(no output)"])[-1]
    if result.returncode != 0:
        raise SystemExit(f"the GPU tests failed: {summary}\n{result.stderr}")
    return summary


def metamer_rows(device, size, rounds, clock):
    image = torch.rand(1, 1, size, size, generator=torch.Generator().manual_seed(0))
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        for name, model in [
            ("CenterSurround(31)", po.models.CenterSurround(31)),
            ("OnOff(31, pretrained)", po.models.OnOff(31, pretrained=True)),
        ]:
            model = model.to(device).eval()
            po.remove_grad(model)
            t = metamer_step_overhead(
                model,
                image.to(device),
                10,
                Path(directory) / name,
                rounds,
                clock,
            )
            rows.append(
                (
                    f"metamer step, {name} {size}²",
                    f"{t['step'] * 1e3:.2f} ms; model forward+backward "
                    f"{t['bare'] * 1e3:.2f} ms; overhead {t['overhead'] * 1e3:+.2f} ms; "
                    f"/ hand-written loop {t['step'] / t['plain']:.2f}",
                )
            )
    return rows


def portilla_simoncelli_rows(model, size, device, rounds, clock):
    """Time ``model`` (of ``size``² images, on the CPU) on ``device`` and the CPU."""
    image = texture(size)
    sides = {
        "ours": forward_backward(copy.deepcopy(model).to(device), image.to(device)),
        "cpu": forward_backward(model, image),
    }
    plenoptic = reference_library()
    if plenoptic is not None:
        reference = plenoptic.models.PortillaSimoncelli((size, size)).to(device)
        sides["plenoptic"] = forward_backward(reference, image.to(device))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = interleaved_medians(sides, 1, rounds, statistic=min, clock=clock)
    value = f"{t['ours'] * 1e3:.2f} ms; / CPU {t['ours'] / t['cpu']:.3f}"
    if "plenoptic" in t:
        value += f"; / plenoptic {t['ours'] / t['plenoptic']:.2f}"
    return [(f"Portilla-Simoncelli forward+backward {size}²", value)]


def report(rows, tests, args, device) -> str:
    synchronized = ", the GPU synchronized" if device.type == "cuda" else ""
    lines = [
        f"## GPU check, {datetime.date.today()}, commit {args.commit}",
        "",
        f"{device_name(device)}; torch {torch.__version__}; Python "
        f"{platform.python_version()}; best of {args.rounds} alternating rounds"
        f"{synchronized}.",
        "",
        f"- the tests that need CUDA (`GPU_TESTS`): {tests}",
        "",
        "| what | measured |",
        "| --- | --- |",
    ]
    lines += [f"| {what} | {value} |" for what, value in rows]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--size", type=positive, default=256)
    parser.add_argument("--ps-sizes", type=positive, nargs="+", default=[256, 512])
    parser.add_argument("--rounds", type=positive, default=9)
    parser.add_argument("--commit", default="(not given)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--skip-tests", action="store_true")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print(
            "Error: no CUDA device here: run this on a GPU machine "
            "(--device cpu runs the same code as a smoke test)",
            file=sys.stderr,
        )
        return 1
    try:  # before anything runs: a size the model refuses would waste the GPU's time
        texture_models = {
            size: po.models.PortillaSimoncelli((size, size)) for size in args.ps_sizes
        }
    except ValueError as error:
        print(f"Error: --ps-sizes: {error}", file=sys.stderr)
        return 2
    tests = "not run (--skip-tests)" if args.skip_tests else run_gpu_tests()
    clock = synchronized_clock(device)
    rows = metamer_rows(device, args.size, args.rounds, clock)
    for size, model in texture_models.items():
        rows += portilla_simoncelli_rows(model, size, device, args.rounds, clock)
    text = report(rows, tests, args, device)
    print(text, end="")
    if args.out is not None:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
