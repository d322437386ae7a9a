"""Tests of the frequency-domain steerable pyramid."""

from __future__ import annotations

import itertools

import pytest
import torch

import pipeline as po
from pipeline.models.steerable_pyramid import SteerablePyramidFreq

SPyr = po.models.SteerablePyramidFreq


def image(shape=(64, 96), batch=2, channels=3, dtype=torch.float32, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(batch, channels, *shape, generator=gen, dtype=torch.float64).to(
        dtype
    )


def max_rel(a, b):
    return float((a - b).abs().max() / b.abs().max())


FLAGS = list(itertools.product([False, True], repeat=3))  # complex, downsample, tight


def test_exported():
    assert SPyr is SteerablePyramidFreq


@pytest.mark.parametrize(("is_complex", "downsample", "tight_frame"), FLAGS)
@pytest.mark.parametrize("order", [1, 3])
def test_round_trip(is_complex, downsample, tight_frame, order):
    pyr = SPyr(
        (64, 96),
        order=order,
        is_complex=is_complex,
        downsample=downsample,
        tight_frame=tight_frame,
    )
    x = image()
    recon = pyr.recon_pyr(pyr(x))
    assert recon.shape == x.shape and recon.dtype == x.dtype
    assert max_rel(recon, x) < 2e-6


@pytest.mark.parametrize(("is_complex", "downsample", "tight_frame"), FLAGS)
def test_round_trip_float64(is_complex, downsample, tight_frame):
    pyr = SPyr(
        (32, 48), is_complex=is_complex, downsample=downsample, tight_frame=tight_frame
    ).to(torch.float64)
    x = image((32, 48), dtype=torch.float64)
    coeffs = pyr(x)
    assert coeffs["residual_lowpass"].dtype == torch.float64
    if is_complex:
        assert coeffs[0].dtype == torch.complex128
    assert max_rel(pyr.recon_pyr(coeffs), x) < 1e-13


@pytest.mark.parametrize("order", [0, 2, 3])
@pytest.mark.parametrize("downsample", [False, True])
def test_round_trip_order_zero_and_even(order, downsample):
    pyr = SPyr((32, 32), order=order, downsample=downsample).to(torch.float64)
    x = image((32, 32), dtype=torch.float64)
    assert max_rel(pyr.recon_pyr(pyr(x)), x) < 1e-13


@pytest.mark.parametrize("downsample", [False, True])
@pytest.mark.parametrize("is_complex", [False, True])
def test_tight_frame_preserves_energy(downsample, is_complex):
    pyr = SPyr(
        (64, 64), is_complex=is_complex, downsample=downsample, tight_frame=True
    ).to(torch.float64)
    x = image((64, 64), batch=1, channels=1, dtype=torch.float64)
    energy = sum(float(c.abs().pow(2).sum()) for c in pyr(x).values())
    # to the ~5e-6 with which the (reference) masks tile the spectrum
    assert energy == pytest.approx(float(x.pow(2).sum()), rel=2e-5)


def test_not_tight_frame_does_not_preserve_energy():
    pyr = SPyr((64, 64)).to(torch.float64)
    x = image((64, 64), batch=1, channels=1, dtype=torch.float64)
    energy = sum(float(c.pow(2).sum()) for c in pyr(x).values())
    assert energy != pytest.approx(float(x.pow(2).sum()), rel=1e-3)


def test_keys_shapes_and_attributes():
    pyr = SPyr((64, 96), is_complex=True)
    assert pyr.num_scales == 4  # floor(log2(64)) - 2
    assert pyr.num_orientations == 4 and pyr.order == 3
    assert pyr.image_shape == (64, 96)
    assert pyr.scales == ["residual_lowpass", 3, 2, 1, 0, "residual_highpass"]
    coeffs = pyr(image())
    assert list(coeffs) == ["residual_highpass", 0, 1, 2, 3, "residual_lowpass"]
    assert coeffs["residual_highpass"].shape == (2, 3, 64, 96)
    assert coeffs["residual_highpass"].dtype == torch.float32
    for s in range(4):
        assert coeffs[s].shape == (2, 3, 4, 64 // 2**s, 96 // 2**s)
        assert coeffs[s].dtype == torch.complex64
        assert torch.equal(coeffs[s, 1], coeffs[s][:, :, 1])
    assert coeffs["residual_lowpass"].shape == (2, 3, 4, 6)
    assert coeffs["residual_lowpass"].dtype == torch.float32
    assert {k: tuple(v.shape[-2:]) for k, v in coeffs.items()} == dict(pyr.pyr_size)
    with pytest.raises(KeyError):
        coeffs[7, 0]


def test_not_downsampled_shapes():
    pyr = SPyr((32, 48), height=2, order=1, downsample=False)
    coeffs = pyr(image((32, 48)))
    assert [tuple(v.shape) for v in coeffs.values()] == [
        (2, 3, 32, 48),
        (2, 3, 2, 32, 48),
        (2, 3, 2, 32, 48),
        (2, 3, 32, 48),
    ]


def test_height_zero_gives_residuals_only():
    pyr = SPyr((16, 16), height=0)
    x = image((16, 16))
    coeffs = pyr(x)
    assert list(coeffs) == ["residual_highpass", "residual_lowpass"]
    assert max_rel(pyr.recon_pyr(coeffs), x) < 2e-6


def test_batch_and_channels_are_independent():
    pyr = SPyr((32, 32), is_complex=True)
    x = image((32, 32))
    together = pyr(x)
    alone = pyr(x[1:2, 2:3])
    for key, value in alone.items():
        torch.testing.assert_close(together[key][1:2, 2:3], value)


def test_scales_subset():
    pyr = SPyr((64, 64), is_complex=True)
    x = image((64, 64))
    full = pyr(x)
    subset = pyr(x, scales=["residual_lowpass", 2, 0])
    assert list(subset) == [0, 2, "residual_lowpass"]
    for key, value in subset.items():
        torch.testing.assert_close(value, full[key], rtol=0, atol=0)
    assert list(pyr(x, scales=["residual_highpass"])) == ["residual_highpass"]
    assert list(pyr(x, scales=[1])) == [1]
    with pytest.raises(ValueError, match=r"scales must contain ints in \[0, 3\]"):
        pyr(x, scales=[4])
    with pytest.raises(
        ValueError, match=r"scales \[3, 1, 'residual_highpass'\] not in"
    ):
        pyr.recon_pyr(subset)


@pytest.mark.parametrize("is_complex", [False, True])
@pytest.mark.parametrize(
    "subset", [["residual_highpass", "residual_lowpass"], [1], ["residual_lowpass", 0]]
)
def test_scales_subset_is_bit_identical(is_complex, subset):
    pyr = SPyr((64, 48), is_complex=is_complex, downsample=False)
    x = image((64, 48))
    full = pyr(x)
    for key, value in pyr(x, scales=subset).items():
        assert torch.equal(value, full[key]), key


@pytest.mark.parametrize("shape", [(63, 63), (65, 64), (64, 63), (33, 50)])
@pytest.mark.parametrize(("is_complex", "downsample", "tight_frame"), FLAGS)
def test_odd_sides_round_trip(shape, is_complex, downsample, tight_frame):
    # no warning (the test suite turns warnings into errors): the exact dual
    # reconstructs odd-sized images too
    pyr = SPyr(
        shape,
        order=2,
        is_complex=is_complex,
        downsample=downsample,
        tight_frame=tight_frame,
    ).to(torch.float64)
    x = image(shape, dtype=torch.float64)
    coeffs = pyr(x)
    h, w = shape
    for s in range(pyr.num_scales):
        assert coeffs[s].shape[-2:] == (h, w)
        assert coeffs[s].is_complex() == is_complex
        if downsample:
            h, w = (h + 1) // 2, (w + 1) // 2
    assert max_rel(pyr.recon_pyr(coeffs), x) < 1e-12


@pytest.mark.parametrize("twidth", [2, 3])
def test_odd_sides_wide_transition_round_trip(twidth):
    # the analysis-synthesis response dips to ~0.01 here; the dual still inverts
    pyr = SPyr((65, 65), twidth=twidth, is_complex=True)
    x = image((65, 65))
    assert max_rel(pyr.recon_pyr(pyr(x)), x) < 1e-5


@pytest.mark.parametrize(
    "shape", [(64.0, 48.0), [64, 48], torch.Size([64, 48]), torch.tensor([64, 48])]
)
def test_image_shape_casts_to_ints(shape):
    pyr = SPyr(shape)
    assert pyr.image_shape == (64, 48)
    assert all(type(s) is int for s in pyr.image_shape)
    x = image((64, 48))
    assert torch.equal(pyr(x)[0], SPyr((64, 48))(x)[0])


def test_subclass_overriding_forward_constructs():
    class Flattened(SPyr):
        def forward(self, x):
            coeffs = super().forward(x)
            return self.convert_pyr_to_tensor(coeffs)[0]

    pyr = Flattened((32, 32), height=2, order=1, downsample=False)
    assert pyr(image((32, 32))).shape == (2, 3 * (2 + 2 * 2), 32, 32)
    plain = SPyr((32, 32), height=2, order=1, downsample=False)
    for key, mask in plain._masks64.items():
        assert torch.equal(pyr._masks64[key], mask), key


@pytest.mark.parametrize("order", [0, 1, 2, 3, 5])
def test_steer_to_own_angles_gives_the_bands(order):
    pyr = SPyr((32, 32), height=2, order=order)
    coeffs = pyr(image((32, 32)))
    n = order + 1
    angles = torch.arange(n) * torch.pi / n
    steered, weights = pyr.steer_coeffs(coeffs, angles)
    assert list(steered) == [0, 1]
    for s in range(2):
        torch.testing.assert_close(weights[s], torch.eye(n), atol=1e-6, rtol=0)
        torch.testing.assert_close(steered[s], coeffs[s], atol=1e-5, rtol=0)


def test_steer_order_one_is_cos_sin_mixture():
    # cos(theta - a) = cos(a) cos(theta) + sin(a) sin(theta): the band at angle a
    # is cos(a) times band 0 (angle 0) plus sin(a) times band 1 (angle pi / 2)
    pyr = SPyr((32, 32), height=1, order=1).to(torch.float64)
    coeffs = pyr(image((32, 32), dtype=torch.float64))
    angles = torch.tensor([0.3, 1.0, 2.5], dtype=torch.float64)
    steered, weights = pyr.steer_coeffs(coeffs, angles)
    expected = torch.stack([angles.cos(), angles.sin()])
    torch.testing.assert_close(weights[0], expected)
    band = coeffs[0]
    for i, a in enumerate(angles):
        mix = a.cos() * band[:, :, 0] + a.sin() * band[:, :, 1]
        torch.testing.assert_close(steered[0][:, :, i], mix)


def test_steer_odd_phase_is_quarter_turn_for_order_one():
    # with one harmonic, sine-phase harmonics are the cosine-phase ones a quarter
    # turn away
    pyr = SPyr((32, 32), height=1, order=1)
    coeffs = pyr(image((32, 32)))
    angles = torch.tensor([0.0, 0.7, 2.0])
    _, odd = pyr.steer_coeffs(coeffs, angles, even_phase=False)
    _, even = pyr.steer_coeffs(coeffs, angles + torch.pi / 2)
    torch.testing.assert_close(odd[0], even[0])


def test_steer_refuses_complex_and_2d_angles():
    pyr = SPyr((32, 32), height=1, is_complex=True)
    coeffs = pyr(image((32, 32)))
    with pytest.raises(ValueError, match="steering only implemented for real"):
        pyr.steer_coeffs(coeffs, [0.0])
    real = SPyr((32, 32), height=1)
    with pytest.raises(ValueError, match="angles must be 1-D"):
        real.steer_coeffs(real(image((32, 32))), torch.zeros(2, 2))


def test_partial_reconstruction_is_additive():
    pyr = SPyr((64, 64), order=2).to(torch.float64)
    x = image((64, 64), dtype=torch.float64)
    coeffs = pyr(x)
    parts = [pyr.recon_pyr(coeffs, levels=[s]) for s in pyr.scales]
    torch.testing.assert_close(sum(parts), x)
    per_band = [pyr.recon_pyr(coeffs, levels=[1], bands=[b]) for b in range(3)]
    torch.testing.assert_close(sum(per_band), parts[pyr.scales.index(1)])
    # bands only restrict the oriented levels; residuals are kept
    with_residuals = pyr.recon_pyr(
        coeffs, levels=["residual_lowpass", "residual_highpass"], bands=[0]
    )
    torch.testing.assert_close(with_residuals, parts[0] + parts[-1])
    with pytest.raises(ValueError, match=r"bands must be ints in \[0, 2\]"):
        pyr.recon_pyr(coeffs, bands=[3])
    with pytest.raises(ValueError, match=r"levels must contain ints in \[0, 3\]"):
        pyr.recon_pyr(coeffs, levels=[5])
    with pytest.raises(ValueError, match="levels must be 'all'"):
        pyr.recon_pyr(coeffs, levels="some")


def test_bandpass_band_is_oriented():
    # a vertical grating (varying along x) excites orientation 0 of the real
    # order-1 pyramid (horizontal derivative) and not orientation 1
    size = 64
    xs = torch.arange(size, dtype=torch.float64)
    grating = torch.cos(2 * torch.pi * xs / 8).expand(size, size)[None, None]
    pyr = SPyr((size, size), order=1).to(torch.float64)
    band = pyr(grating)[1]
    assert band[:, :, 0].abs().max() > 1e3 * band[:, :, 1].abs().max()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"image_shape": (64, 64), "height": 5}, r"higher than 4 levels .*\(64, 64\)"),
        ({"image_shape": (64, 256), "height": 5}, r"higher than 4 .*\(64, 256\)"),
        ({"image_shape": (4, 4), "height": 1}, r"higher than 0 levels .*\(4, 4\)"),
        ({"image_shape": (3, 8)}, r"\(3, 8\) is too small .* at least 4"),
        ({"image_shape": (64, 64), "height": -1}, "Height must be a non-negative int"),
        ({"image_shape": (64, 64), "height": 2.5}, "Height must be"),
        ({"image_shape": (64,)}, "tuple of length 2"),
        ({"image_shape": (64, 64, 1)}, "tuple of length 2"),
        ({"image_shape": (64.5, 64)}, "castable to ints without rounding"),
        ({"image_shape": ("a", 64)}, "castable to ints"),
        ({"image_shape": (0, 64)}, "must be positive"),
        (
            {"image_shape": (64, 64), "order": 16},
            r"order must be an integer in the range \[0, 15\]",
        ),
        ({"image_shape": (64, 64), "order": 0, "is_complex": True}, "order >= 1"),
        ({"image_shape": (64, 64), "twidth": 0}, "twidth must be a positive integer"),
        ({"image_shape": (64, 64), "twidth": 1.5}, "twidth must be a positive integer"),
    ],
)
def test_construction_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SPyr(**kwargs)


def test_input_errors():
    pyr = SPyr((32, 32))
    with pytest.raises(ValueError, match=r"4-D tensor .*\(32, 32\)"):
        pyr(torch.rand(32, 32))
    with pytest.raises(
        ValueError,
        match=r"Input tensor height/width \(32, 48\) does not match .*\(32, 32\)",
    ):
        pyr(torch.rand(1, 1, 32, 48))
    with pytest.raises(TypeError, match="floating-point"):
        pyr(torch.ones(1, 1, 32, 32, dtype=torch.int64))


def test_twidth_two_round_trip():
    pyr = SPyr((64, 64), twidth=2, is_complex=True).to(torch.float64)
    x = image((64, 64), dtype=torch.float64)
    assert max_rel(pyr.recon_pyr(pyr(x)), x) < 1e-13


@pytest.mark.parametrize("is_complex", [False, True])
def test_gradients(is_complex):
    pyr = SPyr((8, 8), height=1, order=1, is_complex=is_complex).to(torch.float64)
    x = image((8, 8), batch=1, channels=1, dtype=torch.float64).requires_grad_()

    def summary(img):
        coeffs = pyr(img)
        return torch.cat([c.abs().pow(2).flatten() for c in coeffs.values()])

    assert torch.autograd.gradcheck(summary, (x,), fast_mode=True)
    assert torch.autograd.gradcheck(
        lambda img: pyr.recon_pyr(pyr(img)), (x,), fast_mode=True
    )


def test_gradient_float32_through_model():
    pyr = SPyr((32, 32), is_complex=True)
    x = image((32, 32)).requires_grad_()
    loss = sum(c.abs().pow(2).mean() for c in pyr(x).values())
    loss.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert x.grad.abs().sum() > 0


def test_dtype_conversion_and_buffers():
    pyr = SPyr((32, 32), is_complex=True)
    assert not pyr.state_dict()  # masks are non-persistent buffers
    assert all(b.dtype == torch.float32 for b in pyr.buffers())
    x32 = image((32, 32))
    c32 = pyr(x32)
    pyr64 = SPyr((32, 32), is_complex=True).to(torch.float64)
    assert all(b.dtype == torch.float64 for b in pyr64.buffers())
    c64 = pyr64(x32.double())
    for key in c32:
        assert c64[key].dtype in (torch.float64, torch.complex128)
        assert max_rel(c32[key].to(c64[key].dtype), c64[key]) < 1e-5
    # back to float32 reproduces the float32 masks exactly
    back = pyr64.to(torch.float32)
    for key, value in back(x32).items():
        torch.testing.assert_close(value, c32[key], rtol=0, atol=0)
    # an input of another dtype than the masks still works, in the input's dtype
    mixed = pyr(x32.double())
    assert mixed[0].dtype == torch.complex128
    assert max_rel(pyr.recon_pyr(mixed), x32.double()) < 1e-13


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda():
    pyr = SPyr((64, 64), is_complex=True).to("cuda")
    x = image((64, 64)).cuda()
    coeffs = pyr(x)
    assert coeffs[0].device.type == "cuda"
    assert max_rel(pyr.recon_pyr(coeffs), x) < 2e-6
    cpu = SPyr((64, 64), is_complex=True)(x.cpu())
    for key, value in coeffs.items():
        assert max_rel(value.cpu(), cpu[key]) < 1e-5


@pytest.mark.parametrize("is_complex", [False, True])
@pytest.mark.parametrize("split_complex", [False, True])
def test_convert_pyr_to_tensor_round_trip(is_complex, split_complex):
    pyr = SPyr((32, 32), height=2, downsample=False, is_complex=is_complex)
    coeffs = pyr(image((32, 32)))
    if split_complex and not is_complex:
        with pytest.raises(ValueError, match="complex coefficients"):
            pyr.convert_pyr_to_tensor(coeffs, split_complex=True)
        return
    tensor, info = pyr.convert_pyr_to_tensor(coeffs, split_complex=split_complex)
    n_bands = 2 + 2 * 4 * (2 if split_complex else 1)
    assert tensor.shape == (2, 3 * n_bands, 32, 32)
    assert tensor.is_complex() == (is_complex and not split_complex)
    # channel-major: the first band of channel 1 is its highpass residual
    torch.testing.assert_close(
        tensor[:, n_bands].real, coeffs["residual_highpass"][:, 1]
    )
    back = SPyr.convert_tensor_to_pyr(tensor, *info)
    assert list(back) == list(coeffs)
    for key, value in coeffs.items():
        assert torch.equal(back[key], value)


def test_convert_pyr_to_tensor_needs_one_size():
    pyr = SPyr((32, 32))
    with pytest.raises(RuntimeError, match="downsample=False"):
        pyr.convert_pyr_to_tensor(pyr(image((32, 32))))


# ----------------------------------------------------------------------------------
# comparison with the reference library (skipped when it is not installed)
CONFIGS = [
    # shape, height, order, is_complex, downsample, tight_frame
    ((64, 64), "auto", 3, False, True, False),
    ((64, 64), 3, 3, True, True, False),
    ((64, 96), "auto", 3, True, True, True),
    ((64, 96), "auto", 1, False, False, False),
    ((64, 96), 2, 5, True, False, True),
    ((32, 32), "auto", 0, False, True, True),
    ((64, 64), 2, 0, False, False, False),
    ((80, 80), 4, 1, True, True, False),
    ((48, 64), 2, 3, False, False, True),
    ((64, 64), 3, 5, False, True, True),
]


def reference_pyramid(plenoptic, config, dtype, monkeypatch):
    shape, height, order, is_complex, downsample, tight = config
    ref_cls = plenoptic.process.SteerablePyramidFreq
    kwargs = {
        "height": height,
        "order": order,
        "is_complex": is_complex,
        "downsample": downsample,
        "tight_frame": tight,
    }
    if dtype == torch.float64:
        # the reference rounds its masks to float32 at construction; skip that
        # to compare at double precision
        with monkeypatch.context() as patch:
            patch.setattr(ref_cls, "to", lambda self, *args, **kw: self)
            return ref_cls(shape, **kwargs)
    return ref_cls(shape, **kwargs).to(dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("config", CONFIGS)
def test_matches_reference(config, dtype, monkeypatch):
    plenoptic = pytest.importorskip("plenoptic")
    shape, height, order, is_complex, downsample, tight = config
    ref = reference_pyramid(plenoptic, config, dtype, monkeypatch)
    ours = SPyr(
        shape,
        height=height,
        order=order,
        is_complex=is_complex,
        downsample=downsample,
        tight_frame=tight,
    ).to(dtype)
    assert ours.scales == ref.scales
    assert ours.num_scales == ref.num_scales
    x = image(shape, dtype=dtype)
    expected, got = ref(x), ours(x)
    assert list(got) == list(expected)
    tol = 1e-5 if dtype == torch.float32 else 1e-10
    for key, value in expected.items():
        assert got[key].shape == value.shape and got[key].dtype == value.dtype
        assert max_rel(got[key], value) < tol, key
    subset = ["residual_lowpass", 0]
    assert list(ours(x, scales=subset)) == list(ref(x, scales=subset))
    # reconstruction: the reference's own round trip is off by up to ~1e-5
    # (its masks tile the spectrum only approximately), ours is exact
    for levels, bands in [
        ("all", "all"),
        ([0], "all"),
        (["residual_lowpass", 1], [0]),
        (["residual_highpass"], "all"),
        ("all", [order]),
    ]:
        a = ours.recon_pyr(got, levels=levels, bands=bands)
        b = ref.recon_pyr(expected, levels=levels, bands=bands)
        assert float((a - b).abs().max()) < 3e-5 * float(x.abs().max())


@pytest.mark.parametrize("shape", [(63, 64), (65, 65), (64, 63)])
@pytest.mark.parametrize("is_complex", [False, True])
def test_odd_sides_match_reference(shape, is_complex, monkeypatch):
    plenoptic = pytest.importorskip("plenoptic")
    config = (shape, 3, 2, is_complex, True, False)
    with pytest.warns(UserWarning, match="Reconstruction will not be perfect"):
        ref = reference_pyramid(plenoptic, config, torch.float64, monkeypatch)
    ours = SPyr(shape, height=3, order=2, is_complex=is_complex).to(torch.float64)
    x = image(shape, dtype=torch.float64)
    expected, got = ref(x), ours(x)
    assert list(got) == list(expected)
    for key, value in expected.items():
        assert got[key].shape == value.shape
        assert max_rel(got[key], value) < 1e-7, key
    # theirs does not reconstruct odd sizes, ours does
    assert max_rel(ref.recon_pyr(expected), x) > 1e-4
    assert max_rel(ours.recon_pyr(got), x) < 1e-12


@pytest.mark.parametrize("even_phase", [True, False])
def test_steer_coeffs_match_reference(even_phase):
    plenoptic = pytest.importorskip("plenoptic")
    ref = plenoptic.process.SteerablePyramidFreq((32, 32), height=2, order=2)
    ours = SPyr((32, 32), height=2, order=2)
    x = image((32, 32))
    angles = torch.linspace(0, torch.pi, 5)
    got, got_w = ours.steer_coeffs(ours(x), angles, even_phase=even_phase)
    expected, expected_w = ref.steer_coeffs(ref(x), angles, even_phase=even_phase)
    for s in expected:
        torch.testing.assert_close(got_w[s], expected_w[s])
        torch.testing.assert_close(got[s], expected[s], rtol=1e-4, atol=1e-5)
