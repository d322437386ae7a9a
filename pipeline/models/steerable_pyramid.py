"""Frequency-domain steerable pyramid (Simoncelli and Freeman, 1995).

`SteerablePyramidFreq` splits an image into a highpass residual, ``height`` scales
of ``order + 1`` oriented bandpass bands and a lowpass residual.  Each band is the
image filtered in the Fourier domain by a product of a radial mask (raised-cosine
transitions in log frequency, one octave per scale) and an angular mask
(``cos(theta - pi k / (order + 1)) ** order``).  Boundary handling is circular and
the transform is exactly invertible (`SteerablePyramidFreq.recon_pyr`).

The coefficients follow the conventions of plenoptic's ``SteerablePyramidFreq``
(same keys, shapes, dtypes and values): a dictionary with keys
``"residual_highpass"``, the scale indices ``0`` (finest) to ``height - 1`` and
``"residual_lowpass"``, in that order.  Residuals have shape ``(batch, channel, h,
w)``; the value of scale ``s`` has shape ``(batch, channel, order + 1, h_s, w_s)``
(complex when ``is_complex=True``).  The returned dictionary also accepts
``(scale, orientation)`` keys, giving the ``(batch, channel, h_s, w_s)`` band.

All Fourier masks are computed once, at construction, and kept as (non-persistent)
buffers, so ``.to(device)`` and ``.to(torch.float64)`` move and convert them.  A
forward pass takes a single FFT of the input; real pyramids work on half spectra
(``rfft2`` / ``irfft2``) throughout.

Examples
--------
>>> import torch
>>> import pipeline as po
>>> pyr = po.models.SteerablePyramidFreq((64, 64), height=3, order=3)
>>> coeffs = pyr(torch.rand(1, 1, 64, 64))
>>> list(coeffs)
['residual_highpass', 0, 1, 2, 'residual_lowpass']
>>> coeffs[1].shape
torch.Size([1, 1, 4, 32, 32])
>>> coeffs[1, 2].shape
torch.Size([1, 1, 32, 32])

"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Literal, Self

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["PyramidCoefficients", "PyramidSpectra", "SteerablePyramidFreq"]

Scale = int | Literal["residual_highpass", "residual_lowpass"]
PyrInfo = tuple[int, list, list[int], bool]

_RESIDUALS = ("residual_highpass", "residual_lowpass")
_RCOS_POINTS = 256  # samples of the radial raised-cosine lookup table
_ANGLE_POINTS = 1024  # samples per pi of the angular lookup table
_I_POWERS = (1, 1j, -1, -1j)  # (1j) ** k, exactly
# smallest analysis-synthesis response the exact dual divides by (it is >= 0.01
# for every shape and twidth <= 3; see SteerablePyramidFreq._make_exact_dual)
_MIN_TRANSFER = 1e-3


class PyramidCoefficients(OrderedDict):
    """Ordered dictionary of pyramid coefficients.

    Keys are ``"residual_highpass"``, scale indices and ``"residual_lowpass"``.
    Indexing with a ``(scale, orientation)`` tuple returns that single band, i.e.
    ``coeffs[s, o]`` is ``coeffs[s][:, :, o]``; such tuples are not stored keys.
    """

    def __missing__(self, key: object) -> Tensor:
        if (
            isinstance(key, tuple)
            and len(key) == 2
            and isinstance(key[0], int)
            and not isinstance(key[0], bool)
            and key[0] in self
        ):
            return self[key[0]][:, :, key[1]]
        raise KeyError(key)


class PyramidSpectra(PyramidCoefficients):
    """Spectra of pyramid coefficients, as returned by `SteerablePyramidFreq.spectra`.

    Ordered like `PyramidCoefficients`; ``half[key]`` is whether the spectrum of
    ``key`` is a half spectrum (``rfft2`` layout) rather than a full one.
    """

    def __init__(self) -> None:
        super().__init__()
        self.half: dict = {}


# ----------------------------------------------------------------------------------
# mask construction (numpy, float64, fftshifted layout: zero frequency at n // 2)
def _interp(grid: np.ndarray, xp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """Piecewise-linear lookup of ``grid`` in the table ``(xp, fp)``."""
    return np.interp(grid.ravel(), xp, fp).reshape(grid.shape)


def _radial_table(twidth: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lookup table of the raised-cosine highpass / lowpass transition.

    Returns the log2-frequency abscissae and the highpass and lowpass amplitudes;
    the transition runs from log2 radius ``-twidth`` (highpass 0) to 0 (highpass 1),
    and the squared amplitudes sum to one.
    """
    phase = math.pi * np.arange(-_RCOS_POINTS - 1, 2) / (2 * _RCOS_POINTS)
    power = np.cos(phase) ** 2
    power[0], power[-1] = power[1], power[-2]  # flat ends for extrapolation
    log_freq = -twidth / 2 + (2 * twidth / math.pi) * (phase + math.pi / 4)
    high = np.sqrt(power)
    return log_freq, high, np.sqrt(1.0 - high**2)


def _angular_tables(order: int, is_complex: bool) -> tuple[np.ndarray, ...]:
    """Lookup tables of the angular masks: abscissae, analysis and synthesis."""
    n_ori = order + 1
    theta = math.pi * np.arange(-(2 * _ANGLE_POINTS + 1), _ANGLE_POINTS + 2)
    theta = theta / _ANGLE_POINTS
    norm = (
        (2 ** (2 * order))
        * (math.factorial(order) ** 2)
        / float(n_ori * math.factorial(2 * order))
    )
    synthesis = math.sqrt(norm) * np.cos(theta) ** order
    if is_complex:
        wrapped = (theta + math.pi) % (2 * math.pi) - math.pi
        analysis = 2.0 * math.sqrt(norm) * np.cos(theta) ** order
        analysis = analysis * (np.abs(wrapped) < math.pi / 2)
    else:
        analysis = synthesis
    return theta, analysis, synthesis


def _polar_grid(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Log2 radius and angle of each frequency, in [-1, 1) units, shifted layout."""
    h, w = shape
    fy = np.linspace(-1, 1, h + 1)[:-1]
    fx = np.linspace(-1, 1, w + 1)[:-1]
    yy, xx = np.meshgrid(fy, fx, indexing="ij")
    radius = np.sqrt(xx**2 + yy**2)
    radius[h // 2, w // 2] = radius[h // 2, w // 2 - 1]  # avoid log2(0)
    return np.log2(radius), np.arctan2(yy, xx)


def _center_crop(a: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Cut the ``shape`` block around zero frequency from a shifted-layout array."""
    (n0, n1), (m0, m1) = a.shape[-2:], shape
    r0, c0 = n0 // 2 - m0 // 2, n1 // 2 - m1 // 2
    return a[..., r0 : r0 + m0, c0 : c0 + m1]


def _negate(a: np.ndarray) -> np.ndarray:
    """``a(-f)`` for an unshifted-layout array ``a(f)`` (indices taken modulo n)."""
    h, w = a.shape[-2:]
    return a[..., (-np.arange(h)) % h, :][..., (-np.arange(w)) % w]


def _half_spectrum(a: np.ndarray, sign: float = 1.0) -> np.ndarray:
    """Half spectrum (columns ``0 .. w // 2``) of the Hermitian part of a real mask.

    ``a`` is in unshifted layout; ``sign`` is ``1`` for even masks (``a(-f)`` counts
    as ``a(f)``) and ``-1`` for odd ones.
    """
    a = 0.5 * (a + sign * _negate(a))
    return a[..., : a.shape[-1] // 2 + 1]


def _nyquist_is_zero(a: np.ndarray, full: tuple[int, int]) -> bool:
    """Whether ``a`` (unshifted, cropped from ``full``) vanishes on its Nyquist lines.

    Only lines that are a strict crop of an even size matter: there the cropped
    spectrum of a real image is not Hermitian, and the half-spectrum shortcut holds
    only when the filter is zero.
    """
    h, w = a.shape[-2:]
    tol = 1e-12 * max(float(np.abs(a).max()), 1e-300)
    rows = a[..., h // 2, :] if (h < full[0] and h % 2 == 0) else a[..., :0, :]
    cols = a[..., w // 2] if (w < full[1] and w % 2 == 0) else a[..., :0]
    return bool(np.all(np.abs(rows) <= tol) and np.all(np.abs(cols) <= tol))


# ----------------------------------------------------------------------------------
# cropping / padding of unshifted spectra (frequencies -(m // 2) .. (m - 1) // 2)
def _crop_rows(x: Tensor, m: int) -> Tensor:
    n = x.shape[-2]
    if m == n:
        return x
    return torch.cat([x[..., : m - m // 2, :], x[..., n - m // 2 :, :]], dim=-2)


def _crop_cols(x: Tensor, m: int) -> Tensor:
    n = x.shape[-1]
    if m == n:
        return x
    return torch.cat([x[..., : m - m // 2], x[..., n - m // 2 :]], dim=-1)


def _pad_rows(x: Tensor, n: int) -> Tensor:
    m = x.shape[-2]
    if m == n:
        return x
    zeros = x.new_zeros((*x.shape[:-2], n - m, x.shape[-1]))
    return torch.cat([x[..., : m - m // 2, :], zeros, x[..., m - m // 2 :, :]], dim=-2)


def _pad_cols(x: Tensor, n: int) -> Tensor:
    m = x.shape[-1]
    if m == n:
        return x
    zeros = x.new_zeros((*x.shape[:-1], n - m))
    return torch.cat([x[..., : m - m // 2], zeros, x[..., m - m // 2 :]], dim=-1)


def _pad_half_cols(x: Tensor, n: int) -> Tensor:
    """Zero-pad a half spectrum (columns ``0 .. m``) to ``n`` columns."""
    m = x.shape[-1]
    if m == n:
        return x
    return torch.cat([x, x.new_zeros((*x.shape[:-1], n - m))], dim=-1)


def _as_image_shape(image_shape: Sequence[int] | Tensor) -> tuple[int, int]:
    """Validate ``image_shape``: two positive whole numbers (ints or integral floats)."""
    try:
        values = tuple(image_shape)
        shape = tuple(int(v) for v in values)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"image_shape must be castable to ints (height, width), got {image_shape!r}"
        ) from err
    if shape != values or any(isinstance(v, bool) for v in values):
        raise ValueError(
            "image_shape must be castable to ints without rounding (height, width), "
            f"got {image_shape!r}"
        )
    if len(shape) != 2:
        raise ValueError(
            f"image_shape must be a tuple of length 2 (height, width), got {image_shape!r}"
        )
    if min(shape) < 1:
        raise ValueError(f"image_shape must be positive, got {image_shape!r}")
    return shape


def _harmonic_components(
    order: int, angles: np.ndarray, phase: float = 0.0
) -> np.ndarray:
    """Angular-harmonic components of an ``order``-th power cosine lobe.

    ``cos(theta - a) ** order`` has harmonics ``order, order - 2, ...`` (down to 0
    or 1); its components along ``1`` (harmonic 0) and ``cos(h theta)``,
    ``sin(h theta)`` are, up to factors that depend only on ``h``,
    ``cos(h a - phase)`` and ``sin(h a - phase)``.

    Returns
    -------
    components
        Shape ``(order + 1, len(angles))``.

    """
    rows = []
    for h in range(order % 2, order + 1, 2):
        if h == 0:
            rows.append(np.ones_like(angles))
        else:
            rows += [np.cos(h * angles - phase), np.sin(h * angles - phase)]
    return np.stack(rows)


def _steering_weights(order: int, angles: np.ndarray, even_phase: bool) -> Tensor:
    """Weights of the ``order + 1`` oriented bands giving the band at each angle.

    Returns
    -------
    weights
        Float64 tensor of shape ``(order + 1, len(angles))``.

    """
    n = order + 1
    filters = _harmonic_components(
        order, np.pi * np.arange(n) / n, 0.0 if even_phase else np.pi / 2
    )
    return torch.from_numpy(
        np.linalg.solve(filters, _harmonic_components(order, angles))
    )


class SteerablePyramidFreq(nn.Module):
    r"""Steerable pyramid built in the Fourier domain.

    The squared radial masks tile the Fourier plane with raised-cosine transitions
    of ``twidth`` octaves; the angular masks are
    :math:`\cos\left(\theta - \frac{\pi k}{o + 1}\right)^o` for
    :math:`k = 0, \dots, o` with :math:`o` = ``order``.  Boundary handling is
    circular, and reconstruction is exact to floating-point precision.  Values,
    keys and shapes match plenoptic's ``SteerablePyramidFreq``.

    Parameters
    ----------
    image_shape
        ``(height, width)`` of the images to analyze: two positive whole numbers
        (ints, or floats such as ``256.0``).  Odd sides work too: the masks are
        then sampled off zero frequency (as in plenoptic, whose coefficients these
        equal), and the reconstruction is still exact here.
    height
        Number of bandpass scales.  ``"auto"`` uses the largest possible,
        ``floor(log2(min(image_shape))) - 2``; ``0`` returns only the residuals.
    order
        Order of the angular (Gaussian-derivative-like) filters, in ``[0, 15]``;
        there are ``order + 1`` orientations.
    twidth
        Width of the radial transition, in octaves (a positive integer).
    is_complex
        Whether bands are complex (analytic: the real part is the ``order``-
        symmetric filter, the imaginary part its quadrature pair).  The residuals
        are always real.  ``order=0`` cannot be complex.
    downsample
        Whether each scale is downsampled by two (otherwise every band has the
        image size).
    tight_frame
        Whether to normalize so that the transform is a tight frame (for real
        pyramids the coefficients' total energy equals the image's).  ``False``
        matches matlabPyrTools / pyrtools.

    Attributes
    ----------
    image_shape : tuple of int
        ``(height, width)`` of accepted images.
    num_scales : int
        Number of bandpass scales (the pyramid height).
    num_orientations : int
        ``order + 1``.
    order, twidth, is_complex, downsample, tight_frame
        Construction arguments.
    fft_norm : str
        ``"ortho"`` for tight frames, ``"backward"`` otherwise.
    scales : list
        All scales, coarse to fine: ``"residual_lowpass"``, ``num_scales - 1`` ...
        ``0``, ``"residual_highpass"``.  Any subset can be passed to `forward`.
    pyr_size : OrderedDict
        ``(h, w)`` of each key of the output, fine to coarse.

    Raises
    ------
    ValueError
        If ``image_shape`` is not two positive whole numbers, ``height`` is
        negative or larger than the image allows, ``order`` is outside
        ``[0, 15]`` (or 0 with ``is_complex``), or ``twidth`` is not a positive
        integer.

    Notes
    -----
    Simoncelli and Freeman, "The steerable pyramid: a flexible architecture for
    multi-scale derivative computation", ICIP 1995; filter design after
    Karasaridis and Simoncelli, ICASSP 1996.

    Examples
    --------
    >>> import torch
    >>> import pipeline as po
    >>> pyr = po.models.SteerablePyramidFreq((64, 96), is_complex=True)
    >>> pyr.num_scales, pyr.num_orientations
    (4, 4)
    >>> img = torch.rand(2, 3, 64, 96)
    >>> coeffs = pyr(img)
    >>> coeffs[3].shape, coeffs[3].dtype
    (torch.Size([2, 3, 4, 8, 12]), torch.complex64)
    >>> torch.allclose(pyr.recon_pyr(coeffs), img, atol=1e-5)
    True

    """

    def __init__(
        self,
        image_shape: Sequence[int],
        height: Literal["auto"] | int = "auto",
        order: int = 3,
        twidth: int = 1,
        is_complex: bool = False,
        downsample: bool = True,
        tight_frame: bool = False,
    ) -> None:
        super().__init__()
        self.image_shape: tuple[int, int] = _as_image_shape(image_shape)
        max_height = min(self.image_shape).bit_length() - 3  # floor(log2) - 2
        if height == "auto":
            if max_height < 0:
                raise ValueError(
                    f"image_shape {self.image_shape} is too small for a steerable "
                    "pyramid: both sides must be at least 4"
                )
            height = max_height
        if (
            not isinstance(height, int | np.integer)
            or isinstance(height, bool)
            or height < 0
        ):
            raise ValueError(
                f"Height must be a non-negative int or 'auto', got {height!r}"
            )
        if height > max_height:
            raise ValueError(
                f"Cannot build pyramid higher than {max_height} levels for image_shape "
                f"{self.image_shape} (floor(log2(min side)) - 2), got height={height}"
            )
        if not isinstance(order, int | np.integer) or not 0 <= order <= 15:
            raise ValueError(
                f"order must be an integer in the range [0, 15], got {order!r}"
            )
        if order == 0 and is_complex:
            raise ValueError(
                "Complex pyramid cannot have order=0: the order-0 filter has no "
                "quadrature pair; use order >= 1 or is_complex=False"
            )
        if (
            isinstance(twidth, bool)
            or not isinstance(twidth, int | float | np.number)
            or twidth <= 0
            or twidth != int(twidth)
        ):
            raise ValueError(f"twidth must be a positive integer, got {twidth!r}")

        self.num_scales = int(height)
        self.order = int(order)
        self.num_orientations = self.order + 1
        self.twidth = int(twidth)
        self.is_complex = bool(is_complex)
        self.downsample = bool(downsample)
        self.tight_frame = bool(tight_frame)
        self.fft_norm = "ortho" if self.tight_frame else "backward"
        self.scales: list[Scale] = [
            "residual_lowpass",
            *range(self.num_scales - 1, -1, -1),
            "residual_highpass",
        ]

        # grid size of each scale; index num_scales is the lowpass residual
        self._dims: list[tuple[int, int]] = [self.image_shape]
        for _ in range(self.num_scales):
            h, w = self._dims[-1]
            self._dims.append(
                ((h + 1) // 2, (w + 1) // 2) if self.downsample else (h, w)
            )
        self.pyr_size: OrderedDict = OrderedDict(
            [("residual_highpass", self.image_shape)]
            + [(s, self._dims[s]) for s in range(self.num_scales)]
            + [("residual_lowpass", self._dims[-1])]
        )
        # (1j) ** k factors of the analysis / synthesis filters
        self._analysis_phase = _I_POWERS[(-self.order) % 4]
        self._synthesis_phase = _I_POWERS[self.order % 4]
        self._build_masks()
        self.eval()

    # ------------------------------------------------------------------------------
    def _factor_masks(self) -> dict[str, np.ndarray]:
        """Factors of the Fourier masks (float64, shifted layout, no gains).

        Returns
        -------
        factors
            ``"hi"`` / ``"lo"``: initial highpass / lowpass radial masks (image
            grid); per scale ``s``, on that scale's grid: ``"hi{s}"`` the radial
            highpass, ``"ana{s}"`` / ``"syn{s}"`` the ``num_orientations``
            analysis / synthesis angular masks; and ``"lo{s}"`` the radial lowpass
            applied after cropping to the grid of scale ``s + 1``.  Every
            filter of the pyramid is a product of these (and of constant gains).

        """
        log_rad, angle = _polar_grid(self.image_shape)
        rad_x, high_lut, low_lut = _radial_table(self.twidth)
        theta, ana_lut, syn_lut = _angular_tables(self.order, self.is_complex)
        shifts = [
            math.pi * k / self.num_orientations for k in range(self.num_orientations)
        ]
        factors = {
            "hi": _interp(log_rad, rad_x, high_lut),
            "lo": _interp(log_rad, rad_x, low_lut),
        }
        for s in range(self.num_scales):
            lr, an = (
                _center_crop(log_rad, self._dims[s]),
                _center_crop(angle, self._dims[s]),
            )
            factors[f"hi{s}"] = _interp(lr, rad_x - (s + 1), high_lut)
            factors[f"ana{s}"] = np.stack(
                [_interp(an, theta + t, ana_lut) for t in shifts]
            )
            factors[f"syn{s}"] = np.stack(
                [_interp(an, theta + t, syn_lut) for t in shifts]
            )
            factors[f"lo{s}"] = _interp(
                _center_crop(log_rad, self._dims[s + 1]), rad_x - (s + 1), low_lut
            )
        return factors

    def _build_masks(self) -> None:
        """Compute every Fourier mask once (float64) and register them as buffers."""
        factors = self._factor_masks()
        # non-downsampled, non-tight pyramids double each scale's amplitude
        gain = 1.0 if (self.downsample or self.tight_frame) else 2.0
        # tight complex pyramids split the energy between real and imaginary parts
        band_gain = math.sqrt(0.5) if (self.tight_frame and self.is_complex) else 1.0

        filters: dict[str, np.ndarray] = {"hi": factors["hi"]}
        low = factors["lo"]  # lowpass chain on the current grid
        for s in range(self.num_scales):
            filters[f"low{s}"] = low
            radial = low * factors[f"hi{s}"]
            filters[f"band{s}"] = band_gain * radial * factors[f"ana{s}"]
            filters[f"recon{s}"] = (
                (1.0 / band_gain) * gain ** (-2 * s) * radial * factors[f"syn{s}"]
            )
            low = gain * (_center_crop(low, self._dims[s + 1]) * factors[f"lo{s}"])
        filters["lo"] = low
        filters["recon_lo"] = gain ** (-2 * self.num_scales) * low
        filters["recon_hi"] = filters["hi"]

        # unshifted layout (zero frequency at index 0)
        filters = {k: np.fft.ifftshift(v, axes=(-2, -1)) for k, v in filters.items()}
        # residuals, and the bands of real pyramids, are real: use half spectra of
        # the Hermitian-symmetrized filters (exact when the filters vanish on the
        # Nyquist lines of cropped grids, which the lowpass chain guarantees)
        complex_bands = {
            f"{kind}{s}" for kind in ("band", "recon") for s in range(self.num_scales)
        }
        self._half = {
            k: not (self.is_complex and k in complex_bands)
            and _nyquist_is_zero(v, self.image_shape)
            for k, v in filters.items()
        }
        assert self._half["hi"] and self._half["recon_hi"]  # full grid: Hermitian
        sign = -1.0 if self.order % 2 else 1.0  # odd orders: anti-symmetric masks
        self._masks64: dict[str, Tensor] = {}
        for key, value in filters.items():
            if self._half[key]:
                even = not key.startswith(("band", "recon")) or key.startswith("recon_")
                value = _half_spectrum(value, 1.0 if even else sign)
            self._masks64[key] = torch.from_numpy(np.ascontiguousarray(value))
            self.register_buffer(f"_{key}", self._masks64[key], persistent=False)
        self._make_exact_dual()
        dtype = torch.get_default_dtype()
        for key, mask in self._masks64.items():
            self._buffers[f"_{key}"] = mask.to(dtype)

    def _add_mask(self, key: str, mask: np.ndarray | Tensor) -> None:
        """Register one more (float64) mask, converted with the module like the others.

        Used by models built on the pyramid (`PortillaSimoncelli`) for tensors
        derived from `_factor_masks`; read it back with `_filter`.
        """
        mask64 = torch.as_tensor(np.ascontiguousarray(mask), dtype=torch.float64)
        self._masks64[key] = mask64
        like = self._buffers["_hi"]
        self.register_buffer(
            f"_{key}", mask64.to(like.device, like.dtype), persistent=False
        )

    def _make_exact_dual(self) -> None:
        """Divide the synthesis masks by the analysis-synthesis transfer function.

        The lookup-table masks (kept for identical coefficients) tile the spectrum
        only to about 5e-6 (squared interpolated cosines do not sum exactly to
        one), and not at all for ``twidth > 1``, where the response reaches 1.65,
        nor for odd image sides, where the masks are sampled off zero frequency
        (the response drops to about 0.27, and to about 0.01 for ``twidth=3``).
        Analysis followed by synthesis is linear and shift-invariant (no band
        aliases), so its transfer function, measured once on an impulse, is
        divided out of the synthesis masks: `recon_pyr` then inverts `forward`
        to floating-point precision (rounding errors grow by at most the inverse
        of the smallest response).
        """
        impulse = torch.zeros((1, 1, *self.image_shape), dtype=torch.float64)
        impulse[..., 0, 0] = 1.0
        # this class's own transform, also when a subclass overrides forward
        pyramid = SteerablePyramidFreq
        with torch.no_grad():
            coeffs = pyramid.forward(self, impulse)
            transfer = torch.fft.fft2(pyramid.recon_pyr(self, coeffs))[0, 0]
        if transfer.imag.abs().max() > 1e-9 or transfer.real.min() < _MIN_TRANSFER:
            raise RuntimeError(  # pragma: no cover - design guard
                "the steerable pyramid's analysis cannot be inverted"
            )
        transfer = transfer.real
        for key in self._masks64:
            if not key.startswith("recon"):
                continue
            h, w = self._dims[-1] if key == "recon_lo" else self._dims[0]
            if key[5:].isdigit():
                h, w = self._dims[int(key[5:])]
            local = _crop_rows(transfer, h)
            local = (
                local[..., : w // 2 + 1] if self._half[key] else _crop_cols(local, w)
            )
            self._masks64[key] = self._masks64[key] / local

    def _apply(self, fn: Callable[[Tensor], Tensor], recurse: bool = True) -> Self:
        # masks are always rounded from the float64 originals, so that
        # ``.to(torch.float64)`` gives double-precision masks
        super()._apply(fn, recurse)
        for key, mask in self._masks64.items():
            current = self._buffers[f"_{key}"]
            if current is not None and current.dtype != mask.dtype:
                self._buffers[f"_{key}"] = mask.to(current.device, current.dtype)
            elif current is not None:
                self._buffers[f"_{key}"] = mask.to(current.device)
        return self

    def _filter(self, key: str, like: Tensor) -> Tensor:
        filt = self._buffers[f"_{key}"]
        if filt is None or filt.dtype != like.dtype or filt.device != like.device:
            filt = self._masks64[key].to(like.device, like.dtype)
        return filt

    # ------------------------------------------------------------------------------
    def _check_scales(
        self, scales: Iterable[Scale] | None, name: str = "scales"
    ) -> list[Scale]:
        if scales is None:
            return list(self.scales)
        if isinstance(scales, str | int):
            scales = [scales]
        scales = list(scales)
        for s in scales:
            if s not in _RESIDUALS and not (
                isinstance(s, int | np.integer)
                and not isinstance(s, bool)
                and 0 <= s < self.num_scales
            ):
                raise ValueError(
                    f"{name} must contain ints in [0, {self.num_scales - 1}] or "
                    f"'residual_highpass' / 'residual_lowpass', got {s!r}"
                )
        return scales

    def _check_input(self, x: Tensor) -> None:
        if not isinstance(x, Tensor) or x.ndim != 4:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(
                f"input must be a 4-D tensor (batch, channel, height, width), got {shape}"
            )
        if tuple(x.shape[-2:]) != self.image_shape:
            raise ValueError(
                f"Input tensor height/width {tuple(x.shape[-2:])} does not match the "
                "pyramid's "
                f"image_shape {self.image_shape}"
            )
        if not x.is_floating_point():
            raise TypeError(
                f"input must be a real floating-point tensor, got {x.dtype}"
            )

    def forward(
        self, x: Tensor, scales: Iterable[Scale] | None = None
    ) -> PyramidCoefficients:
        """Compute the pyramid coefficients of an image batch.

        Parameters
        ----------
        x
            Images, shape ``(batch, channel, *image_shape)``, real floating point.
            The masks are used in ``x``'s dtype (convert the module with
            ``.to(torch.float64)`` for full double precision).
        scales
            Subset of `scales` to compute (ints and/or ``"residual_highpass"`` /
            ``"residual_lowpass"``, in any order); ``None`` computes all of them.

        Returns
        -------
        coeffs
            Ordered dictionary, fine to coarse: ``"residual_highpass"``
            ``(batch, channel, H, W)``; scale ``s`` ``(batch, channel,
            num_orientations, h_s, w_s)`` (complex if `is_complex`);
            ``"residual_lowpass"`` ``(batch, channel, h, w)``.  A
            ``(scale, orientation)`` key gives one band.

        Raises
        ------
        ValueError
            If ``x`` is not 4-D or its height/width differ from `image_shape`, or
            ``scales`` contains an unknown scale.
        TypeError
            If ``x`` is not floating point.

        """
        self._check_input(x)
        norm = self.fft_norm
        coeffs = PyramidCoefficients()
        # each inverse FFT right after its spectrum, while that is still in cache
        for scale, spec, half in self._iter_spectra(x, self._check_scales(scales)):
            h, w = self.pyr_size[scale]
            if half:
                coeffs[scale] = torch.fft.irfft2(spec, s=(h, w), norm=norm)
            else:
                band = torch.fft.ifft2(spec, norm=norm)
                complex_band = self.is_complex and isinstance(scale, int)
                coeffs[scale] = band if complex_band else band.real
        return coeffs

    def spectra(
        self,
        x: Tensor,
        scales: Iterable[Scale] | None = None,
        lowpass_at_scales: bool = False,
    ) -> PyramidSpectra:
        """Fourier-domain pyramid: the coefficients' spectra, before `forward`'s inverse FFTs.

        The input is Fourier transformed once; every spectrum is a crop of it
        times a mask.  Spectra are unshifted (zero frequency at index 0) and, for
        real outputs (the residuals, lowpass images and the bands of real
        pyramids), half spectra (``rfft2`` layout, ``w // 2 + 1`` columns) --
        ``spectra.half[key]`` says which.

        Parameters
        ----------
        x
            Images, shape ``(batch, channel, *image_shape)``, real floating point.
        scales
            Subset of `scales` to compute, as in `forward`.
        lowpass_at_scales
            Whether to add, under keys ``("lowpass", s)`` for ``s`` in
            ``[0, num_scales - 1]``, the spectrum of the lowpass image entering
            scale ``s`` (the image through the lowpass chain, on the grid of scale
            ``s``; its product with the scale's highpass and angular masks gives
            the scale's bands).

        Returns
        -------
        spectra
            `PyramidSpectra` with the keys of `forward` (same order), then the
            ``("lowpass", s)`` keys; a scale's value has shape ``(batch, channel,
            num_orientations, h_s, w_s)`` (``w_s // 2 + 1`` for half spectra).

        Raises
        ------
        ValueError
            If ``x`` is not 4-D or its height/width differ from `image_shape`, or
            ``scales`` contains an unknown scale.
        TypeError
            If ``x`` is not floating point.

        """
        self._check_input(x)
        out = PyramidSpectra()
        for key, spec, half in self._iter_spectra(
            x, self._check_scales(scales), lowpass_at_scales
        ):
            out[key] = spec
            out.half[key] = half
        return out

    def _iter_spectra(
        self, x: Tensor, wanted: list[Scale], lowpass_at_scales: bool = False
    ) -> Iterator[tuple[Scale | tuple[str, int], Tensor, bool]]:
        """Yield ``(key, spectrum, is_half)`` in `spectra`'s order (see there)."""
        norm = self.fft_norm
        cache: dict[str, Tensor] = {}

        def spectrum(kind: str) -> Tensor:
            # one FFT of the input: the full one for complex pyramids (whatever
            # the scales wanted, so that every coefficient is the same bit for bit
            # in any subset), otherwise the half spectrum; the half spectrum of a
            # full FFT is its slice
            if kind.startswith("rotated") and kind not in cache:
                # bands carry the analysis phase, applied once at full size
                cache[kind] = self._rotate(spectrum(kind[8:]), self._analysis_phase)
            if kind not in cache:
                if kind == "full" or self.is_complex:
                    cache["full"] = torch.fft.fft2(x, norm=norm)
                    cache["half"] = cache["full"][..., : x.shape[-1] // 2 + 1]
                else:
                    cache["half"] = torch.fft.rfft2(x, norm=norm)
            return cache[kind]

        keys: list[tuple[Scale | tuple[str, int], str, int]] = [
            (scale, key, level)
            for scale, key, level in [
                ("residual_highpass", "hi", 0),
                *[(s, f"band{s}", s) for s in range(self.num_scales)],
                ("residual_lowpass", "lo", -1),
            ]
            if scale in wanted
        ]
        if lowpass_at_scales:
            keys += [(("lowpass", s), f"low{s}", s) for s in range(self.num_scales)]
        for scale, key, level in keys:
            h, w = self._dims[level]
            filt = self._filter(key, x)
            band = isinstance(scale, int)
            if self._half[key]:
                spec = spectrum("rotated_half" if band else "half")
                spec = _crop_rows(spec, h)[..., : w // 2 + 1]
            else:
                spec = spectrum("rotated_full" if band else "full")
                spec = _crop_cols(_crop_rows(spec, h), w)
            yield scale, (spec.unsqueeze(2) if band else spec) * filt, self._half[key]

    @staticmethod
    def _rotate(spec: Tensor, phase: complex) -> Tensor:
        """Multiply by ``phase``, a power of 1j (skipped when it is 1)."""
        return spec if phase == 1 else spec * phase

    # ------------------------------------------------------------------------------
    def _recon_levels(self, levels: Literal["all"] | Iterable[Scale]) -> set:
        if isinstance(levels, str):
            if levels != "all":
                raise ValueError(
                    f"levels must be 'all' or a list of levels, got {levels!r}"
                )
            return set(self.scales)
        if isinstance(levels, int):
            levels = [levels]
        return set(self._check_scales(levels, "levels"))

    def _recon_bands(self, bands: Literal["all"] | Iterable[int]) -> list[int] | None:
        if isinstance(bands, str):
            if bands != "all":
                raise ValueError(
                    f"bands must be 'all' or a list of ints, got {bands!r}"
                )
            return None
        if isinstance(bands, int):
            bands = [bands]
        bands = list(bands)
        for b in bands:
            if (
                not isinstance(b, int | np.integer)
                or isinstance(b, bool)
                or not 0 <= b < self.num_orientations
            ):
                raise ValueError(
                    f"bands must be ints in [0, {self.num_orientations - 1}], got {b!r}"
                )
        return sorted(set(int(b) for b in bands))

    def recon_pyr(
        self,
        pyr_coeffs: dict,
        levels: Literal["all"] | Iterable[Scale] = "all",
        bands: Literal["all"] | Iterable[int] = "all",
    ) -> Tensor:
        """Reconstruct images from pyramid coefficients, optionally from a subset.

        Parameters
        ----------
        pyr_coeffs
            Coefficients as returned by `forward` called with ``scales=None``.
        levels
            ``"all"``, or the levels to use: ints in ``[0, num_scales - 1]`` and/or
            ``"residual_highpass"`` / ``"residual_lowpass"``.  The others count as
            zero.
        bands
            ``"all"``, or the orientations (ints in ``[0, num_orientations - 1]``)
            to use at every bandpass level.

        Returns
        -------
        recon
            Real images, shape ``(batch, channel, *image_shape)``.

        Raises
        ------
        ValueError
            If ``pyr_coeffs`` lacks a scale, or ``levels`` / ``bands`` contain
            invalid entries.

        Examples
        --------
        >>> import torch
        >>> import pipeline as po
        >>> pyr = po.models.SteerablePyramidFreq((32, 32), order=1)
        >>> img = torch.rand(1, 1, 32, 32)
        >>> coeffs = pyr(img)
        >>> torch.allclose(pyr.recon_pyr(coeffs), img, atol=1e-5)
        True
        >>> bandpass_only = pyr.recon_pyr(coeffs, levels=[0, 1, 2])

        """
        missing = [s for s in self.scales if s not in pyr_coeffs]
        if missing:
            raise ValueError(
                f"scales {missing} not in pyr_coeffs: reconstruction needs the output "
                "of forward() with scales=None"
            )
        use = self._recon_levels(levels)
        ori = self._recon_bands(bands)
        norm = self.fft_norm
        lowpass = pyr_coeffs["residual_lowpass"]
        for s in range(self.num_scales):
            if pyr_coeffs[s].is_complex() != self.is_complex:
                raise ValueError(
                    f"scale {s} coefficients are {'' if self.is_complex else 'not '}"
                    f"expected complex (is_complex={self.is_complex})"
                )
        # the output spectrum is accumulated coarse to fine, as a half spectrum
        # (real coefficients with the half-spectrum filters) plus a full spectrum
        # (complex coefficients, or filters without the shortcut)
        acc: dict[bool, Tensor] = {}

        def add(is_half: bool, term: Tensor) -> None:
            acc[is_half] = acc[is_half] + term if is_half in acc else term

        def grow(dims: tuple[int, int]) -> None:
            if True in acc:
                acc[True] = _pad_half_cols(
                    _pad_rows(acc[True], dims[0]), dims[1] // 2 + 1
                )
            if False in acc:
                acc[False] = _pad_cols(_pad_rows(acc[False], dims[0]), dims[1])

        if "residual_lowpass" in use:
            filt = self._filter("recon_lo", lowpass)
            fft = torch.fft.rfft2 if self._half["recon_lo"] else torch.fft.fft2
            add(self._half["recon_lo"], fft(lowpass, norm=norm) * filt)
        for s in range(self.num_scales - 1, -1, -1):
            grow(self._dims[s])
            if s not in use:
                continue
            key = f"recon{s}"
            coeff, filt = pyr_coeffs[s], self._filter(key, lowpass)
            if ori is not None:
                coeff, filt = coeff[:, :, ori], filt[ori]
            fft = torch.fft.rfft2 if self._half[key] else torch.fft.fft2
            spec = (fft(coeff, norm=norm) * filt).sum(2)
            add(self._half[key], self._rotate(spec, self._synthesis_phase))
        grow(self.image_shape)
        if "residual_highpass" in use:
            highpass = pyr_coeffs["residual_highpass"]
            add(
                True,
                torch.fft.rfft2(highpass, norm=norm)
                * self._filter("recon_hi", lowpass),
            )
        out = lowpass.new_zeros((*lowpass.shape[:-2], *self.image_shape))
        if True in acc:
            out = out + torch.fft.irfft2(acc[True], s=self.image_shape, norm=norm)
        if False in acc:
            out = out + torch.fft.ifft2(acc[False], norm=norm).real
        return out

    # ------------------------------------------------------------------------------
    def steer_coeffs(
        self,
        pyr_coeffs: dict,
        angles: Sequence[float] | Tensor,
        even_phase: bool = True,
    ) -> tuple[dict[int, Tensor], dict[int, Tensor]]:
        r"""Steer the oriented bands of a real pyramid to other angles.

        The angular masks :math:`\cos(\theta - \theta_k)^o`, with
        :math:`\theta_k = \pi k / (o + 1)`, contain the angular harmonics
        :math:`o, o - 2, \dots` only, so the band of the same filter turned to any
        angle :math:`\alpha` is a weighted sum of the ``order + 1`` bands.  The
        weights solve the linear system that matches those harmonics at
        :math:`\alpha`.

        Parameters
        ----------
        pyr_coeffs
            Coefficients from `forward` (the bandpass scales are used).
        angles
            Angles to steer to, in radians (1-D).
        even_phase
            Whether the harmonics are in cosine phase about the filters'
            orientations (True, the steerable pyramid's bands) or in sine phase.

        Returns
        -------
        steered
            For each scale, a tensor ``(batch, channel, len(angles), h_s, w_s)``.
        weights
            For each scale, the ``(num_orientations, len(angles))`` weights
            (``steered[s] = einsum("bcohw,oa->bcahw", pyr_coeffs[s], weights[s])``).

        Raises
        ------
        ValueError
            If the coefficients are complex (steering only implemented for real
            coefficients: the complex bands' half-plane masks are not finite sums
            of harmonics), or ``angles`` is not 1-D.

        Examples
        --------
        >>> import torch
        >>> import pipeline as po
        >>> pyr = po.models.SteerablePyramidFreq((32, 32), height=2, order=1)
        >>> coeffs = pyr(torch.rand(1, 1, 32, 32))
        >>> steered, weights = pyr.steer_coeffs(coeffs, [0.0, torch.pi / 2])
        >>> steered[0].shape
        torch.Size([1, 1, 2, 16, 16])
        >>> torch.allclose(steered[0], coeffs[0], atol=1e-6)
        True

        """
        bands = [pyr_coeffs[s] for s in range(self.num_scales)]
        if any(b.is_complex() for b in bands):
            raise ValueError(
                "steering only implemented for real coefficients: use a pyramid with "
                "is_complex=False"
            )
        alpha = np.asarray(torch.as_tensor(angles, dtype=torch.float64).cpu())
        if alpha.ndim > 1:
            raise ValueError(f"angles must be 1-D, got shape {alpha.shape}")
        weights = _steering_weights(self.order, alpha.reshape(-1), even_phase)
        steered, used = {}, {}
        for s, band in enumerate(bands):
            w = weights.to(band.device, band.dtype)
            steered[s] = torch.einsum("bcohw,oa->bcahw", band, w)
            used[s] = w
        return steered, used

    # ------------------------------------------------------------------------------
    @staticmethod
    def convert_pyr_to_tensor(
        pyr_coeffs: dict, split_complex: bool = False
    ) -> tuple[Tensor, PyrInfo]:
        """Stack coefficients of a non-downsampled pyramid into one 4-D tensor.

        Parameters
        ----------
        pyr_coeffs
            Coefficients from `forward` (all of the same height and width, i.e.
            ``downsample=False``).
        split_complex
            Whether complex bands become two real channels each (real then
            imaginary, adjacent).

        Returns
        -------
        pyr_tensor
            Shape ``(batch, channel * n_bands, h, w)``, input-channel-major; per
            channel the residual highpass first, then each scale's orientations
            fine to coarse, the residual lowpass last.
        pyr_info
            ``(num_channels, keys, bands_per_key, split)``, to pass (unpacked) to
            `convert_tensor_to_pyr`.

        Raises
        ------
        RuntimeError
            If the coefficients do not all share one height and width.
        ValueError
            If ``split_complex`` is set but the bands are real.

        """
        keys = list(pyr_coeffs.keys())
        values = [pyr_coeffs[k] for k in keys]
        num_channels = values[0].shape[1]
        if len({tuple(v.shape[-2:]) for v in values}) != 1:
            raise RuntimeError(
                "coefficients of different sizes cannot be stacked: use a pyramid "
                "with downsample=False"
            )
        stacked = [v if v.ndim == 5 else v.unsqueeze(2) for v in values]
        counts = [v.shape[2] if v.ndim == 5 else 0 for v in values]
        split = False
        if split_complex and any(not isinstance(k, str) for k in keys):
            if not any(v.is_complex() for v in values):
                raise ValueError(
                    "split_complex=True needs complex coefficients (is_complex=True)"
                )
            split = True
            stacked = [
                torch.stack([v.real, v.imag], dim=3).flatten(2, 3)
                if not isinstance(k, str)
                else v.real
                for k, v in zip(keys, stacked, strict=True)
            ]
        elif any(v.is_complex() for v in values):
            dtype = next(v.dtype for v in values if v.is_complex())
            stacked = [v.to(dtype) for v in stacked]
        packed = torch.cat(stacked, dim=2)
        return packed.flatten(1, 2), (num_channels, keys, counts, split)

    @staticmethod
    def convert_tensor_to_pyr(
        pyr_tensor: Tensor,
        num_channels: int,
        pyr_keys: list,
        pack_info: list[int],
        split_complex: bool,
    ) -> PyramidCoefficients:
        """Undo `convert_pyr_to_tensor`.

        Parameters
        ----------
        pyr_tensor
            Shape ``(batch, channel * n_bands, h, w)``.
        num_channels, pyr_keys, pack_info, split_complex
            The entries of the ``pyr_info`` returned by `convert_pyr_to_tensor`.

        Returns
        -------
        pyr_coeffs
            The coefficients dictionary (residuals real).

        """
        b, _, h, w = pyr_tensor.shape
        unpacked = pyr_tensor.reshape(b, num_channels, -1, h, w)
        widths = [(2 * n if split_complex else n) if n else 1 for n in pack_info]
        pieces = torch.split(unpacked, widths, dim=2)
        out = PyramidCoefficients()
        for key, n, piece in zip(pyr_keys, pack_info, pieces, strict=True):
            if n == 0:
                out[key] = piece[:, :, 0].real
            elif split_complex:
                pair = piece.reshape(b, num_channels, n, 2, h, w)
                out[key] = torch.complex(pair[:, :, :, 0], pair[:, :, :, 1])
            else:
                out[key] = piece
        return out
