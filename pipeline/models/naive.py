"""Simple convolutional models: identity, Gaussian blur and difference of Gaussians.

`Gaussian` and `CenterSurround` build their filters differentiably from their
standard deviations and apply them through `pipeline.models._filters.filter_bank`,
which is exactly the same-padded 2-D cross-correlation with the filter returned by
their ``filt`` property, only faster (separable or FFT).

Same padding: along an axis with kernel length ``k`` the input is padded by
``(k - 1) // 2`` before and ``k - 1 - (k - 1) // 2`` after, i.e. ``k // 2`` on both
sides for odd ``k`` and ``(k // 2 - 1, k // 2)`` for even ``k`` (as in the
published implementation), with any mode of :func:`torch.nn.functional.pad`
(``"zeros"`` meaning ``"constant"``).

Multi-channel inputs are filtered channel by channel: an input of shape
``(batch, in_channels, h, w)`` gives ``(batch, in_channels * out_channels, h, w)``,
ordered input-channel-major (all filters of input channel 0 first).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ._filters import (
    _torch_pad_mode,
    as_kernel_size,
    as_out_channels,
    as_positive_tensor,
    circular_gaussian2d,
    filter_bank,
    fold_channels,
    gaussian1d,
    same_padding,
    unfold_channels,
)

__all__ = ["CenterSurround", "Gaussian", "Identity", "Linear"]

Bank = tuple[Tensor, Tensor, Tensor | None]


class Identity(nn.Module):
    """Model that returns a copy of its input.

    Useful as a "pixel-space" model, e.g. to synthesize with a loss computed on the
    image itself.

    Examples
    --------
    >>> import torch
    >>> x = torch.rand(1, 1, 8, 8)
    >>> y = Identity()(x)
    >>> torch.equal(x, y), y is x
    (True, False)

    """

    def forward(self, x: Tensor) -> Tensor:
        """Return ``1 * x``, a new tensor equal to ``x``.

        Parameters
        ----------
        x
            Any tensor.

        Returns
        -------
        y
            A copy of ``x`` (differentiable).

        """
        return 1 * x


class Linear(nn.Module):
    """Two learnable linear filters: a low-pass and a band-pass to start from.

    The simplest trainable convolutional model: each input channel is padded
    (same size) and correlated with two ``kernel_size`` filters, the weight of
    ``conv``, a :class:`torch.nn.Conv2d` without bias.

    Parameters
    ----------
    kernel_size
        ``k`` or ``(kh, kw)``.
    pad_mode
        Padding mode, as for `Gaussian` (default circular).
    default_filters
        Start from a Gaussian low-pass (std ``sqrt(3)``) and a band-pass (a
        Gaussian of std 1 minus that low-pass, which sums to zero); otherwise
        keep :class:`torch.nn.Conv2d`'s random initialization.

    Attributes
    ----------
    conv : torch.nn.Conv2d
        One input and two output channels; its ``weight`` are the filters.

    Examples
    --------
    >>> import torch
    >>> model = Linear()
    >>> model(torch.rand(1, 3, 16, 16)).shape
    torch.Size([1, 6, 16, 16])
    >>> model.conv.weight.shape
    torch.Size([2, 1, 3, 3])

    """

    def __init__(
        self,
        kernel_size: int | tuple[int, int] = (3, 3),
        pad_mode: str = "circular",
        default_filters: bool = True,
    ) -> None:
        super().__init__()
        self.kernel_size = as_kernel_size(kernel_size)
        _torch_pad_mode(pad_mode)  # validates
        self.pad_mode = pad_mode
        self.conv = nn.Conv2d(1, 2, self.kernel_size, bias=False)
        if default_filters:
            low = circular_gaussian2d(self.kernel_size, 3.0**0.5)
            narrow = circular_gaussian2d(self.kernel_size, 1.0)
            with torch.no_grad():
                self.conv.weight.copy_(torch.cat([low, narrow - low]))

    def forward(self, x: Tensor) -> Tensor:
        """Filter each channel of ``x`` with both filters.

        Parameters
        ----------
        x
            Images of shape ``(batch, channel, height, width)``, or one image
            ``(channel, height, width)``, whose response has no batch dimension.

        Returns
        -------
        y
            Shape ``(batch, 2 * channel, height, width)``: the two responses of
            input channel 0, then of channel 1, ...

        """
        xp = same_padding(fold_channels(x), self.kernel_size, pad_mode=self.pad_mode)
        return unfold_channels(self.conv(xp), x)


class _GaussianBankModule(nn.Module):
    """Base class of modules whose filters are (sums of) separable Gaussians.

    Subclasses define ``_kernel_tensors`` (the parameters and buffers the filters
    are built from) and ``_make_bank`` (the 1-D kernels and the mixing matrix, see
    `filter_bank`).

    With ``cache_filt=True`` the bank is built once and reused while the module's
    parameters are unchanged: the cache is keyed on each tensor's version counter
    (bumped by every in-place update, e.g. an optimizer step or
    ``load_state_dict``), storage, dtype and device, so it is rebuilt automatically
    when a parameter changes.  The cache is bypassed (the bank is rebuilt every
    call, so that gradients reach the parameters) whenever gradient mode is on and
    one of those parameters requires grad.  It is a plain attribute, never part of
    the ``state_dict``.
    """

    def __init__(
        self, kernel_size: int | tuple[int, int], pad_mode: str, cache_filt: bool
    ) -> None:
        super().__init__()
        self.kernel_size = as_kernel_size(kernel_size)
        _torch_pad_mode(pad_mode)  # validates
        self.pad_mode = pad_mode
        self.cache_filt = bool(cache_filt)
        self._bank_cache: tuple[tuple, Bank] | None = None

    def _kernel_tensors(self) -> tuple[Tensor, ...]:
        raise NotImplementedError

    def _make_bank(self) -> Bank:
        raise NotImplementedError

    def bank(self) -> Bank:
        """1-D kernels and mixing weights of the filters, see `filter_bank`.

        Returns
        -------
        gv, gh, weights
            Vertical ``(J, kh)`` and horizontal ``(J, kw)`` kernels and the
            ``(out_channels, J)`` mixing matrix (None for the identity).

        """
        if not self.cache_filt:
            return self._make_bank()
        tensors = self._kernel_tensors()
        if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
            return self._make_bank()
        key = tuple((t._version, t.data_ptr(), t.dtype, t.device) for t in tensors)
        if self._bank_cache is None or self._bank_cache[0] != key:
            with torch.no_grad():
                self._bank_cache = (key, self._make_bank())
        return self._bank_cache[1]

    def _filter(self, x: Tensor) -> Tensor:
        """Apply the bank to each channel of ``x``, (batch, c, h, w) or (c, h, w)."""
        gv, gh, weights = self.bank()
        y = filter_bank(fold_channels(x), gv, gh, self.pad_mode, weights)
        return unfold_channels(y, x)

    def extra_repr(self) -> str:
        """Describe the module in its ``repr``."""
        return f"kernel_size={self.kernel_size}, pad_mode={self.pad_mode!r}"


class Gaussian(_GaussianBankModule):
    """Isotropic Gaussian blur, one filter per output channel.

    Each filter samples ``exp(-(x**2 + y**2) / (2 * std**2))`` at the kernel
    positions ``arange(1, k + 1) - (k + 1) / 2`` and is normalized to sum to 1 over
    the kernel.  The input is padded with ``pad_mode`` so that the output has the
    input's size.

    Parameters
    ----------
    kernel_size
        ``k`` or ``(kh, kw)``.
    std
        Standard deviation(s): a float, or one per output channel (list or tensor).
        Stored as the parameter ``std``.
    pad_mode
        ``"reflect"``, ``"circular"``, ``"replicate"``, ``"constant"`` or
        ``"zeros"``.
    out_channels
        Number of filters; inferred from the length of ``std`` when None.
    cache_filt
        Reuse the 1-D kernels between calls while ``std`` is unchanged (see
        Notes).

    Attributes
    ----------
    std : torch.nn.Parameter
        Shape ``(out_channels,)``.

    Notes
    -----
    The filter is applied separably or through the FFT, which is the same
    operation as padding and cross-correlating with `filt` (up to rounding).  With
    ``cache_filt=True`` the kernels are cached while ``std`` is unchanged (in-place
    updates invalidate the cache) and gradient mode does not need them.

    Examples
    --------
    >>> import torch
    >>> model = Gaussian(7, std=[1.0, 2.0])
    >>> model(torch.rand(4, 3, 32, 32)).shape
    torch.Size([4, 6, 32, 32])
    >>> model.filt.shape
    torch.Size([2, 1, 7, 7])

    """

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        std: float | Sequence[float] | Tensor = 3.0,
        pad_mode: str = "reflect",
        out_channels: int | None = None,
        cache_filt: bool = False,
    ) -> None:
        super().__init__(kernel_size, pad_mode, cache_filt)
        n = as_out_channels(out_channels, _length(std))
        self.std = nn.Parameter(as_positive_tensor(std, "std", n).detach().clone())
        self.out_channels = n

    def _kernel_tensors(self) -> tuple[Tensor, ...]:
        return (self.std,)

    def _make_bank(self) -> Bank:
        kh, kw = self.kernel_size
        return gaussian1d(kh, self.std), gaussian1d(kw, self.std), None

    @property
    def filt(self) -> Tensor:
        """Full 2-D filters, shape ``(out_channels, 1, kh, kw)``."""
        return circular_gaussian2d(self.kernel_size, self.std)

    def forward(self, x: Tensor) -> Tensor:
        """Blur each channel of ``x`` with each filter.

        Parameters
        ----------
        x
            Images of shape ``(batch, channel, height, width)``, or one image
            ``(channel, height, width)``, whose response has no batch dimension.

        Returns
        -------
        y
            Shape ``(batch, channel * out_channels, height, width)``.

        """
        return self._filter(x)


def _as_on_center(on_center: bool | Sequence[bool]) -> list[bool] | None:
    """Validate ``on_center``; a single bool gives None (length not fixed)."""
    if isinstance(on_center, Tensor):
        on_center = on_center.tolist()
    if isinstance(on_center, Sequence) and not isinstance(on_center, str):
        values = list(on_center)
        if not values:
            raise ValueError("on_center must not be empty")
    else:
        values = [on_center]
    for value in values:
        if not (value is True or value is False or value in (0, 1)):
            raise ValueError(
                f"on_center must be a bool or a list of bools, got {on_center!r}"
            )
    flags = [bool(v) for v in values]
    return flags if isinstance(on_center, Sequence) else None


def _length(value: object) -> int:
    """Count the values of a number, sequence or tensor (1 for a scalar)."""
    if isinstance(value, Tensor):
        return value.numel()
    if isinstance(value, Sequence) and not isinstance(value, str):
        return len(value)
    return 1


def _center_surround_channels(
    out_channels: int | None, flags: list[bool] | None, n_center: int, n_surround: int
) -> tuple[int, str]:
    """Resolve the number of channels of a `CenterSurround` and what fixed it.

    ``out_channels`` wins, then the length of a list ``on_center``, then that of
    a non-scalar ``center_std``, then of ``surround_std``; default 1.
    """
    if out_channels is not None:
        return as_out_channels(out_channels, 1), "out_channels"
    if flags is not None:
        return len(flags), "out_channels (from on_center)"
    if n_center != 1:
        return n_center, "len(center_std)"
    return n_surround, "out_channels (from surround_std)"


class CenterSurround(_GaussianBankModule):
    """Difference-of-Gaussians (center-surround) filters.

    Filter ``c`` is ``amplitude_ratio * sign_c * (G(center_std[c]) -
    G(surround_std[c]))`` where ``G`` is a normalized Gaussian (as in `Gaussian`) and
    ``sign_c`` is +1 for an on-center and -1 for an off-center channel.  Each
    filter sums to zero, so a constant image gives zero away from boundary effects
    (exactly zero everywhere with reflect, replicate or circular padding).

    Parameters
    ----------
    kernel_size
        ``k`` or ``(kh, kw)``.
    on_center
        Whether each channel is on-center (True) or off-center (False); a list of
        bools fixes the number of channels.
    amplitude_ratio
        Overall gain of the filters, must be >= 1.  Stored as the buffer
        ``amplitude_ratio``.
    center_std, surround_std
        Standard deviations of the two Gaussians, a float or one per channel;
        stored as parameters.
    out_channels
        Number of filters; inferred from ``on_center`` or the stds when None.
    pad_mode
        ``"reflect"``, ``"circular"``, ``"replicate"``, ``"constant"`` or
        ``"zeros"``.
    cache_filt
        Reuse the 1-D kernels between calls while the parameters are unchanged
        (see `Gaussian`).

    Examples
    --------
    >>> import torch
    >>> model = CenterSurround(15, on_center=[True, False])
    >>> model(torch.rand(1, 1, 32, 32)).shape
    torch.Size([1, 2, 32, 32])
    >>> y = model(torch.ones(1, 1, 32, 32))
    >>> torch.allclose(y, torch.zeros_like(y), atol=1e-6)
    True

    """

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        on_center: bool | Sequence[bool] = True,
        amplitude_ratio: float = 1.25,
        center_std: float | Sequence[float] | Tensor = 1.0,
        surround_std: float | Sequence[float] | Tensor = 4.0,
        out_channels: int | None = None,
        pad_mode: str = "reflect",
        cache_filt: bool = False,
    ) -> None:
        super().__init__(kernel_size, pad_mode, cache_filt)
        flags = _as_on_center(on_center)
        n, source = _center_surround_channels(
            out_channels, flags, _length(center_std), _length(surround_std)
        )
        if flags is not None and len(flags) != n:
            raise ValueError(
                f"len(on_center) must equal out_channels ({n}), got {len(flags)}"
            )
        self.on_center = flags if flags is not None else [bool(on_center)] * n
        ratio = torch.as_tensor(amplitude_ratio, dtype=torch.get_default_dtype())
        if ratio.numel() != 1:
            raise ValueError(
                f"amplitude_ratio must be a scalar, got {ratio.numel()} values"
            )
        if not bool(torch.isfinite(ratio)) or float(ratio) < 1:
            raise ValueError(
                f"amplitude_ratio must at least be 1, got {amplitude_ratio!r}"
            )
        self.register_buffer("amplitude_ratio", ratio.reshape(()).clone())
        self.center_std = nn.Parameter(
            as_positive_tensor(center_std, "center_std", n, source).detach().clone()
        )
        self.surround_std = nn.Parameter(
            as_positive_tensor(surround_std, "surround_std", n, source).detach().clone()
        )
        self.out_channels = n

    def _kernel_tensors(self) -> tuple[Tensor, ...]:
        return (self.center_std, self.surround_std, self.amplitude_ratio)

    def _signed_gain(self) -> Tensor:
        """``amplitude_ratio * sign``, shape ``(out_channels,)``."""
        sign = torch.tensor(
            [1.0 if on else -1.0 for on in self.on_center],
            dtype=self.center_std.dtype,
            device=self.center_std.device,
        )
        return self.amplitude_ratio.to(sign.dtype) * sign

    def _make_bank(self) -> Bank:
        kh, kw = self.kernel_size
        stds = torch.cat([self.center_std, self.surround_std])
        gain = torch.diag(self._signed_gain())
        weights = torch.cat([gain, -gain], dim=1)  # (n, 2n): center - surround
        return gaussian1d(kh, stds), gaussian1d(kw, stds), weights

    @property
    def filt(self) -> Tensor:
        """Full 2-D filters, shape ``(out_channels, 1, kh, kw)``."""
        center = circular_gaussian2d(self.kernel_size, self.center_std)
        surround = circular_gaussian2d(self.kernel_size, self.surround_std)
        return self._signed_gain().reshape(-1, 1, 1, 1) * (center - surround)

    def forward(self, x: Tensor) -> Tensor:
        """Filter each channel of ``x`` with each center-surround filter.

        Parameters
        ----------
        x
            Images of shape ``(batch, channel, height, width)``, or one image
            ``(channel, height, width)``, whose response has no batch dimension.

        Returns
        -------
        y
            Shape ``(batch, channel * out_channels, height, width)``.

        """
        return self._filter(x)

    def extra_repr(self) -> str:
        """Describe the module in its ``repr``."""
        return f"{super().extra_repr()}, on_center={self.on_center}"
