"""Small tensor utilities: seeding, gradient removal and conversions."""

from __future__ import annotations

import random

import numpy as np
import torch

__all__ = ["convert_float_to_int", "remove_grad", "set_seed", "to_numpy"]


def set_seed(seed: int | None = None) -> None:
    """Seed torch (all devices), numpy and Python's ``random``.

    Parameters
    ----------
    seed
        The seed. ``None`` leaves the generators as they are.

    Examples
    --------
    >>> import pipeline as po
    >>> po.set_seed(0)

    """
    if seed is None:
        return
    torch.manual_seed(seed)
    np.random.seed(seed)  # noqa: NPY002 (seeds numpy's global generator for users)
    random.seed(seed)


def remove_grad(model: torch.nn.Module) -> None:
    """Turn off gradients of every parameter of ``model``, in place.

    Synthesis optimizes images, never model parameters, so a frozen model avoids
    computing and storing gradients nobody uses.

    Parameters
    ----------
    model
        The model to freeze.

    Examples
    --------
    >>> import pipeline as po
    >>> model = po.models.Gaussian(5)
    >>> po.remove_grad(model)
    >>> any(p.requires_grad for p in model.parameters())
    False

    """
    for parameter in model.parameters():
        parameter.requires_grad_(False)


def to_numpy(x: torch.Tensor | np.ndarray, squeeze: bool = False) -> np.ndarray:
    """Detach a tensor, move it to the CPU and convert it to a numpy array.

    Parameters
    ----------
    x
        The tensor (an array is returned as is).
    squeeze
        Remove dimensions of size one.

    Returns
    -------
    array
        The values as a numpy array of the matching dtype.

    Examples
    --------
    >>> import torch, pipeline as po
    >>> po.to_numpy(torch.ones(1, 1, 2, 2), squeeze=True).shape
    (2, 2)

    """
    array = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    return array.squeeze() if squeeze else array


def convert_float_to_int(image: np.ndarray, dtype: type = np.uint8) -> np.ndarray:
    """Convert an image with values in [0, 1] to integers spanning ``dtype``'s range.

    Parameters
    ----------
    image
        Float image with values in [0, 1] (clip it first if it strays outside).
    dtype
        Integer dtype of the result.

    Returns
    -------
    image
        ``round(image * max(dtype))`` as ``dtype``.

    Raises
    ------
    ValueError
        If the image has values outside [0, 1].

    Examples
    --------
    >>> import numpy as np, pipeline as po
    >>> po.convert_float_to_int(np.array([0.0, 0.5, 1.0]))
    array([  0, 128, 255], dtype=uint8)

    """
    image = np.asarray(image)
    if image.size and (image.min() < 0 or image.max() > 1):
        raise ValueError(
            "image values must lie in [0, 1] to convert to integers; clip them first"
        )
    return np.round(image * np.iinfo(dtype).max).astype(dtype)
