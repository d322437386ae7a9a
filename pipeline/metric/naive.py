"""Naive image metrics (mean squared error) and the input checks shared by all metrics.

These are not expected to model perception well; they are the baseline other metrics
are compared against.
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor

__all__ = ["mse"]


def _check_images(img1: Tensor, img2: Tensor, four_d: bool = True) -> None:
    """Check that two images can be compared by a metric of this package.

    Both must be non-empty floating-point 4-D tensors ``(batch, channel, height,
    width)`` of the same dtype and the same height and width; their batch and channel
    sizes must be equal or 1 in one of them (broadcasting, as in the reference).

    Parameters
    ----------
    img1, img2
        The two images.
    four_d
        Whether the images must be 4-D; if not (for pixel-wise metrics), any
        number of leading dimensions before height and width is accepted, the same
        in both.

    Raises
    ------
    TypeError
        If either is not a :class:`torch.Tensor`.
    ValueError
        If either is not 4-D, if their shapes differ (beyond broadcasting of batch
        and channel), if they are empty, or if their dtypes differ or are not
        floating point.

    Examples
    --------
    >>> import torch
    >>> _check_images(torch.zeros(1, 1, 8, 8), torch.zeros(2, 1, 8, 8))

    """
    for name, img in (("img1", img1), ("img2", img2)):
        if not isinstance(img, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(img).__name__}")
    if (four_d and (img1.ndim != 4 or img2.ndim != 4)) or (
        not four_d and (img1.ndim < 2 or img1.ndim != img2.ndim)
    ):
        expected = (
            "four dimensions: (batch, channel, height, width)"
            if four_d
            else "the same number of dimensions, at least height and width"
        )
        raise ValueError(
            f"Input images should have {expected}, got shapes {tuple(img1.shape)} "
            f"and {tuple(img2.shape)}"
        )
    if img1.shape[-2:] != img2.shape[-2:]:
        raise ValueError(
            "img1 and img2 must have the same height and width, got "
            f"{tuple(img1.shape)} and {tuple(img2.shape)}"
        )
    if not all(
        a == b or a == 1 or b == 1
        for a, b in zip(img1.shape[:-2], img2.shape[:-2], strict=True)
    ):
        raise ValueError(
            "Either img1 and img2 should have the same number of elements in the "
            "batch and channel dimensions, or one of them should be 1; got shapes "
            f"{tuple(img1.shape)} and {tuple(img2.shape)}"
        )
    if img1.numel() == 0 or img2.numel() == 0:
        raise ValueError(
            f"img1 and img2 must not be empty, got shapes {tuple(img1.shape)} and "
            f"{tuple(img2.shape)}"
        )
    if img1.dtype != img2.dtype:
        raise ValueError(
            f"img1 and img2 must have same dtype, got {img1.dtype} and {img2.dtype}"
        )
    if not img1.is_floating_point():
        raise ValueError(f"img1 and img2 must be floating point, got {img1.dtype}")


def _warn_range(img1: Tensor, img2: Tensor, name: str) -> None:
    """Warn when an image has values outside ``[0, 1]`` (the metrics' data range).

    The message is the same whatever the values, so Python's warning filters show
    it once per place the metric is called from (the default action), not once per
    call: a synthesis calling ``ssim`` every iteration warns once.

    Parameters
    ----------
    img1, img2
        The two images.
    name
        Name of the metric, for the message.

    Warns
    -----
    UserWarning
        If any value of ``img1`` or ``img2`` lies outside ``[0, 1]``.

    Examples
    --------
    >>> import torch
    >>> _warn_range(torch.zeros(1, 1, 4, 4), torch.ones(1, 1, 4, 4), "SSIM")

    """
    try:
        with torch.no_grad():
            lo1, hi1 = torch.aminmax(img1.detach())
            lo2, hi2 = torch.aminmax(img2.detach())
            lo1, hi1, lo2, hi2 = torch.stack([lo1, hi1, lo2, hi2]).tolist()
    except RuntimeError:
        # values not readable, e.g. under torch.func.vmap: skip the check
        return
    if min(lo1, lo2) < 0 or max(hi1, hi2) > 1:
        warnings.warn(
            f"Image range falls outside [0, 1]: {name} assumes a data range of 1 and "
            "its output may not make sense. Continuing anyway.",
            UserWarning,
            stacklevel=3,
        )


def _warn_channels(img1: Tensor, img2: Tensor, name: str) -> None:
    """Warn that a metric designed for grayscale images treats channels separately.

    Parameters
    ----------
    img1, img2
        The two images, ``(batch, channel, height, width)``.
    name
        Name of the metric, for the message.

    Warns
    -----
    UserWarning
        If either image has more than one channel.

    Examples
    --------
    >>> import torch
    >>> _warn_channels(torch.zeros(1, 1, 4, 4), torch.ones(2, 1, 4, 4), "SSIM")

    """
    if img1.shape[1] > 1 or img2.shape[1] > 1:
        warnings.warn(
            f"{name} was designed for grayscale images; with "
            f"{max(img1.shape[1], img2.shape[1])} channels it is computed separately "
            "for each channel (channels are treated like batch elements).",
            UserWarning,
            stacklevel=3,
        )


def mse(img1: Tensor, img2: Tensor) -> Tensor:
    r"""Mean squared error between two images, per image and channel.

    For two images :math:`x` and :math:`y` with :math:`n` pixels each:

    .. math::

        MSE = \frac{1}{n}\sum_i (x_i - y_i)^2

    This is a poor model of human perception, but a handy baseline to compare
    against (for example as one of the two metrics of a MAD competition).

    Parameters
    ----------
    img1
        The first image or batch of images, usually of shape (batch, channel,
        height, width); any number of dimensions before height and width works.
    img2
        The second image or batch of images, with the same shape as ``img1`` (the
        sizes before height and width may also be 1 in one of them, to broadcast).

    Returns
    -------
    mse
        The mean over height and width of the squared difference: shape (batch,
        channel) for 4-D images.

    Raises
    ------
    ValueError
        If the images have fewer than two or different numbers of dimensions,
        different shapes (beyond broadcasting) or different dtypes.

    Examples
    --------
    >>> import torch
    >>> from pipeline import metric
    >>> img = torch.full((1, 1, 8, 8), 0.25)
    >>> metric.mse(img, img + 0.5)
    tensor([[0.2500]])

    """
    _check_images(img1, img2, four_d=False)
    return _mean_squared_difference(img1, img2)


def _mean_squared_difference(img1: Tensor, img2: Tensor) -> Tensor:
    """:func:`mse` of images already checked (e.g. bands of checked images)."""
    if img1.shape != img2.shape:  # mse_loss warns when it broadcasts
        img1, img2 = torch.broadcast_tensors(img1, img2)
    # one fused kernel each way for the squared difference (MAD runs this every
    # step): bit for bit the values and gradients of (img1 - img2).pow(2), in half
    # the time of its four kernels at 256x256
    squared = torch.nn.functional.mse_loss(img1, img2, reduction="none")
    return squared.mean((-2, -1))
