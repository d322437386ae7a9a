"""Portilla-Simoncelli texture statistics.

The Portilla-Simoncelli (PS) statistics (Portilla & Simoncelli, 2000) summarise a
texture by the joint statistics of its complex steerable-pyramid coefficients:
marginal pixel moments, the moments and central auto-correlations of the partially
reconstructed low-pass images, the auto-correlations of the coefficient magnitudes,
and cross-orientation / cross-scale correlations of magnitudes and phases.

:class:`PortillaSimoncelli` returns the same statistics, in the same order and with
the same normalisations, as ``plenoptic.simulate.PortillaSimoncelli`` (version 2),
but computes them in a single pass in the Fourier domain:

- the image is Fourier transformed once and every band, low-pass image and
  up-sampled parent band is obtained by masking, cropping or zero-padding that
  spectrum (no forward FFT of any intermediate result); the bands' real and
  imaginary parts come as stacks of real images from one inverse real FFT per
  scale;
- the partially reconstructed low-pass images are obtained from the recursion
  ``R_k = pad(Lo_k R_{k+1}) + lo_k H_k^2 sum_o A_o A'_o`` on the pyramid's own
  low-pass spectra instead of one full-size reconstruction and down-sampling per
  scale;
- central auto-correlations come from half power spectra by two small matrix
  products (cosine / sine tables), and the covariances of one scale from one
  matrix product per pair of band sets;
- the hot steps (moduli, phase doubling, auto-correlations, moments and
  covariances) are single autograd nodes with hand-written derivatives (and
  forward derivatives, for Jacobian products), and the normalisations are done
  for all scales at once: autograd's stored intermediates and its many small
  operations cost more than the arithmetic.

Statistics whose normalising variance vanishes (e.g. every statistic of a constant
image) take fixed, finite default values: correlations 0, standard deviations 0,
skewness 0 and kurtosis 3, with finite gradients.

References
----------
.. [1] J Portilla and E P Simoncelli. A Parametric Texture Model based on Joint
   Statistics of Complex Wavelet Coefficients. Int'l Journal of Computer Vision,
   40(1):49-71, 2000.

"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from ..autograd import PositionalFunction
from .steerable_pyramid import (
    SteerablePyramidFreq,
    _crop_rows,
    _half_spectrum,
    _negate,
    _nyquist_is_zero,
    _pad_half_cols,
    _pad_rows,
)

if TYPE_CHECKING:
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["PortillaSimoncelli"]

ScaleName = int | str

#: Names of the statistic groups, in the order they appear in the output vector.
STAT_NAMES: tuple[str, ...] = (
    "pixel_statistics",
    "auto_correlation_magnitude",
    "skew_reconstructed",
    "kurtosis_reconstructed",
    "auto_correlation_reconstructed",
    "std_reconstructed",
    "cross_orientation_correlation_magnitude",
    "magnitude_std",
    "cross_scale_correlation_magnitude",
    "cross_scale_correlation_real",
    "var_highpass_residual",
)

# relative size (in units of machine epsilon times the image's root-mean-square
# value) below which a standard deviation counts as zero
_DEGENERATE_EPS_FACTOR = 100.0


# ----------------------------------------------------------------------------------
# small numerically safe helpers
def _fit_ylim(panel: Axes, values: np.ndarray) -> None:
    """Set a stem panel's y-limits to its values, always including 0."""
    low, high = min(0.0, float(np.min(values))), float(np.max(values))
    pad = 0.05 * (high - low) or 1.0
    panel.set_ylim(low - pad if low < 0 else 0.0, high + pad)


def _safe_ratio(num: Tensor, den: Tensor, ok: Tensor, default: float) -> Tensor:
    """``num / den`` where ``ok``, ``default`` elsewhere; finite gradients."""
    den = torch.where(ok, den, torch.ones_like(den))
    return torch.where(ok, num / den, torch.full_like(num, default))


def _save(ctx: Any, *tensors: Tensor) -> None:
    """Keep ``tensors`` for both derivatives of an autograd function."""
    ctx.save_for_backward(*tensors)
    ctx.save_for_forward(*tensors)


class _Power(PositionalFunction):
    """``|z| ** 2`` of a complex tensor, with a one-pass derivative ``2 g z``.

    Autograd through ``z.real ** 2 + z.imag ** 2`` would store and scatter both
    parts back into complex zeros; this is the hot path of the statistics.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(z: Tensor) -> Tensor:
        return z.real.square() + z.imag.square()

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: Tensor) -> None:
        _save(ctx, inputs[0])

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (z,) = ctx.saved_tensors
        return z * (2 * grad)

    @staticmethod
    def jvp(ctx: Any, z_t: Tensor) -> Tensor:
        (z,) = ctx.saved_tensors
        return 2 * (z.real * z_t.real + z.imag * z_t.imag)


class _Moments(PositionalFunction):
    """``a @ b.mT`` and the rows' sums of squares of ``a`` and ``b``, for long rows.

    Derivatives as short-by-long products (autograd's derivative of a matmul with
    a short inner dimension takes a transposed, several times slower path), the
    sums of squares folded in, and no elementwise squares kept.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        def squares(t: Tensor) -> Tensor:
            return torch.einsum("...i,...i->...", t, t)

        return a @ b.mT, squares(a), squares(b)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: tuple) -> None:
        ctx.set_materialize_grads(False)
        _save(ctx, *inputs)

    @staticmethod
    def backward(
        ctx: Any, g_ab: Tensor | None, g_a: Tensor | None, g_b: Tensor | None
    ) -> tuple[Tensor | None, Tensor | None]:
        a, b = ctx.saved_tensors

        def grad(
            product: Tensor | None, t: Tensor, g_sq: Tensor | None
        ) -> Tensor | None:
            if g_sq is None:
                return product
            twice = 2 * g_sq.unsqueeze(-1)
            return twice * t if product is None else product.add_(t * twice)

        no_product = g_ab is None
        return (
            grad(None if no_product else g_ab @ b, a, g_a),
            grad(None if no_product else g_ab.mT @ a, b, g_b),
        )

    @staticmethod
    def jvp(
        ctx: Any, a_t: Tensor | None, b_t: Tensor | None
    ) -> tuple[Tensor, Tensor, Tensor]:
        a, b = ctx.saved_tensors
        a_t = torch.zeros_like(a) if a_t is None else a_t
        b_t = torch.zeros_like(b) if b_t is None else b_t
        return (
            a_t @ b.mT + a @ b_t.mT,
            2 * (a * a_t).sum(-1),
            2 * (b * b_t).sum(-1),
        )


class _Gram(PositionalFunction):
    """``a @ a.mT`` for long rows; derivative ``(g + g.mT) @ a`` (see `_Moments`)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(a: Tensor) -> Tensor:
        return a @ a.mT

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: Tensor) -> None:
        _save(ctx, inputs[0])

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (a,) = ctx.saved_tensors
        return (grad + grad.mT) @ a

    @staticmethod
    def jvp(ctx: Any, a_t: Tensor) -> Tensor:
        (a,) = ctx.saved_tensors
        product = a_t @ a.mT
        return product + product.mT


def _split(parts: Tensor) -> tuple[Tensor, Tensor]:
    """Real and imaginary parts of a stack ``(..., 2 n, h, w)``: real ones first."""
    x, y = parts.unflatten(-3, (2, -1)).unbind(-4)
    return x, y


def _centred(t: Tensor) -> Tensor:
    """``t`` minus its mean over the last two axes (images)."""
    return t - t.mean((-2, -1), keepdim=True)


def _modulus_grad(g_c: Tensor | None, g_m: Tensor | None, like: Tensor) -> Tensor:
    """Return the derivative for ``|z|`` from those of its centred copy and itself."""
    if g_c is None:
        return torch.zeros_like(like) if g_m is None else g_m
    g_c = _centred(g_c)
    return g_c if g_m is None else g_c + g_m


class _Modulus(PositionalFunction):
    """``|x + iy|`` of a stack of parts ``[x; y]`` (see `_split`), and its centred copy.

    Returns ``(|z| - mean |z|, |z|)`` (means over each image).  ``|z|`` is floored
    at the smallest normal number, so that the derivative, written as the two
    passes ``g [x; y] / |z|``, is 0 at 0.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(parts: Tensor) -> tuple[Tensor, Tensor]:
        # in place on fresh tensors: one allocation (forward runs without autograd)
        x, y = _split(parts)
        m = (x * x).addcmul_(y, y).clamp_min_(torch.finfo(x.dtype).tiny).sqrt_()
        return _centred(m), m

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: tuple) -> None:
        ctx.set_materialize_grads(False)
        _save(ctx, inputs[0], output[1])

    @staticmethod
    def backward(ctx: Any, g_c: Tensor | None, g_m: Tensor | None) -> Tensor:
        parts, m = ctx.saved_tensors
        grad = _modulus_grad(g_c, g_m, m) / m
        return (parts.unflatten(-3, (2, -1)) * grad.unsqueeze(-4)).flatten(-4, -3)

    @staticmethod
    def jvp(ctx: Any, parts_t: Tensor) -> tuple[Tensor, Tensor]:
        parts, m = ctx.saved_tensors
        m_t = (parts * parts_t).unflatten(-3, (2, -1)).sum(-4) / m
        return _centred(m_t), m_t


class _PhaseDoubled(PositionalFunction):
    """Modulus and phase-doubled parts of a stack ``[x; y]`` (see `_split`).

    Returns ``|z|`` centred and not (as `_Modulus`) and ``[u; v]``, the real and
    imaginary parts of ``z ** 2 / |z| = |z| exp(2i arg z)``.  The derivatives are
    written in ``c, s = x / |z|, y / |z|`` and ``u / |z|, v / |z|`` (``cos, sin``
    of the doubled phase): a few passes instead of autograd's stored chain of
    products.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(parts: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        centred, m = _Modulus.forward(parts)
        x, y = _split(parts)
        inv = m.reciprocal()
        u = (x - y).mul_(x + y).mul_(inv)
        v = (x * y).mul_(inv).mul_(2)
        return centred, m, torch.cat([u, v], dim=-3)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: tuple) -> None:
        ctx.set_materialize_grads(False)
        _save(ctx, inputs[0], *output[1:])

    @staticmethod
    def backward(
        ctx: Any, g_c: Tensor | None, g_m: Tensor | None, g_d: Tensor | None
    ) -> Tensor:
        # with inv = 1 / |z|, a = inv (g_m - inv (g_u u + g_v v)), b = 2 inv g_u
        # and c = 2 inv g_v: g_x = (a + b) x + c y and g_y = (a - b) y + c x; the
        # in-place updates are on fresh tensors that no derivative keeps, so
        # double backward holds (no addcmul_: vmap, for Jacobian products, has no
        # batching rule for it)
        parts, m, doubled = ctx.saved_tensors
        g_m = _modulus_grad(g_c, g_m, m)
        if g_d is None:
            grad = g_m / m
            return (parts.unflatten(-3, (2, -1)) * grad.unsqueeze(-4)).flatten(-4, -3)
        inv = m.reciprocal()
        (g_u, g_v), (u, v), (x, y) = _split(g_d), _split(doubled), _split(parts)
        a = torch.addcmul(g_m, (g_u * u).add_(g_v * v), inv, value=-1).mul_(inv)
        b = (g_u * inv).mul_(2)
        c = (g_v * inv).mul_(2)
        g_x = (a + b).mul_(x).add_(c * y)
        g_y = a.sub_(b).mul_(y).add_(c * x)
        return torch.cat([g_x, g_y], dim=-3)

    @staticmethod
    def jvp(ctx: Any, parts_t: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        parts, m, doubled = ctx.saved_tensors
        inv = m.reciprocal().unsqueeze(-4)
        c, s = (parts.unflatten(-3, (2, -1)) * inv).unbind(-4)
        u, v = (doubled.unflatten(-3, (2, -1)) * inv).unbind(-4)
        x_t, y_t = _split(parts_t)
        u_t = c * (2 - u) * x_t - s * (2 + u) * y_t
        v_t = (2 * s - c * v) * x_t + (2 * c - s * v) * y_t
        m_t = c * x_t + s * y_t
        return _centred(m_t), m_t, torch.cat([u_t, v_t], dim=-3)


class _AutoCorrelation(PositionalFunction):
    """Central auto-correlation of an image from its half spectrum ``z``.

    ``rows`` (``(2 w, h)``) and ``cols`` (``(2, h_half, w)``) are the cosine and
    sine tables: the ``w``-square window is ``sum_t (rows_t |z|**2) cols_t``.  One
    node and one derivative pass instead of autograd's chain of small products.
    """

    generate_vmap_rule = True

    @staticmethod
    def _window(power: Tensor, rows: Tensor, cols: Tensor) -> Tensor:
        halves = (rows @ power).unflatten(-2, (2, -1))
        return (halves @ cols).sum(-3)

    @staticmethod
    def forward(z: Tensor, rows: Tensor, cols: Tensor) -> Tensor:
        return _AutoCorrelation._window(_Power.forward(z), rows, cols)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: Tensor) -> None:
        _save(ctx, *inputs)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        z, rows, cols = ctx.saved_tensors
        spread = rows.mT @ (grad.unsqueeze(-3) @ cols.mT).flatten(-3, -2)
        return z * (2 * spread), None, None

    @staticmethod
    def jvp(ctx: Any, z_t: Tensor, *_: object) -> Tensor:
        z, rows, cols = ctx.saved_tensors
        power_t = 2 * (z.real * z_t.real + z.imag * z_t.imag)
        return _AutoCorrelation._window(power_t, rows, cols)


class _HigherMoments(PositionalFunction):
    """Third and fourth moments (about 0) of images, ``(..., 2)``; one derivative pass."""

    generate_vmap_rule = True

    @staticmethod
    def forward(img: Tensor) -> Tensor:
        sq = img.square()
        return torch.stack([(sq * img).mean((-2, -1)), sq.square().mean((-2, -1))], -1)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: Tensor) -> None:
        _save(ctx, inputs[0])

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (img,) = ctx.saved_tensors
        n = img.shape[-1] * img.shape[-2]
        g3, g4 = (g[..., None, None] / n for g in grad.unbind(-1))
        return img.square() * (3 * g3 + 4 * g4 * img)

    @staticmethod
    def jvp(ctx: Any, img_t: Tensor) -> Tensor:
        (img,) = ctx.saved_tensors
        sq = img.square()
        return torch.stack(
            [3 * (sq * img_t).mean((-2, -1)), 4 * (sq * img * img_t).mean((-2, -1))], -1
        )


def _power(z: Tensor) -> Tensor:
    """``|z| ** 2`` of a complex tensor."""
    return _Power.apply(z)


def _half_weights(w: int) -> np.ndarray:
    """Multiplicity of each column of a half spectrum of width ``w`` (Parseval)."""
    weights = np.full(w // 2 + 1, 2.0)
    weights[0] = 1.0
    if w % 2 == 0:
        weights[-1] = 1.0
    return weights


def _safe_sqrt(value: Tensor, ok: Tensor) -> Tensor:
    """``sqrt(value)`` where ``ok``, 0 elsewhere; finite gradients."""
    root = torch.sqrt(torch.where(ok, value, torch.ones_like(value)))
    return torch.where(ok, root, torch.zeros_like(root))


class PortillaSimoncelli(nn.Module):
    r"""Portilla-Simoncelli texture statistics of images.

    The statistics are computed from a complex steerable pyramid (not tight frame,
    ``n_orientations`` orientations, ``n_scales`` scales) independently for each
    batch element and channel.  They are, in this order (see :data:`STAT_NAMES`
    and :meth:`convert_to_dict` for the shapes):

    - ``pixel_statistics``: mean, variance (``N - 1`` normalised), skewness,
      kurtosis, minimum and maximum of the pixels;
    - ``auto_correlation_magnitude``: central ``spatial_corr_width``-square
      auto-correlation of the (de-meaned) magnitude of every band, divided by its
      variance;
    - ``skew_reconstructed``, ``kurtosis_reconstructed``,
      ``auto_correlation_reconstructed``, ``std_reconstructed``: moments and
      normalised central auto-correlation of the image reconstructed from the
      (de-meaned) low-pass residual and all the bands at and coarser than each
      scale, at that scale's resolution (``n_scales + 1`` images: one per scale
      and the low-pass residual);
    - ``cross_orientation_correlation_magnitude``: correlations between the
      magnitudes of the orientations of each scale;
    - ``magnitude_std``: standard deviation of the magnitude of every band;
    - ``cross_scale_correlation_magnitude`` and ``cross_scale_correlation_real``:
      correlations of each band's magnitude (real part) with the magnitudes (real
      and imaginary parts) of the up-sampled, phase-doubled bands of the next
      coarser scale;
    - ``var_highpass_residual``: variance of the high-pass residual.

    Redundant values (symmetric halves and unit diagonals of correlation
    matrices) are left out, so the default model gives 710 statistics.

    Parameters
    ----------
    image_shape
        ``(height, width)`` of the images.  Both must be divisible by
        ``2 ** n_scales``.
    n_scales
        Number of pyramid scales (at most ``floor(log2(min(image_shape))) - 2``).
    n_orientations
        Number of orientations (2 to 16).
    spatial_corr_width
        Width of the central auto-correlation window, at most the size of the
        coarsest (low-pass residual) image, ``min(image_shape) / 2 ** n_scales``.

    Attributes
    ----------
    scales : list
        ``["pixel_statistics", "residual_lowpass", n_scales - 1, ..., 0,
        "residual_highpass"]``: the scales the statistics belong to, coarse to fine,
        for coarse-to-fine synthesis.

    Raises
    ------
    ValueError
        If ``image_shape`` cannot be analysed with these settings (not divisible by
        ``2 ** n_scales``, too small for ``n_scales`` or for
        ``spatial_corr_width``), or an argument is out of range.

    References
    ----------
    .. [1] J Portilla and E P Simoncelli. A Parametric Texture Model based on Joint
       Statistics of Complex Wavelet Coefficients. Int'l Journal of Computer
       Vision, 40(1):49-71, 2000.

    Examples
    --------
    >>> import torch
    >>> import pipeline as po
    >>> model = po.models.PortillaSimoncelli((256, 256))
    >>> model(torch.rand(1, 1, 256, 256)).shape
    torch.Size([1, 1, 710])
    >>> model(torch.rand(1, 1, 256, 256), scales=[0]).shape
    torch.Size([1, 1, 181])
    >>> model.scales
    ['pixel_statistics', 'residual_lowpass', 3, 2, 1, 0, 'residual_highpass']

    """

    def __init__(
        self,
        image_shape: Sequence[int],
        n_scales: int = 4,
        n_orientations: int = 4,
        spatial_corr_width: int = 7,
    ) -> None:
        super().__init__()
        shape = tuple(int(s) for s in image_shape)
        if len(shape) != 2 or shape != tuple(image_shape) or min(shape) < 1:
            raise ValueError(
                f"image_shape must be two positive ints (height, width), got {image_shape!r}"
            )
        for name, value, low, high in (
            ("n_scales", n_scales, 1, None),
            ("n_orientations", n_orientations, 2, 16),
            ("spatial_corr_width", spatial_corr_width, 1, None),
        ):
            if not isinstance(value, int | np.integer) or isinstance(value, bool):
                raise ValueError(f"{name} must be an int, got {value!r}")
            if value < low or (high is not None and value > high):
                limit = f">= {low}" if high is None else f"in [{low}, {high}]"
                raise ValueError(f"{name} must be {limit}, got {value}")
        factor = 2**n_scales
        if shape[0] % factor or shape[1] % factor:
            raise ValueError(
                "Because of how the Portilla-Simoncelli model handles multiscale "
                f"representations, image_shape {shape} must be divisible by "
                f"2**n_scales = {factor} (n_scales={n_scales})"
            )
        max_scales = int(np.floor(np.log2(min(shape)))) - 2
        if n_scales > max_scales:
            raise ValueError(
                f"image_shape {shape} is too small for n_scales={n_scales}: at most "
                f"{max_scales} scales fit (floor(log2(min side)) - 2)"
            )
        coarsest = (shape[0] // factor, shape[1] // factor)
        if spatial_corr_width > min(coarsest):
            raise ValueError(
                f"spatial_corr_width={spatial_corr_width} is larger than the coarsest "
                f"scale {coarsest[0]}x{coarsest[1]} of image_shape {shape} with "
                f"n_scales={n_scales} (at most {min(coarsest)})"
            )
        self.image_shape = shape
        self.n_scales = int(n_scales)
        self.n_orientations = int(n_orientations)
        self.spatial_corr_width = int(spatial_corr_width)
        self.scales: list[ScaleName] = [
            "pixel_statistics",
            "residual_lowpass",
            *range(self.n_scales - 1, -1, -1),
            "residual_highpass",
        ]
        # the pyramid the statistics are computed from (the reference's settings);
        # its masks, and the extra ones registered below, are non-persistent
        # buffers kept in float64, so the state dict stays empty
        self.pyramid = SteerablePyramidFreq(
            shape,
            height=self.n_scales,
            order=self.n_orientations - 1,
            is_complex=True,
            downsample=True,
            tight_frame=False,
        )
        self._add_masks()

        labels, keep = self._layout()
        self._group_labels = labels
        self._group_keep = keep
        keep_flat = np.concatenate([k.ravel() for k in keep.values()])
        self._n_computed = keep_flat.size
        self.register_buffer(
            "_keep_index", torch.as_tensor(np.flatnonzero(keep_flat)), persistent=False
        )
        self._representation_scales = np.concatenate(
            [labels[name].ravel() for name in STAT_NAMES]
        )[keep_flat]
        self._scale_index_cache: dict[tuple[str, frozenset], Tensor] = {}
        self.eval()

    # ------------------------------------------------------------------------------
    # layout of the representation
    def _layout(self) -> tuple[OrderedDict, OrderedDict]:
        """Scale label and keep-mask (non-redundant entries) of every statistic."""
        n_sc, n_or, width = self.n_scales, self.n_orientations, self.spatial_corr_width
        scales = np.array(list(range(n_sc)), dtype=object)
        with_lowpass = np.array([*range(n_sc), "residual_lowpass"], dtype=object)
        without_coarsest = scales[: n_sc - 1]

        def grid(shape: tuple[int, ...], last: np.ndarray) -> np.ndarray:
            out = np.empty((*shape, last.size), dtype=object)
            out[...] = last
            return out

        labels: OrderedDict[str, np.ndarray] = OrderedDict()
        labels["pixel_statistics"] = np.array(6 * ["pixel_statistics"], dtype=object)
        labels["auto_correlation_magnitude"] = grid((width, width, n_or), scales)
        labels["skew_reconstructed"] = with_lowpass.copy()
        labels["kurtosis_reconstructed"] = with_lowpass.copy()
        labels["auto_correlation_reconstructed"] = grid((width, width), with_lowpass)
        labels["std_reconstructed"] = with_lowpass.copy()
        labels["cross_orientation_correlation_magnitude"] = grid((n_or, n_or), scales)
        labels["magnitude_std"] = grid((n_or,), scales)
        labels["cross_scale_correlation_magnitude"] = grid(
            (n_or, n_or), without_coarsest
        )
        labels["cross_scale_correlation_real"] = grid(
            (n_or, 2 * n_or), without_coarsest
        )
        labels["var_highpass_residual"] = np.array(["residual_highpass"], dtype=object)

        # auto-correlations are point-symmetric: keep the lower triangle (with the
        # whole first row when the width is even, as it has no mirror) minus the
        # second half of the diagonal (mirror of the first; the centre is always 1)
        auto = np.tril(np.ones((width, width), dtype=bool))
        if width % 2 == 0:
            auto[0] = True
        half = np.arange(width // 2, width)
        auto[half, half] = False
        # correlation matrices are symmetric with a unit diagonal
        strictly_lower = np.tril(np.ones((n_or, n_or), dtype=bool), k=-1)
        keep: OrderedDict[str, np.ndarray] = OrderedDict()
        for name, lab in labels.items():
            mask = np.ones(lab.shape, dtype=bool)
            if name in ("auto_correlation_magnitude", "auto_correlation_reconstructed"):
                mask &= auto.reshape(width, width, *([1] * (lab.ndim - 2)))
            elif name == "cross_orientation_correlation_magnitude":
                mask &= strictly_lower[..., None]
            keep[name] = mask
        return labels, keep

    def _scale_index(self, scales: Iterable[ScaleName], device: torch.device) -> Tensor:
        """Return the indices (into the full vector) of the statistics of ``scales``."""
        wanted = frozenset(scales)
        unknown = [s for s in wanted if s not in self.scales]
        if unknown:
            raise ValueError(f"unknown scales {unknown}; valid scales: {self.scales}")
        key = (str(device), wanted)
        index = self._scale_index_cache.get(key)
        if index is None:
            selected = np.array(
                [label in wanted for label in self._representation_scales]
            )
            index = torch.as_tensor(np.flatnonzero(selected), device=device)
            self._scale_index_cache[key] = index
        return index

    # ------------------------------------------------------------------------------
    def forward(
        self, image: Tensor, scales: Sequence[ScaleName] | None = None
    ) -> Tensor:
        """Compute the texture statistics of ``image``.

        Parameters
        ----------
        image
            Real tensor of shape ``(batch, channel, *image_shape)``.
        scales
            If given, a subset of :attr:`scales`: only the statistics of these
            scales are returned (in the order of the full vector).

        Returns
        -------
        representation
            Tensor of shape ``(batch, channel, n_statistics)``.

        Raises
        ------
        ValueError
            If ``image`` is not 4-D, not real floating point, its height and width
            differ from ``image_shape``, or ``scales`` has unknown names.

        Examples
        --------
        >>> import torch, pipeline as po
        >>> model = po.models.PortillaSimoncelli((64, 64), n_scales=2)
        >>> model(torch.rand(2, 3, 64, 64)).shape
        torch.Size([2, 3, 348])

        """
        if image.ndim != 4:
            raise ValueError(
                "image must be 4-D (batch, channel, height, width), got shape "
                f"{tuple(image.shape)}"
            )
        if tuple(image.shape[-2:]) != self.image_shape:
            raise ValueError(
                f"image height/width {tuple(image.shape[-2:])} does not match the "
                f"model's image_shape {self.image_shape}"
            )
        if not image.is_floating_point():
            raise ValueError(f"image must be real floating point, got {image.dtype}")
        groups = self._statistics(image)
        flat = torch.cat([g.flatten(2) for g in groups.values()], dim=-1)
        representation = flat.index_select(-1, self._keep_index)
        if scales is not None:
            representation = self.remove_scales(representation, scales)
        return representation

    def _add_masks(self) -> None:
        """Register the masks the statistics need beyond the pyramid's own.

        All are derived from the pyramid's mask factors and registered with the
        pyramid (float64 masters, converted with the module):

        - ``ps_recon{k}``: the real-part response of scale ``k``'s bands,
          ``hi_k ** 2 * sum_o ana_o syn_o`` (Hermitian part, half spectrum), times
          the lowpass chain into scale ``k``, to add scale ``k`` from the image's
          spectrum to a partially reconstructed image;
        - ``ps_step{k}``: the lowpass step from scale ``k`` to ``k + 1`` (on the
          grid of ``k + 1``), ``ps_lo`` the initial lowpass, and ``ps_residual``
          the lowpass residual's mask times the coarsest step, with the zero
          frequency removed (which de-means the lowpass residual);
        - ``ps_rows{k}`` / ``ps_cols{k}``: cosine and sine tables giving the
          central ``spatial_corr_width``-square auto-correlation of an image of
          scale ``k`` (``k = n_scales``: the lowpass residual) from its half power
          spectrum, as two small matrix products;
        - ``ps_weights``: half-spectrum weights for Parseval sums on the image grid;
        - ``ps_band{k}``: complex (as real and imaginary planes), the masks giving
          the real parts of scale ``k``'s bands, then their imaginary parts, from
          the image's half spectrum (see below).
        """
        pyr = self.pyramid
        needed = ["lo", *(f"low{k}" for k in range(self.n_scales))]
        if not all(pyr._half[key] for key in needed):  # pragma: no cover - guard
            raise RuntimeError("the pyramid's lowpass images are not half spectra")
        factors = pyr._factor_masks()

        def half(shifted: np.ndarray) -> np.ndarray:
            return _half_spectrum(np.fft.ifftshift(shifted, axes=(-2, -1)))

        for k in range(self.n_scales):
            response = (factors[f"ana{k}"] * factors[f"syn{k}"]).sum(0)
            low = pyr._masks64[f"low{k}"].numpy()
            pyr._add_mask(f"ps_recon{k}", low * half(factors[f"hi{k}"] ** 2 * response))
            step = half(factors[f"lo{k}"])
            if k < self.n_scales - 1:
                pyr._add_mask(f"ps_step{k}", step)
        step[0, 0] = 0.0
        pyr._add_mask("ps_residual", pyr._masks64["lo"].numpy() * step)
        pyr._add_mask("ps_lo", half(factors["lo"]))

        # real and imaginary parts of the bands from the image's half spectrum:
        # band o has the spectrum X = p F A_o (F the image's, A_o the real mask, p
        # the analysis phase), so Re / Im of its image are the inverse real FFTs of
        # F (p A_o + conj(p) A_o(-f)) / 2 and F (p A_o - conj(p) A_o(-f)) / 2i
        # (exact as the masks vanish on the Nyquist lines of cropped grids)
        phase = complex(pyr._analysis_phase)
        for k in range(self.n_scales):
            band = pyr._masks64[f"band{k}"].numpy()
            if not _nyquist_is_zero(band, self.image_shape):  # pragma: no cover
                raise RuntimeError("the pyramid's bands do not vanish at Nyquist")
            mirror = phase.conjugate() * _negate(band)
            parts = np.concatenate(
                [(phase * band + mirror) / 2, (phase * band - mirror) / 2j]
            )[..., : band.shape[-1] // 2 + 1]
            pyr._add_mask(f"ps_band{k}", np.stack([parts.real, parts.imag], -1))

        width = self.spatial_corr_width
        lags = np.arange(-(width // 2), (width + 1) // 2)
        for k, (h, w) in enumerate(pyr._dims):
            rows = 2 * np.pi * np.outer(lags, np.arange(h)) / h
            pyr._add_mask(f"ps_rows{k}", np.concatenate([np.cos(rows), np.sin(rows)]))
            fx = np.arange(w // 2 + 1)
            cols = 2 * np.pi * np.outer(fx, lags) / w
            weight = _half_weights(w)[:, None] / float(h * w) ** 2
            pyr._add_mask(
                f"ps_cols{k}", np.stack([weight * np.cos(cols), -weight * np.sin(cols)])
            )
        h, w = self.image_shape
        pyr._add_mask("ps_weights", _half_weights(w) / float(h * w) ** 2)

    def _statistics(self, image: Tensor) -> OrderedDict[str, Tensor]:
        """All statistics (redundant ones included), by group, reference shapes."""
        pyr = self.pyramid
        dtype = image.dtype
        n_sc, n_or = self.n_scales, self.n_orientations
        width = self.spatial_corr_width
        centre = width // 2
        eps = torch.finfo(dtype).eps
        res = torch.finfo(dtype).resolution
        batch_shape = image.shape[:2]

        def mask(key: str) -> Tensor:
            return pyr._filter(key, image)

        def autocorr(spectrum: Tensor, k: int) -> Tensor:
            # central auto-correlation from a half spectrum on scale k's grid
            return _AutoCorrelation.apply(
                spectrum, mask(f"ps_rows{k}"), mask(f"ps_cols{k}")
            )

        # the size below which a variance of scale k counts as zero: coefficients of
        # scale k are 4**k times larger than the image (un-normalised down-sampling)
        energy = image.detach().pow(2).mean((-2, -1))
        floor0 = (_DEGENERATE_EPS_FACTOR * eps) ** 2 * energy

        # pixel statistics
        mean = image.mean((-2, -1), keepdim=True)
        centred = image - mean
        sq = centred.square()
        n_pix = image.shape[-1] * image.shape[-2]
        var = sq.sum((-2, -1)) / (n_pix - 1)
        m3 = (sq * centred).mean((-2, -1))
        m4 = sq.square().mean((-2, -1))
        ok = var > floor0
        pixel = torch.stack(
            [
                mean[..., 0, 0],
                var,
                _safe_ratio(m3, var.pow(1.5), ok, 0.0),
                _safe_ratio(m4, var.square(), ok, 3.0),
                image.amin((-2, -1)),
                image.amax((-2, -1)),
            ],
            dim=-1,
        )

        # ---- the pyramid, in the Fourier domain (one real FFT of the image): every
        # spectrum is a crop of it times a mask; the bands' real and imaginary parts
        # are stacked (2 * n_or half spectra per scale) so that their images come
        # from one inverse real FFT each, as contiguous real tensors
        spec = torch.fft.rfft2(image, norm=pyr.fft_norm)

        # the half spectrum cropped to the grid of each scale (n_sc: the lowpass
        # residual's), each from the previous: smaller derivatives of the crops
        crops = [spec]
        for h, w in pyr._dims[1:]:
            crops.append(_crop_rows(crops[-1], h)[..., : w // 2 + 1])

        def complex_mask(key: str) -> Tensor:
            return torch.view_as_complex(mask(key))

        highpass = _power(spec * mask("hi"))
        var_highpass = (highpass @ mask("ps_weights")).sum(-1)
        bands = [
            crops[k].unsqueeze(-3) * complex_mask(f"ps_band{k}") for k in range(n_sc)
        ]

        # ---- partially reconstructed images (half spectra), coarse to fine: the
        # de-meaned lowpass residual, then recursively R_k = pad(Lo_k R_{k+1}) +
        # lowpass_k * hi_k**2 sum_o ana_o syn_o; image k is Lo_{k-1} R_k
        recon_spectra: list[Tensor] = [torch.empty(0)] * (n_sc + 1)
        reduced = crops[n_sc] * mask("ps_residual")
        for k in range(n_sc - 1, -1, -1):
            recon_spectra[k + 1] = reduced
            h, w = pyr._dims[k]
            padded = _pad_half_cols(_pad_rows(reduced, h), w // 2 + 1)
            full = padded + crops[k] * mask(f"ps_recon{k}")
            reduced = full * mask(f"ps_step{k - 1}" if k else "ps_lo")
        recon_spectra[0] = reduced

        # raw second moments per scale, normalised below for all scales at once
        # (scale last): the many small operations of the normalisations cost more
        # than their arithmetic
        ac_mag, cov_mm, cov_mp, v_p, cov_rc, v_r, v_c = [], [], [], [], [], [], []
        ac_rec, m34_rec = [], []

        def recon_moments(k: int) -> None:
            spec = recon_spectra[k]
            img = torch.fft.irfft2(spec, s=pyr._dims[k])
            ac_rec.append(autocorr(spec, k))
            m34_rec.append(_HigherMoments.apply(img))

        for k in range(n_sc):
            h, w = pyr._dims[k]
            parts = torch.fft.irfft2(bands[k], s=(h, w))
            mag = _Modulus.apply(parts)[0]
            ac_mag.append(autocorr(torch.fft.rfft2(mag), k))
            recon_moments(k)

            # covariances of this scale: one matrix product per pair of band sets
            n_k = h * w
            mag_f = mag.flatten(-2)
            cov_mm.append(_Gram.apply(mag_f) / n_k)
            if k == n_sc - 1:
                continue
            # parents: the next coarser bands up-sampled (x2, so / 4), their
            # magnitudes and phase-doubled values |z| exp(2i arg z) = z**2 / |z|
            # (in two steps: the columns' inverse FFT only where the spectrum is not
            # zero padding, then irfft zero-pads the half spectrum's columns)
            parent = torch.fft.irfft(
                torch.fft.ifft(_pad_rows(bands[k + 1], h), dim=-2), n=w, dim=-1
            )
            # the real parts of all orientations, then the imaginary ones
            amp, _, doubled = (t.flatten(-2) for t in _PhaseDoubled.apply(parent))
            real_f = parts[..., :n_or, :, :].flatten(-2)
            for out, value in zip(
                (cov_mp, v_p), _Moments.apply(mag_f, amp)[::2], strict=True
            ):
                out.append(value / n_k)
            for out, value in zip(
                (cov_rc, v_r, v_c), _Moments.apply(real_f, doubled), strict=True
            ):
                out.append(value / n_k)

        recon_moments(n_sc)  # the lowpass residual's reconstructed image

        # the size below which a variance of scale k counts as zero
        floors = floor0[..., None] * 16.0 ** torch.arange(
            n_sc + 1, dtype=dtype, device=image.device
        )

        def corr(
            cov: Tensor, sd_a: Tensor, ok_a: Tensor, sd_b: Tensor, ok_b: Tensor
        ) -> Tensor:
            den = sd_a[..., :, None, :] * sd_b[..., None, :, :]
            ok_ab = ok_a[..., :, None, :] & ok_b[..., None, :, :]
            return _safe_ratio(cov, den, ok_ab, 0.0)

        def sd(variance: Tensor) -> tuple[Tensor, Tensor]:
            ok = variance > floors[..., None, : variance.shape[-1]]
            return _safe_sqrt(variance, ok), ok

        ac_m = torch.stack(ac_mag, -1)  # (..., n_or, width, width, n_sc)
        v_m = ac_m[..., centre, centre, :]
        sd_m, ok_m = sd(v_m)
        ac_rec_all = torch.stack(ac_rec, -1)
        m34 = torch.stack(m34_rec, -1)
        var_r = ac_rec_all[..., centre, centre, :]
        ok_r = var_r > floors
        stable = ok_r & (var_r >= res * var[..., None])

        groups: OrderedDict[str, Tensor] = OrderedDict()
        groups["pixel_statistics"] = pixel
        groups["auto_correlation_magnitude"] = _safe_ratio(
            ac_m, v_m[..., None, None, :], ok_m[..., None, None, :], 0.0
        ).permute(0, 1, 3, 4, 2, 5)
        groups["skew_reconstructed"] = _safe_ratio(
            m34[..., 0, :], var_r.pow(1.5), stable, 0.0
        )
        groups["kurtosis_reconstructed"] = _safe_ratio(
            m34[..., 1, :], var_r.square(), stable, 3.0
        )
        groups["auto_correlation_reconstructed"] = _safe_ratio(
            ac_rec_all, var_r[..., None, None, :], ok_r[..., None, None, :], 0.0
        )
        groups["std_reconstructed"] = _safe_sqrt(var_r, ok_r)
        groups["cross_orientation_correlation_magnitude"] = corr(
            torch.stack(cov_mm, -1), sd_m, ok_m, sd_m, ok_m
        )
        groups["magnitude_std"] = sd_m
        if n_sc > 1:
            sd_p, ok_p = sd(torch.stack(v_p, -1))
            sd_r, ok_rr = sd(torch.stack(v_r, -1))
            sd_c, ok_c = sd(torch.stack(v_c, -1))
            sd_mc, ok_mc = sd_m[..., :-1], ok_m[..., :-1]
            cross_mag = corr(torch.stack(cov_mp, -1), sd_mc, ok_mc, sd_p, ok_p)
            cross_real = corr(torch.stack(cov_rc, -1), sd_r, ok_rr, sd_c, ok_c)
        else:
            cross_mag = image.new_zeros((*batch_shape, n_or, n_or, 0))
            cross_real = image.new_zeros((*batch_shape, n_or, 2 * n_or, 0))
        groups["cross_scale_correlation_magnitude"] = cross_mag
        groups["cross_scale_correlation_real"] = cross_real
        groups["var_highpass_residual"] = var_highpass.unsqueeze(-1)
        return groups

    @property
    def n_statistics(self) -> int:
        """Length of the full representation (:meth:`forward` with ``scales=None``)."""
        return len(self._representation_scales)

    # ------------------------------------------------------------------------------
    def remove_scales(
        self, representation_tensor: Tensor, scales_to_keep: Sequence[ScaleName]
    ) -> Tensor:
        """Keep only the statistics of some scales.

        Parameters
        ----------
        representation_tensor
            Full representation, shape ``(batch, channel, n_statistics)``.
        scales_to_keep
            Subset of :attr:`scales`.

        Returns
        -------
        reduced
            The statistics of those scales, in their order in the full vector.

        Raises
        ------
        ValueError
            If the tensor is not a full representation or a scale is unknown.

        Examples
        --------
        >>> import torch, pipeline as po
        >>> model = po.models.PortillaSimoncelli((256, 256))
        >>> model.remove_scales(model(torch.rand(1, 1, 256, 256)), [0]).shape
        torch.Size([1, 1, 181])

        """
        n = representation_tensor.shape[-1]
        if n != len(self._representation_scales):
            raise ValueError(
                f"representation has {n} statistics, expected the full "
                f"{len(self._representation_scales)}"
            )
        index = self._scale_index(scales_to_keep, representation_tensor.device)
        return representation_tensor.index_select(-1, index)

    def convert_to_dict(
        self, representation_tensor: Tensor
    ) -> OrderedDict[str, Tensor]:
        """Split a full representation into named statistic groups.

        Redundant entries (not part of the vector) are NaN.

        Parameters
        ----------
        representation_tensor
            Tensor of shape ``(batch, channel, n_statistics)`` from :meth:`forward`
            with ``scales=None``.

        Returns
        -------
        representation_dict
            Groups named as in :data:`STAT_NAMES`, each of shape ``(batch, channel,
            *group_shape)``, e.g. ``auto_correlation_magnitude`` is ``(batch,
            channel, spatial_corr_width, spatial_corr_width, n_orientations,
            n_scales)``.

        Raises
        ------
        ValueError
            If the tensor does not have the full number of statistics.

        Examples
        --------
        >>> import torch, pipeline as po
        >>> model = po.models.PortillaSimoncelli((128, 128), n_scales=3)
        >>> rep = model.convert_to_dict(model(torch.rand(1, 1, 128, 128)))
        >>> rep["auto_correlation_magnitude"].shape
        torch.Size([1, 1, 7, 7, 4, 3])

        """
        n = representation_tensor.shape[-1]
        if n != len(self._representation_scales):
            raise ValueError(
                f"representation tensor is the wrong length: {n} statistics, expected "
                f"the full {len(self._representation_scales)} of this model "
                "(convert_to_dict does not take scale subsets)"
            )
        lead = representation_tensor.shape[:-1]
        out: OrderedDict[str, Tensor] = OrderedDict()
        start = 0
        for name, keep in self._group_keep.items():
            count = int(keep.sum())
            values = representation_tensor.new_full((*lead, *keep.shape), torch.nan)
            values[..., torch.as_tensor(keep, device=values.device)] = (
                representation_tensor[..., start : start + count]
            )
            out[name] = values
            start += count
        return out

    def convert_to_tensor(self, representation_dict: dict[str, Tensor]) -> Tensor:
        """Inverse of :meth:`convert_to_dict`.

        Parameters
        ----------
        representation_dict
            Groups as returned by :meth:`convert_to_dict`.

        Returns
        -------
        representation_tensor
            Tensor of shape ``(batch, channel, n_statistics)``.

        Raises
        ------
        ValueError
            If groups are missing or unexpected.

        Examples
        --------
        >>> import torch, pipeline as po
        >>> model = po.models.PortillaSimoncelli((128, 128), n_scales=3)
        >>> rep = model(torch.rand(1, 1, 128, 128))
        >>> torch.equal(model.convert_to_tensor(model.convert_to_dict(rep)), rep)
        True

        """
        if set(representation_dict) != set(STAT_NAMES):
            raise ValueError(
                f"representation_dict must have the keys {list(STAT_NAMES)}, got "
                f"{list(representation_dict)}"
            )
        pieces = []
        for name, keep in self._group_keep.items():
            values = representation_dict[name]
            pieces.append(values[..., torch.as_tensor(keep, device=values.device)])
        return torch.cat(pieces, dim=-1)

    # ------------------------------------------------------------------------------
    # plotting
    def _plot_groups(self, data: Tensor | dict, batch_idx: int) -> OrderedDict:
        """Summaries (1-D numpy arrays) of each statistic group, for plotting."""
        if isinstance(data, dict):
            extra = sorted(set(data) - set(STAT_NAMES))
            if extra:
                raise ValueError(f"representation contains additional keys {extra}")
            missing = [k for k in STAT_NAMES if k not in data]
            if missing:
                raise KeyError(f"representation is missing keys {missing}")
            rep = {k: v[batch_idx].mean(0) for k, v in data.items()}
        else:
            data = torch.as_tensor(data)
            while data.ndim < 3:
                data = data.unsqueeze(0)
            one = data[batch_idx : batch_idx + 1].mean(1, keepdim=True)
            rep = {k: v[0, 0] for k, v in self.convert_to_dict(one).items()}
        rep = {k: v.detach().to("cpu", torch.float64) for k, v in rep.items()}
        out: OrderedDict[str, np.ndarray] = OrderedDict()
        out["pixels+var_highpass"] = torch.cat(
            [rep["pixel_statistics"], rep["var_highpass_residual"]]
        )
        out["std+skew+kurtosis recon"] = torch.cat(
            [
                rep["std_reconstructed"],
                rep["skew_reconstructed"],
                rep["kurtosis_reconstructed"],
            ]
        )
        out["magnitude_std"] = rep["magnitude_std"].flatten()
        for name in (
            "auto_correlation_reconstructed",
            "auto_correlation_magnitude",
            "cross_orientation_correlation_magnitude",
            "cross_scale_correlation_magnitude",
            "cross_scale_correlation_real",
        ):
            if name.startswith("cross_scale") and self.n_scales == 1:
                continue
            # Euclidean norm over the first two axes, ignoring redundant (NaN) entries
            out[name] = rep[name].nan_to_num(0.0).square().sum((0, 1)).sqrt().flatten()
        return OrderedDict((k, v.numpy()) for k, v in out.items())

    def plot_representation(
        self,
        data: Tensor | dict,
        ax: Axes | None = None,
        figsize: tuple[float, float] | None = None,
        ylim: tuple[float, float] | Literal[False] | None = None,
        batch_idx: int = 0,
        title: str | None = None,
    ) -> tuple[Figure, list[Axes]]:
        """Plot the statistics as stem plots, one panel per statistic group.

        Channels are averaged; correlation matrices are summarised by the Euclidean
        norm of each matrix.  Panels: pixel statistics and high-pass variance;
        standard deviation, skewness and kurtosis of the reconstructed images;
        magnitude standard deviations; norms of the reconstructed and magnitude
        auto-correlations, cross-orientation and (with more than one scale)
        cross-scale correlations.

        Parameters
        ----------
        data
            A full representation ``(batch, channel, n_statistics)`` or a dict from
            :meth:`convert_to_dict`.
        ax
            Axes to subdivide; a new figure when None.
        figsize
            Size of the new figure (default ``(12, 5)``); only without ``ax``.
        ylim
            y-limits of every panel; None: automatic, including 0; False: untouched.
        batch_idx
            Which batch element to plot.
        title
            Figure title.

        Returns
        -------
        fig
            The figure.
        axes
            The panels, in the order above.

        Raises
        ------
        ValueError
            If both ``ax`` and ``figsize`` are given, or a dict ``data`` has keys
            that are not statistic groups.
        KeyError
            If a dict ``data`` lacks a statistic group.

        Examples
        --------
        >>> import torch, pipeline as po
        >>> model = po.models.PortillaSimoncelli((128, 128), n_scales=3)
        >>> fig, axes = model.plot_representation(model(torch.rand(1, 1, 128, 128)))
        >>> len(axes)
        8

        """
        import matplotlib.pyplot as plt

        if ax is not None and figsize is not None:
            raise ValueError("figsize can't be set if ax is given")
        groups = self._plot_groups(data, batch_idx)
        n_rows = 3 if self.n_scales > 1 else 2
        n_cols = math.ceil(len(groups) / n_rows)
        if ax is None:
            fig = plt.figure(figsize=figsize or (12, 5))
            spec = fig.add_gridspec(n_rows, n_cols)
        else:
            fig = ax.figure
            spec = ax.get_subplotspec().subgridspec(n_rows, n_cols)
            ax.set_axis_off()
        axes = []
        for i, (name, values) in enumerate(groups.items()):
            panel = fig.add_subplot(spec[i // n_cols, i % n_cols])
            panel.stem(np.arange(values.size), values, basefmt=" ")
            panel.set_title(name, fontsize="small")
            if ylim is None:
                _fit_ylim(panel, values)
            elif ylim is not False:
                panel.set_ylim(*ylim)
            axes.append(panel)
        if title is not None:
            fig.suptitle(title)
        return fig, axes

    def update_plot(
        self,
        axes: list[Axes],
        data: Tensor | dict,
        batch_idx: int = 0,
        rescale_ylim: bool = False,
    ) -> list[Artist]:
        """Replace the values shown by :meth:`plot_representation`.

        Parameters
        ----------
        axes
            The axes returned by :meth:`plot_representation` (axes without exactly
            one stem plot are skipped).
        data
            New representation, as for :meth:`plot_representation`.
        batch_idx
            Which batch element to show.
        rescale_ylim
            Whether to fit each panel's y-limits to the new values (as
            :meth:`plot_representation` does with ``ylim=None``); otherwise they
            are kept.

        Returns
        -------
        artists
            The updated marker lines and stem lines (for animations).

        Examples
        --------
        >>> import torch, pipeline as po
        >>> model = po.models.PortillaSimoncelli((128, 128), n_scales=3)
        >>> fig, axes = model.plot_representation(model(torch.rand(1, 1, 128, 128)))
        >>> artists = model.update_plot(axes, model(torch.rand(1, 1, 128, 128)))

        """
        groups = self._plot_groups(data, batch_idx)
        stem_axes = [a for a in axes if len(a.containers) == 1]
        artists: list[Any] = []
        for panel, values in zip(stem_axes, groups.values(), strict=False):
            container = panel.containers[0]
            x = np.arange(values.size)
            container.markerline.set_data(x, values)
            container.stemlines.set_segments(
                [
                    np.array([[xi, 0.0], [xi, yi]])
                    for xi, yi in zip(x, values, strict=True)
                ]
            )
            artists.extend([container.markerline, container.stemlines])
            if rescale_ylim:
                _fit_ylim(panel, values)
        return artists
