"""Small signal-processing helpers: polar coordinates, noise, cropping, rescaling."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = [
    "add_noise",
    "center_crop",
    "polar_to_rectangular",
    "rectangular_to_polar",
    "rescale",
]


def rectangular_to_polar(x: Tensor) -> tuple[Tensor, Tensor]:
    """Split a (complex) tensor into amplitude and phase.

    Parameters
    ----------
    x
        Complex (or real) tensor.

    Returns
    -------
    amplitude
        ``abs(x)``.
    phase
        ``angle(x)``, in ``(-pi, pi]`` (0 or pi for real values).

    Examples
    --------
    >>> import torch
    >>> amplitude, phase = rectangular_to_polar(torch.tensor([1j, -2.0 + 0j]))
    >>> amplitude
    tensor([1., 2.])
    >>> phase / torch.pi
    tensor([0.5000, 1.0000])

    """
    return x.abs(), x.angle()


def polar_to_rectangular(amplitude: Tensor, phase: Tensor) -> Tensor:
    """Build a complex tensor from amplitude and phase (inverse of `rectangular_to_polar`).

    Parameters
    ----------
    amplitude
        Non-negative real tensor.
    phase
        Real tensor (radians), broadcastable with ``amplitude``.

    Returns
    -------
    z
        ``amplitude * exp(1j * phase)``.

    Raises
    ------
    ValueError
        If an amplitude is negative.

    Examples
    --------
    >>> import torch
    >>> polar_to_rectangular(torch.tensor([2.0]), torch.tensor([0.0]))
    tensor([2.+0.j])

    """
    if bool((amplitude < 0).any()):
        raise ValueError("Amplitudes must be non-negative.")
    return torch.polar(amplitude, phase.to(amplitude.dtype))


def add_noise(img: Tensor, noise_mse: float | Sequence[float] | Tensor) -> Tensor:
    """Add Gaussian white noise of an exact mean squared error.

    For each image, channel and noise level, a Gaussian sample is drawn (from
    torch's global generator, see `pipeline.set_seed`), made zero-mean and scaled
    so that its mean square is exactly the level: the mean squared error between
    ``img`` and the result is ``noise_mse``.

    Parameters
    ----------
    img
        Images of shape ``(batch, channel, height, width)``.
    noise_mse
        One level, or one per output image (a sequence or a tensor with one value
        per row); several levels with a single image give one noisy copy each.

    Returns
    -------
    noisy
        Shape ``(max(batch, n_levels), channel, height, width)``.

    Raises
    ------
    ValueError
        If a level is negative, or there are several levels and several images
        but not as many of each.

    Examples
    --------
    >>> import torch
    >>> from pipeline import metric
    >>> img = torch.rand(1, 1, 32, 32)
    >>> noisy = add_noise(img, [0.01, 0.1])
    >>> noisy.shape
    torch.Size([2, 1, 32, 32])
    >>> torch.allclose(metric.mse(img, noisy), torch.tensor([[0.01], [0.1]]))
    True

    """
    levels = torch.as_tensor(noise_mse, dtype=img.dtype, device=img.device)
    levels = levels.reshape(-1, 1, 1, 1)
    if bool((levels < 0).any()):
        raise ValueError(f"noise_mse must be >= 0, got {levels.flatten().tolist()}")
    n = max(levels.shape[0], img.shape[0])
    if levels.shape[0] not in (1, n) or img.shape[0] not in (1, n):
        raise ValueError(
            f"{levels.shape[0]} noise levels for a batch of {img.shape[0]} images: "
            "give one level, one image, or as many levels as images"
        )
    noise = torch.randn((n, *img.shape[1:]), dtype=img.dtype, device=img.device)
    noise = noise - noise.mean((-2, -1), keepdim=True)
    power = noise.square().mean((-2, -1), keepdim=True)
    return img + noise * (levels / power).sqrt()


def center_crop(x: Tensor, output_size: int) -> Tensor:
    """Crop the central ``output_size`` x ``output_size`` square of images.

    Parameters
    ----------
    x
        Tensor of shape ``(..., height, width)``.
    output_size
        Side of the square, a positive int at most ``min(height, width)``.

    Returns
    -------
    cropped
        Shape ``(..., output_size, output_size)``; rows from ``height // 2 -
        output_size // 2`` (and likewise for columns).

    Raises
    ------
    TypeError
        If ``output_size`` is not a single int.
    ValueError
        If it is not positive or larger than the image.

    Examples
    --------
    >>> import torch
    >>> center_crop(torch.arange(25).reshape(5, 5), 3)
    tensor([[ 6,  7,  8],
            [11, 12, 13],
            [16, 17, 18]])

    """
    if isinstance(output_size, bool) or not isinstance(output_size, int):
        raise TypeError(
            f"output_size must be a single int, got {type(output_size).__name__}"
        )
    h, w = x.shape[-2:]
    if output_size <= 0:
        raise ValueError(f"output_size must be positive, got {output_size}")
    if output_size > min(h, w):
        raise ValueError(
            f"output_size {output_size} is bigger than the image height/width {(h, w)}"
        )
    top, left = h // 2 - output_size // 2, w // 2 - output_size // 2
    return x[..., top : top + output_size, left : left + output_size]


def rescale(x: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    """Map the values of ``x`` linearly onto ``[a, b]``.

    The minimum of ``x`` goes to ``a`` and its maximum to ``b``; a constant ``x``
    becomes all ``a``.

    Parameters
    ----------
    x
        Tensor to rescale (its global minimum and maximum are used).
    a, b
        The output's minimum and maximum.

    Returns
    -------
    rescaled
        Tensor of the shape and dtype of ``x``.

    Examples
    --------
    >>> import torch
    >>> rescale(torch.tensor([2.0, 4.0, 6.0, 8.0]))
    tensor([0.0000, 0.3333, 0.6667, 1.0000])
    >>> rescale(torch.tensor([2.0, 4.0, 6.0, 8.0]), a=-1, b=1)
    tensor([-1.0000, -0.3333,  0.3333,  1.0000])

    """
    low, high = x.min(), x.max()
    shifted = x - low
    unit = shifted / (high - low) if high > low else shifted
    return a + (b - a) * unit
