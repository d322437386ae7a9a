"""The SLURM profile against a fake SLURM: what it submits, and a killed job resuming.

The real Snakemake SLURM executor plugin submits the jobs that are not local rules;
``tests/fake_slurm.py`` stands in for ``sbatch``, ``sacct``, ``srun``... and runs each
job on this machine. The model is the user's own, a module in the working directory
found with no ``PYTHONPATH``, by cluster jobs too (they parse the workflow again).
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml

pytest.importorskip("snakemake_executor_plugin_slurm")
pytestmark = pytest.mark.workflow

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
COMMANDS = (
    *("sbatch", "sacct", "squeue", "sinfo", "scontrol"),
    *("sacctmgr", "sshare", "srun", "scancel"),
)

MODELS = """
import torch


class Smooth(torch.nn.Module):
    def __init__(self, width: int = 3):
        super().__init__()
        self.width = width

    def forward(self, x):
        return torch.nn.functional.avg_pool2d(x, self.width, stride=1, padding=self.width // 2)
"""
CONFIG = {
    "images": {"camera": {"source": "camera", "size": 16}},
    "models": {"gauss": {"class": "clustermodels:Smooth", "params": {"width": 5}}},
    "metamer": {
        "images": ["camera"],
        "models": ["gauss"],
        "max_iter": 20,
        "store_progress": 4,
        "device": "auto",
        "dtype": "float64",
    },
    "resources": {"gpus_per_synthesis": 1},
    "checkpoints": {"every_iterations": 5},
    "figures": {"formats": ["png"]},
}
STORE = Path("results/metamer/camera/gauss.zarr")


def fake_slurm(directory):
    """A bin folder whose SLURM commands are tests/fake_slurm.py."""
    bin_dir = directory / "bin"
    bin_dir.mkdir()
    for command in COMMANDS:
        script = bin_dir / command
        script.write_text(
            f"#!/bin/sh\nexec {sys.executable} {REPO / 'tests' / 'fake_slurm.py'} "
            f'{command} "$@"\n'
        )
        script.chmod(0o755)
    state = directory / "slurm"
    state.mkdir()
    return bin_dir, state


def run_snakemake(workdir, *args, env_extra=None):
    (workdir / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    (workdir / "clustermodels.py").write_text(MODELS)
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    for variable in ("PIPELINE_KILL_AT", "PYTHONPATH", "PIPELINE_MODEL_PATH"):
        env.pop(variable, None)
    env.update(env_extra or {})
    return subprocess.run(
        [BIN / "snakemake", "-s", REPO / "Snakefile", "--configfile", "config.yaml",
         *args],
        cwd=workdir, env=env, capture_output=True, text=True,
    )  # fmt: skip


@pytest.fixture(scope="module")
def cluster_run(tmp_path_factory):
    """The tiny workflow through the SLURM profile; its metamer job killed once."""
    workdir = tmp_path_factory.mktemp("cluster")
    bin_dir, state = fake_slurm(workdir)
    result = run_snakemake(
        workdir,
        "--profile", REPO / "profiles" / "slurm",
        "--slurm-init-seconds-before-status-checks", "1",
        "--seconds-between-status-checks", "1",
        "--jobs", "1",
        env_extra={
            "PATH": f"{bin_dir}{os.pathsep}{BIN}{os.pathsep}{os.environ['PATH']}",
            "FAKE_SLURM_DIR": str(state),
            "FAKE_SLURM_KILL": "metamer",
        },
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    submissions = [
        json.loads(line)
        for line in (state / "submissions.jsonl").read_text().splitlines()
    ]
    return workdir, submissions, state


def options_of(submissions, rule):
    return [s["options"] for s in submissions if f"'{rule}:" in s["command"]]


def test_submissions_carry_each_rules_resources(cluster_run):
    _, submissions, _ = cluster_run
    metamer = options_of(submissions, "metamer")[0]
    assert "--gpus=1" in metamer  # device auto with resources.gpus_per_synthesis 1
    assert (
        value_after(metamer, "-t") == "240" and value_after(metamer, "--mem") == "8000"
    )
    assert "--cpus-per-task=4" in metamer  # set-resources of the profile
    model = options_of(submissions, "build_model")[0]
    assert not any(o.startswith("--gpus") for o in model)  # model builds: no GPU
    assert value_after(model, "-t") == "20" and value_after(model, "--mem") == "2000"


def test_only_syntheses_and_model_builds_are_submitted(cluster_run):
    workdir, submissions, _ = cluster_run
    rules = {
        re.search(r"--target-jobs '(\w+):", s["command"]).group(1) for s in submissions
    }
    assert rules == {"build_model", "metamer"}
    # images, the summary and the figures were made locally (localrules)
    for path in ("images/camera.zarr", "summary.csv", "figures/metamer_grid.png"):
        assert (workdir / "results" / path).exists(), path


def value_after(options, flag):
    return options[options.index(flag) + 1]


def test_job_killed_by_the_scheduler_resumes_bit_identical(cluster_run, tmp_path):
    workdir, submissions, state = cluster_run
    killed = int((state / "killed").read_text())
    assert (state / f"{killed}.status").read_text() == "FAILED"
    assert len(options_of(submissions, "metamer")) == 2  # submitted again, once
    local = tmp_path / "local"
    local.mkdir()  # the same store made without SLURM (no figures: nothing reads them)
    assert run_snakemake(local, "--cores", "1", STORE).returncode == 0
    got, expected = xr.open_zarr(workdir / STORE), xr.open_zarr(local / STORE)
    assert got.attrs["n_iterations"] == 20
    for name in expected.variables:
        assert np.array_equal(got[name].values, expected[name].values, equal_nan=True)
