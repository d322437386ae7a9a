"""Penalties on the synthesized image, added to a synthesis objective."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["penalize_range"]


def penalize_range(
    image: Tensor, allowed_range: tuple[float, float] = (0.0, 1.0), **kwargs: object
) -> Tensor:
    """Quadratic penalty on pixel values outside ``allowed_range``.

    Parameters
    ----------
    image
        The image being synthesized.
    allowed_range
        Inclusive (low, high) range that costs nothing.
    **kwargs
        Ignored, so penalties with other options can share one call signature.

    Returns
    -------
    penalty
        Scalar: the sum of squared distances of each pixel to the allowed range.

    Examples
    --------
    >>> import torch, pipeline as po
    >>> po.regularize.penalize_range(torch.tensor([-1.0, 0.5, 3.0]))
    tensor(5.)

    """
    low, high = allowed_range
    # sum((image - clamp(image))^2): the clamped copy can be treated as a constant,
    # since its gradient only matters where the difference is zero; one fused kernel
    # forward and backward (this runs every synthesis iteration)
    clamped = image.detach().clamp(low, high)
    return torch.nn.functional.mse_loss(image, clamped, reduction="sum")
