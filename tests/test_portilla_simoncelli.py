"""Tests of the Portilla-Simoncelli texture statistics and their loss."""

from __future__ import annotations

import math
import warnings

import matplotlib
import numpy as np
import pytest
import torch

import pipeline as po
from pipeline.models.portilla_simoncelli import STAT_NAMES

matplotlib.use("Agg")
import matplotlib.pyplot as plt

PS = po.models.PortillaSimoncelli


def texture(h=64, w=64, seed=0, dtype=torch.float32, batch=1):
    """A smooth random texture plus a grating, in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    noise = torch.randn(batch, 1, h, w, generator=g, dtype=torch.float64)
    kernel = torch.ones(1, 1, 3, 3, dtype=torch.float64) / 9
    smooth = torch.nn.functional.conv2d(noise, kernel, padding=1)
    yy, xx = torch.meshgrid(
        torch.arange(h, dtype=torch.float64),
        torch.arange(w, dtype=torch.float64),
        indexing="ij",
    )
    img = 0.5 + 0.15 * smooth + 0.1 * torch.sin(xx / 3 + yy / 5)
    return img.to(dtype)


@pytest.fixture(scope="module")
def model64():
    return PS((64, 64), n_scales=3)


# ----------------------------------------------------------------------------------
# counts and layout
def test_default_counts_256():
    model = PS((256, 256))
    x = texture(256, 256)
    assert model(x).shape == (1, 1, 710)
    assert model(x, scales=[0]).shape == (1, 1, 181)
    assert model.scales == [
        "pixel_statistics",
        "residual_lowpass",
        3,
        2,
        1,
        0,
        "residual_highpass",
    ]
    assert model.n_statistics == 710


def test_counts_per_scale_and_order():
    model = PS((128, 128))
    x = texture(128, 128)
    full = model(x)
    expected = {
        "pixel_statistics": 6,
        "residual_lowpass": 24 + 3,  # recon autocorr + skew/kurt/std
        3: 96 + 3 + 24 + 6 + 4,  # coarsest scale: no cross-scale statistics
        2: 181,
        1: 181,
        0: 181,
        "residual_highpass": 1,
    }
    total = 0
    for scale, count in expected.items():
        sub = model(x, scales=[scale])
        assert sub.shape[-1] == count, scale
        total += count
    assert total == 710 == full.shape[-1]
    # a subset keeps the order of the full vector, whatever the order asked for
    idx = model._scale_index([0, "pixel_statistics"], full.device)
    assert torch.all(idx[1:] > idx[:-1])
    sub = model(x, scales=[0, "pixel_statistics"])
    torch.testing.assert_close(sub, full[..., idx], rtol=0, atol=0)
    torch.testing.assert_close(model.remove_scales(full, [0, "pixel_statistics"]), sub)
    torch.testing.assert_close(model.remove_scales(full, model.scales), full)
    with pytest.raises(ValueError, match="unknown scales"):
        model(x, scales=[7])


def test_dict_round_trip_and_shapes(model64):
    x = texture(batch=2)
    rep = model64(x)
    d = model64.convert_to_dict(rep)
    assert list(d) == list(STAT_NAMES)
    shapes = {
        "pixel_statistics": (6,),
        "auto_correlation_magnitude": (7, 7, 4, 3),
        "skew_reconstructed": (4,),
        "auto_correlation_reconstructed": (7, 7, 4),
        "cross_orientation_correlation_magnitude": (4, 4, 3),
        "magnitude_std": (4, 3),
        "cross_scale_correlation_magnitude": (4, 4, 2),
        "cross_scale_correlation_real": (4, 8, 2),
        "var_highpass_residual": (1,),
    }
    for name, shape in shapes.items():
        assert d[name].shape == (2, 1, *shape), name
    # redundant entries are NaN: upper triangle of correlation matrices
    assert torch.isnan(d["cross_orientation_correlation_magnitude"][0, 0, 0, 1]).all()
    assert torch.isnan(d["auto_correlation_magnitude"][0, 0, 3, 3]).all()
    assert torch.equal(model64.convert_to_tensor(d), rep)
    with pytest.raises(ValueError, match="expected the full"):
        model64.convert_to_dict(rep[..., :-1])


# ----------------------------------------------------------------------------------
# known cases
def test_pixel_statistics_and_constant_image(model64):
    x = texture()
    d = model64.convert_to_dict(model64(x))
    px = d["pixel_statistics"][0, 0]
    flat = x.flatten().double()
    assert px[0].item() == pytest.approx(flat.mean().item(), rel=1e-5)
    assert px[1].item() == pytest.approx(flat.var().item(), rel=1e-4)
    assert px[4].item() == pytest.approx(flat.min().item())
    assert px[5].item() == pytest.approx(flat.max().item())

    for value in (0.0, 0.3):
        const = torch.full((1, 1, 64, 64), value, requires_grad=True)
        rep = model64(const)
        assert torch.isfinite(rep).all()
        rep.sum().backward()
        assert torch.isfinite(const.grad).all()
        d = model64.convert_to_dict(rep.detach())
        assert d["pixel_statistics"][0, 0, 1].item() == pytest.approx(0.0, abs=1e-12)
        assert d["pixel_statistics"][0, 0, 2].item() == 0.0  # default skew
        assert d["pixel_statistics"][0, 0, 3].item() == 3.0  # default kurtosis
        assert torch.all(d["magnitude_std"] == 0)


def test_grating_energy_in_matching_orientation():
    model = PS((64, 64), n_scales=3)
    _, xx = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    # vertical stripes (varying along x) with a period of 4 pixels: scale 0
    grating = (0.5 + 0.4 * torch.cos(2 * math.pi * xx / 4)).view(1, 1, 64, 64)
    rep = model(grating)
    # the mean magnitude is not a statistic; use the magnitude std of scale 0's
    # bands and the band energies through the pyramid instead
    pyr = po.models.SteerablePyramidFreq((64, 64), height=3, order=3, is_complex=True)
    coeffs = pyr(grating)
    energy = coeffs[0].abs().mean((-2, -1))[0, 0]
    assert energy.argmax().item() == 0
    assert torch.all(energy[0] > 2 * energy[1:])
    # a pure grating's analytic band has a constant magnitude: the statistics of
    # the magnitudes are degenerate, and must stay finite
    assert torch.isfinite(rep).all()


def test_agrees_with_steerable_pyramid(model64):
    """Magnitude std and high-pass variance from the repo's pyramid coefficients."""
    x = texture(dtype=torch.float64)
    model = model64.to(torch.float64)
    try:
        d = model.convert_to_dict(model(x))
        pyr = po.models.SteerablePyramidFreq(
            (64, 64), height=3, order=3, is_complex=True
        ).to(torch.float64)
        coeffs = pyr(x)
        for k in range(3):
            mag = coeffs[k].abs()
            std = (mag - mag.mean((-2, -1), keepdim=True)).pow(2).mean((-2, -1)).sqrt()
            torch.testing.assert_close(
                d["magnitude_std"][..., k], std, rtol=1e-5, atol=1e-8
            )
        hp = coeffs["residual_highpass"].pow(2).mean((-2, -1))
        torch.testing.assert_close(
            d["var_highpass_residual"][..., 0], hp, rtol=1e-5, atol=1e-10
        )
    finally:
        model64.to(torch.float32)


# ----------------------------------------------------------------------------------
# autograd, dtypes, devices
def test_gradients_finite_and_float64():
    model = PS((64, 64), n_scales=2, n_orientations=3, spatial_corr_width=5)
    x = texture(dtype=torch.float64, batch=2).requires_grad_()
    model = model.to(torch.float64)
    assert all(
        b.dtype == torch.float64 for b in model.buffers() if b.is_floating_point()
    )
    rep = model(x, scales=[0, "residual_highpass"])
    assert rep.dtype == torch.float64
    rep.square().sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    x32 = texture(batch=2).requires_grad_()
    rep32 = model.to(torch.float32)(x32)
    rep32.sum().backward()
    assert torch.isfinite(x32.grad).all()


def test_gradcheck_small():
    model = PS((32, 32), n_scales=2, n_orientations=2, spatial_corr_width=3).to(
        torch.float64
    )
    x = texture(32, 32, dtype=torch.float64).requires_grad_()
    weights = torch.randn(model.n_statistics, dtype=torch.float64)
    # fast mode: analytical against numerical derivative along random directions
    # (a few model evaluations instead of two per pixel)
    assert torch.autograd.gradcheck(
        lambda img: (model(img) * weights).sum(),
        (x,),
        eps=1e-6,
        atol=1e-4,
        fast_mode=True,
    )


# ----------------------------------------------------------------------------------
# errors
@pytest.mark.parametrize(
    ("shape", "kwargs", "message"),
    [
        (
            (64, 60),
            {"n_scales": 3},
            r"\(64, 60\) must be divisible by 2\*\*n_scales = 8",
        ),
        ((16, 16), {"n_scales": 3}, r"too small for n_scales=3: at most 2"),
        ((64, 64), {}, r"spatial_corr_width=7 is larger than the coarsest scale 4x4"),
        ((64, 64), {"n_orientations": 1}, r"n_orientations must be in \[2, 16\]"),
        ((64, 64, 3), {}, r"two positive ints"),
    ],
)
def test_constructor_errors(shape, kwargs, message):
    with pytest.raises(ValueError, match=message):
        PS(shape, **kwargs)


def test_input_errors(model64):
    with pytest.raises(ValueError, match="must be 4-D"):
        model64(torch.rand(64, 64))
    with pytest.raises(ValueError, match=r"\(32, 32\) does not match .* \(64, 64\)"):
        model64(torch.rand(1, 1, 32, 32))


# ----------------------------------------------------------------------------------
# plotting
def test_plot_and_update(model64):
    rep = model64(texture())
    fig, axes = model64.plot_representation(rep, title="PS")
    assert len(axes) == 8
    before = [a.containers[0].markerline.get_ydata().copy() for a in axes]
    artists = model64.update_plot(axes, model64(texture(seed=3)))
    assert len(artists) == 2 * len(axes)
    after = [a.containers[0].markerline.get_ydata() for a in axes]
    assert any(not np.allclose(b, a) for b, a in zip(before, after, strict=True))
    plt.close(fig)
    fig2, big = plt.subplots()
    fig2b, axes2 = model64.plot_representation(model64.convert_to_dict(rep), ax=big)
    assert fig2b is fig2 and len(axes2) == 8
    plt.close(fig2)
    one = PS((64, 64), n_scales=1)
    fig3, axes3 = one.plot_representation(one(texture()))
    assert len(axes3) == 6
    plt.close(fig3)


def test_update_plot_rescale_ylim(model64):
    fig, axes = model64.plot_representation(model64(texture()))
    before = [a.get_ylim() for a in axes]
    # a much brighter image has much larger pixel statistics
    brighter = model64(texture(seed=3) * 20)
    model64.update_plot(axes, brighter)
    assert [a.get_ylim() for a in axes] == before
    model64.update_plot(axes, brighter, rescale_ylim=True)
    low, high = axes[0].get_ylim()
    values = axes[0].containers[0].markerline.get_ydata()
    assert high != before[0][1]
    assert low <= min(0.0, values.min()) and high >= values.max()
    plt.close(fig)


@pytest.mark.parametrize("change", ["add", "remove"])
def test_plot_representation_checks_keys(model64, change):
    rep = model64.convert_to_dict(model64(texture()))
    if change == "add":
        rep["bad_key"] = torch.rand(1, 1, 3)
        error, match = (
            ValueError,
            r"representation contains additional keys \['bad_key'\]",
        )
    else:
        rep.pop("pixel_statistics")
        error, match = (
            KeyError,
            r"representation is missing keys \['pixel_statistics'\]",
        )
    with pytest.raises(error, match=match):
        model64.plot_representation(rep)
    plt.close("all")


def test_convert_to_dict_wrong_length(model64):
    with pytest.raises(ValueError, match="representation tensor is the wrong length"):
        model64.convert_to_dict(model64(texture())[..., :-3])


# ----------------------------------------------------------------------------------
# loss reweighting
def test_loss_weights_and_subsets(model64):
    a, b = model64(texture(seed=1)), model64(texture(seed=2))
    loss = po.loss.portilla_simoncelli_loss(model64)
    w = loss.weights
    d = model64.convert_to_dict(w[None, None])
    assert d["pixel_statistics"][0, 0].tolist() == [1, 1, 1, 1, 0, 0]
    assert d["var_highpass_residual"].item() == 100
    assert torch.all(d["magnitude_std"] == 1)
    expected = torch.linalg.vector_norm(w.float() * (a - b))
    torch.testing.assert_close(loss(a, b), expected)

    # weight 0 on a group ignores that group
    zero = po.loss.portilla_simoncelli_loss(model64, {"magnitude_std": 0.0})
    da = model64.convert_to_dict(a)
    da["magnitude_std"] = da["magnitude_std"] + 5.0
    a2 = model64.convert_to_tensor(da)
    torch.testing.assert_close(zero(a2, b), zero(a, b))
    assert loss(a2, b) > loss(a, b)

    # subsets (as coarse-to-fine synthesis uses) get the matching weights
    for scales in (
        [0],
        ["pixel_statistics", "residual_lowpass", 2],
        ["residual_highpass"],
    ):
        sa, sb = model64.remove_scales(a, scales), model64.remove_scales(b, scales)
        sw = model64.remove_scales(w[None, None], scales)[0, 0].float()
        torch.testing.assert_close(
            loss.for_scales(scales)(sa, sb), torch.linalg.vector_norm(sw * (sa - sb))
        )
    with pytest.raises(ValueError, match="unknown Portilla-Simoncelli"):
        po.loss.portilla_simoncelli_loss(model64, {"nope": 1.0})
    with pytest.raises(ValueError, match="for_scales"):
        loss(a[..., :5], b[..., :5])
    # per-scale weights follow their scale into subsets
    per_scale = po.loss.portilla_simoncelli_loss(
        model64, {"magnitude_std": torch.tensor([1.0, 2.0, 3.0])}
    )
    sw = model64.remove_scales(per_scale.weights[None, None], [1])[0, 0].float()
    sa, sb = model64.remove_scales(a, [1]), model64.remove_scales(b, [1])
    torch.testing.assert_close(
        per_scale.for_scales([1])(sa, sb), torch.linalg.vector_norm(sw * (sa - sb))
    )


# ----------------------------------------------------------------------------------
# comparison with the reference library (skipped where it is not installed)
def _reference_images(h, w, dtype):
    skimage_data = pytest.importorskip("skimage.data")
    from skimage.transform import resize

    cam = resize(skimage_data.camera() / 255.0, (h, w), anti_aliasing=True)
    brick = skimage_data.brick() / 255.0
    brick = brick[:h, :w] if min(brick.shape) >= max(h, w) else resize(brick, (h, w))
    noise = np.random.default_rng(0).random((h, w))
    return torch.as_tensor(np.stack([cam, brick, noise])[:, None]).to(dtype)


@pytest.mark.parametrize(
    ("shape", "kwargs"),
    [
        ((64, 64), {"n_scales": 3}),
        ((128, 128), {}),
        ((256, 256), {}),
        ((64, 128), {"n_scales": 3}),
        ((128, 128), {"n_scales": 2, "n_orientations": 6, "spatial_corr_width": 9}),
        ((128, 64), {"n_scales": 3, "n_orientations": 5, "spatial_corr_width": 6}),
        ((128, 128), {"n_scales": 1, "n_orientations": 3, "spatial_corr_width": 5}),
    ],
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_matches_reference(shape, kwargs, dtype, monkeypatch):
    plenoptic = pytest.importorskip("plenoptic")
    import plenoptic.process.steerable_pyramid_freq as ref_pyramid

    x = _reference_images(*shape, dtype)
    ours = PS(shape, **kwargs).to(dtype)
    if dtype == torch.float64:
        # the reference's pyramid rounds its masks to float32 at construction
        # (ours keeps float64 masters); skip that to compare at double precision
        with monkeypatch.context() as patch:
            patch.setattr(
                ref_pyramid.SteerablePyramidFreq, "to", lambda self, *a, **k: self
            )
            ref = plenoptic.models.PortillaSimoncelli(shape, **kwargs)
        ref = ref.to(dtype)
    else:
        ref = plenoptic.models.PortillaSimoncelli(shape, **kwargs).to(dtype)

    class _Complex128Torch:
        # the reference reconstructs into a complex64 buffer even in float64;
        # compare float64 against it with that buffer made complex128
        def __getattr__(self, name):
            return torch.complex128 if name == "complex64" else getattr(torch, name)

    original = ref_pyramid.torch
    if dtype == torch.float64:
        ref_pyramid.torch = _Complex128Torch()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = ref(x)
    finally:
        ref_pyramid.torch = original
    got = ours(x)
    assert got.shape == expected.shape
    scale = expected.abs().amax(-1, keepdim=True)
    deviation = ((got - expected).abs() / scale).max().item()
    assert deviation <= (1e-4 if dtype == torch.float32 else 1e-8), deviation
    for scales in ([0], [ours.scales[2], "residual_lowpass"]):
        torch.testing.assert_close(
            ours(x, scales=scales),
            ref(x, scales=scales),
            rtol=0,
            atol=2e-4 * scale.max(),
        )
