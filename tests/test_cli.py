"""Every CLI stage on tiny inputs: real zarr written and read back; bad input."""

import gc
import shutil
import subprocess
import sys

import imageio.v3 as iio
import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner

import pipeline.cli
from pipeline.cli import main, run

MODEL = "cli_models:Blur"
MODELS_SOURCE = """
import torch


class Hungry(torch.nn.Module):
    def forward(self, x):
        if not torch.is_grad_enabled():  # the target representation, at synthesis
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20 GiB")
        return x


class Blur(torch.nn.Module):
    def __init__(self, width: int = 3):
        super().__init__()
        self.width = width

    def forward(self, x):
        return torch.nn.functional.avg_pool2d(x, self.width, stride=1, padding=self.width // 2)
"""


@pytest.fixture(autouse=True)
def user_models(tmp_path_factory, monkeypatch):
    directory = tmp_path_factory.getbasetemp() / "user_models"
    directory.mkdir(exist_ok=True)
    (directory / "cli_models.py").write_text(MODELS_SOURCE)
    monkeypatch.syspath_prepend(str(directory))


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def image_store(tmp_path):
    path = tmp_path / "camera.zarr"
    assert invoke("prepare-images", "camera", path, "--size", 16).exit_code == 0
    return path


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "blur.model"
    assert invoke("build-model", MODEL, path).exit_code == 0
    return path


@pytest.fixture
def metamer_store(tmp_path, image_store, model):
    out = tmp_path / "met.zarr"
    result = invoke(
        "synthesize",
        "metamer",
        image_store,
        model,
        out,
        "--max-iter",
        6,
        "--store-progress",
        4,
        "--device",
        "cpu",
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    return out


def test_prepare_images_builtin_and_file(tmp_path, image_store):
    ds = xr.open_zarr(image_store)
    assert ds["image"].shape == (1, 1, 16, 16)
    assert ds.attrs["name"] == "camera" and ds.attrs["complete"] is True
    png = tmp_path / "ramp.png"
    iio.imwrite(png, np.tile(np.arange(0, 256, 8, dtype=np.uint8), (32, 1)))
    assert invoke("prepare-images", png, tmp_path / "ramp.zarr").exit_code == 0
    pixels = xr.open_zarr(tmp_path / "ramp.zarr")["image"].values
    assert pixels.shape == (1, 1, 32, 32)
    assert pixels[0, 0, 0, 0] == 0 and pixels[0, 0, 0, -1] == pytest.approx(248 / 255)
    # the packaged example images are built-in names too
    out = tmp_path / "einstein.zarr"
    assert invoke("prepare-images", "einstein", out, "--size", "16").exit_code == 0
    assert xr.open_zarr(out)["image"].shape == (1, 1, 16, 16)


def test_build_model_artifact_is_deterministic_and_safe(tmp_path, model):
    again = tmp_path / "again.model"
    assert invoke("build-model", MODEL, again).exit_code == 0
    assert again.read_bytes() == model.read_bytes()
    from pipeline.stages.models import load_model

    loaded = load_model(model)
    assert loaded.class_path == MODEL and len(loaded.fingerprint) == 16


def test_synthesize_metamer_store(metamer_store):
    ds = xr.open_zarr(metamer_store)
    assert ds.sizes["iteration"] == 7
    assert list(ds["saved_iteration"].values) == [0, 4, 6]
    for name in ("loss", "penalty", "gradient_norm", "pixel_change_norm"):
        assert ds[name].dims == ("iteration",)
    assert np.isnan(ds["gradient_norm"].values[-1])
    np.testing.assert_array_equal(ds["saved_metamer"].values[-1], ds["metamer"].values)
    np.testing.assert_array_equal(
        ds["saved_metamer"].values[0], ds["initial_image"].values
    )
    attrs = ds.attrs
    assert attrs["parameters"]["seed"] == 0 and attrs["device"] == "cpu"
    assert attrs["versions"]["torch"] and attrs["wall_time_s"] > 0
    assert attrs["representation_shape"] == [1, 16, 16]


def test_same_seed_same_metamer(tmp_path, image_store, model, metamer_store):
    out = tmp_path / "again.zarr"
    invoke(
        "synthesize",
        "metamer",
        image_store,
        model,
        out,
        "--max-iter",
        6,
        "--store-progress",
        4,
        "--device",
        "cpu",
        "--quiet",
    )
    np.testing.assert_array_equal(
        xr.open_zarr(out)["metamer"].values,
        xr.open_zarr(metamer_store)["metamer"].values,
    )


def test_aggregate_and_render(tmp_path, metamer_store):
    table = tmp_path / "summary.csv"
    assert invoke("aggregate", metamer_store, "--out", table).exit_code == 0
    import pandas as pd

    row = pd.read_csv(table).iloc[0]
    assert (row["method"], row["image"], row["model"], row["iterations"]) == (
        "metamer",
        "camera",
        "blur",
        6,
    )
    assert row["final_loss"] < row["initial_loss"]
    for command in (
        ["status", metamer_store],
        ["metamer-grid", metamer_store],
        ["losses", metamer_store],
    ):
        png, pdf = tmp_path / f"{command[0]}.png", tmp_path / f"{command[0]}.pdf"
        assert invoke("render", *command, "--out", png, "--out", pdf).exit_code == 0
        assert png.read_bytes()[:4] == b"\x89PNG" and pdf.read_bytes()[:4] == b"%PDF"


def test_render_status_of_several_stores_in_one_process(tmp_path, metamer_store):
    other = tmp_path / "other.zarr"
    shutil.copytree(metamer_store, other)
    outs = [tmp_path / name for name in ("a.png", "a.pdf", "b.png", "b.pdf")]
    args = ["render", "status", metamer_store, other]
    assert invoke(*args, *(w for o in outs for w in ("--out", o))).exit_code == 0
    assert [o.read_bytes()[:4] for o in outs] == [b"\x89PNG", b"%PDF"] * 2
    uneven = invoke(
        *args,
        "--out",
        tmp_path / "c.png",
        "--out",
        tmp_path / "d.png",
        "--out",
        tmp_path / "e.png",
    )
    assert uneven.exit_code != 0
    assert "give each store the same number of --out paths" in uneven.output
    assert not any(tmp_path.glob("[cde].png"))


def _corrupt(path):
    (path / "zarr.json").write_text("{ not json")
    return path


BAD_INPUTS = [
    # (args, message); {img}, {model}, {met}, {tmp} are filled in
    (["prepare-images", "{tmp}/missing.png", "{tmp}/o.zarr"], "image file not found"),
    (["prepare-images", "mandrill", "{tmp}/o.zarr"], "unknown image 'mandrill'"),
    (["prepare-images", "{tmp}/notes.txt", "{tmp}/o.zarr"], "cannot read image file"),
    (["build-model", "Nonexistent", "{tmp}/o.model"], "unknown model 'Nonexistent'"),
    (
        ["build-model", MODEL, "{tmp}/o.model", "--param", "widht=3"],
        "unknown parameter 'widht'",
    ),
    (["build-model", MODEL, "{tmp}/o.model", "--param", "width"], "is not KEY=VALUE"),
    (["build-model", "os:path", "{tmp}/o.model"], "not a torch.nn.Module"),
    (
        [
            "synthesize",
            "metamer",
            "{img}",
            "{model}",
            "{tmp}/o.zarr",
            "--max-iter",
            "0",
        ],
        "Invalid value for '--max-iter': 0 is not in the range x>=1",
    ),
    (
        [
            "synthesize",
            "metamer",
            "{tmp}/nothing.zarr",
            "{model}",
            "{tmp}/o.zarr",
            "--max-iter",
            "2",
        ],
        "store not found",
    ),
    (
        [
            "synthesize",
            "metamer",
            "{met}",
            "{model}",
            "{tmp}/o.zarr",
            "--max-iter",
            "2",
        ],
        "is a metamer store, expected a image store",
    ),
    (
        [
            "synthesize",
            "metamer",
            "{img}",
            "{tmp}/notes.txt",
            "{tmp}/o.zarr",
            "--max-iter",
            "2",
        ],
        "not a readable model artifact",
    ),
    (
        ["synthesize", "metamer", "{img}", "{model}", "{met}", "--max-iter", "2"],
        "already exists",
    ),
    (
        [
            "synthesize",
            "metamer",
            "{img}",
            "{model}",
            "{tmp}/o.zarr",
            "--max-iter",
            "2",
            "--device",
            "cuda",
        ],
        "no CUDA GPU",
    ),
    (
        [
            "synthesize",
            "metamer",
            "{img}",
            "{model}",
            "{tmp}/o.zarr",
            "--max-iter",
            "2",
            "--coarse-to-fine",
            "together",
        ],
        "model blur: Blur can't do coarse-to-fine synthesis",
    ),
    (
        [
            "synthesize",
            "metamer",
            "{img}",
            "{model}",
            "{tmp}/o.zarr",
            "--max-iter",
            "2",
            "--loss",
            "portilla_simoncelli",
        ],
        "loss portilla_simoncelli needs a PortillaSimoncelli model",
    ),
    (
        [
            "synthesize",
            "metamer",
            "{img}",
            "{model}",
            "{tmp}/o.zarr",
            "--max-iter",
            "2",
            "--loss-weights",
            "pixel_statistics=0",
        ],
        "only the portilla_simoncelli loss has weights",
    ),
    (
        [
            "synthesize",
            "metamer",
            "{img}",
            "{model}",
            "{tmp}/o.zarr",
            "--max-iter",
            "2",
            "--change-scale-criterion",
            "soon",
        ],
        "'soon' is neither a number nor 'none'",
    ),
    (
        ["render", "scale-losses", "{met}", "--out", "{tmp}/f.png"],
        "is a plain metamer store, not a coarse-to-fine one",
    ),
    (["aggregate", "{corrupt}", "--out", "{tmp}/s.csv"], "cannot open store"),
    (["render", "status", "{img}", "--out", "{tmp}/f.png"], "expected a metamer store"),
]


@pytest.mark.parametrize(("args", "message"), BAD_INPUTS)
def test_bad_input_one_line_nonzero_nothing_written(
    tmp_path, image_store, model, metamer_store, args, message
):
    import torch

    if "--device" in args and torch.cuda.is_available():
        pytest.skip("a GPU is present")
    (tmp_path / "notes.txt").write_text("not an image")
    corrupt = tmp_path / "corrupt.zarr"
    corrupt.mkdir()
    _corrupt(corrupt)
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    filled = [
        a.format(
            tmp=tmp_path,
            img=image_store,
            model=model,
            met=metamer_store,
            corrupt=corrupt,
        )
        for a in args
    ]
    result = CliRunner().invoke(main, filled)
    assert result.exit_code != 0
    assert message in result.output
    error_lines = [
        line for line in result.output.splitlines() if line.startswith("Error:")
    ]
    assert len(error_lines) == 1 and message in error_lines[0], result.output
    assert "Traceback" not in result.output
    after = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    assert after == before  # nothing new, nothing changed, nothing lost


def test_cli_starts_without_torch():
    code = (
        "import sys; from pipeline.cli import main; assert 'torch' not in sys.modules"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_the_command_pauses_gc_to_import_and_a_synthesis_resumes_it(
    synthesis_inputs, tmp_path, monkeypatch
):
    from importlib.metadata import entry_points

    from synthesis_runs import synthesis_args

    assert entry_points(group="console_scripts")["pipeline"].value == "pipeline.cli:run"
    monkeypatch.setattr(sys, "argv", ["pipeline", "--version"])
    # the real exit would end this test process (see the test below)
    monkeypatch.setattr(pipeline.cli, "exit_without_teardown", sys.exit)
    frozen = gc.get_freeze_count()
    try:
        with pytest.raises(SystemExit):
            run()
        assert not gc.isenabled()  # paused: a short command ends without it
        args = synthesis_args(synthesis_inputs, "metamer", tmp_path / "m.zarr")
        result = CliRunner().invoke(main, [*map(str, args), "--max-iter", "1"])
        assert result.exit_code == 0, result.output
        # on again for the loop, the libraries' objects frozen out of its passes
        assert gc.isenabled() and gc.get_freeze_count() > frozen
    finally:
        gc.unfreeze()
        gc.enable()


# a module global whose finalizer runs only if the interpreter is torn down
EXITING = """
import atexit, sys
from pipeline import cli

class Global:
    def __del__(self):
        print("torn down")

kept = Global()
atexit.register(lambda: print("exit handler ran"))
sys.argv = ["pipeline", *sys.argv[1:]]
cli.run()
print("unreachable")
"""


@pytest.mark.parametrize(
    ("args", "status", "stdout", "stderr"),
    [
        (["--version"], 0, ["pipeline, version"], ""),
        (["nonsense"], 2, [], "No such command 'nonsense'"),
        (["render", "status", "missing.zarr", "--out", "f.png"], 1, [], "not found"),
    ],
)
def test_the_command_exits_without_teardown_after_exit_handlers_and_flushing(
    tmp_path, args, status, stdout, stderr
):
    done = subprocess.run(
        [sys.executable, "-c", EXITING, *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == status
    # stdout is a pipe here: block-buffered, so it shows the flush
    lines = done.stdout.splitlines()
    assert len(lines) == len(stdout) + 1 and lines[-1] == "exit handler ran"
    assert all(line.startswith(want) for line, want in zip(lines, stdout, strict=False))
    assert stderr in done.stderr


def test_an_exit_message_goes_to_stderr_with_status_1():
    code = "from pipeline.cli import exit_without_teardown as e; e('no way')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert (done.returncode, done.stdout, done.stderr) == (1, "", "no way\n")


# what a stage process must not import: the compiler stack (torch._dynamo, from
# torch's own optimizers), the table and plotting stacks a synthesis does not use
HEAVY_FOR_A_STAGE = ("torch._dynamo", "xarray", "pandas", "matplotlib", "sympy")


def test_synthesis_stages_import_only_what_they_use(synthesis_inputs, tmp_path):
    """Every synthesis stage (each optimizer, each method) in one process, in turn:
    none pulls in torch._dynamo (1.5-2 s) or the libraries only figures need."""
    from synthesis_runs import METHODS, synthesis_args

    stages = {
        f"metamer {optimizer}": [
            *synthesis_args(synthesis_inputs, "metamer", tmp_path / f"{optimizer}.zarr"),
            "--optimizer", optimizer,
        ]
        # adam: metamers' default, lbfgs: textures', sgd: the other choice
        for optimizer in ("adam", "lbfgs", "sgd")
    }  # fmt: skip
    stages |= {
        method: synthesis_args(synthesis_inputs, method, tmp_path / f"{method}.zarr")
        for method in METHODS
        if method != "metamer"
    }
    code = (
        "import sys\n"
        "from pipeline.cli import main\n"
        f"HEAVY = {HEAVY_FOR_A_STAGE!r}\n"
        f"for name, args in { ({k: list(map(str, v)) for k, v in stages.items()})!r}.items():\n"
        "    try:\n        main(args)\n"
        "    except SystemExit as exit:\n        assert not exit.code, name\n"
        "    heavy = sorted(m for m in HEAVY if m in sys.modules)\n"
        "    print('imported after', name, heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    imported = [line for line in result.stdout.splitlines() if "imported" in line]
    assert imported == [f"imported after {name} []" for name in stages]
    assert len(list(tmp_path.glob("*.zarr"))) == len(stages)


def test_preparing_an_image_needs_no_torch(tmp_path):
    code = (
        "import sys\n"
        "from pipeline.cli import main\n"
        f"sys.argv = ['pipeline', 'prepare-images', 'camera', {str(tmp_path / 'c.zarr')!r},"
        " '--size', '16', '--rotate', '5', '--shift', '0', '2']\n"
        "try:\n    main()\nexcept SystemExit as exit:\n    assert not exit.code\n"
        "print('torch' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == "False", result.stdout
    assert (tmp_path / "c.zarr").exists()


def synthesize_mad_store(image_store, out, optimized, reference, minmax, *extra):
    result = invoke(
        "synthesize",
        "mad",
        image_store,
        out,
        "--optimized-metric",
        optimized,
        "--reference-metric",
        reference,
        "--minmax",
        minmax,
        "--max-iter",
        4,
        "--store-progress",
        2,
        "--device",
        "cpu",
        "--quiet",
        *extra,
    )
    assert result.exit_code == 0, result.output
    return out


def test_mad_set_stores_share_their_start_and_render(tmp_path, image_store, model):
    stores = [
        synthesize_mad_store(image_store, tmp_path / f"{o}_{m}.zarr", o, r, m)
        for o, r in (("mse", "ssim"), ("ssim", str(model)))
        for m in ("min", "max")
    ]
    first = xr.open_zarr(stores[0])
    assert (
        first.attrs["pipeline_store"] == "mad"
        and first.attrs["optimized_metric"] == "mse"
    )
    assert first.attrs["metric_tradeoff_lambda"] > 0
    for name in (
        "loss",
        "optimized_metric_loss",
        "reference_metric_loss",
        "gradient_norm",
    ):
        assert first[name].dims == ("iteration",) and first.sizes["iteration"] == 5
    assert list(first["saved_iteration"].values) == [0, 2, 4]
    for store in stores[1:]:
        np.testing.assert_array_equal(
            xr.open_zarr(store)["initial_image"].values, first["initial_image"].values
        )
    assert xr.open_zarr(stores[2]).attrs["reference_metric"] == "blur"
    for command in ("mad-set", "mad-trajectories"):
        png = tmp_path / f"{command}.png"
        assert invoke("render", command, *stores, "--out", png).exit_code == 0
        assert png.read_bytes()[:4] == b"\x89PNG"
    table = tmp_path / "summary.csv"
    assert invoke("aggregate", *stores, "--out", table).exit_code == 0
    import pandas as pd

    rows = pd.read_csv(table)
    assert sorted(zip(rows["optimized_metric"], rows["minmax"], strict=True)) == [
        ("mse", "max"),
        ("mse", "min"),
        ("ssim", "max"),
        ("ssim", "min"),
    ]


@pytest.mark.parametrize(
    ("metrics", "message"),
    [(("mse", "mse"), "both 'mse'"), (("mse", "psnr"), "unknown metric 'psnr'")],
)
def test_mad_bad_metrics(tmp_path, image_store, metrics, message):
    result = CliRunner().invoke(
        main,
        [
            "synthesize",
            "mad",
            str(image_store),
            str(tmp_path / "o.zarr"),
            "--optimized-metric",
            metrics[0],
            "--reference-metric",
            metrics[1],
            "--minmax",
            "min",
            "--max-iter",
            "2",
        ],
    )
    assert result.exit_code == 1 and message in result.output
    assert not (tmp_path / "o.zarr").exists()


def test_eigendistortion_store_render_and_summary(tmp_path, image_store, model):
    out = tmp_path / "eig.zarr"
    result = invoke(
        "synthesize",
        "eigendistortion",
        image_store,
        model,
        out,
        "--k",
        2,
        "--max-iter",
        5,
        "--device",
        "cpu",
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    ds = xr.open_zarr(out)
    assert list(ds["eigenindex"].values) == [0, 1, 254, 255]
    assert ds["eigendistortions"].dims == ("eigenindex", "channel", "y", "x")
    assert ds["eigenvalue_estimates"].dims == ("iteration", "estimate")
    assert ds.sizes["iteration"] == 10 and list(ds["phase"].values) == [0] * 5 + [1] * 5
    assert ds["eigenvalues"].values[0] >= ds["eigenvalues"].values[-1]
    png = tmp_path / "eig.png"
    assert invoke("render", "eigendistortions", out, "--out", png).exit_code == 0
    table = tmp_path / "summary.csv"
    assert invoke("aggregate", out, "--out", table).exit_code == 0
    import pandas as pd

    row = pd.read_csv(table).iloc[0]
    assert row["eigenvalue_ratio"] == pytest.approx(
        row["top_eigenvalue"] / row["bottom_eigenvalue"]
    )


def test_exact_eigendistortion_refuses_large_images(tmp_path, model):
    big = tmp_path / "big.zarr"
    assert invoke("prepare-images", "camera", big, "--size", 80).exit_code == 0
    result = CliRunner().invoke(
        main,
        [
            "synthesize",
            "eigendistortion",
            str(big),
            str(model),
            str(tmp_path / "e.zarr"),
            "--method",
            "exact",
        ],
    )
    assert result.exit_code == 1 and "at most 4096 pixels" in result.output
    assert not (tmp_path / "e.zarr").exists()


def test_out_of_memory_says_so_and_what_helps(tmp_path, image_store):
    model = tmp_path / "hungry.model"
    assert invoke("build-model", "cli_models:Hungry", model).exit_code == 0
    out = tmp_path / "o.zarr"
    result = CliRunner().invoke(
        main,
        ["synthesize", "metamer", str(image_store), str(model), str(out),
         "--max-iter", "2", "--device", "cpu"],
    )  # fmt: skip
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "out of memory" in errors[0], result.output
    assert "--device cpu" in errors[0] and "Traceback" not in result.output
    assert not out.exists()


def test_metamer_batch_stores_equal_separate_runs(tmp_path, model):
    stores = []
    for name in ("camera", "astronaut"):
        store = tmp_path / f"{name}.zarr"
        assert invoke("prepare-images", name, store, "--size", 16).exit_code == 0
        stores.append(store)
    options = ["--max-iter", 8, "--store-progress", 3, "--device", "cpu",
               "--dtype", "float64", "--quiet"]  # fmt: skip
    runs = [w for s in stores for w in ("--run", s, tmp_path / f"b_{s.name}")]
    result = invoke("synthesize", "metamer-batch", model, *runs, *options)
    assert result.exit_code == 0, result.output
    for store in stores:
        out = tmp_path / f"s_{store.name}"
        assert (
            invoke("synthesize", "metamer", store, model, out, *options).exit_code == 0
        )
        batch, alone = xr.open_zarr(tmp_path / f"b_{store.name}"), xr.open_zarr(out)
        assert sorted(batch.variables) == sorted(alone.variables)
        for name in alone.variables:
            np.testing.assert_allclose(
                batch[name].values, alone[name].values, rtol=1e-12
            )
        assert batch.attrs["image_name"] == alone.attrs["image_name"]
        assert batch.attrs["n_iterations"] == 8


def test_metamer_batch_refuses_a_stopping_rule(tmp_path, image_store, model):
    result = CliRunner().invoke(
        main,
        ["synthesize", "metamer-batch", str(model), "--run", str(image_store),
         str(tmp_path / "o.zarr"), "--max-iter", "3", "--stop-criterion", "0.1"],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "batched metamers need stop_criterion 0" in result.output
    assert not (tmp_path / "o.zarr").exists()
