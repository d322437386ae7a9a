"""Laplacian pyramid (Burt and Adelson, 1983).

The image is blurred with the 5-tap binomial filter ``[1, 4, 6, 4, 1] / 16``
(separable, reflected borders) and subsampled by two; each band is the difference
between an image and the upsampled (and blurred) version of its subsampled copy, and
the last band is the final subsampled image.  The blur and the upsampling are those
of the normalized Laplacian pyramid of `pipeline.metric.nlpd`, so the transform is
exactly invertible by construction and fast on CPU.
"""

from __future__ import annotations

from torch import Tensor, nn

from ..metric.perceptual import (
    _blur_downsample,
    _nlpd_min_size,
    _upsample_blur,
    _use_sparse,
)

__all__ = ["LaplacianPyramid", "blur_down", "blur_up"]


def blur_down(x: Tensor) -> Tensor:
    """Blur with the binomial filter (unit gain) and keep every other pixel.

    Parameters
    ----------
    x
        Tensor of shape ``(..., height, width)``, both at least 3.

    Returns
    -------
    down
        Shape ``(..., ceil(height / 2), ceil(width / 2))``.

    """
    folded = x.reshape(1, -1, *x.shape[-2:])
    down = _blur_downsample(folded, _use_sparse(folded))
    return down.reshape(*x.shape[:-2], *down.shape[-2:])


def blur_up(x: Tensor, height: int, width: int) -> Tensor:
    """Upsample by two (zeros in between) and blur with 4 times the binomial filter.

    The adjoint of `blur_down`, times 4 (so a constant image stays constant).

    Parameters
    ----------
    x
        Tensor of shape ``(..., h, w)``, both at least 2.
    height, width
        Output size: ``2 h`` or ``2 h - 1`` (and likewise for the width).

    Returns
    -------
    up
        Shape ``(..., height, width)``.

    """
    folded = x.reshape(1, -1, *x.shape[-2:])
    up = _upsample_blur(folded, height, width, _use_sparse(folded))
    return up.reshape(*x.shape[:-2], height, width)


class LaplacianPyramid(nn.Module):
    """Laplacian pyramid of images, computed per batch element and channel.

    Parameters
    ----------
    n_scales
        Number of bands (the last one is the low-pass residual).
    scale_filter
        If True, blurring down has unit gain and blurring up gain 4 (the filters
        of the normalized Laplacian pyramid); if False (as in pyrtools), both have
        gain 2, which multiplies band ``k`` by ``2 ** k``.

    Attributes
    ----------
    n_scales : int
    scale_filter : bool

    Raises
    ------
    ValueError
        If ``n_scales`` is not a positive int.

    Examples
    --------
    >>> import torch
    >>> from pipeline.process import LaplacianPyramid
    >>> pyr = LaplacianPyramid(n_scales=3)
    >>> x = torch.rand(2, 1, 33, 40)
    >>> [tuple(b.shape[-2:]) for b in pyr(x)]
    [(33, 40), (17, 20), (9, 10)]
    >>> torch.allclose(pyr.recon_pyr(pyr(x)), x, atol=1e-6)
    True

    """

    def __init__(self, n_scales: int = 5, scale_filter: bool = False) -> None:
        super().__init__()
        if isinstance(n_scales, bool) or not isinstance(n_scales, int) or n_scales < 1:
            raise ValueError(f"n_scales must be a positive int, got {n_scales!r}")
        self.n_scales = n_scales
        self.scale_filter = bool(scale_filter)
        self.eval()

    def _gain(self, level: int) -> float:
        """Factor between band ``level`` and its unit-gain version."""
        return 1.0 if self.scale_filter else float(2**level)

    def forward(self, x: Tensor) -> list[Tensor]:
        """Compute the bands, fine to coarse.

        Parameters
        ----------
        x
            Images of shape ``(batch, channel, height, width)``, both sides at
            least ``2 ** (n_scales - 1) + 1``.

        Returns
        -------
        bands
            ``n_scales`` tensors ``(batch, channel, h_k, w_k)`` with ``h_0 =
            height`` and ``h_{k+1} = ceil(h_k / 2)``; the last is the low-pass
            residual.

        Raises
        ------
        ValueError
            If ``x`` is not 4-D or too small for ``n_scales``.

        """
        if x.ndim != 4:
            raise ValueError(
                "x must be a 4-D tensor (batch, channel, height, width), got shape "
                f"{tuple(x.shape)}"
            )
        min_size = _nlpd_min_size(self.n_scales) if self.n_scales > 1 else 1
        if min(x.shape[-2:]) < min_size:
            raise ValueError(
                f"a {self.n_scales}-scale Laplacian pyramid needs images of at least "
                f"{min_size}x{min_size} pixels, got {tuple(x.shape[-2:])}"
            )
        bands = []
        for level in range(self.n_scales - 1):
            down = blur_down(x)
            bands.append((x - blur_up(down, *x.shape[-2:])) * self._gain(level))
            x = down
        bands.append(x * self._gain(self.n_scales - 1))
        return bands

    def recon_pyr(self, bands: list[Tensor]) -> Tensor:
        """Reconstruct the images from their bands (the inverse of `forward`).

        Parameters
        ----------
        bands
            The ``n_scales`` tensors returned by `forward`.

        Returns
        -------
        x
            Images of shape ``(batch, channel, height, width)``.

        Raises
        ------
        ValueError
            If the number of bands is not ``n_scales``.

        """
        if len(bands) != self.n_scales:
            raise ValueError(
                f"expected {self.n_scales} bands (n_scales), got {len(bands)}"
            )
        x = bands[-1] / self._gain(self.n_scales - 1)
        for level in range(self.n_scales - 2, -1, -1):
            band = bands[level]
            x = band / self._gain(level) + blur_up(x, *band.shape[-2:])
        return x
