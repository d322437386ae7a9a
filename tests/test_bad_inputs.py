"""Bad input of every kind is refused with one clear message, losing nothing.

One small workflow run (one 16px image, one tiny user model, a 3-iteration metamer)
is completed once; then each case of the table feeds one bad input to it: a config
(real ``snakemake`` without ``-n``: the error must come at parse time, before any job
starts), a command line, an image file, a store or a model artifact (the ``pipeline``
CLI, in process). Each case asserts a non-zero exit, the expected message (for the
CLI: exactly one ``Error:`` line and no traceback) and that no file of the run or of
the case's inputs was added, removed or changed.
"""

import json
import os
import shutil
import struct
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from pipeline.cli import main

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
"""

CONFIG = {
    "images": {"camera": {"source": "camera", "size": 16}},
    "models": {"blur": {"class": "tinymodels:Blur", "params": {"width": 3}}},
    "metamer": {
        "images": ["camera"],
        "models": ["blur"],
        "max_iter": 3,
        "store_progress": 2,
        "device": "cpu",
    },
    "figures": {"formats": ["png"]},
}
METAMER = "results/metamer/camera/blur.zarr"


def snakemake(workdir, config):
    """Write ``config`` as the workdir's config.yaml and run snakemake on it."""
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    env = dict(
        os.environ,
        PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}",
        PYTHONPATH=str(workdir),
    )
    return subprocess.run(
        [
            BIN / "snakemake",
            "-s",
            REPO / "Snakefile",
            "--configfile",
            "config.yaml",
            "--cores",
            "2",
        ],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
    )


@pytest.fixture(scope="module")
def workflow(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("bad_inputs")
    (workdir / "tinymodels.py").write_text(MODELS)
    result = snakemake(workdir, CONFIG)
    assert result.returncode == 0, result.stdout + result.stderr
    return workdir


def snapshot(*roots):
    """(mtime, size) of every file under ``roots`` (and which folders exist).

    Snakemake's own state, the config file the cases rewrite and bytecode caches
    are left out.
    """
    skipped = {".snakemake", "__pycache__", "config.yaml"}
    files = {}
    for root in roots:
        for path in root.rglob("*"):
            if skipped.isdisjoint(path.relative_to(root).parts):
                stat = path.lstat()
                is_dir = path.is_dir()
                files[path] = "folder" if is_dir else (stat.st_mtime_ns, stat.st_size)
    return files


# ---------------------------------------------------------------- bad inputs


def _edited(edit):
    config = json.loads(json.dumps(CONFIG))
    edit(config)
    return config


def _write_png(path, shape):
    rng = np.random.default_rng(0)
    iio.imwrite(path, (rng.random(shape) * 255).astype(np.uint8))


def _truncated_png(tmp, results):
    _write_png(tmp / "full.png", (40, 40))
    data = (tmp / "full.png").read_bytes()
    (tmp / "bad.png").write_bytes(data[: len(data) // 2])
    (tmp / "full.png").unlink()


def _bad_store(change):
    """Copy the run's metamer store to {tmp}/bad.zarr and apply ``change`` to it."""

    def prepare(tmp, results):
        shutil.copytree(results.parent / METAMER, tmp / "bad.zarr")
        change(tmp / "bad.zarr")

    return prepare


def _set_attrs(**attrs):
    def change(store):
        metadata = json.loads((store / "zarr.json").read_text())
        metadata["attributes"].update(attrs)
        (store / "zarr.json").write_text(json.dumps(metadata))

    return change


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _truncate_chunk(store):
    _truncate(sorted((store / "loss" / "c").iterdir())[0])


def _tampered_model(metadata=None, data=None):
    """Write {tmp}/bad.model: the run's artifact with its header metadata changed."""

    def prepare(tmp, results):
        original = (results / "models" / "blur.model").read_bytes()
        if data is not None:
            (tmp / "bad.model").write_bytes(data(original))
            return
        length = struct.unpack("<Q", original[:8])[0]
        header = json.loads(original[8 : 8 + length])
        fields = json.loads(header["__metadata__"]["pipeline"])
        fields.update(metadata)
        header["__metadata__"]["pipeline"] = json.dumps(fields, sort_keys=True)
        encoded = json.dumps(header).encode()
        encoded += b" " * (-len(encoded) % 8)
        (tmp / "bad.model").write_bytes(
            struct.pack("<Q", len(encoded)) + encoded + original[8 + length :]
        )

    return prepare


@dataclass
class Case:
    """One bad input: a config edit (snakemake) or a command line (the CLI)."""

    kind: str  # config, cli, image, store or artifact
    name: str
    message: str
    edit: object = None  # config cases: the config to run
    args: list = field(default_factory=list)  # CLI cases, {tmp} {img} {model} {met}
    prepare: object = None  # CLI cases: writes the bad input under {tmp}


def _synthesize(*inputs, extra=()):
    return [
        "synthesize",
        "metamer",
        *inputs,
        "{tmp}/out.zarr",
        "--max-iter",
        "2",
        "--device",
        "cpu",
        "--quiet",
        *extra,
    ]


def _extra_model(**model):
    return lambda c: c["models"].update(extra=model)


CASES = [
    # ---- config: refused by snakemake at parse time, before any job starts
    Case(
        "config",
        "unknown user model parameter",
        "config models.blur.params: unknown parameter 'widht' for tinymodels:Blur; "
        "accepted are width",
        edit=lambda c: c["models"]["blur"].update(params={"widht": 3}),
    ),
    Case(
        "config",
        "unknown built-in model parameter",
        "config models.extra.params: unknown parameter 'kernal_size' for OnOff; "
        "accepted are kernel_size, amplitude_ratio, pad_mode, pretrained",
        edit=_extra_model(
            **{"class": "OnOff", "params": {"kernel_size": 31, "kernal_size": 31}}
        ),
    ),
    Case(
        "config",
        "missing required model parameter",
        "config models.extra.params: Gaussian needs parameter 'kernel_size'",
        edit=_extra_model(**{"class": "Gaussian", "params": {"std": 2.0}}),
    ),
    Case(
        "config",
        "unknown built-in class",
        "config models.extra.class: unknown model class 'OnOf'; built-in classes are "
        "CenterSurround, DeepNetFeatures, Gaussian",
        edit=_extra_model(**{"class": "OnOf"}),
    ),
    Case(
        "config",
        "unknown user module",
        "config models.blur.class: cannot find class 'Blur' in module 'tinymodel'",
        edit=lambda c: c["models"]["blur"].update({"class": "tinymodel:Blur"}),
    ),
    Case(
        "config",
        "unknown user class",
        "config models.blur.class: cannot find class 'Blurr' in module 'tinymodels'",
        edit=lambda c: c["models"]["blur"].update({"class": "tinymodels:Blurr"}),
    ),
    Case(
        "config",
        "image file that does not exist",
        "config images.camera.source: image file not found: photo.png (in the working "
        "directory",
        edit=lambda c: c["images"]["camera"].update(source="photo.png"),
    ),
    Case(
        "config",
        "max_iter below the stored iterations",
        f"config metamer.max_iter: 2 is below the 3 iterations already stored in "
        f"{METAMER}; raise it, or delete that store to recompute with fewer",
        edit=lambda c: c["metamer"].update(max_iter=2),
    ),
    Case(
        "config",
        "override max_iter below the stored iterations",
        "config metamer.overrides.blur.max_iter: 1 is below the 3 iterations",
        edit=lambda c: c["metamer"].update(overrides={"blur": {"max_iter": 1}}),
    ),
    Case(
        "config",
        "wrong type",
        "ValidationError: 'many' is not of type 'integer'",
        edit=lambda c: c["metamer"].update(max_iter="many"),
    ),
    Case(
        "config",
        "unknown section",
        "Additional properties are not allowed ('metamers' was unexpected)",
        edit=lambda c: c.update(metamers={}),
    ),
    Case(
        "config",
        "MAD pair of the same metric",
        "config mad.sets.s.metrics: both metrics are 'mse'; MAD competition needs two "
        "different metrics",
        edit=lambda c: c.update(
            mad={"sets": {"s": {"image": "camera", "metrics": ["mse", "mse"]}}}
        ),
    ),
    Case(
        "config",
        "coarse-to-fine with a Gaussian model",
        "config texture.models: model 'extra' (Gaussian) can't do coarse-to-fine "
        "synthesis",
        edit=lambda c: (
            _extra_model(**{"class": "Gaussian", "params": {"kernel_size": 5}})(c)
            or c.update(texture={"images": ["camera"], "models": ["extra"]})
        ),
    ),
    Case(
        "config",
        "eigendistortion of an undefined model",
        "config eigendistortion.models: unknown model 'onoff'; defined models are blur",
        edit=lambda c: c.update(
            eigendistortion={"images": ["camera"], "models": ["onoff"]}
        ),
    ),
    # ---- command lines
    Case(
        "cli",
        "MAD of one metric against itself",
        "MAD competition needs two different metrics",
        args=[
            "synthesize",
            "mad",
            "{img}",
            "{tmp}/out.zarr",
            "--optimized-metric",
            "mse",
            "--reference-metric",
            "mse",
            "--minmax",
            "max",
            "--max-iter",
            "2",
        ],
    ),
    Case(
        "cli",
        "learning rate zero",
        "Invalid value for '--lr': 0.0 is not in the range x>0",
        args=_synthesize("{img}", "{model}", extra=("--lr", "0")),
    ),
    Case(
        "cli",
        "model without its required parameter",
        "cannot build model Gaussian with {}",
        args=["build-model", "Gaussian", "{tmp}/out.model"],
    ),
    Case(
        "cli",
        "zero eigendistortions",
        "Invalid value for '--k': 0 is not in the range x>=1",
        args=[
            *("synthesize", "eigendistortion", "{img}", "{model}", "{tmp}/o.zarr"),
            *("--k", "0"),
        ],
    ),
    Case(
        "cli",
        "negative seed",
        "Error: Invalid value for '--seed'",
        args=_synthesize("{img}", "{model}", extra=("--seed", "-3")),
    ),
    Case(
        "cli",
        "figure format nobody writes",
        "Error:",
        args=["render", "status", "{met}", "--out", "{tmp}/figure.txt"],
    ),
    # ---- image files
    Case(
        "image",
        "empty file",
        "cannot read image file",
        args=["prepare-images", "{tmp}/bad.png", "{tmp}/out.zarr"],
        prepare=lambda tmp, results: (tmp / "bad.png").write_bytes(b""),
    ),
    Case(
        "image",
        "text file named .png",
        "cannot read image file",
        args=["prepare-images", "{tmp}/bad.png", "{tmp}/out.zarr"],
        prepare=lambda tmp, results: (tmp / "bad.png").write_text("not an image\n"),
    ),
    Case(
        "image",
        "truncated PNG",
        "cannot read image file",
        args=["prepare-images", "{tmp}/bad.png", "{tmp}/out.zarr"],
        prepare=_truncated_png,
    ),
    Case(
        "image",
        "missing file",
        "image file not found",
        args=["prepare-images", "{tmp}/missing.png", "{tmp}/out.zarr"],
    ),
    Case(
        "image",
        "1x1 image",
        "1x1",
        args=["prepare-images", "{tmp}/bad.png", "{tmp}/out.zarr", "--size", "16"],
        prepare=lambda tmp, results: _write_png(tmp / "bad.png", (1, 1)),
    ),
    Case(
        "image",
        "directory",
        "is a directory",
        args=["prepare-images", "{tmp}/folder", "{tmp}/out.zarr"],
        prepare=lambda tmp, results: (tmp / "folder").mkdir(),
    ),
    # ---- stores
    Case(
        "store",
        "truncated zarr.json",
        "cannot open store",
        args=["aggregate", "{tmp}/bad.zarr", "--out", "{tmp}/summary.csv"],
        prepare=_bad_store(lambda store: _truncate(store / "zarr.json")),
    ),
    Case(
        "store",
        "garbage zarr.json",
        "cannot open store",
        args=["render", "status", "{tmp}/bad.zarr", "--out", "{tmp}/status.png"],
        prepare=_bad_store(
            lambda store: (store / "zarr.json").write_bytes(bytes(range(256)))
        ),
    ),
    Case(
        "store",
        "incomplete store",
        "bad.zarr is incomplete: rerun the stage that writes it",
        args=["aggregate", "{tmp}/bad.zarr", "--out", "{tmp}/summary.csv"],
        prepare=_bad_store(_set_attrs(complete=False)),
    ),
    Case(
        "store",
        "newer schema version",
        "bad.zarr has schema version 3, this pipeline reads version 2: update pipeline",
        args=["aggregate", "{tmp}/bad.zarr", "--out", "{tmp}/summary.csv"],
        prepare=_bad_store(_set_attrs(schema_version=3)),
    ),
    Case(
        "store",
        "metamer store given as the image",
        "blur.zarr is a metamer store, expected a image store",
        args=["synthesize", "eigendistortion", "{met}", "{model}", "{tmp}/o.zarr"],
    ),
    Case(
        "store",
        "image store given to aggregate",
        "camera.zarr is a image store",
        args=["aggregate", "{img}", "--out", "{tmp}/summary.csv"],
    ),
    Case(
        "store",
        "truncated data chunk",
        "bad.zarr",
        args=["aggregate", "{tmp}/bad.zarr", "--out", "{tmp}/summary.csv"],
        prepare=_bad_store(_truncate_chunk),
    ),
    # ---- model artifacts
    Case(
        "artifact",
        "truncated artifact",
        "bad.model is not a readable model artifact",
        args=_synthesize("{img}", "{tmp}/bad.model"),
        prepare=_tampered_model(data=lambda data: data[: len(data) // 2]),
    ),
    Case(
        "artifact",
        "random bytes",
        "bad.model is not a readable model artifact",
        args=_synthesize("{img}", "{tmp}/bad.model"),
        prepare=_tampered_model(data=lambda data: os.urandom(len(data))),
    ),
    Case(
        "artifact",
        "class that is not a torch module",
        "'os:system' is not a torch.nn.Module class",
        args=_synthesize("{img}", "{tmp}/bad.model"),
        prepare=_tampered_model({"class": "os:system"}),
    ),
    Case(
        "artifact",
        "foreign format",
        "bad.model is not a pipeline model artifact",
        args=_synthesize("{img}", "{tmp}/bad.model"),
        prepare=_tampered_model({"format": "pipeline.model/9"}),
    ),
    Case(
        "artifact",
        "tampered constructor arguments",
        "bad.model",
        args=_synthesize("{img}", "{tmp}/bad.model"),
        prepare=_tampered_model({"kwargs": json.dumps({"widht": 3})}),
    ),
    Case(
        "artifact",
        "constructor argument of the wrong type",
        "bad.model",
        args=_synthesize("{img}", "{tmp}/bad.model"),
        prepare=_tampered_model({"kwargs": json.dumps({"width": "wide"})}),
    ),
]


def _param(case):
    return pytest.param(case, id=f"{case.kind}: {case.name}")


def _run_config_case(workflow, directory, case):
    """Copy the completed run, snapshot it, run snakemake on the bad config."""
    shutil.copytree(workflow, directory, symlinks=True)  # keeps modification times
    before = snapshot(directory)
    result = snakemake(directory, _edited(case.edit))
    return result, before, snapshot(directory)


@pytest.fixture(scope="module")
def config_runs(workflow, tmp_path_factory):
    """Every config case, each on its own copy of the run, two at a time."""
    root = tmp_path_factory.mktemp("config_cases")
    cases = [case for case in CASES if case.kind == "config"]
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {
            case.name: pool.submit(_run_config_case, workflow, root / str(i), case)
            for i, case in enumerate(cases)
        }
        return {name: future.result() for name, future in futures.items()}


def test_the_table_covers_every_kind():
    kinds = {case.kind for case in CASES}
    assert kinds == {"config", "cli", "image", "store", "artifact"}
    assert len(CASES) >= 20


@pytest.mark.parametrize("case", [_param(case) for case in CASES])
def test_bad_input_is_refused_and_nothing_is_lost(
    case, workflow, tmp_path, monkeypatch, request
):
    results = workflow / "results"
    if case.kind == "config":
        result, before, after = request.getfixturevalue("config_runs")[case.name]
        output = result.stdout + result.stderr
        assert result.returncode != 0, output
        assert case.message in output, output
        assert "Building DAG of jobs" not in output, output  # failed at parse time
        assert after == before  # nothing new, changed or lost
        return
    if case.prepare is not None:
        case.prepare(tmp_path, results)
    monkeypatch.syspath_prepend(str(workflow))  # the run's tinymodels
    before = snapshot(workflow, tmp_path)
    filled = [
        arg.format(
            tmp=tmp_path,
            img=results / "images" / "camera.zarr",
            model=results / "models" / "blur.model",
            met=workflow / METAMER,
        )
        for arg in case.args
    ]
    result = CliRunner().invoke(main, filled)
    assert result.exit_code != 0, result.output
    # click exits cleanly on a reported error; anything else escaped as a traceback
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    assert case.message in errors[0], result.output
    assert snapshot(workflow, tmp_path) == before  # nothing new, changed or lost
