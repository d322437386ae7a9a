"""Run synthesis stages as real processes, and compare the stores they leave.

Shared by the tests that kill syntheses (``test_resume.py``) and those of what a
checkpoint allows (``test_checkpoints.py``); their inputs come from the
``synthesis_inputs`` fixture of ``conftest.py``.
"""

import os
import subprocess
import sys

import numpy as np
import torch
import xarray as xr

BIN = os.path.dirname(sys.executable)
# attributes that differ between two runs of the same synthesis by nature
VOLATILE_ATTRS = {"wall_time_s"}

COMMON = ["--device", "cpu", "--quiet", "--checkpoint-every", "5"]
METHODS = {
    "metamer": lambda d: [
        "synthesize", "metamer", d / "camera.zarr", d / "gauss.model",
        "--max-iter", "30", "--store-progress", "4",
    ],
    "ctf": lambda d: [
        "synthesize", "metamer", d / "brick.zarr", d / "ps.model",
        "--max-iter", "24", "--store-progress", "3", "--coarse-to-fine", "together",
        "--ctf-iters-to-check", "4", "--change-scale-criterion", "none",
        "--initial-noise", "0.2", "--loss", "portilla_simoncelli",
        "--optimizer", "lbfgs", "--lr", "1",
    ],
    "mad": lambda d: [
        "synthesize", "mad", d / "camera.zarr", "--optimized-metric", "mse",
        "--reference-metric", "ssim", "--minmax", "max", "--max-iter", "20",
        "--store-progress", "3",
    ],
    "eigendistortion": lambda d: [
        "synthesize", "eigendistortion", d / "camera.zarr", d / "gauss.model",
        "--method", "power", "--k", "2", "--max-iter", "30",
    ],
    "geodesic": lambda d: [
        "synthesize", "geodesic", d / "camera.zarr", d / "shifted.zarr",
        d / "gauss.model", "--n-steps", "3", "--max-iter", "20", "--store-progress", "6",
    ],
}  # fmt: skip


def pipeline(*args, kill_at=None, check=True):
    """Run ``pipeline ARGS`` in a new process, killed at ``kill_at`` if given."""
    env = dict(os.environ)
    env.pop("PIPELINE_KILL_AT", None)
    if kill_at:
        env["PIPELINE_KILL_AT"] = kill_at
    result = subprocess.run(
        [os.path.join(BIN, "pipeline"), *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
    )
    if check and result.returncode != 0:
        raise AssertionError(result.stdout + result.stderr)
    return result


def synthesis_args(directory, method, out, dtype="float64"):
    """The command line of one method's small synthesis into ``out``."""
    args = METHODS[method](directory)
    position = 3 if method == "mad" else 5 if method == "geodesic" else 4
    return [*args[:position], out, *args[position:], *COMMON, "--dtype", dtype]


def checkpointed_iterations(out):
    """Iterations the checkpoint beside ``out`` holds (None: no checkpoint)."""
    state = out.with_name(f".{out.name}.resume") / "state.pt"
    if not state.exists():
        return None
    return torch.load(state, weights_only=True)["n_iterations"]


def assert_same_store(got, expected, resumed_at=()):
    """``got`` equals the uninterrupted ``expected`` but for where it resumed."""
    a, b = xr.open_zarr(got), xr.open_zarr(expected)
    assert sorted(a.variables) == sorted(b.variables)
    for name in b.variables:
        assert np.array_equal(a[name].values, b[name].values, equal_nan=True), name
    assert a.attrs["resumed_at"] == list(resumed_at)
    assert b.attrs["resumed_at"] == []
    ignored = {*VOLATILE_ATTRS, "resumed_at"}
    attrs = {k: v for k, v in a.attrs.items() if k not in ignored}
    assert attrs == {k: v for k, v in b.attrs.items() if k not in ignored}


def resume_lines(output):
    """The lines in which a run says where it resumed."""
    return [line for line in output.splitlines() if line.startswith("resuming ")]


def assert_resumed(output, out, iterations):
    """The run said where it resumed from: each iteration, and the checkpoint."""
    state = out.with_name(f".{out.name}.resume") / "state.pt"
    assert resume_lines(output) == [
        f"resuming {out} at iteration {n} from its checkpoint {state}"
        for n in iterations
    ], output


def assert_checkpoint_retired(out):
    """Only the record a longer run would extend is left beside ``out``."""
    resume = out.with_name(f".{out.name}.resume")
    assert not list(out.parent.glob(f".{out.name}.partial-*"))
    if "eigendistortion" in out.name:  # nothing to extend: removed
        assert not resume.exists()
        return
    names = sorted(p.name for p in resume.iterdir() if p.name != "lock")
    assert names == [names[0], "state.pt"] and names[0].startswith("base-"), names
