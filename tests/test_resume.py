"""Kill a real synthesis anywhere and start it again: the result is bit-identical.

Each kill is a real SIGKILL the process sends itself at a named point
(``PIPELINE_KILL_AT``, see ``pipeline.faults``): after a given iteration, half-way
through writing a checkpoint file, while writing the final store, just before the
store is renamed into place, and after that while the checkpoint is retired.

The run after a kill must resume, not start over: it logs the iteration and the
checkpoint it resumed from, and its store's ``resumed_at`` attribute lists that
iteration (the one attribute in which it differs from an uninterrupted run).
"""

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr
import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# attributes that differ between two runs of the same synthesis by nature
VOLATILE_ATTRS = {"wall_time_s"}

COMMON = ["--device", "cpu", "--dtype", "float64", "--quiet", "--checkpoint-every", "5"]
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
    env = dict(os.environ)
    env.pop("PIPELINE_KILL_AT", None)
    if kill_at:
        env["PIPELINE_KILL_AT"] = kill_at
    result = subprocess.run(
        [BIN / "pipeline", *map(str, args)], env=env, capture_output=True, text=True
    )
    if check and result.returncode != 0:
        raise AssertionError(result.stdout + result.stderr)
    return result


def synthesis_args(directory, method, out):
    args = METHODS[method](directory)
    position = 3 if method == "mad" else 5 if method == "geodesic" else 4
    return [*args[:position], out, *args[position:], *COMMON]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("inputs")
    pipeline("prepare-images", "camera", d / "camera.zarr", "--size", 16)
    pipeline(
        "prepare-images", "camera", d / "shifted.zarr", "--size", 16, "--shift", 0, 2
    )
    pipeline("prepare-images", "brick", d / "brick.zarr", "--size", 32)
    pipeline("build-model", "Gaussian", d / "gauss.model", "--param", "kernel_size=5")
    pipeline(
        "build-model", "PortillaSimoncelli", d / "ps.model",
        "--param", "image_shape=[32,32]", "--param", "n_scales=2",
        "--param", "n_orientations=2", "--param", "spatial_corr_width=3",
    )  # fmt: skip
    return d


@pytest.fixture(scope="module")
def references(inputs, tmp_path_factory):
    """Each method's store from one uninterrupted run."""
    d = tmp_path_factory.mktemp("references")
    stores = {}
    for method in METHODS:
        stores[method] = d / f"{method}.zarr"
        pipeline(*synthesis_args(inputs, method, stores[method]))
    return stores


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
    return [line for line in output.splitlines() if line.startswith("resuming ")]


def assert_resumed(output, out, iterations):
    """The run said where it resumed from: each iteration, and the checkpoint."""
    state = out.with_name(f".{out.name}.resume") / "state.pt"
    assert resume_lines(output) == [
        f"resuming {out} at iteration {n} from its checkpoint {state}"
        for n in iterations
    ], output


def assert_checkpoint_retired(out):
    resume = out.with_name(f".{out.name}.resume")
    assert not list(out.parent.glob(f".{out.name}.partial-*"))
    if "eigendistortion" in out.name:  # nothing to extend: removed
        assert not resume.exists()
        return
    names = sorted(p.name for p in resume.iterdir() if p.name != "lock")
    assert names == [names[0], "state.pt"] and names[0].startswith("base-"), names


# (method, where it is killed, the iterations the next run resumes at)
KILLS = [
    ("metamer", "iteration:3", []),  # before the first checkpoint: starts over
    ("metamer", "iteration:17", [15]),  # between checkpoints
    ("metamer", "iteration:21", [20]),  # just after a checkpoint
    ("metamer", "checkpoint-segment:2", [5]),  # half-way through a history segment
    ("metamer", "checkpoint-state:3", [10]),  # half-way through a state file
    ("metamer", "store:1", [30]),  # while writing the final store
    ("metamer", "rename:1", [30]),  # store complete, not yet under its name
    ("metamer", "continuation:1", [30]),  # store in place, checkpoint being retired
    ("ctf", "iteration:13", [10]),  # coarse to fine, inside a scale
    ("ctf", "checkpoint-state:2", [5]),
    ("mad", "iteration:9", [5]),
    ("mad", "checkpoint-segment:1", []),  # no whole checkpoint yet: starts over
    ("geodesic", "iteration:7", [5]),
    ("eigendistortion", "iteration:13", [10]),  # power method, top phase
    ("eigendistortion", "iteration:37", [35]),  # bottom phase, after the top converged
]


@pytest.mark.parametrize(("method", "kill_at", "resumed_at"), KILLS)
def test_killed_synthesis_resumes_bit_identical(
    inputs, references, tmp_path, method, kill_at, resumed_at
):
    out = tmp_path / f"{method}.zarr"
    args = synthesis_args(inputs, method, out)
    killed = pipeline(*args, kill_at=kill_at, check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    state = out.with_name(f".{out.name}.resume") / "state.pt"
    if resumed_at:  # what the next run resumes from is the last whole checkpoint
        checkpoint = torch.load(state, weights_only=True)
        assert [checkpoint["n_iterations"]] == resumed_at
    again = ["--overwrite"] if kill_at.startswith("continuation") else []
    rerun = pipeline(*args, *again)
    assert_resumed(rerun.stderr, out, resumed_at)
    assert_same_store(out, references[method], resumed_at)
    assert_checkpoint_retired(out)


def test_extending_a_finished_synthesis_equals_running_it_at_once(inputs, tmp_path):
    def run(out, max_iter, *extra):
        args = synthesis_args(inputs, "metamer", out)
        args[args.index("--max-iter") + 1] = str(max_iter)
        return pipeline(*args, *extra)

    run(tmp_path / "once.zarr", 150)
    run(tmp_path / "grown.zarr", 100)
    # a later run with a larger max_iter continues from iteration 100
    grown = run(
        tmp_path / "grown.zarr", 150, "--overwrite", "--checkpoint-every", "1000"
    )
    assert_resumed(grown.stderr, tmp_path / "grown.zarr", [100])
    assert_same_store(tmp_path / "grown.zarr", tmp_path / "once.zarr", [100])
    grown = xr.open_zarr(tmp_path / "grown.zarr")
    assert grown.sizes["iteration"] == 151
    assert_checkpoint_retired(tmp_path / "grown.zarr")


def test_other_settings_do_not_resume_and_restart_discards(
    inputs, references, tmp_path
):
    out = tmp_path / "m.zarr"
    args = synthesis_args(inputs, "metamer", out)
    pipeline(*args, kill_at="iteration:12", check=False)
    resume = out.with_name(f".{out.name}.resume")
    assert torch.load(resume / "state.pt", weights_only=True)["n_iterations"] == 10
    other = pipeline(*args, "--lr", "0.02")  # another learning rate: from scratch
    assert resume_lines(other.stderr) == []
    fresh = tmp_path / "fresh.zarr"
    pipeline(*synthesis_args(inputs, "metamer", fresh), "--lr", "0.02")
    assert_same_store(out, fresh)
    # --restart ignores a checkpoint of the same synthesis
    pipeline(*args, "--overwrite", kill_at="iteration:12", check=False)
    restarted = pipeline(
        *args, "--overwrite", "--restart", kill_at="iteration:3", check=False
    )
    assert restarted.returncode == -signal.SIGKILL
    assert not (resume / "state.pt").exists()  # killed before its first checkpoint
    pipeline(*args, "--overwrite")
    assert_same_store(out, references["metamer"])


def test_lower_max_iter_than_checkpointed_is_refused(inputs, tmp_path):
    out = tmp_path / "m.zarr"
    args = synthesis_args(inputs, "metamer", out)
    pipeline(*args)
    lower = list(args)
    lower[lower.index("--max-iter") + 1] = "20"
    result = pipeline(*lower, "--overwrite", check=False)
    assert result.returncode == 1
    assert "holds 30 iterations, more than max_iter 20" in result.stderr
    assert xr.open_zarr(out).sizes["iteration"] == 31  # nothing lost


def test_corrupt_checkpoint_is_a_clear_error(inputs, tmp_path):
    out = tmp_path / "m.zarr"
    args = synthesis_args(inputs, "metamer", out)
    pipeline(*args, kill_at="iteration:12", check=False)
    state = out.with_name(f".{out.name}.resume") / "state.pt"
    state.write_bytes(state.read_bytes()[:100])
    result = pipeline(*args, check=False)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "unreadable" in errors[0] and "--restart" in errors[0]
    assert "Traceback" not in result.stderr


SNAKEMAKE_CONFIG = {
    "images": {"camera": {"source": "camera", "size": 16}},
    "models": {"gauss": {"class": "Gaussian", "params": {"kernel_size": 5}}},
    "metamer": {
        "images": ["camera"],
        "models": ["gauss"],
        "max_iter": 40,
        "store_progress": 4,
        "device": "cpu",
        "dtype": "float64",
    },
    "checkpoints": {"every_iterations": 5},
    "figures": {"formats": ["png"]},
}


def snakemake(workdir, kill_at=None):
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    env.pop("PIPELINE_KILL_AT", None)
    if kill_at:
        env["PIPELINE_KILL_AT"] = kill_at
    (workdir / "config.yaml").write_text(yaml.safe_dump(SNAKEMAKE_CONFIG))
    return subprocess.run(
        [BIN / "snakemake", "-s", REPO / "Snakefile", "--configfile", "config.yaml",
         "--cores", "1"],
        cwd=workdir, env=env, capture_output=True, text=True,
    )  # fmt: skip


def test_snakemake_job_killed_resumes_on_the_next_run(tmp_path):
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    straight.mkdir()
    killed.mkdir()
    assert snakemake(straight).returncode == 0
    store = Path("results/metamer/camera/gauss.zarr")
    first = snakemake(killed, kill_at="iteration:27")
    assert first.returncode != 0
    assert not (killed / store).exists()  # nothing half-written under its name
    resume = killed / store.with_name(f".{store.name}.resume")
    assert torch.load(resume / "state.pt", weights_only=True)["n_iterations"] == 25
    second = snakemake(killed)
    assert second.returncode == 0, second.stderr
    log = (killed / "results/logs/metamer/camera/gauss.log").read_text()
    assert_resumed(log, store, [25])  # in the job's log
    assert_same_store(killed / store, straight / store, [25])
    assert_checkpoint_retired(killed / store)


def test_diverging_synthesis_stops_with_iteration_and_keeps_checkpoint(
    inputs, tmp_path
):
    out = tmp_path / "m.zarr"
    args = synthesis_args(inputs, "metamer", out)
    args[args.index("--checkpoint-every") + 1] = "1"
    result = pipeline(*args, "--lr", "1e200", check=False)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    assert "at iteration" in errors[0] and "lower the learning rate" in errors[0]
    assert not out.exists()
    state = torch.load(
        out.with_name(f".{out.name}.resume") / "state.pt", weights_only=True
    )
    assert state["n_iterations"] >= 1  # the last good iterations are kept


def test_a_second_run_of_the_same_synthesis_is_refused(inputs, tmp_path):
    import fcntl

    out = tmp_path / "m.zarr"
    resume = out.with_name(f".{out.name}.resume")
    resume.mkdir()
    with open(resume / "lock", "a") as held:  # as a running synthesis holds it
        fcntl.flock(held, fcntl.LOCK_EX)
        result = pipeline(*synthesis_args(inputs, "metamer", out), check=False)
    assert result.returncode == 1
    assert "another process is synthesizing" in result.stderr
    assert not out.exists()
    pipeline(*synthesis_args(inputs, "metamer", out))  # free again
    assert xr.open_zarr(out).sizes["iteration"] == 31


def test_killed_batch_resumes_bit_identical(inputs, tmp_path):
    def run(directory, **kill):
        directory.mkdir(exist_ok=True)
        runs = [w for s in ("camera", "shifted") for w in
                ("--run", inputs / f"{s}.zarr", directory / f"{s}.zarr")]  # fmt: skip
        return pipeline(
            "synthesize", "metamer-batch", inputs / "gauss.model", *runs,
            "--max-iter", "30", "--store-progress", "4", *COMMON, **kill,
        )  # fmt: skip

    run(tmp_path / "straight")
    killed = run(tmp_path / "killed", kill_at="iteration:17", check=False)
    assert killed.returncode == -signal.SIGKILL
    resume = tmp_path / "killed" / ".camera.zarr.resume"  # beside the first store
    assert torch.load(resume / "state.pt", weights_only=True)["n_iterations"] == 15
    again = run(tmp_path / "killed")
    assert_resumed(again.stderr, tmp_path / "killed" / "camera.zarr", [15])
    for name in ("camera", "shifted"):
        assert_same_store(
            tmp_path / "killed" / f"{name}.zarr",
            tmp_path / "straight" / f"{name}.zarr",
            [15],
        )
    assert not resume.exists()  # retired
