"""Kill a real synthesis anywhere, again and again: the result is bit-identical.

Each kill is a real SIGKILL the process sends itself at a named point
(``PIPELINE_KILL_AT``, see ``pipeline.faults``): after an iteration, half-way through
writing a checkpoint file, while writing the final store, just before the store is
renamed into place, and after that while the checkpoint is retired. One synthesis per
method meets its kill points one after another, each run resuming from what the
killed one before it left; a point's count is per process (``iteration:7`` in a run
that resumed at iteration 10 kills it after iteration 17).

Each run must resume, not start over: it logs the iteration and the checkpoint it
resumed from, and the final store's ``resumed_at`` attribute lists those iterations
(the one attribute in which it differs from an uninterrupted run).
"""

import os
import signal
import subprocess
from pathlib import Path

import pytest
import yaml
from synthesis_runs import (
    BIN,
    assert_checkpoint_retired,
    assert_resumed,
    assert_same_store,
    checkpointed_iterations,
    pipeline,
    synthesis_args,
)

pytestmark = pytest.mark.processes

REPO = Path(__file__).resolve().parents[1]

# per method: (kill point, the iteration the next run resumes at) in the order one
# synthesis meets them (checkpoints every 5 iterations), and the final resumed_at
CHAINS = {
    "metamer": (
        [
            ("iteration:3", None),  # before the first checkpoint: starts over
            ("checkpoint-segment:2", 5),  # half-way through a history segment
            ("checkpoint-state:2", 10),  # half-way through a state file
            ("iteration:7", 15),  # between checkpoints (at iteration 17)
            ("iteration:6", 20),  # just after a checkpoint (at iteration 21)
            ("continuation:1", 30),  # store in place, checkpoint being retired
            ("store:1", 30),  # while rewriting the final store
            ("rename:1", 30),  # store complete, not yet under its name
        ],
        [5, 10, 15, 20, 30],
    ),
    "ctf": (
        [
            ("iteration:13", 10),  # coarse to fine, inside a scale
            ("checkpoint-state:2", 15),
        ],
        [10, 15],
    ),
    "mad": (
        [
            ("checkpoint-segment:1", None),  # no whole checkpoint yet: starts over
            ("iteration:9", 5),
        ],
        [5],
    ),
    "geodesic": ([("iteration:7", 5)], [5]),
    "eigendistortion": (
        [
            ("iteration:13", 10),  # power method, top phase
            ("iteration:27", 35),  # bottom phase (at iteration 37), top converged
        ],
        [10, 35],
    ),
}


@pytest.mark.parametrize("method", CHAINS)
def test_killed_again_and_again_resumes_bit_identical(
    synthesis_inputs, reference_store, tmp_path, method
):
    out = tmp_path / f"{method}.zarr"
    args = synthesis_args(synthesis_inputs, method, out)
    kills, resumed_at = CHAINS[method]
    resumes_at = None  # where the next run resumes
    for kill_at, left_at in kills:
        again = ["--overwrite"] if out.exists() else []
        killed = pipeline(*args, *again, kill_at=kill_at, check=False)
        assert killed.returncode == -signal.SIGKILL, (kill_at, killed.stderr)
        assert_resumed(killed.stderr, out, [] if resumes_at is None else [resumes_at])
        assert checkpointed_iterations(out) == left_at, kill_at
        resumes_at = left_at
    again = ["--overwrite"] if out.exists() else []
    final = pipeline(*args, *again)
    assert_resumed(final.stderr, out, [resumes_at])
    assert_same_store(out, reference_store(method), resumed_at)
    assert_checkpoint_retired(out)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_killed_batch_resumes_bit_identical(synthesis_inputs, tmp_path, dtype):
    def run(directory, **kill):
        directory.mkdir(exist_ok=True)
        runs = [w for s in ("camera", "shifted") for w in
                ("--run", synthesis_inputs / f"{s}.zarr", directory / f"{s}.zarr")]  # fmt: skip
        return pipeline(
            "synthesize", "metamer-batch", synthesis_inputs / "gauss.model", *runs,
            "--max-iter", "30", "--store-progress", "4", "--device", "cpu",
            "--quiet", "--checkpoint-every", "5", "--dtype", dtype, **kill,
        )  # fmt: skip

    run(tmp_path / "straight")
    killed = run(tmp_path / "killed", kill_at="iteration:17", check=False)
    assert killed.returncode == -signal.SIGKILL
    first = tmp_path / "killed" / "camera.zarr"  # the batch checkpoints beside it
    assert checkpointed_iterations(first) == 15
    again = run(tmp_path / "killed")
    assert_resumed(again.stderr, first, [15])
    for name in ("camera", "shifted"):
        assert_same_store(
            tmp_path / "killed" / f"{name}.zarr",
            tmp_path / "straight" / f"{name}.zarr",
            [15],
        )
    assert not first.with_name(f".{first.name}.resume").exists()  # retired


STORE = "results/metamer/camera/gauss.zarr"
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
    """Make just the metamer store (its job and the two it needs) with snakemake."""
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    env.pop("PIPELINE_KILL_AT", None)
    if kill_at:
        env["PIPELINE_KILL_AT"] = kill_at
    (workdir / "config.yaml").write_text(yaml.safe_dump(SNAKEMAKE_CONFIG))
    return subprocess.run(
        [Path(BIN) / "snakemake", "-s", REPO / "Snakefile", "--configfile", "config.yaml",
         "--cores", "1", STORE],
        cwd=workdir, env=env, capture_output=True, text=True,
    )  # fmt: skip


def test_snakemake_job_killed_resumes_on_the_next_run(tmp_path):
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    straight.mkdir()
    killed.mkdir()
    assert snakemake(straight).returncode == 0
    store = Path(STORE)
    first = snakemake(killed, kill_at="iteration:27")
    assert first.returncode != 0
    assert not (killed / store).exists()  # nothing half-written under its name
    assert checkpointed_iterations(killed / store) == 25
    second = snakemake(killed)
    assert second.returncode == 0, second.stderr
    log = (killed / "results/logs/metamer/camera/gauss.log").read_text()
    assert_resumed(log, store, [25])  # in the job's log
    assert_same_store(killed / store, straight / store, [25])
    assert_checkpoint_retired(killed / store)
