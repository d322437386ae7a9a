"""Geodesic and SimpleMetamer behaviours (seed 004)."""

import pytest
import torch

import pipeline as po
from pipeline.synthesis import SynthesisLoadError
from pipeline.synthesis.geodesic import deviation_from_line


@pytest.fixture
def anchors():
    return po.data.camera(size=16).double(), po.data.astronaut(size=16).double()


@pytest.fixture
def onoff():
    model = po.models.OnOff(7).double().eval()
    po.remove_grad(model)
    return model


def test_identity_geodesic_is_the_pixel_fade(anchors):
    a, b = anchors
    geodesic = po.Geodesic(a, b, po.models.Identity(), n_steps=6)
    geodesic.synthesize(20, progress=False, stop_criterion=0)
    assert geodesic.geodesic.shape == (7, 1, 16, 16)
    torch.testing.assert_close(geodesic.pixelfade[3], (a + 0.5 * (b - a))[0])
    assert (geodesic.geodesic - geodesic.pixelfade).abs().max() < 1e-2
    assert geodesic.calculate_jerkiness().max() < 1e-4
    torch.testing.assert_close(geodesic.geodesic[0], a[0])
    torch.testing.assert_close(geodesic.geodesic[-1], b[0])


def test_bridge_starts_off_the_line_and_ends_near_it(anchors):
    a, b = anchors
    po.set_seed(0)
    geodesic = po.Geodesic(
        a, b, po.models.Identity(), n_steps=6, initial_sequence="bridge"
    )
    geodesic.setup(optimizer_kwargs={"lr": 0.01})
    start = torch.linalg.vector_norm(geodesic.geodesic - geodesic.pixelfade)
    geodesic.synthesize(300, progress=False, stop_criterion=0)
    end = torch.linalg.vector_norm(geodesic.geodesic - geodesic.pixelfade)
    assert start > 0.5 and end < 0.01 * start
    deviation = geodesic.dev_from_line
    assert deviation.shape == (301, 7, 2)
    assert deviation[0, :, 1].max() > 10 * deviation[-1, :, 1].max()


def test_path_energy_decreases_under_a_model(anchors, onoff):
    a, b = anchors
    po.set_seed(0)
    geodesic = po.Geodesic(a, b, onoff, n_steps=5, initial_sequence="bridge")
    geodesic.synthesize(40, progress=False, stop_criterion=0)
    assert geodesic.losses[-1] < 0.6 * geodesic.losses[0]
    assert torch.all(torch.diff(geodesic.losses[::10]) < 0)
    assert geodesic.step_energy.shape == (41, 5)
    assert torch.allclose(
        geodesic.losses[-1],
        geodesic.step_energy[-1].mean() + 0.1 * geodesic.penalties[-1],
    )
    assert geodesic.gradient_norm.shape == geodesic.pixel_change_norm.shape == (40,)


def test_anchors_go_through_the_model_once_and_frames_in_one_call(anchors):
    calls = []

    class Counting(torch.nn.Module):
        def forward(self, x):
            calls.append(x.shape[0])
            return x * 2

    a, b = anchors
    geodesic = po.Geodesic(a, b, Counting(), n_steps=4)
    calls.clear()
    geodesic.synthesize(3, progress=False)
    assert calls == [2, 3, 3, 3]


class _Scaled(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(2.0), requires_grad=False)

    def forward(self, x):
        return (self.scale * x).square()


def _path_objective(geodesic, model):
    """The objective from all frames through the model, nothing kept."""
    representation = model(geodesic.geodesic)
    energy = torch.diff(representation, dim=0).flatten(1).pow(2).sum(1).mean()
    interior = geodesic.geodesic[1:-1]
    return energy + geodesic.penalty_lambda * geodesic.penalty_function(interior)


def test_anchor_representations_follow_the_model_and_dtype(anchors):
    a, b = (image.float() for image in anchors)
    model = _Scaled()
    geodesic = po.Geodesic(a, b, model, n_steps=4)
    geodesic.synthesize(2, progress=False)
    assert geodesic.objective_function() == _path_objective(geodesic, model)
    with torch.no_grad():
        model.scale.mul_(3.0)  # changed in place: the anchors' representations too
    assert geodesic.objective_function() == _path_objective(geodesic, model)
    # a model without tensors of its own: only the frames' dtype tells
    softplus = torch.nn.Softplus()
    geodesic = po.Geodesic(a, b, softplus, n_steps=4)
    geodesic.synthesize(2, progress=False)
    geodesic.to(torch.float64)
    loss = geodesic.objective_function()
    assert loss.dtype == torch.float64
    assert loss == _path_objective(geodesic, softplus)


def test_deviation_from_line_closed_form():
    line = torch.tensor([[0.0, 0.0], [1.0, 1.0], [2.0, 0.0]])
    deviation = deviation_from_line(line)
    torch.testing.assert_close(deviation[:, 0], torch.tensor([0.0, 0.5, 1.0]))
    torch.testing.assert_close(deviation[:, 1], torch.tensor([0.0, 0.5, 0.0]))


def test_geodesic_save_load_and_refusals(tmp_path, anchors, onoff):
    a, b = anchors
    geodesic = po.Geodesic(a, b, onoff, n_steps=4)
    geodesic.synthesize(3, progress=False)
    geodesic.save(tmp_path / "g.pt")
    loaded = po.Geodesic(a, b, onoff, n_steps=4)
    loaded.load(tmp_path / "g.pt")
    torch.testing.assert_close(loaded.geodesic, geodesic.geodesic)
    with pytest.raises(SynthesisLoadError, match="image_b"):
        po.Geodesic(a, a, onoff, n_steps=4).load(tmp_path / "g.pt")
    with pytest.raises(SynthesisLoadError, match="n_steps are different: saved 4"):
        po.Geodesic(a, b, onoff, n_steps=5).load(tmp_path / "g.pt")
    with pytest.raises(ValueError, match="same shape"):
        po.Geodesic(a, po.data.camera(size=8).double(), onoff)


def test_simple_metamer_reduces_error_by_a_large_factor(tmp_path):
    image = po.data.camera(size=32)
    model = po.models.Gaussian(5)
    po.remove_grad(model)
    po.set_seed(0)
    met = po.SimpleMetamer(image, model)
    met.synthesize(max_iter=300)
    assert met.losses[-1] < met.losses[0] / 100
    met.save(tmp_path / "s.pt")
    loaded = po.SimpleMetamer(image, model)
    loaded.load(tmp_path / "s.pt")
    torch.testing.assert_close(loaded.metamer, met.metamer)
    with pytest.raises(ValueError, match="image have different values"):
        po.SimpleMetamer(image * 0.5, model).load(tmp_path / "s.pt")


def test_geodesic_figures(anchors):
    a, b = anchors
    po.set_seed(0)
    geodesic = po.Geodesic(
        a, b, po.models.Identity(), n_steps=4, initial_sequence="bridge"
    )
    geodesic.synthesize(5, progress=False)
    fig = po.plot.geodesic_sequence(geodesic)
    assert len(fig.axes) == 10
    shown = fig.axes[5].images[0].get_array()
    assert abs(float(shown[0, 0]) - float(a[0, 0, 0, 0])) < 1e-6
    fig = po.plot.plot_deviation_from_line(geodesic)
    line = fig.axes[0].lines[0]
    assert list(line.get_xdata()) == geodesic.dev_from_line[-1, :, 0].tolist()
    fig = po.plot.geodesic_step_energy(geodesic)
    assert len(fig.axes[0].lines) == 4 and len(fig.axes[1].patches) == 3


def test_geodesic_stage_store_figures_and_summary(tmp_path):
    from click.testing import CliRunner

    from pipeline.cli import main

    def run(*args):
        result = CliRunner().invoke(main, [str(a) for a in args])
        assert result.exit_code == 0, result.output

    run("prepare-images", "camera", tmp_path / "a.zarr", "--size", 16, "--name", "a")
    run(
        "prepare-images",
        "camera",
        tmp_path / "b.zarr",
        "--size",
        16,
        "--shift",
        0,
        3,
        "--name",
        "b",
    )
    run("build-model", "Gaussian", tmp_path / "g.model", "--param", "kernel_size=5")
    out = tmp_path / "geo.zarr"
    run(
        "synthesize",
        "geodesic",
        tmp_path / "a.zarr",
        tmp_path / "b.zarr",
        tmp_path / "g.model",
        out,
        "--n-steps",
        4,
        "--max-iter",
        6,
        "--store-progress",
        3,
        "--device",
        "cpu",
        "--quiet",
    )
    import xarray as xr

    ds = xr.open_zarr(out)
    assert ds["sequence"].shape == (5, 1, 16, 16) and ds["pixelfade"].shape == (
        5,
        1,
        16,
        16,
    )
    assert (
        ds["step_energy"].dims == ("iteration", "transition")
        and ds.sizes["iteration"] == 7
    )
    assert ds["dev_from_line"].shape == (7, 5, 2)
    assert list(ds["saved_iteration"].values) == [0, 3, 6]
    torch.testing.assert_close(
        torch.as_tensor(ds["sequence"].values[-1]),
        torch.as_tensor(ds["image"].values[1]),
    )
    assert ds.attrs["path_length"] <= ds.attrs["pixelfade_path_length"] * 1.01
    fig = po.plot.geodesic_sequence(ds)
    shown = fig.axes[2].images[0].get_array()
    assert abs(float(shown[0, 0]) - float(ds["sequence"].values[2, 0, 0, 0])) < 1e-6
    run("render", "geodesic", out, "--out", tmp_path / "s.png")
    run("render", "geodesic-deviation", out, "--out", tmp_path / "d.png")
    run("aggregate", out, "--out", tmp_path / "t.csv")
    import pandas as pd

    row = pd.read_csv(tmp_path / "t.csv").iloc[0]
    assert row["method"] == "geodesic" and row["image"] == "a-b"
    assert row["path_length_ratio"] == pytest.approx(
        row["path_length"] / row["pixelfade_path_length"]
    )
