"""A user's own config and own model, run as a new user runs them (real snakemake).

In a fresh folder: the config ``proj/own.yaml`` with its model file beside it, a
second model module in the working directory, and a ``config.yaml`` with other
sections that must not be merged in; no ``PYTHONPATH``, no ``PIPELINE_MODEL_PATH``.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import xarray as xr
import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.workflow

BESIDE = """
import torch


class Blur(torch.nn.Module):
    def __init__(self, width: int = 3):
        super().__init__()
        self.width = width

    def forward(self, x):
        return torch.nn.functional.avg_pool2d(x, self.width, stride=1, padding=self.width // 2)
"""
HERE = """
import torch


class Square(torch.nn.Module):
    def forward(self, x):
        return x**2
"""
OWN = {
    "images": {"camera": {"source": "camera", "size": 16}},
    "models": {
        "beside": {"class": "besidemodels:Blur", "params": {"width": 3}},
        "here": {"class": "heremodels:Square"},
    },
    "metamer": {
        "images": ["camera"],
        "models": ["beside", "here"],
        "max_iter": 2,
        "store_progress": 1,
        "device": "cpu",
    },
    "figures": {"formats": ["png"]},
}
# what a config.yaml in the working directory plans: none of it may be merged in
OTHER = {
    **OWN,
    "eigendistortion": {"images": ["camera"], "models": ["here"], "max_iter": 2},
    "mad": {"sets": {"s": {"image": "camera", "metrics": ["mse", "ssim"]}}},
}
OWN_JOBS = {
    ("prepare_image", "image=camera"),
    ("build_model", "model=beside"),
    ("build_model", "model=here"),
    ("metamer", "image=camera, model=beside"),
    ("metamer", "image=camera, model=here"),
    ("render_metamer_status", "model=beside"),
    ("render_metamer_status", "model=here"),
    ("aggregate", ""),
    ("render_metamer_grid", ""),
    ("render_metamer_losses", ""),
}


def snakemake(workdir, *args):
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    for variable in ("PYTHONPATH", "PIPELINE_MODEL_PATH"):
        env.pop(variable, None)
    return subprocess.run(
        [BIN / "snakemake", "-s", REPO / "Snakefile", "--cores", "2", *args],
        cwd=workdir, env=env, capture_output=True, text=True,
    )  # fmt: skip


def plan(workdir, *args):
    """(rule, wildcards) of every job a dry run would execute, and its output paths."""
    result = snakemake(workdir, "-n", *args)
    assert result.returncode == 0, result.stdout + result.stderr
    jobs, outputs = set(), set()
    for block in re.split(r"\nrule ", "\n" + result.stdout)[1:]:
        rule = block.split(":", 1)[0]
        wildcards = re.search(r"wildcards: (.*)", block)
        output = re.search(r"output: (.*)", block)
        jobs.add((rule, wildcards.group(1) if wildcards else ""))
        outputs.update(output.group(1).split(", ") if output else [])
    jobs.discard(("all", ""))
    return jobs, outputs


def fresh_folder(root):
    """The user's folder: proj/own.yaml and its model, a model here, a config.yaml."""
    (root / "proj").mkdir(parents=True)
    (root / "proj" / "own.yaml").write_text(yaml.safe_dump(OWN))
    (root / "proj" / "besidemodels.py").write_text(BESIDE)
    (root / "heremodels.py").write_text(HERE)
    (root / "config.yaml").write_text(yaml.safe_dump(OTHER))
    return root


def listing(root):
    """Every path under ``root`` but Snakemake's state and bytecode caches."""
    return {
        path.relative_to(root)
        for path in root.rglob("*")
        if {".snakemake", "__pycache__"}.isdisjoint(path.relative_to(root).parts)
    }


@pytest.fixture(scope="module")
def own_run(tmp_path_factory):
    workdir = fresh_folder(tmp_path_factory.mktemp("own"))
    before = listing(workdir)
    jobs, outputs = plan(workdir, "--configfile", "proj/own.yaml")
    result = snakemake(workdir, "--configfile", "proj/own.yaml")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return workdir, before, jobs, outputs


def test_own_config_plans_only_its_own_sections(own_run):
    _, _, jobs, outputs = own_run
    assert jobs == OWN_JOBS
    assert all(path.startswith("own_results/") for path in outputs), outputs


def test_own_config_writes_only_its_results_folder(own_run):
    workdir, before, _, _ = own_run
    added = listing(workdir) - before
    assert added and {path.parts[0] for path in added} == {"own_results"}
    for model in ("beside", "here"):
        store = xr.open_zarr(
            workdir / "own_results" / "metamer" / "camera" / f"{model}.zarr"
        )
        assert store.attrs["complete"] is True and store.sizes["iteration"] == 3
    assert (workdir / "own_results" / "summary.csv").is_file()
    assert plan(workdir, "--configfile", "proj/own.yaml")[0] == set()


def test_own_model_source_takes_part_in_the_fingerprint(own_run):
    workdir = own_run[0]
    source = workdir / "proj" / "besidemodels.py"
    try:
        source.write_text(BESIDE.replace("stride=1", "stride=1, ceil_mode=False"))
        jobs = plan(workdir, "--configfile", "proj/own.yaml")[0]
        assert ("build_model", "model=beside") in jobs
        assert ("metamer", "image=camera, model=beside") in jobs
        assert not any("here" in wildcards for _, wildcards in jobs)
        source.write_text(BESIDE + "# a comment changes nothing\n")
        assert plan(workdir, "--configfile", "proj/own.yaml")[0] == set()
    finally:
        source.write_text(BESIDE)


def test_config_overrides_still_apply(own_run):
    workdir = own_run[0]
    _, outputs = plan(
        workdir, "--configfile", "proj/own.yaml", "--config", "results=elsewhere"
    )
    assert outputs and all(path.startswith("elsewhere/") for path in outputs)


def test_without_configfile_config_yaml_writes_results(tmp_path):
    (tmp_path / "heremodels.py").write_text(HERE)
    config = {**OWN, "models": {"here": OWN["models"]["here"]}}
    config["metamer"] = {**OWN["metamer"], "models": ["here"]}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    jobs, outputs = plan(tmp_path)
    assert ("metamer", "image=camera, model=here") in jobs
    assert all(path.startswith("results/") for path in outputs), outputs


@pytest.mark.parametrize(
    ("edit", "message"),  # message: a regular expression
    [
        (
            lambda c, root: c["images"]["camera"].update(source="/data/nothere.png"),
            "config images.camera.source: image file not found: /data/nothere.png$",
        ),
        (
            lambda c, root: c["images"]["camera"].update(source="heremodels.py"),
            r"config images.camera.source: cannot read image file heremodels\.py: ",
        ),
        (
            lambda c, root: c["models"]["beside"].update({"class": "besidemodel:Blur"}),
            "config models.beside.class: cannot find class 'Blur' in module "
            "'besidemodel': no such module is installed or in .*proj, ",
        ),
        (
            lambda c, root: (root / "proj" / "besidemodels.py").write_text(
                BESIDE + "def broken(:\n"
            ),
            "config models.beside.class: cannot import module 'besidemodels': .*"
            r"besidemodels\.py line \d+: invalid syntax",
        ),
        (
            lambda c, root: (root / "proj" / "besidemodels.py").write_text(
                "import tensorflo\n" + BESIDE
            ),
            "config models.beside.class: cannot import module 'besidemodels': .*"
            r"besidemodels\.py imports 'tensorflo', which is not installed",
        ),
    ],
    ids=[
        "missing image",
        "not an image",
        "no module",
        "syntax error",
        "missing import",
    ],
)
def test_bad_file_or_model_fails_before_any_job_naming_the_key(tmp_path, edit, message):
    root = fresh_folder(tmp_path / "user")
    config = yaml.safe_load(yaml.safe_dump(OWN))
    edit(config, root)
    (root / "proj" / "own.yaml").write_text(yaml.safe_dump(config))
    before = listing(root)
    result = snakemake(root, "--configfile", "proj/own.yaml")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    lines = [line for line in output.splitlines() if line.startswith("config ")]
    assert len(lines) == 1 and re.match(message, lines[0]), output
    assert "Building DAG of jobs" not in output
    assert listing(root) == before
