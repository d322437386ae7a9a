"""Tests of pipeline.process: Laplacian pyramid, gain control, polar form, noise, crops."""

from __future__ import annotations

import pytest
import torch

import pipeline as po
from pipeline import metric, process
from pipeline.metric import perceptual


def image(shape=(2, 3, 37, 30), dtype=torch.float32, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=gen, dtype=torch.float64).to(dtype)


def test_namespace():
    assert set(process.__all__) >= {
        "LaplacianPyramid",
        "SteerablePyramidFreq",
        "add_noise",
        "center_crop",
        "circular_gaussian2d",
        "local_gain_control",
        "local_gain_control_dict",
        "local_gain_release",
        "local_gain_release_dict",
        "polar_to_rectangular",
        "polar_to_rectangular_dict",
        "rectangular_to_polar",
        "rectangular_to_polar_dict",
        "rescale",
        "same_padding",
    }
    assert process.SteerablePyramidFreq is po.models.SteerablePyramidFreq
    assert process.ssim_map is metric.ssim_map
    assert po.process is process


# ----------------------------------------------------------------------------------
# Laplacian pyramid
@pytest.mark.parametrize("n_scales", [1, 3, 5])
@pytest.mark.parametrize("scale_filter", [False, True])
def test_laplacian_pyramid_round_trip(n_scales, scale_filter):
    pyr = process.LaplacianPyramid(n_scales, scale_filter=scale_filter)
    x = image(dtype=torch.float64)
    bands = pyr(x)
    assert len(bands) == n_scales
    h, w = x.shape[-2:]
    for band in bands:
        assert band.shape == (2, 3, h, w)
        h, w = (h + 1) // 2, (w + 1) // 2
    torch.testing.assert_close(pyr.recon_pyr(bands), x, rtol=0, atol=1e-12)


def test_laplacian_pyramid_is_the_nlpd_pyramid():
    # scale_filter=True is the (unnormalized) pyramid NLPD divides; without it, band
    # k is 2 ** k times larger
    x = image((1, 1, 64, 48), dtype=torch.float64)
    scaled = process.LaplacianPyramid(4, scale_filter=True)(x)
    plain = process.LaplacianPyramid(4)(x)
    down = perceptual._blur_downsample(x, sparse=False)
    expected0 = x - perceptual._upsample_blur(down, 64, 48, sparse=False)
    torch.testing.assert_close(scaled[0], expected0)
    for k, (a, b) in enumerate(zip(plain, scaled, strict=True)):
        torch.testing.assert_close(a, b * 2**k)
    # a constant image has empty bands and a constant low-pass
    const = process.LaplacianPyramid(3)(torch.full((1, 1, 20, 20), 0.5))
    assert all(float(b.abs().max()) < 1e-6 for b in const[:-1])
    torch.testing.assert_close(const[-1], torch.full((1, 1, 5, 5), 0.5 * 4))


def test_laplacian_pyramid_gradient_and_errors():
    x = torch.ones(1, 1, 40, 40, requires_grad=True)
    bands = process.LaplacianPyramid()(x)
    assert bands[0].requires_grad
    sum(b.sum() for b in bands).backward()
    assert x.grad is not None
    with pytest.raises(ValueError, match="at least 17x17"):
        process.LaplacianPyramid(5)(torch.rand(1, 1, 16, 40))
    with pytest.raises(ValueError, match="4-D"):
        process.LaplacianPyramid(2)(torch.rand(40, 40))
    with pytest.raises(ValueError, match="n_scales must be a positive int"):
        process.LaplacianPyramid(0)
    with pytest.raises(ValueError, match="expected 3 bands"):
        process.LaplacianPyramid(3).recon_pyr([x])


# ----------------------------------------------------------------------------------
# local gain control
@pytest.mark.parametrize(
    "shape", [(2, 1, 32, 32), (2, 3, 4, 31, 20), (1, 1, 3, 3)], ids=str
)
@pytest.mark.parametrize("is_complex", [False, True])
def test_local_gain_control_round_trip(shape, is_complex):
    gen = torch.Generator().manual_seed(0)
    dtype = torch.complex128 if is_complex else torch.float64
    x = torch.randn(shape, generator=gen, dtype=dtype)
    norm, direction = process.local_gain_control(x)
    assert norm.shape == (*shape[:-2], (shape[-2] + 1) // 2, (shape[-1] + 1) // 2)
    assert not norm.is_complex() and bool((norm >= 0).all())
    assert direction.shape == x.shape and direction.dtype == x.dtype
    torch.testing.assert_close(process.local_gain_release(norm, direction), x)


def test_local_gain_control_norm_is_blurred_energy():
    x = torch.full((1, 1, 16, 16), -3.0)
    norm, direction = process.local_gain_control(x)
    torch.testing.assert_close(norm, torch.full((1, 1, 8, 8), 3.0))
    torch.testing.assert_close(direction, torch.full_like(x, -1.0))


@pytest.mark.parametrize("ndim", [3, 6])
def test_local_gain_control_needs_4_or_5_dims(ndim):
    x = torch.rand((2,) * (ndim - 2) + (8, 8))
    with pytest.raises(ValueError, match="Tensor must have 4 or 5 dimensions"):
        process.local_gain_control(x)
    with pytest.raises(ValueError, match="Tensor must have 4 or 5 dimensions"):
        process.local_gain_release(x, x)


@pytest.mark.parametrize("residuals", [True, False])
def test_dict_versions_on_pyramid(residuals):
    pyr = po.models.SteerablePyramidFreq((32, 32), height=2, order=1)
    coeffs = pyr(image((1, 2, 32, 32)))
    energy, state = process.local_gain_control_dict(coeffs, residuals=residuals)
    assert set(state) == {0, 1}
    assert ("residual_lowpass" in energy) is residuals
    back = process.local_gain_release_dict(energy, state, residuals=residuals)
    assert list(back) == (list(coeffs) if residuals else [0, 1])
    for key, value in back.items():
        torch.testing.assert_close(value, coeffs[key], rtol=1e-5, atol=1e-5)


def test_polar_dict_round_trip():
    pyr = po.models.SteerablePyramidFreq((32, 32), height=2, is_complex=True)
    coeffs = pyr(image((1, 1, 32, 32)))
    energy, state = process.rectangular_to_polar_dict(coeffs, residuals=True)
    assert torch.equal(energy[1], coeffs[1].abs())
    assert torch.equal(state[1], coeffs[1].angle())
    assert torch.equal(energy["residual_highpass"], coeffs["residual_highpass"])
    back = process.polar_to_rectangular_dict(energy, state)
    assert list(back) == list(coeffs)
    for key, value in back.items():
        torch.testing.assert_close(value, coeffs[key])
    without = process.rectangular_to_polar_dict(coeffs)[0]
    assert "residual_lowpass" not in without


def test_polar_forms():
    z = torch.tensor([1 + 1j, -2.0 + 0j, -3j])
    amplitude, phase = process.rectangular_to_polar(z)
    torch.testing.assert_close(amplitude, torch.tensor([2**0.5, 2.0, 3.0]))
    torch.testing.assert_close(
        phase, torch.tensor([torch.pi / 4, torch.pi, -torch.pi / 2])
    )
    torch.testing.assert_close(process.polar_to_rectangular(amplitude, phase), z)
    with pytest.raises(ValueError, match="Amplitudes must be non-negative"):
        process.polar_to_rectangular(-amplitude, phase)


# ----------------------------------------------------------------------------------
# noise, crops, rescaling, padding
@pytest.mark.parametrize(
    "noise_mse", [0.0, 0.5, [0.01, 0.2, 3.0], torch.tensor([[0.1], [0.2]])], ids=str
)
def test_add_noise_has_exact_mse(noise_mse):
    img = image((1, 2, 32, 24))
    noisy = process.add_noise(img, noise_mse)
    levels = torch.as_tensor(noise_mse, dtype=torch.float32).reshape(-1, 1)
    assert noisy.shape == (levels.shape[0], 2, 32, 24)
    torch.testing.assert_close(metric.mse(img, noisy), levels.expand(-1, 2))


def test_add_noise_independent_and_seeded():
    img = image((3, 1, 16, 16))
    po.set_seed(1)
    a = process.add_noise(img, 0.1)
    po.set_seed(1)
    b = process.add_noise(img, 0.1)
    assert torch.equal(a, b)
    noise = a - img
    assert not torch.equal(noise[0], noise[1])
    one = process.add_noise(img[:1], [0.1, 0.1])
    assert not torch.equal(one[0], one[1])
    with pytest.raises(ValueError, match="3 noise levels for a batch of 2"):
        process.add_noise(img[:2], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="noise_mse must be >= 0"):
        process.add_noise(img, -1.0)


def test_center_crop():
    x = torch.arange(6 * 7).reshape(1, 1, 6, 7)
    crop = process.center_crop(x, 3)
    assert crop.shape == (1, 1, 3, 3)
    assert crop[0, 0, 0, 0] == x[0, 0, 2, 2]
    assert torch.equal(process.center_crop(x, 6), x[..., 0:6])
    with pytest.raises(TypeError, match="single int"):
        process.center_crop(x, 2.0)
    with pytest.raises(TypeError, match="single int"):
        process.center_crop(x, [2, 2])
    with pytest.raises(ValueError, match="bigger than the image"):
        process.center_crop(x, 7)
    with pytest.raises(ValueError, match="must be positive"):
        process.center_crop(x, 0)


def test_rescale():
    x = torch.tensor([[2.0, 4.0], [6.0, 8.0]], dtype=torch.float64)
    y = process.rescale(x)
    assert y.dtype == torch.float64
    torch.testing.assert_close(y, (x - 2) / 6)
    z = process.rescale(x, a=-1, b=3)
    assert (z.min().item(), z.max().item()) == (-1.0, 3.0)
    assert torch.equal(
        process.rescale(torch.full((3,), 5.0), a=2), torch.full((3,), 2.0)
    )


@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("dilation", [1, 2])
@pytest.mark.parametrize("kernel_size", [(10, 10), (5, 8), (1, 3)])
def test_same_padding_keeps_correlation_size(kernel_size, stride, dilation):
    img = image((2, 3, 37, 30))
    padded = process.same_padding(img, kernel_size, stride=stride, dilation=dilation)
    kernel = torch.ones(3, 1, *kernel_size)
    out = torch.nn.functional.conv2d(
        padded, kernel, stride=stride, dilation=dilation, groups=3
    )
    assert out.shape == (2, 3, -(-37 // stride), -(-30 // stride))


def test_same_padding_modes_shapes_and_errors():
    img = torch.arange(16.0).reshape(4, 4)
    # 2-D, 3-D and 5-D images: the leading dimensions are padded independently
    padded = process.same_padding(img, (3, 4))
    assert padded.shape == (6, 7)
    # circular by default: one row above (wrapped from the bottom), 1 column left and
    # 2 right (the extra one after an even kernel)
    assert torch.equal(padded[1:-1, 1:-2], img)
    assert torch.equal(padded[0, 1:-2], img[-1])
    assert torch.equal(padded[1:-1, -2:], img[:, :2])
    stack = torch.stack([img, -img])
    assert torch.equal(
        process.same_padding(stack[None, :, None], 3)[0, :, 0][1],
        -process.same_padding(img, 3),
    )
    zeros = process.same_padding(img, 3, pad_mode="constant")
    assert zeros[0].abs().sum() == 0
    assert torch.equal(
        process.same_padding(img, 3, pad_mode="reflect")[0, 1:-1], img[1]
    )
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        process.same_padding(torch.zeros(5), 3)
    with pytest.raises(ValueError, match="pad_mode"):
        process.same_padding(img, 3, pad_mode="wrap")
    with pytest.raises(ValueError, match="stride"):
        process.same_padding(img, 3, stride=0)


# ----------------------------------------------------------------------------------
# the reference library (skipped where it is not installed)
@pytest.mark.parametrize("scale_filter", [False, True])
def test_laplacian_pyramid_matches_reference(scale_filter):
    plenoptic = pytest.importorskip("plenoptic")
    x = image((1, 2, 53, 34), dtype=torch.float64)
    ours = process.LaplacianPyramid(4, scale_filter=scale_filter)(x)
    ref = plenoptic.process.LaplacianPyramid(4, scale_filter=scale_filter)(x)
    for a, b in zip(ours, ref, strict=True):
        torch.testing.assert_close(a, b)


def test_local_gain_control_matches_reference():
    plenoptic = pytest.importorskip("plenoptic")
    x = torch.randn(2, 1, 3, 31, 24, generator=torch.Generator().manual_seed(1))
    for a, b in zip(
        process.local_gain_control(x),
        plenoptic.process.local_gain_control(x),
        strict=True,
    ):
        torch.testing.assert_close(a, b)
