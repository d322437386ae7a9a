"""Synthesis step with the history checkpointed to disk vs. bare model forward+backward.

The step overhead is the difference of the two (ms): what a metamer step costs
besides the model (loss, penalty, optimizer, history, checkpoints). Also the memory
growth of a long synthesis that keeps every iterate (streamed). Prints ratios and
differences measured in this one run; the step figures are measured ``--repeats``
times, and the record gives their median and range, since one measurement moves with
the machine's load by more than the difference it reports. Usage:
    python benchmarks/bench_synthesis.py [--size 256] [--store-progress 10]
        [--memory-iterations 5000] [--repeats 5] [--threads 1] [--rounds 9]
        [--cpu-time] [--default-heap]
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import psutil
import torch
from _record import figure

import pipeline as po
from pipeline.heap import keep_freed_memory
from pipeline.stages._checkpoint import Checkpoint, CheckpointPolicy
from pipeline.synthesis.base import default_adam_kwargs

CALLS = 50


def interleaved_medians(
    functions, calls, rounds=5, statistic=statistics.median, clock=time.perf_counter
):
    """Seconds per call of each function (median of rounds), in alternating rounds.

    Alternating keeps slow drifts of a shared machine from favouring one side.
    ``calls`` is the number of calls per round: one for all, or one per name.
    ``statistic`` summarizes each function's rounds (``min``: the best round, which
    a busy machine disturbs least); ``clock`` reads the time (``time.process_time``:
    this process's CPU time, which other processes' work does not lengthen).
    """
    for function in functions.values():
        function()  # warm up
    per_name = calls if isinstance(calls, dict) else dict.fromkeys(functions, calls)
    samples = {name: [] for name in functions}
    for _ in range(rounds):
        for name, function in functions.items():
            start = clock()
            for _ in range(per_name[name]):
                function()
            samples[name].append((clock() - start) / per_name[name])
    return {name: statistic(values) for name, values in samples.items()}


def reference_library():
    """The reference library when it is installed (comparisons skip otherwise)."""
    try:
        import plenoptic
    except ImportError:
        return None
    return plenoptic


def set_threads(args):
    """Apply a ``--threads`` argument (None: torch's default)."""
    if args.threads:
        torch.set_num_threads(args.threads)


def positive(text: str) -> int:
    """An argument that must be a positive integer (argparse's ``type``)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def add_timing_arguments(parser):
    """``--threads``, ``--rounds``, ``--cpu-time``, ``--default-heap`` (``pipeline.heap``)."""
    parser.add_argument("--threads", type=positive, default=None)
    parser.add_argument("--rounds", type=positive, default=9)
    parser.add_argument(
        "--cpu-time",
        action="store_true",
        help="time by this process's CPU time, not the wall clock (a shared machine)",
    )
    parser.add_argument(
        "--default-heap",
        action="store_true",
        help="leave glibc's heap trimming on (timings then vary by chance)",
    )


def add_repeats_argument(parser):
    """``--repeats``: how many times a step figure is measured (see :func:`spread`)."""
    parser.add_argument(
        "--repeats",
        type=positive,
        default=5,
        help="measure this many times; the figure is their median and range",
    )


def spread(values, form):
    """``values``' median, then their range, each written with the format ``form``.

    E.g. ``spread([0.61, 0.5, 0.74], "{:+.2f} ms")`` is
    ``"+0.61 ms (3 runs: +0.50 ms to +0.74 ms)"``.
    """
    low, middle, high = min(values), statistics.median(values), max(values)
    if len(values) == 1:
        return form.format(middle)
    return (
        f"{form.format(middle)} ({len(values)} runs: {form.format(low)} to "
        f"{form.format(high)})"
    )


def timing_clock(args):
    """The clock ``--cpu-time`` asks for."""
    return time.process_time if args.cpu_time else time.perf_counter


def apply_timing_arguments(args):
    set_threads(args)
    if not args.default_heap and not keep_freed_memory():
        print("(could not keep the heap: timings may vary by chance)")


def bare_step(model, image):
    x = image.clone().requires_grad_(True)

    def run():
        model(x).sum().backward()

    return run


def handwritten_step(model, image):
    """The same math as a metamer step, as a plain PyTorch loop with no bookkeeping."""
    target = model(image)
    x = torch.rand_like(image).requires_grad_(True)
    optimizer = torch.optim.Adam([x], **default_adam_kwargs(0.01, x.device))

    def run():
        optimizer.zero_grad(set_to_none=True)
        loss = po.loss.mse(model(x), target) + 0.1 * po.regularize.penalize_range(x)
        loss.backward()
        optimizer.step()

    return run


def checkpointed(synthesis, directory):
    """The observer the synthesis stages use: records kept, checkpointed to disk.

    ``synthesis`` must be set up; checkpoints go beside ``directory``/bench.zarr.
    """
    checkpoint = Checkpoint(Path(directory) / "bench.zarr", {}, CheckpointPolicy())
    assert not checkpoint.restore(synthesis)  # a fresh directory: nothing to resume
    checkpoint.begin(synthesis, synthesis.synthesized_image)
    return checkpoint


def streamed_synthesis(model, image, store_progress, iterations, directory):
    """``iterations`` iterations of metamer synthesis as a stage runs them."""
    po.set_seed(0)
    met = po.Metamer(image, model)
    met.setup()
    writer = checkpointed(met, directory)

    def run():
        met.synthesize(
            iterations,
            store_progress=store_progress,
            stop_criterion=0,
            on_iteration=writer,
            keep_history=False,
            progress=False,
        )

    return run


def metamer_step_overhead(
    model, image, store_progress, directory, rounds=5, clock=time.perf_counter
):
    """Seconds per call of a streamed metamer step, the bare model and a plain loop.

    Returns a dict with ``step``, ``bare`` (model forward+backward), ``plain`` (the
    hand-written loop of the same math) and ``overhead`` (``step - bare``), each the
    best of ``rounds`` alternating rounds, timed by ``clock``.
    """
    # one call of ours runs CALLS iterations, so each side runs as long
    ours = streamed_synthesis(model, image, store_progress, CALLS, directory)
    times = interleaved_medians(
        {
            "bare": bare_step(model, image),
            "plain": handwritten_step(model, image),
            "ours": ours,
        },
        calls={"bare": CALLS, "plain": CALLS, "ours": 1},
        rounds=rounds,
        statistic=min,
        clock=clock,
    )
    step = times["ours"] / CALLS
    return {
        "step": step,
        "bare": times["bare"],
        "plain": times["plain"],
        "overhead": step - times["bare"],
    }


def memory_growth(size, iterations, directory):
    model = po.models.Gaussian(5).eval()
    po.remove_grad(model)
    image = torch.rand(1, 1, size, size)
    met = po.Metamer(image, model)
    met.setup()
    writer = checkpointed(met, Path(directory) / "memory")
    process = psutil.Process()
    met.synthesize(
        20, store_progress=1, on_iteration=writer, keep_history=False, progress=False
    )
    before = process.memory_info().rss
    met.synthesize(
        iterations,
        store_progress=1,
        stop_criterion=0,
        on_iteration=writer,
        keep_history=False,
        progress=False,
    )
    return (process.memory_info().rss - before) / 2**20


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--store-progress", type=int, default=10)
    parser.add_argument("--memory-iterations", type=int, default=5000)
    add_repeats_argument(parser)
    add_timing_arguments(parser)
    args = parser.parse_args()
    apply_timing_arguments(args)
    torch.manual_seed(0)
    image = torch.rand(1, 1, args.size, args.size)
    with tempfile.TemporaryDirectory() as directory:
        for name, model in [
            ("CenterSurround(31)", po.models.CenterSurround(31)),
            ("OnOff(31, pretrained)", po.models.OnOff(31, pretrained=True)),
        ]:
            model.eval()
            po.remove_grad(model)
            runs = [
                metamer_step_overhead(
                    model,
                    image,
                    args.store_progress,
                    Path(directory) / name / str(run),
                    args.rounds,
                    timing_clock(args),
                )
                for run in range(args.repeats)
            ]
            for t in runs:
                ours, bare, plain = t["step"], t["bare"], t["plain"]
                print(
                    f"{name} {args.size}x{args.size}: streamed step {ours * 1e3:.2f} "
                    f"ms; bare forward+backward {bare * 1e3:.2f} ms (ratio "
                    f"{ours / bare:.3f}); step overhead {t['overhead'] * 1e3:+.2f} ms; "
                    f"hand-written loop of the same math {plain * 1e3:.2f} ms (ratio "
                    f"{ours / plain:.3f})"
                )
            figure(
                f"metamer step overhead, {name} {args.size}², step - model "
                "forward+backward",
                spread([t["overhead"] * 1e3 for t in runs], "{:+.2f} ms"),
            )
            figure(
                f"metamer step / hand-written PyTorch loop of the same math, {name} "
                f"{args.size}²",
                spread([t["step"] / t["plain"] for t in runs], "{:.2f}"),
            )
        if args.memory_iterations:
            growth = memory_growth(args.size, args.memory_iterations, directory)
            print(
                f"memory growth over {args.memory_iterations} iterations keeping every "
                f"iterate ({args.size}x{args.size}): {growth:.1f} MB"
            )


if __name__ == "__main__":
    main()
