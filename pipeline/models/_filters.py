"""Gaussian kernels, same-padding and fast correlation with banks of Gaussians.

All filters of the front-end models are isotropic Gaussians or weighted sums of
them (difference of Gaussians).  A circular Gaussian normalized by its total sum is
exactly the outer product of two normalized 1-D Gaussians, so a filter bank is
described here by its 1-D factors: ``gv`` (vertical, shape ``(J, kh)``), ``gh``
(horizontal, shape ``(J, kw)``) and an optional real mixing matrix ``weights`` of
shape ``(K, J)``; output channel ``k`` is ``sum_j weights[k, j] * (x ⋆ gv_j ⊗ gh_j)``.

`filter_bank` computes this with the same result as padding the input with
:func:`same_padding` and cross-correlating it (:func:`torch.nn.functional.conv2d`) with the
full 2-D filters, but much faster: either separably (a vertical then a horizontal
1-D correlation) or by multiplying spectra on the padded domain (the spectrum of a
separable filter is the outer product of the 1-D spectra); see `filter_bank` for
which is used when.
Both are exact up to floating-point rounding, and gradients (and higher-order
gradients) flow to the input and to the kernels; with fixed kernels the FFT's
derivative is its own adjoint, two real FFTs at every order.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from ..autograd import PositionalFunction
from ..separable import correlate_separable

__all__ = [
    "PAD_MODES",
    "as_kernel_size",
    "as_out_channels",
    "as_positive_tensor",
    "bank_spectrum",
    "circular_gaussian2d",
    "conv2d_same",
    "filter_bank",
    "fold_channels",
    "gaussian1d",
    "same_padding",
    "same_padding_amounts",
    "unfold_channels",
]

#: Padding modes accepted by the models (``"zeros"`` is an alias of ``"constant"``).
PAD_MODES = ("reflect", "circular", "replicate", "constant", "zeros")

# Method chosen by ``method="auto"`` (measured on CPU, see
# benchmarks/bench_frontend.py): the FFT costs about the same for any kernel size
# but grows with the number of channels transformed, while the separable
# convolution grows with the kernel length.  Kernels at least FFT_MIN_KERNEL taps
# long always use the FFT; shorter ones use it only for at most
# FFT_MAX_SMALL_CHANNELS output channels computed from a single input channel.
FFT_MIN_KERNEL = 16
FFT_MAX_SMALL_CHANNELS = 2

Method = Literal["auto", "separable", "fft"]


def as_kernel_size(kernel_size: int | Sequence[int] | Tensor) -> tuple[int, int]:
    """Validate a kernel size and return it as a ``(height, width)`` tuple.

    Parameters
    ----------
    kernel_size
        A positive int (square kernel) or a pair of positive ints; integer tensors
        with one or two values are accepted too.

    Returns
    -------
    kernel_size
        ``(kh, kw)``.

    Raises
    ------
    ValueError
        If ``kernel_size`` is not integer-valued, not one or two values, or not
        positive.

    Examples
    --------
    >>> as_kernel_size(31)
    (31, 31)
    >>> as_kernel_size((5, 7))
    (5, 7)

    """
    values = kernel_size
    if isinstance(values, Tensor) and values.numel() in (1, 2):
        values = values.tolist()
    if _is_int(values):
        values = [values, values]
    if (
        not isinstance(values, Sequence)
        or isinstance(values, str)
        or len(values) != 2
        or not all(_is_int(k) for k in values)
    ):
        raise ValueError(
            "kernel_size must be integer-valued: a positive int or a (height, width) "
            f"pair of positive ints, got {kernel_size!r}"
        )
    size = (int(values[0]), int(values[1]))
    if min(size) < 1:
        raise ValueError(f"kernel_size must be positive, got {kernel_size!r}")
    return size


def _is_int(value: object) -> bool:
    if isinstance(value, bool | float | Tensor):
        return False
    try:
        operator.index(value)  # int, numpy integers, ...
    except TypeError:
        return False
    return True


def as_positive_tensor(
    value: float | Sequence[float] | Tensor,
    name: str,
    n: int | None = None,
    n_name: str = "out_channels",
) -> Tensor:
    """Convert standard deviations to a 1-D floating tensor of positive values.

    A tensor is validated and reshaped, not copied or detached: gradients still
    flow through it (detach and clone before wrapping it in a parameter).

    Parameters
    ----------
    value
        A number, a sequence of numbers or a tensor with at most one dimension.
    name
        Name of the argument, used in error messages.
    n
        Wanted length.  A single value is repeated ``n`` times; a sequence must
        already have length ``n``.  If None, the length of ``value`` is kept.
    n_name
        What ``n`` is, for the message when the length does not match.

    Returns
    -------
    values
        1-D tensor (of the default dtype unless ``value`` is a floating tensor).

    Raises
    ------
    ValueError
        If a value is not finite and > 0, or the length does not match ``n``.

    Examples
    --------
    >>> as_positive_tensor(2.0, "std", n=2)
    tensor([2., 2.])

    """
    if isinstance(value, Tensor):
        tensor = (
            value if value.is_floating_point() else value.to(torch.get_default_dtype())
        )
    else:
        try:
            tensor = torch.as_tensor(value, dtype=torch.get_default_dtype())
        except (TypeError, ValueError, RuntimeError) as err:
            raise ValueError(
                f"{name} must be a positive number or a sequence of them, got {value!r}"
            ) from err
    if tensor.ndim > 1:
        raise ValueError(
            f"{name} must be a number or 1-D, got shape {tuple(tensor.shape)}"
        )
    tensor = tensor.reshape(-1)
    if tensor.numel() == 0:
        raise ValueError(f"{name} must not be empty")
    if n is not None:
        if tensor.numel() == 1:
            tensor = tensor.repeat(n)
        elif tensor.numel() != n:
            raise ValueError(
                f"If non-scalar, len({name}) must equal {n_name} ({n}), got "
                f"{tensor.numel()} values"
            )
    with torch.no_grad():
        positive = bool(torch.all(torch.isfinite(tensor) & (tensor > 0)))
    if not positive:
        raise ValueError(f"{name} must be positive (and finite), got {tensor.tolist()}")
    return tensor


def as_out_channels(out_channels: int | None, default: int) -> int:
    """Validate a number of output channels.

    Parameters
    ----------
    out_channels
        A positive integer, or None for ``default``.
    default
        The number of channels implied by the other arguments.

    Returns
    -------
    out_channels
        A positive int.

    Raises
    ------
    ValueError
        If ``out_channels`` is a float or smaller than 1.
    TypeError
        If it cannot be compared with a number (e.g. a list).

    Examples
    --------
    >>> as_out_channels(None, 3), as_out_channels(2, 3)
    (3, 2)

    """
    if out_channels is None:
        return default
    if out_channels < 1 or not _is_int(out_channels):
        raise ValueError(f"out_channels must be positive integer, got {out_channels!r}")
    return int(out_channels)


def _coordinates(length: int, like: Tensor) -> Tensor:
    """Sample positions ``arange(1, length + 1) - (length + 1) / 2``."""
    return (
        torch.arange(1, length + 1, dtype=like.dtype, device=like.device)
        - (length + 1) / 2
    )


def gaussian1d(length: int, std: Tensor) -> Tensor:
    """Build normalized 1-D Gaussian kernels, one per standard deviation.

    Parameters
    ----------
    length
        Number of taps ``k``; samples are at ``arange(1, k + 1) - (k + 1) / 2``.
    std
        1-D tensor of standard deviations (differentiable).

    Returns
    -------
    kernels
        Tensor of shape ``(len(std), length)``, each row summing to 1.

    Examples
    --------
    >>> g = gaussian1d(5, torch.tensor([1.0, 2.0]))
    >>> g.shape
    torch.Size([2, 5])
    >>> torch.allclose(g.sum(-1), torch.ones(2))
    True

    """
    coords = _coordinates(length, std)
    log_g = coords.square() / (-2 * std.reshape(-1, 1).square())
    g = torch.exp(log_g)
    return g / g.sum(-1, keepdim=True)


def circular_gaussian2d(
    kernel_size: int | Sequence[int] | Tensor,
    std: float | Sequence[float] | Tensor,
    out_channels: int | None = None,
) -> Tensor:
    """Build centred isotropic 2-D Gaussian filters, each normalized to sum 1.

    Filter ``c`` samples ``exp(-(x**2 + y**2) / (2 * std[c]**2))`` at the kernel
    positions ``arange(1, k + 1) - (k + 1) / 2`` (along each axis) and divides it by
    its sum over the kernel, not by ``2 * pi * std**2``.  The result is laid out as
    the ``weight`` of :func:`torch.nn.functional.conv2d` (``out_channels`` filters,
    one input channel); it equals the outer product of the 1-D kernels of
    :func:`gaussian1d`.  Gradients flow to ``std`` when it is a tensor.

    Parameters
    ----------
    kernel_size
        ``k`` or ``(kh, kw)``; odd sizes centre the Gaussian on a pixel.
    std
        Standard deviation: one number (used for every channel) or one per channel
        (a sequence or a tensor).
    out_channels
        Number of filters; inferred from ``std`` when None.

    Returns
    -------
    filt
        Tensor of shape ``(out_channels, 1, kh, kw)``, in ``std``'s dtype and device
        when it is a floating tensor.

    Raises
    ------
    ValueError
        If ``kernel_size`` is not one or two positive integers, ``std`` is not
        positive, ``out_channels`` is not a positive integer, or ``std`` has
        several values and their number is not ``out_channels``.

    See Also
    --------
    pipeline.models.Gaussian : the module that blurs images with these filters.

    Examples
    --------
    >>> f = circular_gaussian2d(7, 1.5)
    >>> f.shape
    torch.Size([1, 1, 7, 7])
    >>> round(float(f.sum()), 6)
    1.0
    >>> circular_gaussian2d((5, 3), [1.0, 2.0]).shape
    torch.Size([2, 1, 5, 3])

    """
    kh, kw = as_kernel_size(kernel_size)
    if isinstance(std, Tensor) or not isinstance(std, Sequence):
        n_std = torch.as_tensor(std).numel()
    else:
        n_std = len(std)
    n = as_out_channels(out_channels, n_std)
    std = as_positive_tensor(std, "std", n).reshape(-1, 1, 1, 1)
    y = _coordinates(kh, std).reshape(1, 1, kh, 1)
    x = _coordinates(kw, std).reshape(1, 1, 1, kw)
    filt = torch.exp((x.square() + y.square()) / (-2 * std.square()))
    return filt / filt.sum((-2, -1), keepdim=True)


def _pair(value: int | Sequence[int], name: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and v >= 1 for v in pair):
        raise ValueError(
            f"{name} must be a positive int or a pair of them, got {value!r}"
        )
    return pair


def _same_total(n: int, k: int, stride: int, dilation: int) -> int:
    # a kernel spanning dilation * (k - 1) + 1 pixels, at ceil(n / stride) positions
    return max((-(-n // stride) - 1) * stride + dilation * (k - 1) + 1 - n, 0)


def same_padding_amounts(
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] = 1,
    dilation: int | tuple[int, int] = 1,
    image_shape: tuple[int, int] | None = None,
) -> tuple[int, int, int, int]:
    """Compute the padding ``(left, right, top, bottom)`` for same-size output.

    Along an axis of length ``n`` with kernel length ``k``, stride ``s`` and
    dilation ``d``, the total padding is the least that lets a correlation give
    ``ceil(n / s)`` outputs: ``max((ceil(n / s) - 1) * s + d * (k - 1) + 1 - n, 0)``
    (``k - 1`` for ``s = d = 1``, whatever ``n``). It is split with the smaller
    half first: ``k // 2`` on both sides for odd ``k`` and ``(k // 2 - 1, k // 2)``
    for even ``k`` (the extra row/column goes to the bottom/right), as in the
    published implementation.

    Parameters
    ----------
    kernel_size
        ``k`` or ``(kh, kw)``.
    stride
        ``s`` or ``(sh, sw)`` of the correlation that follows.
    dilation
        ``d`` or ``(dh, dw)`` of the correlation that follows.
    image_shape
        ``(height, width)`` of the image; needed only with a stride.

    Returns
    -------
    pad
        ``(left, right, top, bottom)``, the order :func:`torch.nn.functional.pad`
        expects.

    Raises
    ------
    ValueError
        If a stride is given without ``image_shape``, or a stride or dilation is not
        a positive int (or pair of them).

    Examples
    --------
    >>> same_padding_amounts(31)
    (15, 15, 15, 15)
    >>> same_padding_amounts((4, 6))
    (2, 3, 1, 2)
    >>> same_padding_amounts(10, stride=3, image_shape=(256, 256))
    (4, 5, 4, 5)

    """
    kh, kw = as_kernel_size(kernel_size)
    strides, dilations = _pair(stride, "stride"), _pair(dilation, "dilation")
    if image_shape is None:
        if strides != (1, 1):
            raise ValueError("image_shape is needed to pad for a strided correlation")
        image_shape = (1, 1)  # the padding does not depend on it without a stride
    top_bottom, left_right = (
        (total // 2, total - total // 2)
        for total in map(_same_total, image_shape, (kh, kw), strides, dilations)
    )
    return (*left_right, *top_bottom)


def _torch_pad_mode(pad_mode: str) -> str:
    if pad_mode not in PAD_MODES:
        raise ValueError(f"pad_mode must be one of {PAD_MODES}, got {pad_mode!r}")
    return "constant" if pad_mode == "zeros" else pad_mode


def same_padding(
    image: Tensor,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] = 1,
    dilation: int | tuple[int, int] = 1,
    pad_mode: str = "circular",
) -> Tensor:
    """Pad an image so that a correlation with a kernel keeps its size.

    A correlation of the padded image with the kernel (with the same ``stride`` and
    ``dilation``) has ``ceil(height / stride)`` x ``ceil(width / stride)`` outputs;
    see :func:`same_padding_amounts` for the padding on each side.

    Parameters
    ----------
    image
        Tensor of shape ``(..., height, width)``; the leading dimensions are padded
        independently.
    kernel_size
        ``k`` or ``(kh, kw)``.
    stride
        Stride of the correlation that follows.
    dilation
        Dilation of the correlation that follows.
    pad_mode
        One of ``"circular"``, ``"reflect"``, ``"replicate"``, ``"constant"`` or
        ``"zeros"`` (both zero padding).

    Returns
    -------
    padded
        Tensor of shape ``(..., height + kh - 1, width + kw - 1)`` without stride or
        dilation.

    Raises
    ------
    ValueError
        If ``image`` has fewer than 2 dimensions, or ``pad_mode``, ``stride`` or
        ``dilation`` is not valid.

    Examples
    --------
    >>> import torch
    >>> from pipeline.process import same_padding
    >>> image = torch.rand(1, 1, 256, 256)
    >>> same_padding(image, (10, 10)).shape
    torch.Size([1, 1, 265, 265])
    >>> padded = same_padding(image, 10, stride=3)
    >>> torch.nn.functional.conv2d(padded, torch.ones(1, 1, 10, 10), stride=3).shape
    torch.Size([1, 1, 86, 86])

    """
    if image.ndim < 2:
        raise ValueError(
            f"image must have at least 2 dimensions (height, width), got shape "
            f"{tuple(image.shape)}"
        )
    pad = same_padding_amounts(kernel_size, stride, dilation, tuple(image.shape[-2:]))
    mode = _torch_pad_mode(pad_mode)
    padded = F.pad(image.reshape(-1, 1, *image.shape[-2:]), pad, mode=mode)
    return padded.reshape(*image.shape[:-2], *padded.shape[-2:])


def fold_channels(x: Tensor) -> Tensor:
    """Stack the channels of images as single-channel images, for filtering.

    Parameters
    ----------
    x
        Images of shape ``(batch, channel, height, width)``, or one unbatched image
        ``(channel, height, width)`` (as :func:`torch.nn.functional.conv2d` takes).

    Returns
    -------
    folded
        Shape ``(batch * channel, 1, height, width)``.

    Raises
    ------
    ValueError
        If ``x`` is not 3-D or 4-D.

    """
    if x.ndim not in (3, 4):
        raise ValueError(
            "expected input of shape (batch, channel, height, width) or (channel, "
            f"height, width), got {tuple(x.shape)}"
        )
    return x.reshape(-1, 1, *x.shape[-2:])


def unfold_channels(y: Tensor, x: Tensor) -> Tensor:
    """Undo :func:`fold_channels` on the responses ``y`` to the images ``x``.

    Parameters
    ----------
    y
        Responses of shape ``(batch * channel, k, height, width)``.
    x
        The images given to :func:`fold_channels`.

    Returns
    -------
    unfolded
        Shape ``(batch, channel * k, height, width)`` (the ``k`` responses of
        channel 0, then of channel 1, ...), without the batch dimension if ``x``
        had none.

    """
    batch = x.shape[:1] if x.ndim == 4 else ()
    return y.reshape(*batch, -1, *y.shape[-2:])


def conv2d_same(x: Tensor, filt: Tensor, pad_mode: str, groups: int = 1) -> Tensor:
    """Same-size cross-correlation with full 2-D filters (the direct reference).

    Parameters
    ----------
    x
        Input of shape ``(batch, channel, height, width)``.
    filt
        Filters of shape ``(out_channels, channel // groups, kh, kw)``.
    pad_mode
        Padding mode, see :func:`same_padding`.
    groups
        Passed to :func:`torch.nn.functional.conv2d`.

    Returns
    -------
    y
        Tensor of shape ``(batch, out_channels, height, width)``.

    """
    xp = same_padding(x, tuple(filt.shape[-2:]), pad_mode=pad_mode)
    return F.conv2d(xp, filt, groups=groups)


@functools.lru_cache(maxsize=256)
def _fast_fft_length(n: int) -> int:
    """Smallest integer >= ``n`` whose only prime factors are 2, 3 and 5."""
    m = max(n, 1)
    while True:
        rest = m
        for prime in (2, 3, 5):
            while rest % prime == 0:
                rest //= prime
        if rest == 1:
            return m
        m += 1


def _validate_bank(
    x: Tensor, gv: Tensor, gh: Tensor, weights: Tensor | None, grouped: bool
) -> None:
    if x.ndim != 4:
        raise ValueError(f"expected a 4-D input (batch, channel, h, w), got {x.ndim}-D")
    if gv.ndim != 2 or gh.ndim != 2 or gv.shape[0] != gh.shape[0]:
        raise ValueError("gv and gh must be (J, kh) and (J, kw) kernel banks")
    n_out = gv.shape[0] if weights is None else weights.shape[0]
    if weights is not None and (weights.ndim != 2 or weights.shape[1] != gv.shape[0]):
        raise ValueError("weights must have shape (out_channels, n_kernels)")
    if grouped and weights is not None:
        raise ValueError("grouped filtering takes no weights")
    expected = n_out if grouped else 1
    if x.shape[1] != expected:
        raise ValueError(f"input must have {expected} channel(s), got {x.shape[1]}")


def filter_bank(
    x: Tensor,
    gv: Tensor,
    gh: Tensor,
    pad_mode: str,
    weights: Tensor | None = None,
    grouped: bool = False,
    method: Method = "auto",
) -> Tensor:
    """Correlate ``x`` with a bank of separable filters, with same padding.

    Filter ``j`` is ``gv[j] ⊗ gh[j]``; output channel ``k`` is
    ``sum_j weights[k, j] * conv(x, filter_j)`` (``weights`` defaults to the
    identity).  The result equals ``conv2d_same(x, filt, pad_mode, groups)`` with the
    corresponding 2-D filters, up to floating-point rounding.

    Parameters
    ----------
    x
        Input of shape ``(batch, 1, height, width)``, or ``(batch, K, height,
        width)`` when ``grouped`` (output channel ``k`` then filters input channel
        ``k``).
    gv, gh
        Vertical ``(J, kh)`` and horizontal ``(J, kw)`` 1-D kernels.
    pad_mode
        Padding mode, see :func:`same_padding`.
    weights
        Optional real ``(K, J)`` mixing matrix.
    grouped
        Whether channel ``k`` of the output filters channel ``k`` of ``x``.
    method
        ``"separable"`` (a vertical then a horizontal 1-D correlation, as
        products with banded matrices or, for large images or many channels, as
        convolutions; see :mod:`pipeline.separable`),
        ``"fft"`` (product of spectra on the padded domain, zero-extended to a
        size with small prime factors), or ``"auto"``: the FFT for kernels of
        ``FFT_MIN_KERNEL`` taps or more, or for at most ``FFT_MAX_SMALL_CHANNELS``
        ungrouped output channels, separable otherwise.  The separable sums keep
        non-negative inputs and kernels non-negative in floating point; the FFT
        adds rounding noise of either sign (of relative size ~1e-7 in float32
        with respect to the largest output).

    Returns
    -------
    y
        Tensor of shape ``(batch, K, height, width)``.

    """
    _validate_bank(x, gv, gh, weights, grouped)
    kh, kw = gv.shape[-1], gh.shape[-1]
    if method == "auto":
        n_out = gv.shape[0] if weights is None else weights.shape[0]
        use_fft = max(kh, kw) >= FFT_MIN_KERNEL or (
            not grouped and n_out <= FFT_MAX_SMALL_CHANNELS
        )
        method = "fft" if use_fft else "separable"
    if method == "fft":
        return _fft_bank(x, gv, gh, pad_mode, weights)
    if method == "separable":
        return _separable_bank(x, gv, gh, pad_mode, weights)
    raise ValueError(f"method must be 'auto', 'separable' or 'fft', got {method!r}")


def _separable_bank(
    x: Tensor,
    gv: Tensor,
    gh: Tensor,
    pad_mode: str,
    weights: Tensor | None,
) -> Tensor:
    xp = same_padding(x, (gv.shape[-1], gh.shape[-1]), pad_mode=pad_mode)
    y = correlate_separable(xp, gv, gh)
    if weights is not None:
        y = torch.einsum("kj,njhw->nkhw", weights.to(y.dtype), y)
    return y


def _pad_to(
    x: Tensor, pad: tuple[int, int, int, int], size: tuple[int, int], pad_mode: str
) -> Tensor:
    """Same-pad ``x`` and extend it to ``size`` at the bottom/right.

    The extension is never read by the valid outputs (only by the wrapped ones,
    which are discarded), so when the padding mode allows it the whole padding is
    done in one call; otherwise the extension is filled with zeros.
    """
    mode = _torch_pad_mode(pad_mode)
    h, w = x.shape[-2:]
    left, right, top, bottom = pad
    extra_w = size[1] - (w + left + right)
    extra_h = size[0] - (h + top + bottom)
    limit = {"reflect": (h - 1, w - 1), "circular": (h, w)}.get(mode)
    if limit is None or (
        max(top, bottom + extra_h) <= limit[0]
        and max(left, right + extra_w) <= limit[1]
    ):
        return F.pad(x, (left, right + extra_w, top, bottom + extra_h), mode=mode)
    xp = F.pad(x, pad, mode=mode)
    return F.pad(xp, (0, extra_w, 0, extra_h))


def _fft_bank(
    x: Tensor, gv: Tensor, gh: Tensor, pad_mode: str, weights: Tensor | None
) -> Tensor:
    h, w = x.shape[-2:]
    kh, kw = gv.shape[-1], gh.shape[-1]
    hf = _fast_fft_length(h + kh - 1)
    wf = _fast_fft_length(w + kw - 1)
    spectrum = bank_spectrum(gv.to(x.dtype), gh.to(x.dtype), weights, (hf, wf))
    xp = _pad_to(x, same_padding_amounts((kh, kw)), (hf, wf), pad_mode)
    args = (xp, spectrum, False, (h, w), x.shape[1])
    if spectrum.requires_grad:  # kernels with gradients (a model being fitted):
        return _SpectralCorrelation.forward(*args)  # torch's derivative, to both
    return _SpectralCorrelation.apply(*args)


class _SpectralCorrelation(PositionalFunction):
    """Circular correlation with a fixed real filter bank, cropped, or its adjoint.

    Forward (``adjoint=False``): ``irfft2(rfft2(x) * spectrum)[..., :h, :w]`` for
    ``size = (h, w)``. Adjoint: zero-extend to ``size`` (the FFT domain), multiply
    by the conjugate spectrum (circular convolution), sum the bank's channels back
    to ``channels`` and transform back. The operation is linear in ``x``, so each
    direction's derivative is the other one: derivatives of every order stay two
    real FFTs. Torch's own derivative of ``rfft2`` zero-fills a full complex
    spectrum and takes a complex FFT of it, and its second derivative several, for
    every channel of the bank (the eigendistortions' Fisher-vector products).
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(
        x: Tensor,
        spectrum: Tensor,
        adjoint: bool,
        size: tuple[int, int],
        channels: int,
    ) -> Tensor:
        if not adjoint:
            domain = x.shape[-2:]
            y = torch.fft.irfft2(torch.fft.rfft2(x) * spectrum, s=domain)
            return y[..., : size[0], : size[1]]
        spec = torch.fft.rfft2(x, s=size) * spectrum.conj()
        if channels == 1 and spec.shape[-3] > 1:
            spec = spec.sum(-3, keepdim=True)
        return torch.fft.irfft2(spec, s=size)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: Tensor) -> None:
        x, ctx.spectrum, ctx.adjoint, ctx.size, ctx.channels = inputs
        ctx.input_size = tuple(x.shape[-2:])  # the output size of the derivative

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        transposed = _SpectralCorrelation.apply(
            grad, ctx.spectrum, not ctx.adjoint, ctx.input_size, ctx.channels
        )
        return transposed, None, None, None, None

    @staticmethod
    def jvp(ctx: Any, x_t: Tensor, *_: object) -> Tensor:
        return _SpectralCorrelation.apply(
            x_t, ctx.spectrum, ctx.adjoint, ctx.size, ctx.channels
        )


def bank_spectrum(
    gv: Tensor, gh: Tensor, weights: Tensor | None, size: tuple[int, int]
) -> Tensor:
    """Half spectra of a separable filter bank, for correlation on a padded domain.

    Parameters
    ----------
    gv, gh
        Vertical ``(J, kh)`` and horizontal ``(J, kw)`` 1-D kernels.
    weights
        Optional real ``(K, J)`` mixing matrix.
    size
        FFT size ``(hf, wf)``.

    Returns
    -------
    spectrum
        Complex tensor of shape ``(K, hf, wf // 2 + 1)`` such that
        ``irfft2(rfft2(x) * spectrum)`` is the circular cross-correlation of ``x``
        with the bank.

    """
    hf, wf = size
    # conj(FFT(g)) is the unnormalized inverse transform of a real g
    sv = torch.fft.ifft(gv, n=hf, norm="forward")
    sh = torch.fft.ihfft(gh, n=wf, norm="forward")
    if weights is None:
        return sv.unsqueeze(-1) * sh.unsqueeze(-2)
    mixed = weights.to(sv.dtype).unsqueeze(-1) * sv.unsqueeze(0)  # (K, J, hf)
    return torch.matmul(mixed.transpose(-1, -2), sh.unsqueeze(0))
