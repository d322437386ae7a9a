"""Loss functions comparing two model representations."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["l2_norm", "mse", "relative_sse"]


def mse(x: Tensor, y: Tensor) -> Tensor:
    """Mean squared error between two representations.

    Parameters
    ----------
    x, y
        Tensors of the same shape.

    Returns
    -------
    loss
        Scalar ``mean((x - y) ** 2)``.

    Examples
    --------
    >>> import torch, pipeline as po
    >>> po.loss.mse(torch.zeros(4), torch.full((4,), 2.0))
    tensor(4.)

    """
    return torch.mean((x - y).pow(2))


def l2_norm(x: Tensor, y: Tensor) -> Tensor:
    """Euclidean (L2) norm of the difference of two representations.

    Parameters
    ----------
    x, y
        Tensors of the same shape.

    Returns
    -------
    loss
        Scalar ``||x - y||_2`` over all elements.

    Examples
    --------
    >>> import torch, pipeline as po
    >>> po.loss.l2_norm(torch.zeros(2), torch.tensor([3.0, 4.0]))
    tensor(5.)

    """
    return torch.linalg.vector_norm(x - y, ord=2)


def relative_sse(x: Tensor, y: Tensor) -> Tensor:
    """Sum of squared errors relative to the squared norm of the target ``y``.

    Parameters
    ----------
    x, y
        Tensors of the same shape; ``y`` is the reference.

    Returns
    -------
    loss
        Scalar ``||x - y||^2 / ||y||^2``.

    Examples
    --------
    >>> import torch, pipeline as po
    >>> po.loss.relative_sse(torch.tensor([1.0, 1.0]), torch.tensor([2.0, 0.0]))
    tensor(0.5000)

    """
    return torch.linalg.vector_norm(x - y, ord=2).pow(2) / torch.linalg.vector_norm(
        y, ord=2
    ).pow(2)
