"""Run synthesis stages as real processes, and compare the stores they leave.

Shared by the tests that kill syntheses (``test_resume.py``) and those of what a
checkpoint allows (``test_checkpoints.py``); their inputs come from the
``synthesis_inputs`` fixture of ``conftest.py``.

Each ``pipeline ARGS`` run is a new process, forked from one helper process (one per
test process) that has already imported torch and the stages: importing them is
most of a small stage's cost. The child runs the same entry point as the installed
``pipeline`` command, with its own environment, working directory, standard streams
and exit status, and a kill point's SIGKILL kills it alone. What only a fresh
interpreter shows (which modules a stage imports) is tested with real ``pipeline``
executables, in ``test_cli.py``, as are the snakemake runs that call it.
"""

import atexit
import json
import os
import subprocess
import sys
import tempfile

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


# The helper: for each request line (JSON: args, env, cwd, stdout and stderr paths) it
# forks; the child takes the request's environment, folder and streams and runs the
# CLI as the `pipeline` command does; the helper answers the child's exit status
# (-N when a signal N killed it). It never runs a tensor operation itself, so it has
# no threads for a fork to lose.
_FORK_SERVER = """
import json, os, sys, traceback
import torch
import pipeline.cli
import pipeline.stages.eigendistortion, pipeline.stages.geodesic
import pipeline.stages.mad, pipeline.stages.metamer

for line in sys.stdin:
    request = json.loads(line)
    pid = os.fork()
    if pid == 0:
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        for fd, path in ((0, os.devnull), (1, request["stdout"]), (2, request["stderr"])):
            flags = os.O_RDONLY if fd == 0 else os.O_WRONLY | os.O_CREAT | os.O_TRUNC
            os.dup2(os.open(path, flags), fd)
        sys.argv = ["pipeline", *request["args"]]
        try:
            pipeline.cli.run()  # the command's entry point: it ends the process
        except BaseException:
            traceback.print_exc()
        finally:  # only when run() raised: never back into this loop
            sys.stderr.flush()
            os._exit(1)
    print(json.dumps(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])), flush=True)
"""
_fork_server = None


def _stop(server):
    """End the fork server: its requests end, so does its loop."""
    server.stdin.close()
    server.wait()
    server.stdout.close()


def _run_forked(args, env):
    """Run ``pipeline ARGS`` in a child of the fork server; a CompletedProcess."""
    global _fork_server
    if _fork_server is None or _fork_server.poll() is not None:
        _fork_server = subprocess.Popen(
            [sys.executable, "-c", _FORK_SERVER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        atexit.register(_stop, _fork_server)
    with tempfile.TemporaryDirectory() as streams:
        request = {
            "args": args,
            "env": env,
            "cwd": os.getcwd(),
            "stdout": os.path.join(streams, "stdout"),
            "stderr": os.path.join(streams, "stderr"),
        }
        _fork_server.stdin.write(json.dumps(request) + "\n")
        _fork_server.stdin.flush()
        reply = _fork_server.stdout.readline()
        if not reply:
            raise RuntimeError(f"the fork server died running pipeline {args}")
        returncode = json.loads(reply)
        with open(request["stdout"]) as out, open(request["stderr"]) as err:
            stdout, stderr = out.read(), err.read()
    return subprocess.CompletedProcess(["pipeline", *args], returncode, stdout, stderr)


def pipeline(*args, kill_at=None, check=True):
    """Run ``pipeline ARGS`` in a new process, killed at ``kill_at`` if given."""
    env = dict(os.environ)
    env.pop("PIPELINE_KILL_AT", None)
    if kill_at:
        env["PIPELINE_KILL_AT"] = kill_at
    result = _run_forked([str(arg) for arg in args], env)
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
