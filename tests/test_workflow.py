"""Real snakemake runs of the workflow on a tiny config: outputs and rerun rules."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.workflow

MODELS = """
import torch


class Blur(torch.nn.Module):
    def __init__(self, width: int = 3):
        super().__init__()
        self.width = width

    def forward(self, x):
        return torch.nn.functional.avg_pool2d(x, self.width, stride=1, padding=self.width // 2)


class Square(torch.nn.Module):
    def forward(self, x):
        return x**2
"""

CONFIG = {
    "images": {
        "camera": {"source": "camera", "size": 16},
        "shifted": {"source": "camera", "size": 16, "shift": [0, 2]},
        "brick": {"source": "brick", "size": 32},
    },
    "models": {
        "blur": {"class": "tinymodels:Blur", "params": {"width": 3}},
        "square": {"class": "tinymodels:Square"},
        "ps": {
            "class": "PortillaSimoncelli",
            "params": {
                "image_shape": [32, 32],
                "n_scales": 2,
                "n_orientations": 2,
                "spatial_corr_width": 3,
            },
        },
    },
    "metamer": {
        "images": ["camera"],
        "models": ["blur", "square"],
        "max_iter": 5,
        "store_progress": 2,
        "device": "cpu",
    },
    "texture": {
        "images": ["brick"],
        "models": ["ps"],
        "max_iter": 6,
        "store_progress": 2,
        "ctf_iters_to_check": 2,
        "device": "cpu",
    },
    "mad": {
        "max_iter": 3,
        "store_progress": 2,
        "device": "cpu",
        "sets": {"camset": {"image": "camera", "metrics": ["mse", "blur"]}},
    },
    "eigendistortion": {
        "images": ["camera"],
        "models": ["blur", "square"],
        "max_iter": 3,
        "device": "cpu",
    },
    "geodesic": {
        "pairs": {"shift": {"a": "camera", "b": "shifted"}},
        "models": ["blur"],
        "n_steps": 3,
        "max_iter": 3,
        "device": "cpu",
    },
    "figures": {"formats": ["png"]},
}
MAD_JOBS = {
    *(
        ("mad", f"set=camset, optimized={o}, minmax={m}")
        for o in ("mse", "blur")
        for m in ("min", "max")
    ),
    ("render_mad_set", "set=camset"),
    ("render_mad_trajectories", "set=camset"),
}


def snakemake(workdir, *args, config=None, check=True):
    env = dict(
        os.environ,
        PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}",
        PYTHONPATH=str(workdir),
    )
    if config is not None:
        (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [
            BIN / "snakemake",
            "-s",
            REPO / "Snakefile",
            "--configfile",
            "config.yaml",
            "--cores",
            "2",
            *args,
        ],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
    )
    if check and result.returncode != 0:
        raise AssertionError(result.stdout + result.stderr)
    return result


def planned_jobs(workdir, config=None, target=None):
    """(rule, wildcards) of every job a dry run would execute."""
    out = snakemake(workdir, "-n", *([target] if target else []), config=config).stdout
    if "Nothing to be done" in out:
        return set()
    jobs = set()
    for block in re.split(r"\nrule ", "\n" + out)[1:]:
        rule = block.split(":", 1)[0]
        wildcards = re.search(r"wildcards: (.*)", block)
        jobs.add((rule, wildcards.group(1) if wildcards else ""))
    jobs.discard(("all", ""))
    if target:
        jobs.discard((target, ""))
    return jobs


GEODESIC_JOBS = {
    ("geodesic", "pair=shift, model=blur"),
    ("render_geodesic", "pair=shift, model=blur"),
    ("render_geodesic_deviation", "pair=shift"),
}


def eigendistortion_jobs(model):
    return {
        ("eigendistortion", f"image=camera, model={model}"),
        ("render_eigendistortions", "image=camera"),
    }


def downstream(model):
    return {
        ("metamer", f"image=camera, model={model}"),
        ("render_metamer_status", f"model={model}"),
        ("aggregate", ""),
        ("render_metamer_grid", ""),
        ("render_metamer_losses", ""),
    }


@pytest.fixture(scope="module")
def workflow(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("workflow")
    (workdir / "tinymodels.py").write_text(MODELS)
    snakemake(workdir, config=CONFIG)
    return workdir


def test_full_run_writes_stores_table_and_figures(workflow):
    results = workflow / "results"
    for optimized in ("mse", "blur"):
        for minmax in ("min", "max"):
            ds = xr.open_zarr(results / "mad" / "camset" / f"{optimized}_{minmax}.zarr")
            assert (
                ds.attrs["optimized_metric"] == optimized
                and ds.attrs["minmax"] == minmax
            )
            assert ds.sizes["iteration"] == 4
    geo = xr.open_zarr(results / "geodesic" / "shift" / "blur.zarr")
    assert geo["sequence"].shape == (4, 1, 16, 16)
    assert (
        results / "figures" / "geodesic" / "shift_deviation.png"
    ).stat().st_size > 1000
    eig = xr.open_zarr(results / "eigendistortion" / "camera" / "blur.zarr")
    assert list(eig["eigenindex"].values) == [0, 255]
    assert (
        results / "figures" / "eigendistortion" / "camera.png"
    ).stat().st_size > 1000
    for figure in ("camset_set.png", "camset_trajectories.png"):
        assert (results / "figures" / "mad" / figure).read_bytes()[:4] == b"\x89PNG"
    for model in ("blur", "square"):
        ds = xr.open_zarr(results / "metamer" / "camera" / f"{model}.zarr")
        assert list(ds["iteration"].values) == list(range(6))
        assert list(ds["saved_iteration"].values) == [0, 2, 4, 5]
        assert ds["saved_metamer"].shape == (4, 1, 1, 16, 16)
        assert ds.attrs["complete"] is True
        assert ds.attrs["parameters"]["max_iter"] == 5
        assert ds["loss"].values[-1] < ds["loss"].values[0]
        png = results / "figures" / "metamer" / "camera" / f"{model}_status.png"
        assert png.read_bytes()[:4] == b"\x89PNG"
    table = pd.read_csv(results / "summary.csv")
    metamers = table[table["method"] == "metamer"]
    assert sorted(metamers["model"]) == ["blur", "square"]
    assert (table["method"] == "mad").sum() == 4
    assert (table["method"] == "eigendistortion").sum() == 2
    assert (table["method"] == "geodesic").sum() == 1
    assert set(table.loc[table["method"] == "metamer", "iterations"]) == {5}
    for name in ("metamer_grid.png", "metamer_losses.png"):
        assert (results / "figures" / name).stat().st_size > 1000


def test_second_run_has_nothing_to_do(workflow):
    assert planned_jobs(workflow, CONFIG) == set()


def test_model_parameter_reruns_only_that_model(workflow):
    config = yaml.safe_load(yaml.safe_dump(CONFIG))
    config["models"]["blur"]["params"]["width"] = 5
    expected = (
        {("build_model", "model=blur")}
        | downstream("blur")
        | eigendistortion_jobs("blur")
        | MAD_JOBS
        | GEODESIC_JOBS
    )
    assert planned_jobs(workflow, config) == expected
    planned_jobs(workflow, CONFIG)  # restore the config file


def test_synthesis_setting_reruns_only_those_syntheses(workflow):
    config = yaml.safe_load(yaml.safe_dump(CONFIG))
    config["metamer"]["overrides"] = {"square": {"max_iter": 7}}
    assert planned_jobs(workflow, config) == downstream("square")
    config = yaml.safe_load(yaml.safe_dump(CONFIG))
    config["metamer"]["lr"] = 0.02
    assert planned_jobs(workflow, config) == downstream("blur") | downstream("square")


def test_eigendistortion_setting_reruns_only_eigendistortions(workflow):
    config = yaml.safe_load(yaml.safe_dump(CONFIG))
    config["eigendistortion"]["k"] = 2
    expected = eigendistortion_jobs("blur") | eigendistortion_jobs("square")
    assert planned_jobs(workflow, config) == expected | {("aggregate", "")}


def test_geodesic_setting_reruns_only_geodesics(workflow):
    config = yaml.safe_load(yaml.safe_dump(CONFIG))
    config["geodesic"]["n_steps"] = 4
    assert planned_jobs(workflow, config) == GEODESIC_JOBS | {("aggregate", "")}


def test_mad_set_setting_reruns_only_that_set(workflow):
    config = yaml.safe_load(yaml.safe_dump(CONFIG))
    config["mad"]["sets"]["camset"]["initial_noise"] = 0.2
    assert planned_jobs(workflow, config) == MAD_JOBS | {("aggregate", "")}


def test_model_code_edit_reruns_only_its_model(workflow):
    source = workflow / "tinymodels.py"
    try:
        source.write_text(MODELS.replace("return x**2", "return x**3"))
        expected = {("build_model", "model=square")} | downstream("square")
        assert planned_jobs(workflow, CONFIG) == expected | eigendistortion_jobs(
            "square"
        )
        source.write_text(
            MODELS.replace("return x**2", "return x**2  # squared, as before")
        )
        assert planned_jobs(workflow, CONFIG) == set()
    finally:
        source.write_text(MODELS)


def test_touched_but_identical_artifact_triggers_nothing(workflow):
    artifact = workflow / "results" / "models" / "blur.model"
    stat = artifact.stat()
    os.utime(artifact, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    try:
        assert planned_jobs(workflow, CONFIG) == set()
    finally:
        os.utime(artifact, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_texture_metamer_store_figures_and_summary(workflow):
    results = workflow / "results"
    ds = xr.open_zarr(results / "texture" / "brick" / "ps.zarr")
    assert ds.attrs["method"] == "metamer_ctf"
    assert ds.attrs["parameters"]["coarse_to_fine"] == "together"
    scales = ds.attrs["scales"]
    assert (
        scales[:2] == ["pixel_statistics", "residual_lowpass"] and scales[-1] == "all"
    )
    # two iterations per scale, then the next one; the final entry is the current one
    assert ds["scale"].values.tolist() == [0, 0, 1, 1, 2, 2, 3]
    assert ds["scale_loss"].dims == ("iteration",) and ds.sizes["iteration"] == 7
    assert (ds["scale_loss"].values[:-1] <= ds["loss"].values[:-1] + 1e-6).all()
    errors = ds.attrs["representation_error_by_group"]
    assert "pixel_statistics" in errors
    for name in ("representation_error", "scale_losses"):
        png = results / "figures" / "texture" / "brick" / f"ps_{name}.png"
        assert png.read_bytes()[:4] == b"\x89PNG"
    assert (results / "figures" / "texture_grid.png").stat().st_size > 1000
    table = pd.read_csv(results / "summary.csv")
    texture = table[table["method"] == "metamer_ctf"]
    assert list(texture["image"]) == ["brick"]
    assert np.isfinite(texture["error_pixel_statistics"]).all()


def test_synthesis_jobs_declare_gpus_in_the_plan(tmp_path):
    (tmp_path / "tinymodels.py").write_text(MODELS)
    config = yaml.safe_load(yaml.safe_dump(CONFIG))
    config["metamer"]["device"] = "cuda"  # always one GPU
    config["texture"]["device"] = "auto"  # as resources.gpus_per_synthesis says
    config["resources"] = {"gpus_per_synthesis": 1}
    out = snakemake(tmp_path, "-n", config=config).stdout
    declared = {}
    for block in re.split(r"\nrule ", "\n" + out)[1:]:
        rule = block.split(":", 1)[0]
        gpu = re.search(r"resources: .*gpu=(\d+)", block)
        declared.setdefault(rule, set()).add(int(gpu.group(1)) if gpu else None)
    assert declared["metamer"] == {1} and declared["texture_metamer"] == {1}
    assert declared["mad"] == {0} and declared["eigendistortion"] == {0}  # device cpu
    assert declared["render_metamer_grid"] == {None}  # no GPU for figures


def test_paper_config_plans_every_figure_set(tmp_path):
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    counts = {}
    for target in ("fig_metamers", "fig_textures", "fig_mad", "fig_eigendistortions"):
        dry = subprocess.run(
            [BIN / "snakemake", "-s", REPO / "Snakefile", "--configfile",
             REPO / "configs" / "paper.yaml", "-n", "--cores", "1", target],
            cwd=tmp_path, env=env, capture_output=True, text=True,
        )  # fmt: skip
        assert dry.returncode == 0, dry.stderr
        counts[target] = dry.stdout
    assert re.search(r"metamer\s+15\b", counts["fig_metamers"])  # 3 images x 5 models
    assert re.search(r"texture_metamer\s+3\b", counts["fig_textures"])
    assert re.search(r"\bmad\s+8\b", counts["fig_mad"])  # 2 sets x 4
    assert re.search(r"eigendistortion\s+10\b", counts["fig_eigendistortions"])


def test_batched_metamers_one_job_per_model_same_stores(tmp_path, workflow):
    workdir = tmp_path / "copy"  # the run's images and models, its metamers removed
    shutil.copytree(workflow, workdir, symlinks=True)
    shutil.rmtree(workdir / "results" / "metamer")
    config = yaml.safe_load(yaml.safe_dump(CONFIG))
    config["metamer"].update(batch=True, images=["camera", "shifted"])
    jobs = planned_jobs(workdir, config, target="fig_metamers")
    assert {w for rule, w in jobs if rule == "metamer_batch"} == {
        "model=blur",
        "model=square",
    }
    assert not any(
        rule in ("metamer", "prepare_image", "build_model") for rule, _ in jobs
    )
    snakemake(workdir, "fig_metamers", config=config)
    for model in ("blur", "square"):  # the same stores as one run per image
        batch = xr.open_zarr(
            workdir / "results" / "metamer" / "camera" / f"{model}.zarr"
        )
        alone = xr.open_zarr(
            workflow / "results" / "metamer" / "camera" / f"{model}.zarr"
        )
        for name in ("loss", "gradient_norm", "saved_metamer", "metamer"):
            np.testing.assert_allclose(
                batch[name].values, alone[name].values, rtol=1e-5, atol=1e-6
            )
    config["metamer"]["stop_criterion"] = 0.01
    result = snakemake(workdir, "-n", config=config, check=False)
    assert "config metamer.batch: batched metamers need stop_criterion 0" in (
        result.stdout + result.stderr
    )


def test_report_holds_figures_captions_and_summary(tmp_path, workflow):
    workdir = tmp_path / "copy"
    shutil.copytree(workflow, workdir, symlinks=True)
    report = workdir / "report.html"
    snakemake(workdir, "--report", str(report), config=CONFIG)
    html = report.read_text()
    for category in ("Metamers", "Textures", "MAD competition", "Eigendistortions"):
        assert category in html
    assert "summary.csv" in html
    assert "Texture photographs beside their texture metamers" in html  # a caption
    # captions are rendered per job, with its wildcards
    assert "Status of a metamer synthesis under square" in html


def test_figure_targets_plan_only_what_their_figures_need(tmp_path):
    (tmp_path / "tinymodels.py").write_text(MODELS)
    jobs = planned_jobs(tmp_path, CONFIG, target="fig_mad")
    assert {rule for rule, _ in jobs} == {
        "prepare_image",
        "build_model",
        "mad",
        "render_mad_set",
        "render_mad_trajectories",
    }
    assert ("build_model", "model=square") not in jobs  # only the metric model
    textures = {
        rule for rule, _ in planned_jobs(tmp_path, CONFIG, target="fig_textures")
    }
    assert "texture_metamer" in textures and "metamer" not in textures


def test_rerun_after_change_recomputes_only_what_changed(tmp_path, workflow):
    workdir = tmp_path / "copy"
    shutil.copytree(workflow, workdir, symlinks=True)
    square = workdir / "results" / "metamer" / "camera" / "square.zarr" / "zarr.json"
    before = square.stat().st_mtime_ns
    config = yaml.safe_load(yaml.safe_dump(CONFIG))
    config["metamer"]["overrides"] = {"blur": {"max_iter": 6}}
    snakemake(workdir, config=config)
    assert square.stat().st_mtime_ns == before
    ds = xr.open_zarr(workdir / "results" / "metamer" / "camera" / "blur.zarr")
    assert ds.sizes["iteration"] == 7
    assert planned_jobs(workdir, config) == set()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda c: c["metamer"]["images"].append("einstein"),
            "config metamer.images: unknown image 'einstein'",
        ),
        (lambda c: c["metamer"].update(max_iterations=3), "max_iterations"),
        (lambda c: c["metamer"].update(max_iter=0), "max_iter"),
        (
            lambda c: c["images"]["shifted"].update(size=32),
            "config geodesic.pairs.shift: images 'camera' and 'shifted' have different sizes",
        ),
        (
            lambda c: c["mad"]["sets"]["camset"].update(metrics=["mse", "mse"]),
            "config mad.sets.camset.metrics: both metrics are 'mse'",
        ),
        (
            lambda c: c["mad"]["sets"]["camset"].update(metrics=["mse", "psnr"]),
            "unknown metric 'psnr'",
        ),
        (
            lambda c: (
                c["texture"].update(models=["ps", "blur_builtin"])
                or c["models"].update(blur_builtin={"class": "Gaussian"})
            ),
            "config texture.models: model 'blur_builtin' (Gaussian) can't do "
            "coarse-to-fine synthesis",
        ),
        (
            lambda c: c["models"]["ps"]["params"].update(image_shape=[16, 16]),
            "config models.ps.params.image_shape: [16, 16] does not match the "
            "32x32 image 'brick'",
        ),
        (
            lambda c: c["texture"].update(loss="mse", loss_weights={"kurtosis": 2}),
            "config texture.loss_weights: only the portilla_simoncelli loss has weights",
        ),
        (
            lambda c: c["texture"].update(coarse_to_fine="sideways"),
            "sideways",
        ),
    ],
)
def test_invalid_config_fails_before_any_job(tmp_path, edit, message):
    config = yaml.safe_load(yaml.safe_dump(CONFIG))
    edit(config)
    result = snakemake(tmp_path, config=config, check=False)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    assert not (tmp_path / "results").exists()


def test_lint_and_default_config_dry_run(tmp_path):
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    default = [
        "-s",
        REPO / "Snakefile",
        "--configfile",
        REPO / "config.yaml",
        "--cores",
        "1",
    ]
    dry = subprocess.run(
        [BIN / "snakemake", "-n", *default],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert dry.returncode == 0, dry.stderr
    assert "metamer" in dry.stdout
    lint = subprocess.run(
        [BIN / "snakemake", "--lint", *default],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    # the only lint left: no per-rule conda env (one environment.yml serves all rules)
    output = (lint.stdout + lint.stderr).splitlines()
    lints = {line.strip() for line in output if line.startswith("    * ")}
    assert lints <= {"* Specify a conda environment or container for each rule.:"}, (
        lints
    )
