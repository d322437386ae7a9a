"""Early-visual-system front-end models of Berardino et al. (2017).

Four models of increasing complexity, each a center-surround (difference of
Gaussians) linear stage followed by optional gain control and a pointwise
activation:

- `LinearNonlinear`: ``activation(cs(x))``.
- `LuminanceGainControl`: ``activation(cs(x) / (1 + s_l * lum(x)))``.
- `LuminanceContrastGainControl`: the luminance-normalized response ``l`` is further
  divided by ``1 + s_c * (sqrt(contrast(l ** 2)) + 1e-6)``.
- `OnOff`: the same, with an on-center and an off-center channel, each with its own
  luminance and contrast filters and scalars.

``cs``, ``lum`` and ``contrast`` are same-padded Gaussian filters (see
`pipeline.models.naive`).  All Gaussians filtering the image are applied in one
batched call (FFT for large kernels), which computes exactly the published
cross-correlations up to floating-point rounding.

With ``pretrained=True`` the parameters of Berardino (2018, PhD thesis, Table 2),
used in Berardino et al. (2017), are loaded; they require 31x31 kernels.

References
----------
.. [1] A. Berardino, J. Ballé, V. Laparra, E. P. Simoncelli. Eigen-distortions of
   hierarchical representations. NeurIPS 2017. https://arxiv.org/abs/1710.02266
.. [2] A. Berardino. Hierarchically normalized models of visual distortion
   sensitivity: physiology, perception, and application. PhD thesis, New York
   University, 2018.

"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._filters import as_kernel_size, filter_bank, fold_channels, unfold_channels
from .naive import Bank, CenterSurround, Gaussian

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "LinearNonlinear",
    "LuminanceContrastGainControl",
    "LuminanceGainControl",
    "OnOff",
    "disk",
]

Activation = Callable[[Tensor], Tensor]

PRETRAINED_KERNEL_SIZE = (31, 31)

# The contrast energy contrast(l ** 2) goes through a square root, which amplifies
# absolute errors near zero: it is computed with direct (separable) sums, which stay
# >= 0 like the published 2-D convolution, never with the FFT, whose rounding noise
# (relative to the image maximum) would give NaNs and visible errors in flat regions.
_CONTRAST_METHOD = "separable"

# Published parameters (Berardino 2018, Table 2).
_PRETRAINED: dict[str, dict[str, float | list[float]]] = {
    "LinearNonlinear": {
        "center_surround.center_std": 0.5339,
        "center_surround.surround_std": 6.148,
        "center_surround.amplitude_ratio": 1.25,
    },
    "LuminanceGainControl": {
        "luminance_scalar": 14.95,
        "center_surround.center_std": 1.962,
        "center_surround.surround_std": 4.235,
        "center_surround.amplitude_ratio": 1.25,
        "luminance.std": 4.235,
    },
    "LuminanceContrastGainControl": {
        "luminance_scalar": 2.94,
        "contrast_scalar": 34.03,
        "center_surround.center_std": 0.7363,
        "center_surround.surround_std": 48.37,
        "center_surround.amplitude_ratio": 1.25,
        "luminance.std": 170.99,
        "contrast.std": 2.658,
    },
    "OnOff": {
        "luminance_scalar": [3.2637, 14.3961],
        "contrast_scalar": [7.3405, 16.7423],
        "center_surround.center_std": [1.237, 0.3233],
        "center_surround.surround_std": [30.12, 2.184],
        "center_surround.amplitude_ratio": 1.25,
        "luminance.std": [76.4, 2.184],
        "contrast.std": [7.49, 2.43],
    },
}


def disk(
    shape: int | tuple[int, int],
    radius: float | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> Tensor:
    """Binary disk mask centred in an image.

    Parameters
    ----------
    shape
        ``(height, width)`` (or one int for a square).
    radius
        Radius in pixels; defaults to ``min(height, width) / 2``.
    device, dtype
        Of the returned tensor (default dtype when None).

    Returns
    -------
    mask
        Tensor of shape ``(height, width)``: 1 where the distance to the centre
        ``((height - 1) / 2, (width - 1) / 2)`` is at most ``radius``, 0 elsewhere.

    Examples
    --------
    >>> m = disk((5, 5))
    >>> m[2, 2].item(), m[0, 0].item()
    (1.0, 0.0)

    """
    h, w = (shape, shape) if isinstance(shape, int) else (int(shape[0]), int(shape[1]))
    if radius is None:
        radius = min(h, w) / 2
    dtype = dtype or torch.get_default_dtype()
    y = torch.arange(h, device=device, dtype=torch.float64) - (h - 1) / 2
    x = torch.arange(w, device=device, dtype=torch.float64) - (w - 1) / 2
    dist2 = y.reshape(-1, 1).square() + x.reshape(1, -1).square()
    return (dist2 <= radius**2).to(dtype)


def _check_pretrained(kernel_size: int | tuple[int, int], pretrained: bool) -> None:
    if pretrained and as_kernel_size(kernel_size) != PRETRAINED_KERNEL_SIZE:
        raise ValueError("pretrained model has kernel_size (31, 31)")


def _stack_banks(*banks: Bank) -> Bank:
    """Concatenate filter banks, with a block-diagonal mixing matrix."""
    gvs, ghs, blocks = [], [], []
    for gv, gh, weights in banks:
        gvs.append(gv)
        ghs.append(gh)
        blocks.append(
            torch.eye(gv.shape[0], dtype=gv.dtype, device=gv.device)
            if weights is None
            else weights.to(gv.dtype)
        )
    return torch.cat(gvs), torch.cat(ghs), torch.block_diag(*blocks)


class _FrontEnd(nn.Module):
    """Shared machinery: channel folding, the pretrained parameters, filter display.

    Each model names its published parameters in ``_pretrained_params`` (an entry
    of ``_PRETRAINED``); subclasses inherit them.
    """

    center_surround: CenterSurround
    _pretrained_params: ClassVar[dict[str, float | list[float]]]

    def _load_pretrained(self) -> None:
        state = {}
        current = self.state_dict()
        for name, value in self._pretrained_params.items():
            # a single published value is used for every channel
            state[name] = torch.as_tensor(value, dtype=current[name].dtype).expand_as(
                current[name]
            )
        self.load_state_dict(state)

    def display_filters(
        self,
        vrange: str | tuple[float, float] = "indep0",
        zoom: float | None = 5.0,
        title: str | Sequence[str] | None = None,
        col_wrap: int | None = None,
        **kwargs: Any,
    ) -> Figure:
        """Show the model's linear filters (center-surround, luminance, contrast).

        Parameters
        ----------
        vrange, zoom, col_wrap
            As for :func:`pipeline.plot.imshow`; ``col_wrap`` defaults to one row
            per kind of filter when the model has several channels.
        title
            One title per filter; by default the kind of filter (``"linear"``,
            ``"luminance"``, ``"contrast"``), with ``on`` / ``off`` per channel
            when there are several.
        **kwargs
            Passed to :func:`pipeline.plot.imshow`.

        Returns
        -------
        fig
            The figure.

        Examples
        --------
        >>> model = OnOff(31, pretrained=True)
        >>> fig = model.display_filters()
        >>> len(fig.axes)
        6

        """
        from ..plot import imshow

        kinds = [("linear", self.center_surround)] + [
            (name, getattr(self, name))
            for name in ("luminance", "contrast")
            if isinstance(getattr(self, name, None), Gaussian)
        ]
        n = self.center_surround.out_channels
        flags = self.center_surround.on_center
        if title is None:
            title = [
                f"{kind} filt" + (f" {'on' if on else 'off'}" if n > 1 else "")
                for kind, _ in kinds
                for on in flags
            ]
        filters = torch.cat(
            [module.filt.expand(n, -1, -1, -1) for _, module in kinds]
        ).detach()
        return imshow(
            filters,
            vrange=vrange,
            zoom=zoom,
            title=title,
            col_wrap=col_wrap if col_wrap is not None or n == 1 else n,
            **kwargs,
        )

    def _filter_image(self, xf: Tensor, *modules: CenterSurround | Gaussian) -> Tensor:
        """Apply several filter modules to single-channel images in one call."""
        first = modules[0]
        if all(
            m.kernel_size == first.kernel_size and m.pad_mode == first.pad_mode
            for m in modules
        ):
            gv, gh, weights = _stack_banks(*(m.bank() for m in modules))
            return filter_bank(xf, gv, gh, first.pad_mode, weights)
        outputs = []
        for m in modules:
            gv, gh, weights = m.bank()
            outputs.append(filter_bank(xf, gv, gh, m.pad_mode, weights))
        return torch.cat(outputs, dim=1)

    def _luminance_normalize(self, xf: Tensor) -> Tensor:
        """``cs(x) / (1 + luminance_scalar * luminance(x))`` on folded input."""
        n = self.center_surround.out_channels
        y = self._filter_image(xf, self.center_surround, self.luminance)
        linear, lum = y[:, :n], y[:, n:]
        scalar = self.luminance_scalar.reshape(1, -1, 1, 1)
        return linear / (1 + scalar * lum)

    def _contrast_normalize(self, lum_normed: Tensor) -> Tensor:
        """``l / (1 + contrast_scalar * (sqrt(contrast(l ** 2)) + 1e-6))``.

        Channel ``k`` of the contrast filter filters channel ``k`` of ``l``.  The
        local energy ``contrast(l ** 2)`` is non-negative; it is computed with a
        direct (separable) sum, which keeps it non-negative in floating point as
        in the published implementation (an FFT would add rounding noise of
        either sign, which the square root amplifies near zero).
        """
        n = lum_normed.shape[1]
        gv, gh, _ = self.contrast.bank()
        if gv.shape[0] != n:
            gv, gh = gv.expand(n, -1), gh.expand(n, -1)
        energy = filter_bank(
            lum_normed.square(),
            gv,
            gh,
            self.contrast.pad_mode,
            grouped=True,
            method=_CONTRAST_METHOD,
        )
        contrast = energy.sqrt() + 1e-6
        scalar = self.contrast_scalar.reshape(1, -1, 1, 1)
        return lum_normed / (1 + scalar * contrast)


class LinearNonlinear(_FrontEnd):
    """Center-surround filter followed by a pointwise activation.

    ``y = activation(center_surround(x))``.

    Parameters
    ----------
    kernel_size
        ``k`` or ``(kh, kw)`` of the filters.
    on_center
        On-center (True) or off-center (False) filter, or a list (one channel
        each).
    amplitude_ratio
        Gain of the center-surround filter, >= 1.
    pad_mode
        Padding mode of the convolutions (see `CenterSurround`).
    pretrained
        Load the published parameters (requires ``kernel_size`` 31).
    activation
        Pointwise nonlinearity.
    cache_filt
        Cache the filters between calls (see `CenterSurround`).

    Attributes
    ----------
    center_surround : CenterSurround
        The linear filter.

    Examples
    --------
    >>> import torch
    >>> model = LinearNonlinear(31, pretrained=True)
    >>> model(torch.rand(1, 1, 64, 64)).shape
    torch.Size([1, 1, 64, 64])

    """

    _pretrained_params = _PRETRAINED["LinearNonlinear"]

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        on_center: bool | Sequence[bool] = True,
        amplitude_ratio: float = 1.25,
        pad_mode: str = "reflect",
        pretrained: bool = False,
        activation: Activation = F.softplus,
        cache_filt: bool = False,
    ) -> None:
        super().__init__()
        _check_pretrained(kernel_size, pretrained)
        self.center_surround = CenterSurround(
            kernel_size,
            on_center=on_center,
            amplitude_ratio=amplitude_ratio,
            pad_mode=pad_mode,
            cache_filt=cache_filt,
        )
        self.activation = activation
        if pretrained:
            self._load_pretrained()

    def forward(self, x: Tensor) -> Tensor:
        """Model response.

        Parameters
        ----------
        x
            Images of shape ``(batch, channel, height, width)``, or one image
            ``(channel, height, width)``, whose response has no batch dimension.

        Returns
        -------
        y
            Shape ``(batch, channel * n_filters, height, width)``.

        """
        return self.activation(self.center_surround(x))


class LuminanceGainControl(_FrontEnd):
    """Center-surround filter divided by local luminance, then an activation.

    ``y = activation(cs(x) / (1 + luminance_scalar * luminance(x)))``.

    Parameters
    ----------
    kernel_size
        ``k`` or ``(kh, kw)`` of the filters.
    on_center
        On-center (True) or off-center (False) filter, or a list (one channel
        each).
    amplitude_ratio
        Gain of the center-surround filter, >= 1.
    pad_mode
        Padding mode of the convolutions (see `CenterSurround`).
    pretrained
        Load the published parameters (requires ``kernel_size`` 31).
    activation
        Pointwise nonlinearity.
    cache_filt
        Cache the filters between calls (see `CenterSurround`).

    Attributes
    ----------
    center_surround : CenterSurround
        The linear filter.
    luminance : Gaussian
        Local luminance filter.
    luminance_scalar : torch.nn.Parameter
        Shape ``(1,)``; initialized to ``torch.rand(1) * 10``.

    Examples
    --------
    >>> import torch
    >>> model = LuminanceGainControl(31, pretrained=True)
    >>> model(torch.rand(2, 1, 64, 64)).shape
    torch.Size([2, 1, 64, 64])

    """

    _pretrained_params = _PRETRAINED["LuminanceGainControl"]

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        on_center: bool | Sequence[bool] = True,
        amplitude_ratio: float = 1.25,
        pad_mode: str = "reflect",
        pretrained: bool = False,
        activation: Activation = F.softplus,
        cache_filt: bool = False,
    ) -> None:
        super().__init__()
        _check_pretrained(kernel_size, pretrained)
        self.center_surround = CenterSurround(
            kernel_size,
            on_center=on_center,
            amplitude_ratio=amplitude_ratio,
            pad_mode=pad_mode,
            cache_filt=cache_filt,
        )
        self.luminance = Gaussian(kernel_size, pad_mode=pad_mode, cache_filt=cache_filt)
        self.luminance_scalar = nn.Parameter(torch.rand(1) * 10)
        self.activation = activation
        if pretrained:
            self._load_pretrained()

    def forward(self, x: Tensor) -> Tensor:
        """Model response.

        Parameters
        ----------
        x
            Images of shape ``(batch, channel, height, width)``, or one image
            ``(channel, height, width)``, whose response has no batch dimension.

        Returns
        -------
        y
            Shape ``(batch, channel * n_filters, height, width)``.

        """
        y = self.activation(self._luminance_normalize(fold_channels(x)))
        return unfold_channels(y, x)


class LuminanceContrastGainControl(_FrontEnd):
    """Center-surround filter with luminance and contrast gain control.

    ``l = cs(x) / (1 + luminance_scalar * luminance(x))``,
    ``c = sqrt(contrast(l ** 2)) + 1e-6`` and
    ``y = activation(l / (1 + contrast_scalar * c))``.

    Parameters
    ----------
    kernel_size
        ``k`` or ``(kh, kw)`` of the filters.
    on_center
        On-center (True) or off-center (False) filter, or a list (one channel
        each).
    amplitude_ratio
        Gain of the center-surround filter, >= 1.
    pad_mode
        Padding mode of the convolutions (see `CenterSurround`).
    pretrained
        Load the published parameters (requires ``kernel_size`` 31).
    activation
        Pointwise nonlinearity.
    cache_filt
        Cache the filters between calls (see `CenterSurround`).

    Attributes
    ----------
    center_surround : CenterSurround
        The linear filter.
    luminance, contrast : Gaussian
        Local luminance and contrast (energy) filters.
    luminance_scalar, contrast_scalar : torch.nn.Parameter
        Shape ``(1,)``; initialized to ``torch.rand(1) * 10``.

    Examples
    --------
    >>> import torch
    >>> model = LuminanceContrastGainControl(31, pretrained=True)
    >>> model(torch.rand(1, 3, 64, 64)).shape
    torch.Size([1, 3, 64, 64])

    """

    _pretrained_params = _PRETRAINED["LuminanceContrastGainControl"]

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        on_center: bool | Sequence[bool] = True,
        amplitude_ratio: float = 1.25,
        pad_mode: str = "reflect",
        pretrained: bool = False,
        activation: Activation = F.softplus,
        cache_filt: bool = False,
    ) -> None:
        super().__init__()
        _check_pretrained(kernel_size, pretrained)
        self.center_surround = CenterSurround(
            kernel_size,
            on_center=on_center,
            amplitude_ratio=amplitude_ratio,
            pad_mode=pad_mode,
            cache_filt=cache_filt,
        )
        self.luminance = Gaussian(kernel_size, pad_mode=pad_mode, cache_filt=cache_filt)
        self.contrast = Gaussian(kernel_size, pad_mode=pad_mode, cache_filt=cache_filt)
        self.luminance_scalar = nn.Parameter(torch.rand(1) * 10)
        self.contrast_scalar = nn.Parameter(torch.rand(1) * 10)
        self.activation = activation
        if pretrained:
            self._load_pretrained()

    def forward(self, x: Tensor) -> Tensor:
        """Model response.

        Parameters
        ----------
        x
            Images of shape ``(batch, channel, height, width)``, or one image
            ``(channel, height, width)``, whose response has no batch dimension.

        Returns
        -------
        y
            Shape ``(batch, channel * n_filters, height, width)``.

        """
        lum_normed = self._luminance_normalize(fold_channels(x))
        y = self.activation(self._contrast_normalize(lum_normed))
        return unfold_channels(y, x)


class OnOff(_FrontEnd):
    """Two-channel (on- and off-center) model with luminance and contrast gain control.

    Channel 0 is on-center, channel 1 off-center; each has its own center-surround,
    luminance and contrast filters and scalars.  Per channel ``k``:
    ``l_k = cs_k(x) / (1 + luminance_scalar[k] * luminance_k(x))``,
    ``c_k = sqrt(contrast_k(l_k ** 2)) + 1e-6`` and
    ``y_k = activation(l_k / (1 + contrast_scalar[k] * c_k))``.

    Parameters
    ----------
    kernel_size
        ``k`` or ``(kh, kw)`` of the filters.
    amplitude_ratio
        Gain of the center-surround filters, >= 1.
    pad_mode
        Padding mode of the convolutions (see `CenterSurround`).
    pretrained
        Load the published parameters (requires ``kernel_size`` 31).
    activation
        Pointwise nonlinearity.
    apply_mask
        Multiply the output by a centred disk (see `disk`), e.g. so that
        eigendistortions ignore the image corners.
    cache_filt
        Cache the filters between calls (see `CenterSurround`).

    Attributes
    ----------
    center_surround : CenterSurround
        Two filters, ``on_center=[True, False]``.
    luminance, contrast : Gaussian
        Two filters each.
    luminance_scalar, contrast_scalar : torch.nn.Parameter
        Shape ``(2,)``; initialized to ``torch.rand(2) * 10``.

    Examples
    --------
    >>> import torch
    >>> model = OnOff(31, pretrained=True)
    >>> model(torch.rand(1, 1, 64, 64)).shape
    torch.Size([1, 2, 64, 64])

    """

    _pretrained_params = _PRETRAINED["OnOff"]

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        amplitude_ratio: float = 1.25,
        pad_mode: str = "reflect",
        pretrained: bool = False,
        activation: Activation = F.softplus,
        apply_mask: bool = False,
        cache_filt: bool = False,
    ) -> None:
        super().__init__()
        _check_pretrained(kernel_size, pretrained)
        self.center_surround = CenterSurround(
            kernel_size,
            on_center=[True, False],
            amplitude_ratio=amplitude_ratio,
            pad_mode=pad_mode,
            cache_filt=cache_filt,
        )
        self.luminance = Gaussian(
            kernel_size, out_channels=2, pad_mode=pad_mode, cache_filt=cache_filt
        )
        self.contrast = Gaussian(
            kernel_size, out_channels=2, pad_mode=pad_mode, cache_filt=cache_filt
        )
        self.luminance_scalar = nn.Parameter(torch.rand(2) * 10)
        self.contrast_scalar = nn.Parameter(torch.rand(2) * 10)
        self.activation = activation
        self.apply_mask = apply_mask
        self._mask: Tensor | None = None  # cached disk; not part of the state dict
        if pretrained:
            self._load_pretrained()

    def forward(self, x: Tensor) -> Tensor:
        """Model response.

        Parameters
        ----------
        x
            Images of shape ``(batch, channel, height, width)``, or one image
            ``(channel, height, width)``, whose response has no batch dimension.

        Returns
        -------
        y
            Shape ``(batch, 2 * channel, height, width)``: on and off responses of
            input channel 0, then of channel 1, ...

        """
        lum_normed = self._luminance_normalize(fold_channels(x))
        y = unfold_channels(self.activation(self._contrast_normalize(lum_normed)), x)
        if self.apply_mask:
            mask = self._mask
            if (
                mask is None
                or mask.shape != y.shape[-2:]
                or mask.device != y.device
                or mask.dtype != y.dtype
            ):
                mask = self._mask = disk(y.shape[-2:], device=y.device, dtype=y.dtype)
            y = y * mask
        return y
