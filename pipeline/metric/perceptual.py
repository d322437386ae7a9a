r"""Perceptual image-quality metrics: SSIM, MS-SSIM and NLPD.

The definitions (window, constants, border handling, scales, filters) are those of
the reference library, so values agree with it to floating-point rounding:

- **SSIM** (Wang et al., 2004): local statistics under an 11x11 circular Gaussian
  window of standard deviation 1.5, normalized to sum 1 (shrunk to
  ``min(11, height, width)`` pixels for smaller images), ``C1 = (0.01 * L)**2``,
  ``C2 = (0.03 * L)**2`` with data range ``L = 1``; by default "valid" convolution
  (no padding), so the SSIM map is ``10`` pixels smaller than the image in each
  dimension. The weighted variant (Wang & Simoncelli, 2008) weights the map by
  :math:`\log((1+\sigma_1^2/C_2)(1+\sigma_2^2/C_2))`.
- **MS-SSIM** (Wang et al., 2003): one scale per power factor (default 5,
  ``(0.0448, 0.2856, 0.3001, 0.2363, 0.1333)``), images halved between scales by a
  2x2 average after replicating the last row / column of odd-sized images; the mean
  contrast-structure term of every scale but the coarsest and the mean full SSIM of
  the coarsest, each clipped at 0 and raised to its power factor, are multiplied.
- **NLPD** (Laparra et al., 2016): a 6-scale Laplacian pyramid built with the
  5-tap binomial filter ``[1, 4, 6, 4, 1] / 16`` (separable, reflected borders,
  unit DC gain when blurring down and gain 4 when blurring up), each band divided by
  ``sigma_k + (|band| ⋆ F_k)`` with the published 5x5 pooling filters ``F_k``
  (zero-padded) and constants ``sigma_k``; the distance is the root mean squared
  difference of the normalized bands, averaged over the 6 bands, with
  ``epsilon = 1e-10`` added under each square root.

Implementation: every image, batch element and channel is folded into the channel
axis of one ``(1, N, height, width)`` tensor. SSIM filters the five local statistics
(``x1, x2, x1**2, x2**2, x1*x2``) with one pair of depthwise (grouped) 1-D
convolutions, the window being separable. NLPD runs both images through one pyramid
(or, when only one of them requires gradients, computes the other one's without
autograd); on CPU its large levels are filtered by shift-and-add with the few
nonzero taps of each (separable or sparse) filter, in a custom autograd function
whose derivative is its adjoint, and its small levels (and all levels on other
devices) by depthwise convolutions. Filters are built once per (size, channels,
dtype, device) and cached.
All functions are differentiable.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Literal, NamedTuple, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..autograd import PositionalFunction
from ..separable import correlate_separable
from .naive import (
    _check_images,
    _mean_squared_difference,
    _warn_channels,
    _warn_range,
)

__all__ = [
    "ms_ssim",
    "nlpd",
    "normalized_laplacian_pyramid",
    "ssim",
    "ssim_map",
]

_T = TypeVar("_T")
PadMode = Literal[False, "constant", "reflect", "replicate", "circular"]
_PAD_MODES = ("constant", "reflect", "replicate", "circular")

#: Side of the SSIM Gaussian window (shrunk to the image for smaller images).
SSIM_WINDOW_SIZE = 11
#: Standard deviation of the SSIM Gaussian window, in pixels.
SSIM_WINDOW_STD = 1.5
#: SSIM stabilizing constants ``(K * L)**2`` with ``K1 = 0.01``, ``K2 = 0.03``, ``L = 1``.
SSIM_C1 = 0.01**2
SSIM_C2 = 0.03**2
#: Default MS-SSIM exponents, fine to coarse (Wang et al., 2003).
MS_SSIM_POWER_FACTORS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
#: Number of scales of the normalized Laplacian pyramid.
NLPD_N_SCALES = 6
#: Additive constants of the divisive normalization, fine to coarse.
NLPD_SIGMAS = (0.0248, 0.0185, 0.0179, 0.0191, 0.0220, 0.2782)
#: Nonzero taps ``{(row, col): weight}`` of the 5x5 pooling filters of the divisive
#: normalization, fine to coarse, applied by cross-correlation with zero padding.
NLPD_POOLING_TAPS: tuple[dict[tuple[int, int], float], ...] = (
    {(1, 2): 0.1011, (2, 1): 0.1493, (2, 3): 0.1460, (2, 4): 0.0072, (3, 2): 0.1015},
    {(1, 2): 0.0757, (2, 1): 0.1986, (2, 3): 0.1846, (3, 2): 0.0837},
    {(1, 2): 0.0477, (2, 1): 0.2138, (2, 3): 0.2243, (3, 2): 0.0467},
    {(2, 1): 0.2503, (2, 3): 0.2616},
    {(2, 1): 0.2598, (2, 3): 0.2552},
    {(2, 1): 0.2215, (2, 3): 0.0717},
)
#: Default constant under the square roots of NLPD (keeps its gradient finite at 0).
NLPD_EPSILON = 1e-10
# 1-D factor of the binomial filter of the Laplacian pyramid (unit sum)
_BINOM5 = (1 / 16, 4 / 16, 6 / 16, 4 / 16, 1 / 16)


# ----------------------------------------------------------------------------------
# cached filters


def _constant_tensor(builder: Callable[..., _T]) -> Callable[..., _T]:
    """Cache a filter builder; build outside autograd and inference mode.

    Parameters
    ----------
    builder
        Function of hashable arguments returning a constant tensor.

    Returns
    -------
    cached
        The memoized builder.

    """

    @functools.lru_cache(maxsize=128)
    def cached(*args: object) -> _T:
        # inference_mode(False): a filter first built under torch.inference_mode
        # must still be usable later in autograd-recorded convolutions.
        with torch.inference_mode(False), torch.no_grad():
            return builder(*args)

    functools.update_wrapper(cached, builder)
    return cached


@functools.lru_cache(maxsize=32)
def _gaussian_taps(size: int) -> tuple[float, ...]:
    """Return the normalized 1-D factor of the SSIM window of ``size`` taps.

    Parameters
    ----------
    size
        Number of taps.

    Returns
    -------
    taps
        Gaussian of standard deviation ``SSIM_WINDOW_STD`` sampled at offsets
        ``1 - (size + 1) / 2, ..., size - (size + 1) / 2`` and divided by its sum;
        its outer product with itself is the reference's 2-D window.

    """
    origin = (size + 1) / 2
    values = [
        math.exp(-((i - origin) ** 2) / (2 * SSIM_WINDOW_STD**2))
        for i in range(1, size + 1)
    ]
    total = math.fsum(values)
    return tuple(v / total for v in values)


@_constant_tensor
def _taps_tensor(
    taps: tuple[float, ...], dtype: torch.dtype, device: torch.device
) -> Tensor:
    """Return 1-D filter taps as a ``(1, len(taps))`` tensor (rounded from float64).

    Parameters
    ----------
    taps
        1-D filter taps.
    dtype, device
        Of the tensor.

    Returns
    -------
    kernel
        One kernel, as `correlate_separable` takes it.

    """
    t = torch.tensor(taps, dtype=torch.float64).to(dtype=dtype, device=device)
    return t.reshape(1, -1)


def _separable_filter(x: Tensor, taps: tuple[float, ...]) -> Tensor:
    """Correlate each channel of ``(1, C, H, W)`` with a separable filter, no padding.

    Parameters
    ----------
    x
        Input of shape ``(1, C, H, W)``.
    taps
        1-D filter taps, used along both dimensions.

    Returns
    -------
    filtered
        ``(1, C, H - k + 1, W - k + 1)``.

    """
    kernel = _taps_tensor(taps, x.dtype, x.device)
    return correlate_separable(x, kernel, kernel)


def _fold(*images: Tensor) -> tuple[Tensor, list[int]]:
    """Fold images of equal height and width into the channels of one tensor.

    Parameters
    ----------
    *images
        4-D tensors ``(b_i, c_i, H, W)``.

    Returns
    -------
    folded
        ``(1, sum(b_i * c_i), H, W)``.
    counts
        ``b_i * c_i`` for each image, to split ``folded`` back.

    """
    counts = [img.shape[0] * img.shape[1] for img in images]
    height, width = images[0].shape[-2:]
    folded = torch.cat([img.reshape(1, -1, height, width) for img in images], dim=1)
    return folded, counts


# ----------------------------------------------------------------------------------
# SSIM


class _SSIMParts(NamedTuple):
    """Maps that SSIM, weighted SSIM and MS-SSIM are computed from."""

    contrast_structure: Tensor
    luminance: Tensor | None
    weight: Tensor | None


def _check_pad(pad: object) -> None:
    """Raise ``ValueError`` for an unknown ``pad`` option.

    Parameters
    ----------
    pad
        The value to check.

    Raises
    ------
    ValueError
        If ``pad`` is neither ``False`` nor a padding mode.

    """
    if pad is not False and pad not in _PAD_MODES:
        raise ValueError(f"pad must be False or one of {_PAD_MODES}, got {pad!r}")


def _ssim_parts(
    img1: Tensor,
    img2: Tensor,
    pad: PadMode = False,
    luminance: bool = True,
    weight: bool = False,
) -> _SSIMParts:
    """Compute the SSIM maps of two checked images.

    Parameters
    ----------
    img1, img2
        Images of shape (batch, channel, height, width), already checked.
    pad
        ``False`` for valid convolution, otherwise the ``torch.nn.functional.pad`` mode
        used to pad the images by ``window - 1`` pixels (first half before) so the
        maps have the images' size.
    luminance
        Whether to compute the luminance map.
    weight
        Whether to compute the Wang & Simoncelli (2008) weight map.

    Returns
    -------
    parts
        Contrast-structure map, luminance map (or ``None``) and weight map (or
        ``None``), broadcast to the batch and channel sizes of the pair.

    """
    height, width = img1.shape[-2:]
    size = min(SSIM_WINDOW_SIZE, height, width)
    # the five local statistics, filtered by one depthwise convolution pair
    stats, counts = _fold(img1, img2, img1 * img1, img2 * img2, img1 * img2)
    if pad is not False:
        before = (size - 1) // 2
        after = size - 1 - before
        stats = F.pad(stats, (before, after, before, after), mode=pad)
    stats = _separable_filter(stats, _gaussian_taps(size))
    out_h, out_w = stats.shape[-2:]
    # numpy's broadcast, not torch's: torch.broadcast_shapes imports sympy (~0.5 s)
    shapes = [img1.shape[:2], img2.shape[:2]] * 2 + [
        np.broadcast_shapes(img1.shape[:2], img2.shape[:2])
    ]
    mu1, mu2, e11, e22, e12 = (
        part.reshape(*shape, out_h, out_w)
        for part, shape in zip(stats.split(counts, dim=1), shapes, strict=True)
    )
    mu1_sq = mu1 * mu1
    mu2_sq = mu2 * mu2
    mu1_mu2 = mu1 * mu2
    sigma1_sq = e11 - mu1_sq
    sigma2_sq = e22 - mu2_sq
    sigma12 = e12 - mu1_mu2
    contrast_structure = (2 * sigma12 + SSIM_C2) / (sigma1_sq + sigma2_sq + SSIM_C2)
    luminance_map = None
    if luminance:
        luminance_map = (2 * mu1_mu2 + SSIM_C1) / (mu1_sq + mu2_sq + SSIM_C1)
    weight_map = None
    if weight:
        weight_map = torch.log((1 + sigma1_sq / SSIM_C2) * (1 + sigma2_sq / SSIM_C2))
    return _SSIMParts(contrast_structure, luminance_map, weight_map)


def ssim_map(img1: Tensor, img2: Tensor, pad: PadMode = False) -> Tensor:
    """Structural similarity index map (Wang et al., 2004).

    SSIM compares the local luminance, contrast and structure of two images under a
    Gaussian window (11x11, standard deviation 1.5; shrunk to
    ``min(11, height, width)`` for smaller images):

    ``SSIM = (2 mu1 mu2 + C1) / (mu1^2 + mu2^2 + C1) *
    (2 sigma12 + C2) / (sigma1^2 + sigma2^2 + C2)``

    with ``C1 = 0.01**2`` and ``C2 = 0.03**2`` (data range 1). It is a similarity: 1
    for identical images, lower for different ones, bounded in ``[-1, 1]``. Channels
    are treated like batch elements (SSIM was designed for grayscale images).

    Parameters
    ----------
    img1
        The first image or batch of images, of shape (batch, channel, height, width),
        with values in ``[0, 1]``.
    img2
        The second image or batch of images, same shape as ``img1`` (batch and
        channel sizes may also be 1 in one of them, to broadcast).
    pad
        ``False`` (the reference's default): valid convolution, the map is
        ``window - 1`` pixels smaller than the image in each dimension. Otherwise a
        :func:`torch.nn.functional.pad` mode (``"constant"``, ``"reflect"``,
        ``"replicate"`` or ``"circular"``) used to pad the images so the map has
        their size.

    Returns
    -------
    ssim_map
        Tensor of shape (batch, channel, height', width').

    Raises
    ------
    ValueError
        If the images are not 4-D, have different shapes (beyond broadcasting of
        batch and channel) or dtypes, or ``pad`` is not a known mode.

    Warns
    -----
    UserWarning
        If either image has values outside ``[0, 1]``, or more than one channel
        (the metric is then computed separately for each channel).

    See Also
    --------
    ssim : The mean of this map.

    Examples
    --------
    >>> import torch
    >>> from pipeline import metric
    >>> img = torch.rand(1, 1, 32, 32)
    >>> metric.ssim_map(img, img).shape
    torch.Size([1, 1, 22, 22])
    >>> metric.ssim_map(img, img, pad="reflect").shape
    torch.Size([1, 1, 32, 32])

    """
    _check_images(img1, img2)
    _check_pad(pad)
    _warn_channels(img1, img2, "SSIM")
    _warn_range(img1, img2, "SSIM")
    parts = _ssim_parts(img1, img2, pad)
    return parts.luminance * parts.contrast_structure


def ssim(
    img1: Tensor, img2: Tensor, weighted: bool = False, pad: PadMode = False
) -> Tensor:
    r"""Structural similarity index (Wang et al., 2004), averaged over each image.

    See :func:`ssim_map` for the definition (window, constants, borders). With
    ``weighted=True`` the map is averaged with the weights of Wang & Simoncelli
    (2008),

    .. math::

        w = \log\left(\left(1+\frac{\sigma_1^2}{C_2}\right)
            \left(1+\frac{\sigma_2^2}{C_2}\right)\right),

    where :math:`\sigma_1^2` and :math:`\sigma_2^2` are the local variances, which
    emphasizes regions of high contrast (and is undefined, 0/0, for two flat images).

    SSIM is a similarity (1 for identical images); use ``1 - ssim(x, y)`` as a
    distance, e.g. in a MAD competition.

    Parameters
    ----------
    img1
        The first image or batch of images, of shape (batch, channel, height, width),
        with values in ``[0, 1]``.
    img2
        The second image or batch of images, same shape as ``img1`` (batch and
        channel sizes may also be 1 in one of them, to broadcast).
    weighted
        Whether to use the weighted mean of Wang & Simoncelli (2008) instead of the
        plain mean of the SSIM map.
    pad
        ``False`` for valid convolution, or the padding mode; see :func:`ssim_map`.

    Returns
    -------
    ssim
        Tensor of shape (batch, channel).

    Raises
    ------
    ValueError
        If the images are not 4-D, have different shapes (beyond broadcasting of
        batch and channel) or dtypes, or ``pad`` is not a known mode.

    Warns
    -----
    UserWarning
        If either image has values outside ``[0, 1]``, or more than one channel
        (the metric is then computed separately for each channel).

    References
    ----------
    .. [1] Z. Wang, A. C. Bovik, H. R. Sheikh and E. P. Simoncelli, "Image quality
       assessment: from error visibility to structural similarity", IEEE
       Transactions on Image Processing, 13(4), 600-612, 2004.
    .. [2] Z. Wang and E. P. Simoncelli, "Maximum differentiation (MAD) competition:
       a methodology for comparing computational models of perceptual
       discriminability", Journal of Vision, 8(12):8, 2008.

    Examples
    --------
    >>> import torch
    >>> from pipeline import metric
    >>> img = torch.linspace(0, 1, 32 * 32).reshape(1, 1, 32, 32)
    >>> metric.ssim(img, img)
    tensor([[1.]])
    >>> bool(metric.ssim(img, 0.5 * img) < 1)
    True

    """
    _check_images(img1, img2)
    _check_pad(pad)
    _warn_channels(img1, img2, "SSIM")
    _warn_range(img1, img2, "SSIM")
    parts = _ssim_parts(img1, img2, pad, weight=weighted)
    smap = parts.luminance * parts.contrast_structure
    if not weighted:
        return smap.mean((-2, -1))
    return (smap * parts.weight).sum((-2, -1)) / parts.weight.sum((-2, -1))


def _halve(img1: Tensor, img2: Tensor) -> tuple[Tensor, Tensor]:
    """Downsample two images by 2 for MS-SSIM (2x2 mean, odd edges replicated).

    Parameters
    ----------
    img1, img2
        4-D images of equal height and width.

    Returns
    -------
    img1, img2
        Images of height ``ceil(height / 2)`` and width ``ceil(width / 2)``.

    """
    height, width = img1.shape[-2:]
    folded, counts = _fold(img1, img2)
    if height % 2 or width % 2:
        folded = F.pad(folded, (0, width % 2, 0, height % 2), mode="replicate")
    folded = F.avg_pool2d(folded, kernel_size=2)
    part1, part2 = folded.split(counts, dim=1)
    return (
        part1.reshape(*img1.shape[:2], *folded.shape[-2:]),
        part2.reshape(*img2.shape[:2], *folded.shape[-2:]),
    )


def _ms_ssim_min_size(n_scales: int) -> int:
    """Smallest height and width that :func:`ms_ssim` accepts for ``n_scales`` scales.

    Each of the ``n_scales - 1`` downsamplings halves the image (rounding up); the
    coarsest scale must keep at least 2x2 pixels, so that local variances exist.

    Parameters
    ----------
    n_scales
        Number of scales (``len(power_factors)``).

    Returns
    -------
    size
        ``2 ** (n_scales - 1) + 1`` (17 for the default 5 scales), or 1 for a single
        scale.

    Examples
    --------
    >>> _ms_ssim_min_size(5)
    17

    """
    return 1 if n_scales <= 1 else 2 ** (n_scales - 1) + 1


def ms_ssim(
    img1: Tensor,
    img2: Tensor,
    power_factors: Sequence[float] | Tensor | None = None,
) -> Tensor:
    r"""Multiscale structural similarity index, MS-SSIM (Wang et al., 2003).

    SSIM (see :func:`ssim_map`) computed at several scales: the images are halved
    (2x2 average, after replicating the last row / column of odd-sized images)
    between scales; at each of the :math:`M - 1` finest scales the mean of the
    contrast-structure map :math:`CS_i` is used, at the coarsest scale the mean of the
    full SSIM map :math:`SSIM_M`. Each is clipped at 0 and raised to its power
    factor :math:`a_i`:

    .. math::

        MSSSIM = SSIM_M^{a_M} \prod_{i=1}^{M-1} CS_i^{a_i}.

    Scales whose images are smaller than 11 pixels use a Gaussian window shrunk to
    the image, as in the reference.

    Parameters
    ----------
    img1
        The first image or batch of images, of shape (batch, channel, height, width),
        with values in ``[0, 1]``.
    img2
        The second image or batch of images, same shape as ``img1`` (batch and
        channel sizes may also be 1 in one of them, to broadcast).
    power_factors
        Exponents :math:`a_i`, fine to coarse; their number is the number of scales.
        ``None`` for ``(0.0448, 0.2856, 0.3001, 0.2363, 0.1333)``, the values
        measured psychophysically by Wang et al. (2003).

    Returns
    -------
    msssim
        Tensor of shape (batch, channel).

    Raises
    ------
    ValueError
        If the images are not 4-D, have different shapes (beyond broadcasting of
        batch and channel) or dtypes, if ``power_factors`` is empty, or if the
        images are smaller than ``2 ** (n_scales - 1) + 1`` pixels (17 for 5 scales)
        in height or width.

    Warns
    -----
    UserWarning
        If either image has values outside ``[0, 1]``, or more than one channel
        (the metric is then computed separately for each channel).

    References
    ----------
    .. [1] Z. Wang, E. P. Simoncelli and A. C. Bovik, "Multiscale structural
       similarity for image quality assessment", 37th Asilomar Conference on
       Signals, Systems & Computers, 2003.

    Examples
    --------
    >>> import torch
    >>> from pipeline import metric
    >>> img = torch.linspace(0, 1, 64 * 64).reshape(1, 1, 64, 64)
    >>> metric.ms_ssim(img, img)
    tensor([[1.]])

    """
    _check_images(img1, img2)
    if power_factors is None:
        power_factors = MS_SSIM_POWER_FACTORS
    if isinstance(power_factors, Tensor):
        if power_factors.ndim != 1:
            raise ValueError(
                f"power_factors must be 1-D, got shape {tuple(power_factors.shape)}"
            )
    else:
        power_factors = tuple(float(p) for p in power_factors)
    n_scales = len(power_factors)
    if n_scales == 0:
        raise ValueError("power_factors must contain at least one value")
    min_size = _ms_ssim_min_size(n_scales)
    height, width = img1.shape[-2:]
    if min(height, width) < min_size:
        raise ValueError(
            f"ms_ssim with {n_scales} scales needs images of at least "
            f"{min_size}x{min_size} pixels (the coarsest scale, after "
            f"{n_scales - 1} halvings, must keep at least 2x2 pixels), got "
            f"{height}x{width}"
        )
    _warn_channels(img1, img2, "MS-SSIM")
    _warn_range(img1, img2, "MS-SSIM")
    msssim: Tensor | None = None
    for scale in range(n_scales):
        last = scale == n_scales - 1
        parts = _ssim_parts(img1, img2, luminance=last)
        smap = parts.luminance * parts.contrast_structure if last else None
        value = (smap if last else parts.contrast_structure).mean((-2, -1))
        term = F.relu(value).pow(power_factors[scale])
        msssim = term if msssim is None else msssim * term
        if not last:
            img1, img2 = _halve(img1, img2)
    return msssim


# ----------------------------------------------------------------------------------
# NLPD


Taps = tuple[tuple[tuple[int, int], float], ...]


class _Kernel(NamedTuple):
    """A sparse correlation kernel: ``((row, col), weight)`` taps and its size."""

    taps: Taps
    size: tuple[int, int]


def _kernel(taps: dict[tuple[int, int], float], size: tuple[int, int]) -> _Kernel:
    """Build a ``_Kernel`` from a ``{(row, col): weight}`` dict.

    Parameters
    ----------
    taps
        Nonzero taps.
    size
        ``(height, width)`` of the kernel.

    Returns
    -------
    kernel
        The kernel.

    """
    return _Kernel(tuple(taps.items()), size)


_DOWN_V = _kernel({(i, 0): t for i, t in enumerate(_BINOM5)}, (5, 1))
_DOWN_H = _kernel({(0, i): t for i, t in enumerate(_BINOM5)}, (1, 5))
_UP_V = _kernel({(i, 0): 2 * t for i, t in enumerate(_BINOM5)}, (5, 1))
_UP_H = _kernel({(0, i): 2 * t for i, t in enumerate(_BINOM5)}, (1, 5))
_POOLING = tuple(_kernel(taps, (5, 5)) for taps in NLPD_POOLING_TAPS)
# Per-channel size (pixels) of a pyramid level from which, on CPU, it is filtered by
# shift-and-add rather than by convolutions (measured with a 1-thread CPU: sparse is
# 4x faster at 256x256, 1.3x at 128x128, 1.2x slower at 64x64).
_SPARSE_MIN_PIXELS = 96 * 96


def _correlate_out_size(
    in_size: Sequence[int], kernel: _Kernel, stride: tuple[int, int]
) -> tuple[int, int]:
    """Output height and width of a valid strided correlation.

    Parameters
    ----------
    in_size
        Input ``(height, width)``.
    kernel
        The kernel.
    stride
        ``(stride_h, stride_w)``.

    Returns
    -------
    out_size
        ``((height - kh) // stride_h + 1, (width - kw) // stride_w + 1)``.

    """
    (kh, kw), (sh, sw) = kernel.size, stride
    return (in_size[0] - kh) // sh + 1, (in_size[1] - kw) // sw + 1


def _tap_view(
    x: Tensor, tap: tuple[int, int], stride: tuple[int, int], out_size: Sequence[int]
) -> Tensor:
    """Strided view of ``x`` that one tap of a correlation multiplies.

    Parameters
    ----------
    x
        Input, ``(..., H, W)``.
    tap
        ``(row, col)`` offset of the tap.
    stride
        ``(stride_h, stride_w)``.
    out_size
        Output ``(height, width)``.

    Returns
    -------
    view
        ``x[..., row::stride_h, col::stride_w]`` cut to ``out_size``.

    """
    (r, c), (sh, sw), (h, w) = tap, stride, out_size
    return x[..., r : r + sh * (h - 1) + 1 : sh, c : c + sw * (w - 1) + 1 : sw]


def _correlate_impl(x: Tensor, kernel: _Kernel, stride: tuple[int, int]) -> Tensor:
    """Correlate the last two dims with sparse taps, valid and strided (no autograd).

    Parameters
    ----------
    x
        Input, ``(..., H, W)``.
    kernel
        Sparse kernel.
    stride
        ``(stride_h, stride_w)``.

    Returns
    -------
    y
        ``y[..., i, j] = sum(w * x[..., r + stride_h * i, c + stride_w * j])``.

    """
    out_size = _correlate_out_size(x.shape[-2:], kernel, stride)
    (tap, weight), *rest = kernel.taps
    out = _tap_view(x, tap, stride, out_size) * weight
    for tap, weight in rest:
        out.add_(_tap_view(x, tap, stride, out_size), alpha=weight)
    return out


def _correlate_adjoint_impl(
    y: Tensor, kernel: _Kernel, stride: tuple[int, int], in_size: Sequence[int]
) -> Tensor:
    """Adjoint of ``_correlate_impl``: scatter-add ``w * y`` at every tap (no autograd).

    Parameters
    ----------
    y
        Output-shaped tensor, ``(..., h, w)``.
    kernel
        Sparse kernel.
    stride
        ``(stride_h, stride_w)``.
    in_size
        ``(H, W)`` of the correlation's input, the shape returned here.

    Returns
    -------
    x
        ``(..., H, W)``; for stride 2 this is upsampling by zero insertion followed
        by a blur.

    """
    x = y.new_zeros(*y.shape[:-2], *in_size)
    out_size = y.shape[-2:]
    for tap, weight in kernel.taps:
        _tap_view(x, tap, stride, out_size).add_(y, alpha=weight)
    return x


class _Correlate(PositionalFunction):
    """Valid strided correlation with sparse taps; its derivative is the adjoint."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor, kernel: _Kernel, stride: tuple[int, int]) -> Tensor:
        return _correlate_impl(x, kernel, stride)

    @staticmethod
    def setup_context(ctx: object, inputs: tuple, output: Tensor) -> None:
        x, kernel, stride = inputs
        ctx.kernel, ctx.stride, ctx.in_size = kernel, stride, tuple(x.shape[-2:])

    @staticmethod
    def backward(ctx: object, grad: Tensor) -> tuple[Tensor, None, None]:
        return (
            _CorrelateAdjoint.apply(grad, ctx.kernel, ctx.stride, ctx.in_size),
            None,
            None,
        )

    @staticmethod
    def jvp(ctx: object, x_t: Tensor, *_: object) -> Tensor:
        return _correlate_impl(x_t, ctx.kernel, ctx.stride)


class _CorrelateAdjoint(PositionalFunction):
    """Adjoint (transpose) of ``_Correlate``; its derivative is ``_Correlate``."""

    generate_vmap_rule = True

    @staticmethod
    def forward(
        y: Tensor, kernel: _Kernel, stride: tuple[int, int], in_size: tuple[int, int]
    ) -> Tensor:
        return _correlate_adjoint_impl(y, kernel, stride, in_size)

    @staticmethod
    def setup_context(ctx: object, inputs: tuple, output: Tensor) -> None:
        _, kernel, stride, in_size = inputs
        ctx.kernel, ctx.stride, ctx.in_size = kernel, stride, in_size

    @staticmethod
    def backward(ctx: object, grad: Tensor) -> tuple[Tensor, None, None, None]:
        return _Correlate.apply(grad, ctx.kernel, ctx.stride), None, None, None

    @staticmethod
    def jvp(ctx: object, y_t: Tensor, *_: object) -> Tensor:
        return _correlate_adjoint_impl(y_t, ctx.kernel, ctx.stride, ctx.in_size)


def _correlate(x: Tensor, kernel: _Kernel, stride: tuple[int, int]) -> Tensor:
    """Correlate (valid, strided, sparse), through autograd only when needed.

    Parameters
    ----------
    x
        Input, ``(..., H, W)``.
    kernel
        Sparse kernel.
    stride
        ``(stride_h, stride_w)``.

    Returns
    -------
    y
        See ``_correlate_impl``.

    """
    if x.requires_grad and torch.is_grad_enabled():
        return _Correlate.apply(x, kernel, stride)
    return _correlate_impl(x, kernel, stride)


def _correlate_adjoint(
    y: Tensor, kernel: _Kernel, stride: tuple[int, int], in_size: tuple[int, int]
) -> Tensor:
    """Adjoint of ``_correlate``, through autograd only when needed.

    Parameters
    ----------
    y
        Output-shaped tensor, ``(..., h, w)``.
    kernel
        Sparse kernel.
    stride
        ``(stride_h, stride_w)``.
    in_size
        ``(H, W)`` of the result.

    Returns
    -------
    x
        See ``_correlate_adjoint_impl``.

    """
    if y.requires_grad and torch.is_grad_enabled():
        return _CorrelateAdjoint.apply(y, kernel, stride, in_size)
    return _correlate_adjoint_impl(y, kernel, stride, in_size)


@_constant_tensor
def _conv_bank(
    name: str, channels: int, dtype: torch.dtype, device: torch.device
) -> Tensor:
    """Build a depthwise 5x5 kernel of the pyramid for the convolution path.

    Parameters
    ----------
    name
        ``"down"`` (binomial, sum 1), ``"up"`` (binomial, sum 4) or ``"pool<k>"``
        (pooling filter of level ``k``).
    channels
        Number of channels (groups) of the depthwise convolution.
    dtype, device
        Of the kernel.

    Returns
    -------
    bank
        Tensor of shape ``(channels, 1, 5, 5)``.

    """
    kernel = {"down": _DOWN_V, "up": _UP_V}.get(name)
    filt = torch.zeros(5, 5, dtype=torch.float64)
    if kernel is None:
        for (row, col), weight in _POOLING[int(name[4:])].taps:
            filt[row, col] = weight
    else:
        taps = torch.tensor([w for _, w in kernel.taps], dtype=torch.float64)
        filt = torch.outer(taps, taps)
    return filt.to(dtype=dtype, device=device).expand(channels, 1, 5, 5).contiguous()


def _use_sparse(x: Tensor) -> bool:
    """Whether a pyramid level filters by sparse shift-and-add or by convolution.

    On CPU, depthwise convolutions of large images are slow (especially their
    backward pass), while shift-and-add costs a few passes over memory per tap; for
    small images the per-operation overhead dominates and one convolution is
    cheaper. Other devices always use convolutions.

    Parameters
    ----------
    x
        Image of the level, ``(1, C, H, W)``.

    Returns
    -------
    sparse
        ``True`` on CPU when ``H * W >= _SPARSE_MIN_PIXELS``.

    """
    return x.device.type == "cpu" and x.shape[-2] * x.shape[-1] >= _SPARSE_MIN_PIXELS


def _blur_downsample(x: Tensor, sparse: bool) -> Tensor:
    """Blur with the binomial filter (reflected borders) and keep every other pixel.

    Parameters
    ----------
    x
        ``(1, C, H, W)``, with ``H, W >= 3``.
    sparse
        Shift-and-add (separable) instead of a depthwise convolution.

    Returns
    -------
    down
        ``(1, C, ceil(H / 2), ceil(W / 2))``.

    """
    x = F.pad(x, (2, 2, 2, 2), mode="reflect")
    if not sparse:
        channels = x.shape[1]
        bank = _conv_bank("down", channels, x.dtype, x.device)
        return F.conv2d(x, bank, stride=2, groups=channels)
    x = _correlate(x, _DOWN_V, (2, 1))
    return _correlate(x, _DOWN_H, (1, 2))


def _upsample_blur(x: Tensor, height: int, width: int, sparse: bool) -> Tensor:
    """Upsample by 2 (zeros in between) and blur with 4 times the binomial filter.

    The coarse image is first extended by one reflected pixel on each side; coarse
    pixel ``q`` then lands on fine pixel ``2 q``. This is the adjoint of
    ``_blur_downsample``'s strided correlation, times 4.

    Parameters
    ----------
    x
        ``(1, C, h, w)`` with ``h, w >= 2``.
    height, width
        Output size, ``2 h`` or ``2 h - 1`` (and likewise for the width).
    sparse
        Shift-and-add (separable) instead of a transposed depthwise convolution.

    Returns
    -------
    up
        ``(1, C, height, width)``.

    """
    h, w = x.shape[-2:]
    x = F.pad(x, (1, 1, 1, 1), mode="reflect")
    # the adjoint of a 5-tap stride-2 correlation of the padded image is
    # 2 (n + 2) + 3 long and the wanted part starts at 4
    if not sparse:
        channels = x.shape[1]
        bank = _conv_bank("up", channels, x.dtype, x.device)
        # padding=4 crops both ends, output_padding gives back the last sample of
        # even-sized outputs
        return F.conv_transpose2d(
            x,
            bank,
            stride=2,
            padding=4,
            output_padding=(1 - height % 2, 1 - width % 2),
            groups=channels,
        )
    x = _correlate_adjoint(x, _UP_H, (1, 2), (h + 2, 2 * w + 7))
    x = x[..., 4 : 4 + width]
    x = _correlate_adjoint(x, _UP_V, (2, 1), (2 * h + 7, width))
    return x[..., 4 : 4 + height, :]


def _pool(band: Tensor, level: int, sparse: bool) -> Tensor:
    """Zero-padded 5x5 correlation of ``|band|`` with the level's pooling filter.

    Parameters
    ----------
    band
        ``(1, C, h, w)``.
    level
        Pyramid level.
    sparse
        Shift-and-add instead of a depthwise convolution.

    Returns
    -------
    pooled
        ``(1, C, h, w)``.

    """
    if not sparse:
        channels = band.shape[1]
        bank = _conv_bank(f"pool{level}", channels, band.dtype, band.device)
        return F.conv2d(band.abs(), bank, padding=2, groups=channels)
    return _correlate(F.pad(band.abs(), (2, 2, 2, 2)), _POOLING[level], (1, 1))


def _nlpd_min_size(n_scales: int = NLPD_N_SCALES) -> int:
    """Smallest height and width of images for the normalized Laplacian pyramid.

    The pyramid reflects 2 pixels at the border of every image it blurs down, which
    needs at least 3 pixels; the last image blurred down is the one after
    ``n_scales - 2`` halvings.

    Parameters
    ----------
    n_scales
        Number of scales of the pyramid.

    Returns
    -------
    size
        ``2 ** (n_scales - 1) + 1``: 33 for the 6 scales of NLPD.

    Examples
    --------
    >>> _nlpd_min_size()
    33

    """
    return 2 ** (n_scales - 1) + 1


def _check_nlpd_size(height: int, width: int) -> None:
    """Raise ``ValueError`` for images too small for the 6-scale pyramid.

    Parameters
    ----------
    height, width
        Image size.

    Raises
    ------
    ValueError
        If ``min(height, width) < _nlpd_min_size()``.

    """
    min_size = _nlpd_min_size()
    if min(height, width) < min_size:
        raise ValueError(
            f"NLPD's {NLPD_N_SCALES}-scale Laplacian pyramid needs images of at "
            f"least {min_size}x{min_size} pixels, got {height}x{width}"
        )


def _normalized_pyramid(x: Tensor) -> list[Tensor]:
    """Compute the normalized Laplacian pyramid of every channel of ``(1, C, H, W)``.

    Parameters
    ----------
    x
        Input, already checked to be large enough.

    Returns
    -------
    bands
        ``NLPD_N_SCALES`` tensors ``(1, C, h_k, w_k)``, fine to coarse.

    """
    bands = []
    for level in range(NLPD_N_SCALES):
        sparse = _use_sparse(x)
        if level < NLPD_N_SCALES - 1:
            down = _blur_downsample(x, sparse)
            band = x - _upsample_blur(down, *x.shape[-2:], sparse)
        else:
            band = x
        bands.append(band / (NLPD_SIGMAS[level] + _pool(band, level, sparse)))
        if level < NLPD_N_SCALES - 1:
            x = down
    return bands


def normalized_laplacian_pyramid(img: Tensor) -> list[Tensor]:
    """Compute the normalized Laplacian pyramid of Laparra et al. (2016).

    A 6-scale Laplacian pyramid (binomial filter ``[1, 4, 6, 4, 1] / 16``,
    reflected borders) whose bands are each divided by a local estimate of their
    amplitude, ``sigma_k + (|band_k| ⋆ F_k)``, with the published pooling filters
    ``F_k`` and constants ``sigma_k`` (see the module constants
    ``NLPD_POOLING_TAPS`` and ``NLPD_SIGMAS``). Channels are processed like batch
    elements.

    Parameters
    ----------
    img
        Image or batch of images of shape (batch, channel, height, width), at least
        33x33 pixels.

    Returns
    -------
    bands
        Six tensors of shape (batch, channel, h_k, w_k), fine to coarse, with
        ``h_0 = height`` and ``h_{k+1} = ceil(h_k / 2)``.

    Raises
    ------
    ValueError
        If ``img`` is not a 4-D floating-point tensor or is smaller than 33x33.

    Examples
    --------
    >>> import torch
    >>> from pipeline import metric
    >>> bands = metric.normalized_laplacian_pyramid(torch.rand(1, 1, 64, 64))
    >>> [tuple(b.shape[-2:]) for b in bands]
    [(64, 64), (32, 32), (16, 16), (8, 8), (4, 4), (2, 2)]

    """
    _check_images(img, img)
    _check_nlpd_size(*img.shape[-2:])
    batch, channel = img.shape[:2]
    bands = _normalized_pyramid(img.reshape(1, -1, *img.shape[-2:]))
    return [b.reshape(batch, channel, *b.shape[-2:]) for b in bands]


def nlpd(img1: Tensor, img2: Tensor, epsilon: float = NLPD_EPSILON) -> Tensor:
    """Compute the normalized Laplacian pyramid distance, NLPD (Laparra et al., 2016).

    Both images are transformed by :func:`normalized_laplacian_pyramid` (local
    luminance subtraction then local contrast gain control at six scales, with
    parameters optimized for redundancy reduction on natural images); the distance
    is the root mean squared difference of each band, averaged over the six bands,
    which gives more weight per coefficient to the coarse bands:

    ``NLPD = mean_k sqrt(mean((y1_k - y2_k)**2) + epsilon)``.

    Parameters
    ----------
    img1
        The first image or batch of images, of shape (batch, channel, height, width),
        with values in ``[0, 1]`` and at least 33x33 pixels.
    img2
        The second image or batch of images, same shape as ``img1`` (batch and
        channel sizes may also be 1 in one of them, to broadcast).
    epsilon
        Added under each square root to keep the gradient finite when the images are
        identical, whose distance is therefore ``sqrt(epsilon)`` (``1e-5`` by
        default).

    Returns
    -------
    distance
        Tensor of shape (batch, channel).

    Raises
    ------
    ValueError
        If the images are not 4-D, have different shapes (beyond broadcasting of
        batch and channel) or dtypes, or are smaller than 33x33 pixels.

    Warns
    -----
    UserWarning
        If either image has values outside ``[0, 1]``, or more than one channel
        (the metric is then computed separately for each channel).

    References
    ----------
    .. [1] V. Laparra, J. Ballé, A. Berardino and E. P. Simoncelli, "Perceptual image
       quality assessment using a normalized Laplacian pyramid", Electronic Imaging,
       2016(16), 1-6.

    Examples
    --------
    >>> import torch
    >>> from pipeline import metric
    >>> img = torch.linspace(0, 1, 64 * 64).reshape(1, 1, 64, 64)
    >>> metric.nlpd(img, img, epsilon=0.0)
    tensor([[0.]])
    >>> bool(metric.nlpd(img, 1 - img) > 1)
    True

    """
    _check_images(img1, img2)
    height, width = img1.shape[-2:]
    _check_nlpd_size(height, width)
    _warn_channels(img1, img2, "NLPD")
    _warn_range(img1, img2, "NLPD")
    if img1.requires_grad == img2.requires_grad:
        # both images through one pyramid
        folded, (n1, _) = _fold(img1, img2)
        pairs = [(band[:, :n1], band[:, n1:]) for band in _normalized_pyramid(folded)]
    else:
        # a constant image (e.g. the reference of a MAD competition) needs no
        # backward pass through its pyramid
        with torch.no_grad():
            const = img2 if img1.requires_grad else img1
            const_bands = _normalized_pyramid(const.reshape(1, -1, height, width))
        var = img1 if img1.requires_grad else img2
        var_bands = _normalized_pyramid(var.reshape(1, -1, height, width))
        pairs = list(zip(var_bands, const_bands, strict=True))
        if img2.requires_grad:
            pairs = [(b1, b2) for b2, b1 in pairs]
    dists = []
    for band1, band2 in pairs:
        size = band1.shape[-2:]
        y1 = band1.reshape(*img1.shape[:2], *size)
        y2 = band2.reshape(*img2.shape[:2], *size)
        # the bands of checked images: no second check per band
        dists.append(torch.sqrt(_mean_squared_difference(y1, y2) + epsilon))
    return torch.stack(dists).mean(0)
