"""MAD competition behaviours documented in seed 003."""

import math

import pytest
import torch

import pipeline as po
from pipeline.synthesis import SynthesisLoadError

# the noisy start lies partly outside [0, 1]: the metrics warn, as documented
pytestmark = pytest.mark.filterwarnings("ignore:Image range falls outside:UserWarning")


def mse(x, y):
    return po.metric.mse(x, y).mean()


def dssim(x, y):
    return 1 - po.metric.ssim(x, y).mean()


@pytest.fixture
def img():
    return po.data.camera(size=48).double()


def make(img, minmax="min", lam=1.0, **kwargs):
    po.set_seed(0)
    return po.MADCompetition(
        img, mse, dssim, minmax, metric_tradeoff_lambda=lam, **kwargs
    )


@pytest.mark.parametrize("minmax", ["min", "max"])
def test_optimized_metric_moves_while_reference_is_held(img, minmax):
    mad = make(img, minmax, lam=100.0)
    mad.setup(0.1, optimizer_kwargs={"lr": 0.005})
    mad.synthesize(80, progress=False, stop_criterion=0)
    optimized, reference = mad.optimized_metric_loss, mad.reference_metric_loss
    if minmax == "min":
        assert optimized[-1] < 0.7 * optimized[0]
    else:
        assert optimized[-1] > 3 * optimized[0]
    assert abs(reference[-1] - reference[0]) < 0.01 * reference[0]


def test_histories_and_attributes(img):
    mad = make(img)
    mad.synthesize(5, store_progress=2, progress=False)
    for name in (
        "losses",
        "penalties",
        "optimized_metric_loss",
        "reference_metric_loss",
    ):
        assert getattr(mad, name).shape == (6,)
    assert mad.gradient_norm.shape == mad.pixel_change_norm.shape == (5,)
    assert mad.saved_mad_image.shape == (4, 1, 1, 48, 48)
    assert torch.equal(mad.saved_mad_image[0], mad.initial_image)
    assert torch.equal(mad.saved_mad_image[-1], mad.mad_image.detach())
    info = mad.get_progress(2)
    assert list(info)[-4:] == [
        "reference_metric_loss",
        "optimized_metric_loss",
        "saved_mad_image",
        "store_progress_iteration",
    ]
    assert torch.equal(info["optimized_metric_loss"], mad.optimized_metric_loss[2])
    assert torch.equal(info["saved_mad_image"], mad.saved_mad_image[1])
    assert mad.minmax == "min" and mad.metric_tradeoff_lambda == 1.0


def test_objective_is_the_documented_sum(img):
    mad = make(img, "max", lam=3.0, penalty_lambda=0.2)
    mad.synthesize(2, progress=False)
    x = mad.mad_image.detach()
    target = dssim(img, mad.initial_image)
    expected = (
        -mse(img, x)
        + 3.0 * (target - dssim(img, x)) ** 2
        + 0.2 * po.regularize.penalize_range(x)
    )
    assert torch.allclose(mad.objective_function(x), expected)
    assert torch.allclose(mad.losses[-1], expected)


def test_initial_image_is_image_plus_noise(img):
    mad = make(img)
    po.set_seed(3)
    mad.setup(0.2)
    noise = mad.initial_image - img
    assert abs(noise.std().item() - 0.2) < 0.02
    shared = img + 0.1
    other = make(img, "max")
    other.setup(shared)
    assert torch.equal(other.initial_image, shared)


def test_automatic_lambda_follows_the_documented_rule(img):
    po.set_seed(0)
    with pytest.warns(UserWarning, match="automatically set to"):
        mad = po.MADCompetition(img, mse, dssim, "min")
    po.set_seed(0)
    other = torch.rand_like(img)
    ratio = mse(img, other) / dssim(img, other)
    assert mad.metric_tradeoff_lambda == 10 ** round(math.log10(ratio.item()))


def test_metric_requirements_are_checked(img):
    with pytest.raises(ValueError, match="0 for identical images"):
        po.MADCompetition(
            img, lambda x, y: po.metric.ssim(x, y).mean(), mse, "min", 1.0
        )
    with pytest.raises(ValueError, match="should return a scalar value"):
        po.MADCompetition(img, lambda x, y: (x - y).abs(), mse, "min", 1.0)
    with pytest.raises(ValueError, match="minmax"):
        po.MADCompetition(img, mse, dssim, "maybe", 1.0)


def test_a_batch_is_one_stimulus(img):
    batch = torch.cat([img, img.flip(-1)])
    mad = po.MADCompetition(batch, mse, po.loss.l2_norm, "min", 1.0)
    mad.synthesize(2, progress=False)
    assert mad.mad_image.shape == batch.shape
    with pytest.raises(ValueError, match="scalar value"):  # one number per batch
        po.MADCompetition(
            batch, lambda x, y: (x - y).pow(2).mean((1, 2, 3)), mse, "min"
        )


def test_save_load_continues_identically(tmp_path, img):
    mad = make(img)
    mad.synthesize(3, store_progress=1, progress=False)
    mad.save(tmp_path / "mad.pt")
    loaded = make(img)
    loaded.load(tmp_path / "mad.pt")
    assert torch.equal(loaded.initial_image, mad.initial_image)
    mad.synthesize(2, store_progress=1, progress=False)
    loaded.synthesize(2, store_progress=1, progress=False)
    assert torch.equal(loaded.mad_image, mad.mad_image)
    assert torch.equal(loaded.reference_metric_loss, mad.reference_metric_loss)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"minmax": "max"}, "minmax"),
        ({"lam": 2.0}, "metric_tradeoff_lambda"),
        ({"img_scale": 0.5}, "image have different values"),
    ],
)
def test_load_refuses_a_different_synthesis(tmp_path, img, kwargs, match):
    mad = make(img)
    mad.synthesize(2, progress=False)
    mad.save(tmp_path / "mad.pt")
    scale = kwargs.pop("img_scale", 1.0)
    other = make(img * scale, **kwargs)
    with pytest.raises(SynthesisLoadError, match=match):
        other.load(tmp_path / "mad.pt")


def test_plots_draw_a_set_from_objects(img):
    syntheses = []
    for optimized, reference in ((mse, dssim), (dssim, mse)):
        for minmax in ("min", "max"):
            po.set_seed(0)
            mad = po.MADCompetition(img, optimized, reference, minmax, 1.0)
            mad.setup(img + 0.05)
            mad.synthesize(3, progress=False)
            syntheses.append(mad)
    fig = po.plot.mad_image_set(syntheses)
    assert len(fig.axes) == 6
    assert fig.axes[2].get_title() == "min mse"
    fig = po.plot.mad_metric_trajectories(syntheses)
    assert [ax.get_title() for ax in fig.axes] == ["mse", "dssim"]
    line = fig.axes[0].lines[0]
    assert list(line.get_ydata()) == syntheses[0].optimized_metric_loss.tolist()
    fig = po.plot.synthesis_status(syntheses[0])
    assert "MAD image" in fig.axes[0].get_title()
