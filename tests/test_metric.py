"""Tests of pipeline.metric: known values, properties, gradients, errors, reference."""

import itertools
import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pipeline import metric
from pipeline.metric import perceptual

C1 = 0.01**2
C2 = 0.03**2


def smooth_image(size=64, batch=1, channel=1, dtype=torch.float32, seed=0):
    """Smooth random image in [0.1, 0.9] (structure at several scales)."""
    gen = torch.Generator().manual_seed(seed)
    noise = torch.rand(batch * channel, 1, size // 4, size // 4, generator=gen)
    img = F.interpolate(noise, size=(size, size), mode="bicubic", align_corners=False)
    img = img + 0.1 * torch.rand(batch * channel, 1, size, size, generator=gen)
    img = (img - img.amin()) / (img.amax() - img.amin())
    return (0.1 + 0.8 * img).reshape(batch, channel, size, size).to(dtype)


def noisy(img, level, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return (img + level * torch.randn(img.shape, generator=gen, dtype=img.dtype)).clamp(
        0, 1
    )


def channel_warning(fn):
    """The warning the grayscale metrics give on multichannel input (none for mse)."""
    if fn is metric.mse:
        return warnings.catch_warnings()
    return pytest.warns(UserWarning, match="computed separately for each channel")


def gaussian_window(size=11, std=1.5, dtype=torch.float64):
    coords = torch.arange(1, size + 1, dtype=torch.float64) - (size + 1) / 2
    g = torch.exp(-(coords[:, None] ** 2 + coords[None, :] ** 2) / (2 * std**2))
    return (g / g.sum()).to(dtype).view(1, 1, size, size)


# ----------------------------------------------------------------------------------
# known values


def test_identical_images():
    img = smooth_image(64, dtype=torch.float64)
    assert torch.allclose(metric.ssim(img, img), torch.ones(1, 1, dtype=img.dtype))
    assert torch.allclose(
        metric.ssim(img, img, weighted=True), torch.ones(1, 1).double()
    )
    assert torch.allclose(metric.ms_ssim(img, img), torch.ones(1, 1, dtype=img.dtype))
    assert torch.allclose(metric.ssim_map(img, img), torch.ones(1, 1, 54, 54).double())
    assert metric.mse(img, img).item() == 0
    assert metric.nlpd(img, img, epsilon=0.0).item() == 0
    # the default epsilon under the square roots makes it sqrt(1e-10)
    assert metric.nlpd(img, img).item() == pytest.approx(1e-5, rel=1e-6)


def test_ssim_symmetric():
    img = smooth_image(48)
    other = noisy(img, 0.1)
    assert torch.allclose(metric.ssim(img, other), metric.ssim(other, img), atol=1e-6)
    assert torch.allclose(
        metric.ssim(img, other, weighted=True),
        metric.ssim(other, img, weighted=True),
        atol=1e-6,
    )


def test_mse_constant_offset():
    img = smooth_image(32, batch=2, channel=3, dtype=torch.float64)
    out = metric.mse(img, img + 0.25)
    assert out.shape == (2, 3)
    assert torch.allclose(out, torch.full((2, 3), 0.0625, dtype=torch.float64))


def test_ssim_constant_images_closed_form():
    a, c = 0.3, 0.2
    img = torch.full((1, 1, 32, 32), a, dtype=torch.float64)
    expected = (2 * a * (a + c) + C1) / (a**2 + (a + c) ** 2 + C1)
    assert metric.ssim(img, img + c).item() == pytest.approx(expected, rel=1e-12)
    assert metric.ms_ssim(img, img + c).item() == pytest.approx(
        expected**0.1333, rel=1e-10
    )


def test_ssim_shifted_copy_is_luminance_term():
    # shifting by a constant leaves local variances and covariance unchanged, so the
    # contrast-structure term is 1 and the SSIM map is the luminance term
    img = smooth_image(40, dtype=torch.float64)
    c = 0.07
    mu = F.conv2d(img, gaussian_window())
    luminance = (2 * mu * (mu + c) + C1) / (mu**2 + (mu + c) ** 2 + C1)
    assert torch.allclose(metric.ssim_map(img, img + c), luminance, atol=1e-10)


def test_contrast_scaled_copy_lowers_ssim():
    img = smooth_image(48, dtype=torch.float64)
    values = [
        metric.ssim(img, img.mean() + k * (img - img.mean())).item()
        for k in (1.0, 0.8, 0.5, 0.2)
    ]
    assert values[0] == pytest.approx(1.0)
    assert all(a > b for a, b in itertools.pairwise(values))


def test_more_noise_monotonic():
    img = smooth_image(64)
    levels = (0.02, 0.05, 0.1, 0.2)
    copies = [noisy(img, level) for level in levels]
    ssim = [metric.ssim(img, y).item() for y in copies]
    ms_ssim = [metric.ms_ssim(img, y).item() for y in copies]
    nlpd = [metric.nlpd(img, y).item() for y in copies]
    mse = [metric.mse(img, y).item() for y in copies]
    assert all(a > b for a, b in itertools.pairwise(ssim))
    assert all(a > b for a, b in itertools.pairwise(ms_ssim))
    assert all(a < b for a, b in itertools.pairwise(nlpd))
    assert all(a < b for a, b in itertools.pairwise(mse))


def test_ssim_pad_keeps_size():
    img = smooth_image(32)
    other = noisy(img, 0.05)
    for mode in ("constant", "reflect", "replicate", "circular"):
        assert metric.ssim_map(img, other, pad=mode).shape == img.shape
        assert metric.ssim(img, other, pad=mode).shape == (1, 1)


def test_small_image_shrinks_window():
    img = smooth_image(32)[..., :7, :9]
    other = noisy(img, 0.05)
    assert metric.ssim_map(img, other).shape == (1, 1, 1, 3)
    window = gaussian_window(7, dtype=torch.float32)
    mu1, mu2 = F.conv2d(img, window), F.conv2d(other, window)
    s11 = F.conv2d(img * img, window) - mu1**2
    s22 = F.conv2d(other * other, window) - mu2**2
    s12 = F.conv2d(img * other, window) - mu1 * mu2
    expected = (2 * mu1 * mu2 + C1) * (2 * s12 + C2)
    expected = expected / ((mu1**2 + mu2**2 + C1) * (s11 + s22 + C2))
    assert torch.allclose(metric.ssim_map(img, other), expected, atol=1e-5)


# ----------------------------------------------------------------------------------
# shapes, batches, channels, dtypes


@pytest.mark.parametrize(
    "fn",
    [metric.ssim, metric.ms_ssim, metric.nlpd, metric.mse],
    ids=lambda f: f.__name__,
)
def test_batch_channel_shapes_and_independence(fn):
    img = smooth_image(48, batch=2, channel=3)
    other = noisy(img, 0.05)
    with channel_warning(fn):
        out = fn(img, other)
    assert out.shape == (2, 3)
    # each image and channel is computed on its own (no warning for one channel)
    single = fn(img[1:2, 2:3], other[1:2, 2:3])
    assert torch.allclose(out[1, 2], single[0, 0], rtol=1e-5, atol=1e-7)
    # batch and channel sizes of 1 broadcast
    with channel_warning(fn):
        out_b = fn(img[:1, :1], other)
    assert out_b.shape == (2, 3)
    assert torch.allclose(
        out_b[1, 2], fn(img[:1, :1], other[1:2, 2:3])[0, 0], rtol=1e-5
    )


@pytest.mark.parametrize(
    "fn", [metric.ssim, metric.ms_ssim, metric.nlpd], ids=lambda f: f.__name__
)
def test_float32_matches_float64(fn):
    img = smooth_image(64, dtype=torch.float64)
    other = noisy(img, 0.1)
    out64 = fn(img, other)
    out32 = fn(img.float(), other.float())
    assert out32.dtype == torch.float32
    assert out64.dtype == torch.float64
    assert torch.allclose(out32.double(), out64, rtol=1e-4)


def test_normalized_laplacian_pyramid_shapes():
    img = smooth_image(64, batch=2, channel=3)[..., :64, :45]
    bands = metric.normalized_laplacian_pyramid(img)
    sizes = [tuple(b.shape) for b in bands]
    assert sizes == [
        (2, 3, 64, 45),
        (2, 3, 32, 23),
        (2, 3, 16, 12),
        (2, 3, 8, 6),
        (2, 3, 4, 3),
        (2, 3, 2, 2),
    ]


def test_sparse_and_convolution_paths_agree(monkeypatch):
    # large pyramid levels are filtered by shift-and-add on CPU, small ones (and all
    # levels on other devices) by convolutions: both give the same result
    img = smooth_image(100, batch=2, dtype=torch.float64)[..., :99, :]
    results = {}
    for name, threshold in (("sparse", 1), ("conv", 10**9)):
        monkeypatch.setattr(perceptual, "_SPARSE_MIN_PIXELS", threshold)
        x = img.clone().requires_grad_()
        bands = metric.normalized_laplacian_pyramid(x)
        (grad,) = torch.autograd.grad(sum((b**2).sum() for b in bands), x)
        results[name] = (bands, grad)
    for a, b in zip(results["sparse"][0], results["conv"][0], strict=True):
        assert torch.allclose(a, b, atol=1e-12)
    assert torch.allclose(results["sparse"][1], results["conv"][1], atol=1e-10)


# ----------------------------------------------------------------------------------
# gradients


@pytest.mark.parametrize(
    "fn",
    [
        metric.ssim,
        lambda a, b: metric.ssim(a, b, weighted=True),
        lambda a, b: metric.ssim(a, b, pad="reflect"),
        metric.ms_ssim,
        metric.nlpd,
        metric.mse,
    ],
    ids=["ssim", "ssim_weighted", "ssim_pad", "ms_ssim", "nlpd", "mse"],
)
def test_gradients_finite(fn):
    img = smooth_image(64)
    x = noisy(img, 0.05).requires_grad_()
    fn(img, x).sum().backward()
    assert x.grad is not None
    assert torch.isfinite(x.grad).all()
    assert x.grad.abs().sum() > 0


@pytest.mark.parametrize(
    "fn",
    [metric.ssim, metric.ms_ssim, metric.nlpd, metric.mse],
    ids=lambda f: f.__name__,
)
def test_gradients_finite_at_identical_images(fn):
    img = smooth_image(64)
    x = img.clone().requires_grad_()
    fn(img, x).sum().backward()
    assert torch.isfinite(x.grad).all()


def test_nlpd_gradcheck_both_paths():
    gen = torch.Generator().manual_seed(3)
    for size in (100, 40):  # shift-and-add (>= 96x96) and convolution levels
        a = torch.rand(1, 1, size, size - 1, dtype=torch.float64, generator=gen)
        b = torch.rand(1, 1, size, size - 1, dtype=torch.float64, generator=gen)
        b.requires_grad_()
        assert torch.autograd.gradcheck(
            lambda y, a=a: metric.nlpd(a, y), b, fast_mode=True
        )
        assert torch.autograd.gradcheck(
            lambda y, a=a: metric.nlpd(y, a), b, fast_mode=True
        )


def test_ssim_gradcheck():
    gen = torch.Generator().manual_seed(4)
    a = torch.rand(1, 2, 20, 17, dtype=torch.float64, generator=gen)
    b = torch.rand(1, 2, 20, 17, dtype=torch.float64, generator=gen).requires_grad_()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "SSIM was designed for grayscale")
        warnings.filterwarnings("ignore", "MS-SSIM was designed for grayscale")
        assert torch.autograd.gradcheck(lambda y: metric.ssim(a, y), b, fast_mode=True)
        assert torch.autograd.gradcheck(
            lambda y: metric.ms_ssim(a, y, [0.5, 0.5]), b, fast_mode=True
        )


def test_nlpd_same_gradient_whichever_image_requires_grad():
    img = smooth_image(100, dtype=torch.float64)
    other = noisy(img, 0.1)
    x = other.clone().requires_grad_()
    (g_second,) = torch.autograd.grad(metric.nlpd(img, x).sum(), x)
    x = other.clone().requires_grad_()
    (g_first,) = torch.autograd.grad(metric.nlpd(x, img).sum(), x)
    x = other.clone().requires_grad_()
    y = img.clone().requires_grad_()
    (g_both, _) = torch.autograd.grad(metric.nlpd(y, x).sum(), (x, y))
    assert torch.allclose(g_second, g_first, atol=1e-12)
    assert torch.allclose(g_second, g_both, atol=1e-12)


def test_filters_built_in_inference_mode_work_with_autograd():
    perceptual._taps_tensor.cache_clear()
    perceptual._conv_bank.cache_clear()
    img = smooth_image(48)
    with torch.inference_mode():
        metric.ssim(img, img)
        metric.nlpd(img, img)
    x = noisy(img, 0.05).requires_grad_()
    (metric.ssim(img, x) + metric.nlpd(img, x)).sum().backward()
    assert torch.isfinite(x.grad).all()


# ----------------------------------------------------------------------------------
# errors and warnings


@pytest.mark.parametrize(
    "fn",
    [metric.ssim, metric.ssim_map, metric.ms_ssim, metric.nlpd, metric.mse],
    ids=lambda f: f.__name__,
)
def test_shape_mismatch(fn):
    with pytest.raises(ValueError, match="must have the same height and width, got"):
        fn(torch.rand(1, 1, 64, 64), torch.rand(1, 1, 64, 48))
    with pytest.raises(ValueError, match="batch and channel dimensions, or one of"):
        fn(torch.rand(2, 1, 64, 64), torch.rand(3, 1, 64, 64))


@pytest.mark.parametrize(
    "fn",
    [metric.ssim, metric.ssim_map, metric.ms_ssim, metric.nlpd],
    ids=lambda f: f.__name__,
)
def test_not_4d(fn):
    with pytest.raises(ValueError, match="should have four dimensions"):
        fn(torch.rand(1, 64, 64), torch.rand(1, 64, 64))
    with pytest.raises(ValueError, match="should have four dimensions"):
        fn(torch.rand(1, 1, 64, 64), torch.rand(1, 64, 64))


@pytest.mark.parametrize("shape", [(8, 8), (3, 8, 8), (2, 1, 3, 8, 8)])
def test_mse_takes_any_leading_dimensions(shape):
    img = torch.rand(shape)
    assert metric.mse(img, img + 0.5).shape == shape[:-2]
    assert torch.allclose(metric.mse(img, img + 0.5), torch.tensor(0.25))
    with pytest.raises(ValueError, match="same number of dimensions"):
        metric.mse(img, img[None])
    with pytest.raises(ValueError, match="at least height and width"):
        metric.mse(torch.rand(8), torch.rand(8))


@pytest.mark.parametrize(
    ("shape1", "shape2", "dtype"),
    [
        ((1, 1, 32, 32), (1, 1, 32, 32), torch.float32),
        ((3, 2, 8, 10), (1, 2, 8, 10), torch.float64),
        ((2, 6, 6), (2, 6, 6), torch.float32),
    ],
)
def test_mse_values_and_gradients_are_the_formula_bit_for_bit(shape1, shape2, dtype):
    torch.manual_seed(0)
    img1 = torch.rand(shape1, dtype=dtype, requires_grad=True)
    img2 = torch.rand(shape2, dtype=dtype, requires_grad=True)
    by_hand = (img1 - img2).pow(2).mean((-2, -1))
    weights = torch.rand(by_hand.shape, dtype=dtype)  # a gradient other than ones
    value = metric.mse(img1, img2)
    assert torch.equal(value, by_hand)
    ours = torch.autograd.grad((value * weights).sum(), (img1, img2))
    expected = torch.autograd.grad((by_hand * weights).sum(), (img1, img2))
    for got, want in zip(ours, expected, strict=True):
        assert torch.equal(got, want)


def test_other_bad_inputs():
    img = torch.rand(1, 1, 64, 64)
    with pytest.raises(ValueError, match="same dtype"):
        metric.ssim(img, img.double())
    with pytest.raises(ValueError, match="floating point"):
        metric.nlpd(img.to(torch.uint8), img.to(torch.uint8))
    with pytest.raises(TypeError, match=r"torch\.Tensor"):
        metric.mse(img.numpy(), img)
    with pytest.raises(ValueError, match="pad must be"):
        metric.ssim(img, img, pad="mirror")
    with pytest.raises(ValueError, match="at least one"):
        metric.ms_ssim(img, img, power_factors=[])
    with pytest.raises(ValueError, match="33x33"):
        metric.normalized_laplacian_pyramid(torch.rand(1, 1, 32, 64))


def test_too_small_for_scales():
    with pytest.raises(ValueError, match=r"at least 17x17 pixels.*got 16x64"):
        metric.ms_ssim(torch.rand(1, 1, 16, 64), torch.rand(1, 1, 16, 64))
    assert metric.ms_ssim(torch.rand(1, 1, 17, 17), torch.rand(1, 1, 17, 17)).shape == (
        1,
        1,
    )
    # fewer scales need smaller images
    with pytest.raises(ValueError, match="at least 5x5"):
        metric.ms_ssim(torch.rand(1, 1, 4, 8), torch.rand(1, 1, 4, 8), [0.3, 0.3, 0.4])
    with pytest.raises(ValueError, match=r"at least 33x33 pixels, got 32x40"):
        metric.nlpd(torch.rand(1, 1, 32, 40), torch.rand(1, 1, 32, 40))
    assert metric.nlpd(torch.rand(1, 1, 33, 33), torch.rand(1, 1, 33, 33)).shape == (
        1,
        1,
    )


@pytest.mark.parametrize(
    "fn",
    [metric.ssim, metric.ssim_map, metric.ms_ssim, metric.nlpd],
    ids=lambda f: f.__name__,
)
def test_out_of_range_warning(fn):
    img = smooth_image(64)
    with pytest.warns(UserWarning, match=r"outside \[0, 1\]"):
        fn(img, img + 0.5)
    with pytest.warns(UserWarning, match=r"outside \[0, 1\]"):
        fn(img - 0.5, img)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fn(img, img)  # in range: no warning
        metric.mse(img, img + 5)  # MSE has no data range


def test_out_of_range_warning_once_per_synthesis():
    """A MAD synthesis calling ssim every iteration warns once (the README's case)."""
    from pipeline.synthesis.mad_competition import MADCompetition

    def dssim(x, y):
        return 1 - metric.ssim(x, y).mean()

    img = smooth_image(32).clamp(0.5, 1)  # noise takes the start outside [0, 1]
    mad = MADCompetition(img, metric.mse, dssim, "max", metric_tradeoff_lambda=1e4)
    with pytest.warns(UserWarning, match="Image range falls outside"):
        mad.setup(initial_noise=0.2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        mad.synthesize(max_iter=5)
    ranges = [w for w in caught if "Image range falls outside" in str(w.message)]
    assert len(ranges) == 1, [str(w.message) for w in caught]


# ----------------------------------------------------------------------------------
# model_metric


def test_model_metric(blur):
    dist = metric.model_metric(blur)
    assert metric.model_metric_factory is metric.model_metric
    img = smooth_image(32, batch=2)
    other = noisy(img, 0.1)
    expected = torch.sqrt(((blur(img) - blur(other)) ** 2).mean() + 1e-10)
    value = dist(img, other)
    assert value.ndim == 0
    assert torch.allclose(value, expected)
    assert dist(img, img).item() == pytest.approx(1e-5, rel=1e-5)
    x = img.clone().requires_grad_()
    dist(other, x).backward()
    assert torch.isfinite(x.grad).all()
    x.grad = None
    dist(img, x).backward()  # identical: finite thanks to epsilon
    assert torch.isfinite(x.grad).all()
    assert metric.model_metric(blur, epsilon=0.0)(img, img).item() == 0
    with pytest.raises(TypeError, match="callable"):
        metric.model_metric(3)


def test_model_metric_mismatched_representations():
    dist = metric.model_metric(lambda x: x.flatten())
    with pytest.raises(ValueError, match="same shape"):
        dist(torch.rand(1, 1, 4, 4), torch.rand(1, 1, 4, 5))


# ----------------------------------------------------------------------------------
# optional: comparison with the reference library


@pytest.mark.parametrize("size", [64, 128])
def test_against_reference(size):
    plenoptic = pytest.importorskip("plenoptic")
    from skimage import data, transform

    camera = transform.resize(
        data.camera().astype(np.float64) / 255, (size, size), anti_aliasing=True
    )
    img = torch.as_tensor(camera, dtype=torch.float32)[None, None]
    gen = torch.Generator().manual_seed(0)
    other = (img + 0.1 * torch.randn(img.shape, generator=gen)).clamp(0, 1)
    pm = plenoptic.metric
    cases = {
        "ssim": (metric.ssim(img, other), pm.ssim, {}),
        "ssim_weighted": (
            metric.ssim(img, other, weighted=True),
            pm.ssim,
            {"weighted": True},
        ),
        "ssim_pad": (
            metric.ssim(img, other, pad="reflect"),
            pm.ssim,
            {"pad": "reflect"},
        ),
        "ms_ssim": (metric.ms_ssim(img, other), pm.ms_ssim, {}),
        "nlpd": (metric.nlpd(img, other), pm.nlpd, {}),
        "mse": (metric.mse(img, other), pm.mse, {}),
    }
    for name, (ours, ref_fn, kwargs) in cases.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = ref_fn(img, other, **kwargs)
        assert ours.shape == ref.shape, name
        assert torch.allclose(ours, ref, rtol=1e-4, atol=0), (name, ours, ref)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref_bands = plenoptic.process.normalized_laplacian_pyramid(img)
    for ours, ref in zip(
        metric.normalized_laplacian_pyramid(img), ref_bands, strict=True
    ):
        assert (ours - ref).abs().max() <= 1e-4 * ref.abs().max()


def test_constants_match_reference_files():
    plenoptic = pytest.importorskip("plenoptic")
    from importlib import resources

    folder = resources.files(plenoptic.process)
    filters = np.load(folder / "DN_filts.npy")
    sigmas = np.load(folder / "DN_sigmas.npy")
    ours = np.zeros((6, 5, 5))
    for level, taps in enumerate(perceptual.NLPD_POOLING_TAPS):
        for (row, col), weight in taps.items():
            ours[level, row, col] = weight
    np.testing.assert_array_equal(ours, filters)
    np.testing.assert_array_equal(np.array(perceptual.NLPD_SIGMAS), sigmas)
    assert math.isclose(perceptual.SSIM_WINDOW_STD, 1.5)
