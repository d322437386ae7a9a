"""Tests of pipeline.models: filters, naive models and Berardino et al. front ends."""

from __future__ import annotations

import functools

import pytest
import torch
import torch.nn.functional as F

from pipeline import models, separable
from pipeline.models import _filters
from pipeline.models._filters import (
    circular_gaussian2d,
    conv2d_same,
    filter_bank,
    gaussian1d,
    same_padding_amounts,
)
from pipeline.models.frontend import disk

PAD_MODES = ["reflect", "circular", "replicate", "constant", "zeros"]
# the separable sums run as banded matrix products while the work is at most
# separable.MATRIX_MAX_WORK and as convolutions beyond it: "separable-convolutions"
# is "separable" with that bound at zero (see use_method)
METHODS = ["separable", "separable-convolutions", "fft"]
F32 = {"rtol": 1e-5, "atol": 1e-6}
F64 = {"rtol": 1e-10, "atol": 1e-12}

PRETRAINED = {
    models.LinearNonlinear: {
        "center_surround.center_std": [0.5339],
        "center_surround.surround_std": [6.148],
        "center_surround.amplitude_ratio": 1.25,
    },
    models.LuminanceGainControl: {
        "luminance_scalar": [14.95],
        "center_surround.center_std": [1.962],
        "center_surround.surround_std": [4.235],
        "center_surround.amplitude_ratio": 1.25,
        "luminance.std": [4.235],
    },
    models.LuminanceContrastGainControl: {
        "luminance_scalar": [2.94],
        "contrast_scalar": [34.03],
        "center_surround.center_std": [0.7363],
        "center_surround.surround_std": [48.37],
        "center_surround.amplitude_ratio": 1.25,
        "luminance.std": [170.99],
        "contrast.std": [2.658],
    },
    models.OnOff: {
        "luminance_scalar": [3.2637, 14.3961],
        "contrast_scalar": [7.3405, 16.7423],
        "center_surround.center_std": [1.237, 0.3233],
        "center_surround.surround_std": [30.12, 2.184],
        "center_surround.amplitude_ratio": 1.25,
        "luminance.std": [76.4, 2.184],
        "contrast.std": [7.49, 2.43],
    },
}
FRONTENDS = list(PRETRAINED)


@pytest.fixture(autouse=True)
def _seed_and_threads():
    # one intra-op thread: these small problems gain nothing from more, and an
    # OpenMP pool oversubscribed by parallel test processes can be 10x slower
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)


def image(*shape, dtype=torch.float32, requires_grad=False):
    x = torch.rand(*shape, dtype=dtype)
    return x.requires_grad_(requires_grad)


# ----------------------------------------------------------------------------
# Direct reference implementations (2-D conv with the ``filt`` of each module)
# ----------------------------------------------------------------------------


def ref_luminance_normed(m, x):
    b, c, h, w = x.shape
    xf = x.reshape(b * c, 1, h, w)
    cs = conv2d_same(xf, m.center_surround.filt, m.center_surround.pad_mode)
    lum = conv2d_same(xf, m.luminance.filt, m.luminance.pad_mode)
    return cs / (1 + m.luminance_scalar.reshape(1, -1, 1, 1) * lum)


def ref_contrast(m, lum_normed):
    n = lum_normed.shape[1]
    filt = m.contrast.filt.expand(n, -1, -1, -1)
    energy = conv2d_same(lum_normed**2, filt, m.contrast.pad_mode, groups=n)
    con = energy.sqrt() + 1e-6
    return lum_normed / (1 + m.contrast_scalar.reshape(1, -1, 1, 1) * con)


def reference(m, x):
    b, c, h, w = x.shape
    if isinstance(m, models.LinearNonlinear):
        xf = x.reshape(b * c, 1, h, w)
        y = conv2d_same(xf, m.center_surround.filt, m.center_surround.pad_mode)
    elif isinstance(m, models.LuminanceGainControl):
        y = ref_luminance_normed(m, x)
    else:
        y = ref_contrast(m, ref_luminance_normed(m, x))
    y = m.activation(y).reshape(b, -1, h, w)
    if isinstance(m, models.OnOff) and m.apply_mask:
        y = y * disk((h, w), dtype=y.dtype)
    return y


# ----------------------------------------------------------------------------
# Filters
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 4, 7, 31])
def test_kernels_sum_to_one(k):
    std = torch.tensor([0.3, 1.0, 5.0, 200.0], dtype=torch.float64)
    g = gaussian1d(k, std)
    torch.testing.assert_close(g.sum(-1), torch.ones(4, dtype=torch.float64))
    f2 = circular_gaussian2d((k, k + 2), std)
    assert f2.shape == (4, 1, k, k + 2)
    torch.testing.assert_close(
        f2.sum((-2, -1)).flatten(), torch.ones(4, dtype=f2.dtype)
    )
    # the normalized 2-D Gaussian is the outer product of the 1-D ones
    outer = gaussian1d(k, std)[:, :, None] * gaussian1d(k + 2, std)[:, None, :]
    torch.testing.assert_close(f2[:, 0], outer, **F64)


def test_kernel_formula():
    # coordinates arange(1, k + 1) - (k + 1) / 2, normalized by the sum
    k, std = 4, 1.5
    x = torch.arange(1, k + 1, dtype=torch.float64) - (k + 1) / 2
    expected = torch.exp(-(x[:, None] ** 2 + x[None] ** 2) / (2 * std**2))
    expected = expected / expected.sum()
    got = circular_gaussian2d(k, torch.tensor([std], dtype=torch.float64))[0, 0]
    torch.testing.assert_close(got, expected, **F64)


def test_same_padding_split():
    assert same_padding_amounts(5) == (2, 2, 2, 2)
    # even kernels: (k // 2 - 1) before, k // 2 after
    assert same_padding_amounts((4, 6)) == (2, 3, 1, 2)
    assert same_padding_amounts(1) == (0, 0, 0, 0)


def test_fast_fft_length():
    for n in [1, 7, 11, 97, 286, 289, 1000]:
        m = _filters._fast_fft_length(n)
        assert m >= n
        rest = m
        for p in (2, 3, 5):
            while rest % p == 0:
                rest //= p
        assert rest == 1
        assert all(_filters._fast_fft_length(j) == m for j in range(n, m + 1))


def _bank_case(kernel_size, n, dtype, weights):
    kh, kw = kernel_size
    std = (torch.rand(n, dtype=torch.float64) * 4 + 0.4).to(dtype)
    gv, gh = gaussian1d(kh, std), gaussian1d(kw, std)
    filt = circular_gaussian2d(kernel_size, std)
    w = torch.randn(2, n, dtype=dtype) if weights else None
    return gv, gh, filt, w


@pytest.fixture
def use_method(monkeypatch):
    """Return the ``filter_bank`` method of a METHODS entry, forcing its path."""

    def use(method):
        if method == "separable-convolutions":
            monkeypatch.setattr(separable, "MATRIX_MAX_WORK", 0)
            return "separable"
        return method

    return use


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("pad_mode", PAD_MODES)
@pytest.mark.parametrize("kernel_size", [(5, 5), (6, 6), (4, 7), (31, 31)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_filter_bank_matches_conv2d(method, pad_mode, kernel_size, dtype, use_method):
    method = use_method(method)
    tol = F32 if dtype == torch.float32 else F64
    gv, gh, filt, w = _bank_case(kernel_size, 3, dtype, weights=True)
    x = image(2, 1, 37, 34, dtype=dtype)
    ref = torch.einsum("kj,njhw->nkhw", w, conv2d_same(x, filt, pad_mode))
    # random mixing weights (with cancellations) amplify the float32 rounding of
    # the 961-term direct sums: compare at the output's scale
    scale = ref.abs().max()
    got = filter_bank(x, gv, gh, pad_mode, w, method=method)
    mixed_tol = {"rtol": 1e-5, "atol": 1e-5} if dtype == torch.float32 else F64
    torch.testing.assert_close(got / scale, ref / scale, **mixed_tol)
    # grouped: channel k filtered by kernel k
    xg = image(2, 3, 37, 34, dtype=dtype)
    ref = conv2d_same(xg, filt, pad_mode, groups=3)
    got = filter_bank(xg, gv, gh, pad_mode, grouped=True, method=method)
    torch.testing.assert_close(got, ref, **tol)


@pytest.mark.parametrize("method", [*METHODS, "auto"])
def test_filter_bank_gradients_match_conv2d(method, use_method):
    method = use_method(method)
    dtype = torch.float64
    std = torch.tensor([0.8, 2.5], dtype=dtype, requires_grad=True)
    w = torch.tensor([[1.25, -1.25]], dtype=dtype)
    x = image(2, 1, 23, 19, dtype=dtype, requires_grad=True)
    probe = torch.randn(2, 1, 23, 19, dtype=dtype)

    def grads(out):
        return torch.autograd.grad((out * probe).sum(), (x, std))

    filt = torch.einsum("kj,jchw->kchw", w, circular_gaussian2d((9, 8), std))
    ref = grads(conv2d_same(x, filt, "reflect"))
    got = grads(
        filter_bank(
            x, gaussian1d(9, std), gaussian1d(8, std), "reflect", w, method=method
        )
    )
    for g, r in zip(got, ref, strict=True):
        torch.testing.assert_close(g, r, **F64)


@pytest.mark.parametrize("grouped", [False, True])
def test_fft_bank_with_fixed_kernels_has_exact_derivatives_of_every_order(grouped):
    # fixed kernels (a model without gradients, as in synthesis) take the FFT's own
    # adjoint as derivative rather than torch's derivative of rfft2
    dtype = torch.float64
    std = torch.tensor([0.8, 2.5], dtype=dtype)
    gv, gh = gaussian1d(17, std), gaussian1d(16, std)
    w = None if grouped else torch.tensor([[1.25, -1.25], [0.5, 2.0], [0.0, 1.0]])
    w = None if w is None else w.to(dtype)
    x = image(2, 2 if grouped else 1, 23, 19, dtype=dtype, requires_grad=True)

    def bank(x):
        return filter_bank(x, gv, gh, "reflect", w, grouped=grouped, method="fft")

    assert "SpectralCorrelation" in type(bank(x).grad_fn).__name__
    assert torch.autograd.gradcheck(bank, (x,), check_forward_ad=True)
    assert torch.autograd.gradgradcheck(bank, (x,))
    filt = circular_gaussian2d((17, 16), std)
    if grouped:
        direct = conv2d_same(x, filt, "reflect", groups=2)
    else:
        direct = torch.einsum("kj,njhw->nkhw", w, conv2d_same(x, filt, "reflect"))
    probe = torch.randn_like(direct)
    (got,) = torch.autograd.grad((bank(x) * probe).sum(), x)
    (ref,) = torch.autograd.grad((direct * probe).sum(), x)
    torch.testing.assert_close(got, ref, **F64)


@pytest.mark.parametrize("method", ["separable", "separable-convolutions"])
def test_filter_bank_separable_keeps_nonnegative(method, use_method):
    # exact zeros in the input stay non-negative after filtering (needed before
    # the square root of the contrast stage)
    x = torch.zeros(1, 2, 40, 40)
    x[..., 5:8, 5:8] = 1e-3
    g = gaussian1d(31, torch.tensor([7.49, 2.43]))
    y = filter_bank(x, g, g, "reflect", grouped=True, method=use_method(method))
    assert (y >= 0).all()


def test_filter_bank_validation():
    g = gaussian1d(5, torch.ones(2))
    with pytest.raises(ValueError, match="channel"):
        filter_bank(torch.rand(1, 3, 8, 8), g, g, "reflect")
    with pytest.raises(ValueError, match="pad_mode"):
        filter_bank(torch.rand(1, 1, 8, 8), g, g, "wrap")
    with pytest.raises(ValueError, match="method"):
        filter_bank(torch.rand(1, 1, 8, 8), g, g, "reflect", method="direct")


# ----------------------------------------------------------------------------
# Naive models
# ----------------------------------------------------------------------------


def test_identity_returns_copy():
    x = image(2, 3, 8, 8, requires_grad=True)
    y = models.Identity()(x)
    assert y is not x
    assert torch.equal(y, x)
    assert y.data_ptr() != x.data_ptr()
    y.sum().backward()
    torch.testing.assert_close(x.grad, torch.ones_like(x))


@pytest.mark.parametrize("pad_mode", PAD_MODES)
@pytest.mark.parametrize("kernel_size", [5, 6, (7, 4), 31])
def test_gaussian_matches_conv2d(pad_mode, kernel_size):
    model = models.Gaussian(kernel_size, std=[1.0, 3.0], pad_mode=pad_mode)
    x = image(2, 3, 33, 35)
    y = model(x)
    assert y.shape == (2, 6, 33, 35)
    b, c, h, w = x.shape
    ref = conv2d_same(x.reshape(b * c, 1, h, w), model.filt, pad_mode)
    torch.testing.assert_close(y, ref.reshape(b, -1, h, w), **F32)


@pytest.mark.parametrize("pad_mode", PAD_MODES)
@pytest.mark.parametrize("kernel_size", [5, 8, 31])
def test_center_surround_matches_conv2d(pad_mode, kernel_size):
    model = models.CenterSurround(
        kernel_size,
        on_center=[True, False],
        center_std=[0.7, 1.5],
        surround_std=[3.0, 9.0],
        pad_mode=pad_mode,
    )
    x = image(2, 2, 34, 33)
    y = model(x)
    assert y.shape == (2, 4, 34, 33)
    b, c, h, w = x.shape
    ref = conv2d_same(x.reshape(b * c, 1, h, w), model.filt, pad_mode)
    torch.testing.assert_close(y, ref.reshape(b, -1, h, w), **F32)


def test_channel_order_is_input_major():
    model = models.CenterSurround(7, on_center=[True, False])
    x = image(1, 3, 16, 16)
    y = model(x)
    for c in range(3):
        torch.testing.assert_close(y[:, 2 * c : 2 * c + 2], model(x[:, c : c + 1]))


@pytest.mark.parametrize(
    "factory",
    [
        lambda: models.Gaussian(5, out_channels=2),
        lambda: models.CenterSurround(5, on_center=[True, False]),
        models.Linear,
        *[functools.partial(cls, 7) for cls in FRONTENDS],
    ],
    ids=["Gaussian", "CenterSurround", "Linear", *[c.__name__ for c in FRONTENDS]],
)
def test_unbatched_image_as_conv2d_takes_it(factory):
    # (channel, height, width) is one image: the response has no batch dimension
    model = factory()
    x = image(2, 20, 17)
    torch.testing.assert_close(model(x), model(x[None])[0])
    with pytest.raises(ValueError, match="expected input of shape"):
        model(x[0])


def test_center_surround_filter_definition():
    model = models.CenterSurround(
        9,
        on_center=[True, False],
        amplitude_ratio=1.5,
        center_std=1.0,
        surround_std=[3.0, 4.0],
    )
    std = torch.tensor
    center = circular_gaussian2d(9, std([1.0, 1.0]))
    surround = circular_gaussian2d(9, std([3.0, 4.0]))
    sign = std([1.0, -1.0]).reshape(2, 1, 1, 1)
    torch.testing.assert_close(model.filt, 1.5 * sign * (center - surround))
    torch.testing.assert_close(
        model.filt.sum((-2, -1)), torch.zeros(2, 1), atol=1e-6, rtol=0
    )


def test_constant_image():
    x = torch.full((2, 1, 40, 40), 0.7)
    y = models.Gaussian(11, std=[2.0, 30.0])(x)
    torch.testing.assert_close(y, torch.full_like(y, 0.7), **F32)
    cs = models.CenterSurround(31, on_center=[True, False])
    y = cs(x)
    # amplitude_ratio * (1 - 1) * 0.7 == 0 everywhere with reflect padding
    torch.testing.assert_close(y, torch.zeros_like(y), atol=1e-6, rtol=0)


def test_gaussian_std_parameter_and_channels():
    model = models.Gaussian(5, std=torch.tensor([1.0, 2.0, 3.0]))
    assert isinstance(model.std, torch.nn.Parameter)
    assert model.out_channels == 3
    assert models.Gaussian(5).std.shape == (1,)
    assert models.Gaussian(5, std=2.0, out_channels=4).std.tolist() == [2.0] * 4
    assert models.Gaussian(5).filt.shape == (1, 1, 5, 5)
    with pytest.raises(ValueError, match="std"):
        models.Gaussian(5, std=[1.0, 2.0], out_channels=3)


@pytest.mark.parametrize("std", [2.0, 2, torch.tensor(2.0), torch.tensor([2.0]), [2.0]])
def test_circular_gaussian2d_std_forms(std):
    filt = circular_gaussian2d((7, 5), std)
    assert filt.shape == (1, 1, 7, 5)
    torch.testing.assert_close(filt, circular_gaussian2d((7, 5), torch.tensor([2.0])))


def test_circular_gaussian2d_out_channels():
    filt = circular_gaussian2d(9, 1.5, out_channels=3)
    assert filt.shape == (3, 1, 9, 9)
    torch.testing.assert_close(filt.sum((1, 2, 3)), torch.ones(3))
    assert torch.equal(filt[0], filt[2])
    stds = circular_gaussian2d(9, [1.0, 2.0, 3.0])
    assert stds.shape == (3, 1, 9, 9)
    # wider filters are flatter in the middle
    assert stds[0, 0, 4, 4] > stds[1, 0, 4, 4] > stds[2, 0, 4, 4]
    assert circular_gaussian2d(9, [1.0, 2.0], out_channels=2).shape[0] == 2


def test_circular_gaussian2d_keeps_gradient_and_dtype():
    std = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    filt = circular_gaussian2d(5, std)
    assert filt.dtype == torch.float64
    filt[:, :, 2, 2].sum().backward()
    assert std.grad is not None and bool((std.grad < 0).all())


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"kernel_size": 7, "std": 0.0}, ValueError, "std must be positive"),
        ({"kernel_size": 7, "std": [1.0, -1.0]}, ValueError, "std must be positive"),
        (
            {"kernel_size": 7, "std": [1.0, 2.0], "out_channels": 3},
            ValueError,
            r"If non-scalar, len\(std\) must equal out_channels",
        ),
        ({"kernel_size": 7.0, "std": 1.0}, ValueError, "kernel_size must be integer"),
        (
            {"kernel_size": torch.tensor([7.0, 7.0]), "std": 1.0},
            ValueError,
            "kernel_size must be integer",
        ),
        ({"kernel_size": 0, "std": 1.0}, ValueError, "kernel_size must be positive"),
        ({"kernel_size": 7, "std": 1.0, "out_channels": 0}, ValueError, "positive"),
        ({"kernel_size": 7, "std": 1.0, "out_channels": 2.0}, ValueError, "integer"),
        ({"kernel_size": 7, "std": 1.0, "out_channels": [2]}, TypeError, "'<'"),
    ],
)
def test_circular_gaussian2d_validation(kwargs, error, match):
    with pytest.raises(error, match=match):
        circular_gaussian2d(**kwargs)


def test_process_namespace_has_the_filter():
    from pipeline import process

    assert process.circular_gaussian2d is circular_gaussian2d


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"out_channels": 1, "on_center": [True, False]}, r"len\(on_center\) must"),
        (
            {"on_center": [True, False], "center_std": [1.0, 2.0, 3.0]},
            r"len\(center_std\) must equal out_channels \(from on_center\) \(2\)",
        ),
        (
            {"center_std": [1.0, 2.0], "surround_std": [1.0, 2.0, 3.0]},
            r"len\(surround_std\) must equal len\(center_std\) \(2\)",
        ),
        ({"center_std": [1.0, 2.0], "out_channels": 3}, r"len\(center_std\) must"),
        ({"amplitude_ratio": [1.0, 2.0]}, "amplitude_ratio must be a scalar"),
        ({"amplitude_ratio": 0}, "amplitude_ratio must at least be 1"),
    ],
)
def test_center_surround_channel_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        models.CenterSurround(7, **kwargs)


def test_center_surround_channels_from_surround_std():
    model = models.CenterSurround(7, surround_std=[3.0, 4.0])
    assert model.out_channels == 2
    assert model.center_std.tolist() == [1.0, 1.0]


def test_linear_model():
    model = models.Linear()
    assert model.kernel_size == (3, 3)
    weight = model.conv.weight.detach()
    assert weight.shape == (2, 1, 3, 3)
    torch.testing.assert_close(weight[0], circular_gaussian2d(3, 3.0**0.5)[0])
    # the second filter is band-pass: it sums to zero (no arbitrary rescaling)
    assert abs(float(weight[1].sum())) < 1e-6
    assert float(weight[1].abs().max()) < 1
    x = torch.rand(2, 3, 12, 10, requires_grad=True)
    y = model(x)
    assert y.shape == (2, 6, 12, 10)
    # channel-major: input channel 1 gives output channels 2 and 3
    padded = F.pad(x[:, 1:2], (1, 1, 1, 1), mode="circular")
    torch.testing.assert_close(y[:, 2:4], F.conv2d(padded, weight), **F32)
    y.sum().backward()
    assert x.grad is not None and model.conv.weight.grad is not None
    x = x.detach()
    assert models.Linear((4, 5), pad_mode="reflect")(x).shape == (2, 6, 12, 10)
    assert not torch.equal(
        models.Linear(default_filters=False).conv.weight, model.conv.weight
    )


def test_center_surround_parameters():
    model = models.CenterSurround(7, on_center=[True, False, True])
    assert model.out_channels == 3
    assert model.center_std.shape == model.surround_std.shape == (3,)
    assert isinstance(model.center_std, torch.nn.Parameter)
    assert "amplitude_ratio" in dict(model.named_buffers())
    assert set(model.state_dict()) == {"center_std", "surround_std", "amplitude_ratio"}
    assert models.CenterSurround(7, center_std=[1.0, 2.0]).out_channels == 2
    with pytest.raises(ValueError, match="channels"):
        models.CenterSurround(7, on_center=[True, False], center_std=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="channels"):
        models.CenterSurround(7, on_center=[True, False], out_channels=3)


@pytest.mark.parametrize(
    ("factory", "match"),
    [
        (lambda: models.Gaussian(5, std=0.0), "std"),
        (lambda: models.Gaussian(5, std=[1.0, -1.0]), "std"),
        (lambda: models.Gaussian(5, std=float("nan")), "std"),
        (lambda: models.CenterSurround(5, center_std=-1.0), "center_std"),
        (lambda: models.CenterSurround(5, surround_std=0.0), "surround_std"),
        (lambda: models.CenterSurround(5, amplitude_ratio=0.9), "amplitude_ratio"),
        (lambda: models.LinearNonlinear(5, amplitude_ratio=0.5), "amplitude_ratio"),
        (lambda: models.Gaussian(0), "kernel_size"),
        (lambda: models.Gaussian(-3), "kernel_size"),
        (lambda: models.Gaussian(2.5), "kernel_size"),
        (lambda: models.Gaussian((3, 3, 3)), "kernel_size"),
        (lambda: models.Gaussian((3, 0)), "kernel_size"),
        (lambda: models.Gaussian("7"), "kernel_size"),
        (lambda: models.CenterSurround(True), "kernel_size"),
        (lambda: models.OnOff((31,)), "kernel_size"),
        (lambda: models.Gaussian(5, pad_mode="wrap"), "pad_mode"),
        (lambda: models.CenterSurround(5, on_center="yes"), "on_center"),
        (lambda: models.Gaussian(5, out_channels=0), "out_channels"),
    ],
)
def test_invalid_arguments(factory, match):
    with pytest.raises(ValueError, match=match):
        factory()


def test_kernel_size_forms():
    assert models.Gaussian(5).kernel_size == (5, 5)
    assert models.Gaussian((3, 7)).kernel_size == (3, 7)
    assert models.Gaussian([3, 7]).filt.shape == (1, 1, 3, 7)


@pytest.mark.parametrize("method", METHODS)
def test_gradients_match_reference(method, monkeypatch, use_method):
    # force the path under test whatever the automatic choice
    method = use_method(method)
    original = _filters.filter_bank
    monkeypatch.setattr(
        "pipeline.models.naive.filter_bank",
        lambda *a, **k: original(*a, **{**k, "method": method}),
    )
    dtype = torch.float64
    for model in [
        models.Gaussian(7, std=[1.0, 2.5]),
        models.CenterSurround(8, on_center=[True, False], surround_std=[3.0, 5.0]),
    ]:
        model = model.to(dtype)
        x = image(2, 2, 20, 18, dtype=dtype, requires_grad=True)
        probe = torch.randn(2, 2 * model.out_channels, 20, 18, dtype=dtype)
        params = [p for p in model.parameters()]
        got = torch.autograd.grad((model(x) * probe).sum(), [x, *params])
        xf = x.reshape(4, 1, 20, 18)
        ref_out = conv2d_same(xf, model.filt, model.pad_mode).reshape(2, -1, 20, 18)
        ref = torch.autograd.grad((ref_out * probe).sum(), [x, *params])
        for g, r in zip(got, ref, strict=True):
            assert g.abs().sum() > 0
            torch.testing.assert_close(g, r, **F64)


def test_gradients_float32():
    model = models.CenterSurround(31, on_center=[True, False])
    x = image(1, 1, 40, 40, requires_grad=True)
    probe = torch.randn(1, 2, 40, 40)
    got = torch.autograd.grad((model(x) * probe).sum(), [x, model.center_std])
    ref_out = conv2d_same(x, model.filt, "reflect")
    ref = torch.autograd.grad((ref_out * probe).sum(), [x, model.center_std])
    torch.testing.assert_close(got[0], ref[0], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(got[1], ref[1], rtol=1e-4, atol=1e-4)


def test_cache_filt():
    model = models.CenterSurround(9, on_center=[True, False], cache_filt=True)
    x = image(1, 1, 20, 20)
    with torch.no_grad():
        y1 = model(x)
        assert model._bank_cache is not None
        first = model._bank_cache[1]
        assert model.bank() is first  # reused
        model.center_std.mul_(2)  # in-place update invalidates the cache
        y2 = model(x)
        assert model.bank() is not first
    uncached = models.CenterSurround(9, on_center=[True, False])
    uncached.load_state_dict(model.state_dict())
    torch.testing.assert_close(y2, uncached(x))
    assert not torch.allclose(y1, y2)
    # cache never enters the state dict, and gradients still reach the parameters
    assert set(model.state_dict()) == {"center_std", "surround_std", "amplitude_ratio"}
    model(x).sum().backward()
    assert model.center_std.grad is not None


# ----------------------------------------------------------------------------
# Front ends
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("cls", FRONTENDS)
def test_pretrained_values(cls):
    model = cls(31, pretrained=True)
    state = model.state_dict()
    assert set(state) == set(PRETRAINED[cls])
    for name, value in PRETRAINED[cls].items():
        expected = torch.tensor(value, dtype=torch.float32)
        assert torch.equal(state[name], expected), name
    assert torch.equal(
        cls((31, 31), pretrained=True).state_dict()["center_surround.center_std"],
        state["center_surround.center_std"],
    )


@pytest.mark.parametrize("cls", FRONTENDS)
def test_pretrained_requires_kernel_31(cls):
    with pytest.raises(
        ValueError, match=r"pretrained model has kernel_size \(31, 31\)"
    ):
        cls(7, pretrained=True)
    with pytest.raises(ValueError, match="pretrained"):
        cls((31, 29), pretrained=True)


@pytest.mark.parametrize("cls", FRONTENDS)
def test_frontend_shapes_and_structure(cls):
    model = cls(7)
    x = image(3, 2, 20, 17)
    y = model(x)
    n = 2 if cls is models.OnOff else 1
    assert y.shape == (3, 2 * n, 20, 17)
    assert y.dtype == x.dtype
    assert isinstance(model.center_surround, models.CenterSurround)
    if cls is not models.LinearNonlinear:
        assert isinstance(model.luminance, models.Gaussian)
        assert model.luminance_scalar.shape == (n,)
    if cls in (models.LuminanceContrastGainControl, models.OnOff):
        assert isinstance(model.contrast, models.Gaussian)
        assert model.contrast_scalar.shape == (n,)
    if cls is models.OnOff:
        assert model.center_surround.on_center == [True, False]
        assert model.luminance.out_channels == model.contrast.out_channels == 2


@pytest.mark.parametrize("cls", FRONTENDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_frontend_matches_reference(cls, dtype):
    model = cls(31, pretrained=True).to(dtype)
    x = image(2, 2, 48, 44, dtype=dtype, requires_grad=True)
    y = model(x)
    ref = reference(model, x)
    tol = F32 if dtype == torch.float32 else F64
    torch.testing.assert_close(y, ref, **tol)
    probe = torch.randn_like(y)
    g = torch.autograd.grad((y * probe).sum(), x)[0]
    gr = torch.autograd.grad((ref * probe).sum(), x)[0]
    gtol = {"rtol": 1e-4, "atol": 1e-5} if dtype == torch.float32 else F64
    torch.testing.assert_close(g, gr, **gtol)


@pytest.mark.parametrize("cls", FRONTENDS)
def test_frontend_random_init_matches_reference(cls):
    # random (seeded) scalars, non-default options, even kernel
    model = cls(6, pad_mode="circular", activation=torch.relu).double()
    x = image(1, 1, 21, 19, dtype=torch.float64)
    torch.testing.assert_close(model(x), reference(model, x), **F64)


def test_random_scalars_seeded():
    torch.manual_seed(3)
    a = models.OnOff(7)
    torch.manual_seed(3)
    b = models.OnOff(7)
    torch.manual_seed(3)
    expected = torch.rand(2) * 10
    assert torch.equal(a.luminance_scalar, b.luminance_scalar)
    assert torch.equal(a.luminance_scalar.detach(), expected)
    assert not torch.equal(a.luminance_scalar, a.contrast_scalar)


def test_onoff_mask():
    model = models.OnOff(31, pretrained=True, apply_mask=True)
    x = image(1, 1, 40, 48)
    y = model(x)
    for i, j in [(0, 0), (0, -1), (-1, 0), (-1, -1)]:
        assert (y[..., i, j] == 0).all()
    assert (y[..., 20, 24] > 0).all()
    torch.testing.assert_close(y, reference(model, x))
    unmasked = models.OnOff(31, pretrained=True)(x)
    torch.testing.assert_close(y, unmasked * disk((40, 48)))


def test_disk():
    m = disk((6, 8))
    assert m.shape == (6, 8)
    assert set(m.unique().tolist()) == {0.0, 1.0}
    assert m[0, 0] == 0 and m[2:4, 3:5].eq(1).all()
    torch.testing.assert_close(m, m.flip(0).flip(1))  # centred
    assert disk(5, radius=1).sum() == 5


def test_contrast_stage_flat_image_finite_gradients():
    # flat regions give (near) zero local contrast energy: the square root must not
    # produce NaNs
    model = models.OnOff(31, pretrained=True)
    x = torch.full((1, 1, 48, 48), 0.5)
    x[..., 24:, :] = torch.rand(1, 1, 24, 48)
    x.requires_grad_(True)
    y = model(x)
    (g,) = torch.autograd.grad(y.sum(), x)
    assert torch.isfinite(y).all() and torch.isfinite(g).all()
    torch.testing.assert_close(y, reference(model, x), **F32)


def test_double_backward():
    # eigendistortion-style Jacobian-vector products (double backward)
    model = models.OnOff(5).double()
    x = image(1, 1, 10, 9, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradgradcheck(model, (x,), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("cls", FRONTENDS)
def test_cache_filt_frontend(cls):
    model = cls(31, pretrained=True, cache_filt=True)
    plain = cls(31, pretrained=True)
    x = image(1, 1, 40, 40)
    for p in model.parameters():
        p.requires_grad_(False)
    torch.testing.assert_close(model(x), plain(x))
    torch.testing.assert_close(model(x), plain(x))  # cached path
    assert set(model.state_dict()) == set(PRETRAINED[cls])


@pytest.mark.parametrize("cls", list(PRETRAINED))
def test_pretrained_in_subclass(cls):
    class Sub(cls):
        def forward(self, x):
            return super().forward(x).mean(0)

    model = Sub(31, pretrained=True)
    reference = cls(31, pretrained=True)
    for name, value in reference.state_dict().items():
        assert torch.equal(model.state_dict()[name], value), name


@pytest.mark.parametrize("cls", list(PRETRAINED))
def test_display_filters(cls):
    import matplotlib.pyplot as plt

    model = cls(31, pretrained=True)
    fig = model.display_filters()
    n_kinds = 1 + hasattr(model, "luminance") + hasattr(model, "contrast")
    n_channels = model.center_surround.out_channels
    assert len(fig.axes) == n_kinds * n_channels
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0].startswith("linear filt")
    if n_channels == 2:
        assert titles[:2] == ["linear filt on", "linear filt off"]
    image = fig.axes[0].images[0].get_array()
    torch.testing.assert_close(
        torch.as_tensor(image.data, dtype=torch.float32),
        model.center_surround.filt[0, 0].detach(),
    )
    plt.close(fig)


def test_package_exports():
    assert set(models.__all__) == {
        "CenterSurround",
        "DeepNetFeatures",
        "Gaussian",
        "Identity",
        "Linear",
        "LinearNonlinear",
        "LuminanceContrastGainControl",
        "LuminanceGainControl",
        "OnOff",
        "PortillaSimoncelli",
        "SteerablePyramidFreq",
    }


def test_softplus_default():
    model = models.LinearNonlinear(5)
    assert model.activation is F.softplus


def test_circular_gaussian2d_and_linear_match_reference():
    plenoptic = pytest.importorskip("plenoptic")
    for args in [((7, 5), 1.5), (9, [1.0, 2.0, 3.0]), (31, 2.0, 4)]:
        torch.testing.assert_close(
            circular_gaussian2d(*args), plenoptic.process.circular_gaussian2d(*args)
        )
    ours, ref = models.Linear((5, 5)), plenoptic.models.Linear((5, 5))
    # the low-pass start filter is the same; see DEVIATIONS.md for the band-pass
    torch.testing.assert_close(ours.conv.weight[:1], ref.conv.weight[:1])
