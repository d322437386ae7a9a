"""Turn a model into a metric: root mean squared error between representations."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

__all__ = ["model_metric", "model_metric_factory"]

#: Default constant under the square root (keeps the gradient finite at 0).
MODEL_METRIC_EPSILON = 1e-10


def model_metric(
    model: Callable[[Tensor], Tensor], epsilon: float = MODEL_METRIC_EPSILON
) -> Callable[[Tensor, Tensor], Tensor]:
    r"""Create a metric from a model: the RMS difference of its representations.

    The returned callable computes, for two images :math:`x` and :math:`y`,

    .. math::

        d(x, y) = \sqrt{\frac{1}{n}\sum_i \left(M(x)_i - M(y)_i\right)^2 + \epsilon}

    where :math:`M(x)` and :math:`M(y)` are the model's representations, with
    :math:`n` elements in all (batch included), so the result is a scalar; this is
    the reference's ``model_metric_factory``. :math:`\epsilon` keeps the gradient
    finite when the representations are identical, whose distance is thus
    ``sqrt(epsilon)`` (``1e-5`` by default). Each image is passed through the model on
    its own call.

    Parameters
    ----------
    model
        Callable (usually a :class:`torch.nn.Module`) mapping an image to a tensor.
    epsilon
        Added under the square root.

    Returns
    -------
    metric
        Callable ``metric(img1, img2) -> Tensor`` (0-d), differentiable.

    Raises
    ------
    TypeError
        If ``model`` is not callable.

    Examples
    --------
    >>> import torch
    >>> from pipeline import metric
    >>> blur = torch.nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    >>> dist = metric.model_metric(blur)
    >>> x = torch.zeros(1, 1, 8, 8)
    >>> dist(x, x + 0.5)
    tensor(0.5000)
    >>> dist(x, x)
    tensor(1.0000e-05)

    """
    if not callable(model):
        raise TypeError(f"model must be callable, got {type(model).__name__}")

    def metric(img1: Tensor, img2: Tensor) -> Tensor:
        """Root mean squared difference of the model representations of two images.

        Parameters
        ----------
        img1, img2
            Images accepted by the model.

        Returns
        -------
        distance
            0-d tensor.

        Raises
        ------
        TypeError
            If the model does not return tensors.
        ValueError
            If the two representations cannot be broadcast together.

        """
        rep1 = model(img1)
        rep2 = model(img2)
        if not isinstance(rep1, Tensor) or not isinstance(rep2, Tensor):
            raise TypeError(
                "model must return tensors, got "
                f"{type(rep1).__name__} and {type(rep2).__name__}"
            )
        try:
            # numpy's, not torch's: torch.broadcast_shapes imports sympy (~0.5 s)
            np.broadcast_shapes(rep1.shape, rep2.shape)
        except ValueError as err:
            raise ValueError(
                "the model representations of img1 and img2 must have the same "
                f"shape, got {tuple(rep1.shape)} and {tuple(rep2.shape)}"
            ) from err
        return torch.sqrt((rep1 - rep2).pow(2).mean() + epsilon)

    metric.__name__ = (
        f"model_metric({getattr(model, '__class__', type(model)).__name__})"
    )
    return metric


#: Alias with the reference library's name.
model_metric_factory = model_metric
