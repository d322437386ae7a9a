"""Loss functions comparing two model representations."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor

if TYPE_CHECKING:
    from .models.portilla_simoncelli import PortillaSimoncelli

__all__ = [
    "WeightedL2Loss",
    "l2_norm",
    "mse",
    "portilla_simoncelli_loss",
    "relative_sse",
]


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
    if x.is_complex() or y.is_complex():  # mse_loss has no complex kernel
        return torch.mean((x - y).pow(2))
    if x.shape != y.shape:  # mse_loss warns when it broadcasts
        x, y = torch.broadcast_tensors(x, y)
    # one fused kernel each way (the default metamer loss runs every iteration); the
    # same values as mean((x - y) ** 2), and the same gradient when the loss's own
    # gradient is 1 (as in a metamer objective)
    return torch.nn.functional.mse_loss(x, y)


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


#: Default group weights of :func:`portilla_simoncelli_loss`: the pixel minimum and
#: maximum (last two pixel statistics) are left out and the high-pass residual
#: variance, tiny compared with the other statistics, is weighted 100 times.
PS_DEFAULT_WEIGHTS: dict[str, tuple[float, ...] | float] = {
    "pixel_statistics": (1.0, 1.0, 1.0, 1.0, 0.0, 0.0),
    "var_highpass_residual": 100.0,
}


class WeightedL2Loss:
    """L2 norm of a weighted difference, ``||w * (x - y)||_2``, over the last axis.

    Coarse-to-fine synthesis compares parts of a representation (the statistics of
    some scales); it asks :meth:`for_scales` for the loss of each part, so every
    statistic keeps its own weight.

    Parameters
    ----------
    weights
        One weight per entry of the last axis of the compared representations.
    select_scales
        ``select_scales(weights, scales)`` returns the weights of the statistics of
        ``scales`` (e.g. a model's ``remove_scales``, given weights shaped (1, 1, n)).
        Without it, :meth:`for_scales` is unavailable.

    """

    def __init__(
        self,
        weights: Tensor,
        select_scales: Callable[[Tensor, list[Hashable]], Tensor] | None = None,
    ) -> None:
        self.weights = weights.detach()
        self._select_scales = select_scales
        self._cast: dict[tuple[torch.dtype, torch.device], Tensor] = {}

    def __call__(self, x: Tensor, y: Tensor) -> Tensor:
        """Return ``||w * (x - y)||_2``.

        Parameters
        ----------
        x, y
            Representations whose last axis has one entry per weight.

        Returns
        -------
        loss
            Scalar tensor.

        Raises
        ------
        ValueError
            If the last axis does not match the weights.

        """
        if x.shape[-1] != self.weights.shape[-1]:
            raise ValueError(
                f"representation has {x.shape[-1]} statistics, the loss weights "
                f"{self.weights.shape[-1]}: use for_scales() for a part of it"
            )
        key = (x.dtype, x.device)
        if key not in self._cast:
            self._cast[key] = self.weights.to(dtype=x.dtype, device=x.device)
        return l2_norm(self._cast[key] * x, self._cast[key] * y)

    def for_scales(self, scales: Sequence[Hashable]) -> WeightedL2Loss:
        """Return the loss of the statistics of ``scales`` only.

        Parameters
        ----------
        scales
            The scales, as the model's ``forward(..., scales=...)`` takes them.

        Returns
        -------
        loss
            A :class:`WeightedL2Loss` with those statistics' weights.

        Raises
        ------
        TypeError
            If this loss was built without ``select_scales``.

        """
        if self._select_scales is None:
            raise TypeError("this loss cannot select scales (no select_scales given)")
        selected = self._select_scales(self.weights[None, None], list(scales))
        return WeightedL2Loss(selected.reshape(-1))


def portilla_simoncelli_loss(
    model: PortillaSimoncelli,
    weights: Mapping[str, float | Sequence[float] | Tensor] | None = None,
) -> WeightedL2Loss:
    """L2 loss between Portilla-Simoncelli representations with group weights.

    The loss is ``||w * (x - y)||_2`` where ``w`` holds one weight per statistic,
    set per statistic group (the keys of
    :meth:`~pipeline.models.PortillaSimoncelli.convert_to_dict`). Defaults, as
    recommended for PS metamer synthesis: the pixel minimum and maximum get weight 0
    (they are hard to match and pulled towards the right range anyway), the
    high-pass residual variance 100, everything else 1. ``weights`` overrides these
    group by group; a group it does not name keeps its default.

    For the shorter vectors ``model(x, scales=...)`` returns (coarse-to-fine
    synthesis), ``loss.for_scales(scales)`` gives the loss with the weights of those
    statistics.

    Parameters
    ----------
    model
        The :class:`~pipeline.models.PortillaSimoncelli` model whose outputs are
        compared.
    weights
        Group name -> weight: a number, or values broadcastable to the group's
        shape without the batch and channel axes (e.g. six numbers for
        ``"pixel_statistics"``: mean, variance, skewness, kurtosis, min, max).
        0 removes a group from the loss.

    Returns
    -------
    loss
        ``loss(x, y) -> scalar tensor``; ``loss.weights`` is the weight vector of
        the full representation (float64).

    Raises
    ------
    ValueError
        If ``weights`` names an unknown group or a value does not fit its group.

    Examples
    --------
    >>> import torch, pipeline as po
    >>> model = po.models.PortillaSimoncelli((128, 128), n_scales=3)
    >>> loss = po.loss.portilla_simoncelli_loss(model, {"magnitude_std": 10.0})
    >>> a, b = model(torch.rand(1, 1, 128, 128)), model(torch.rand(1, 1, 128, 128))
    >>> bool(loss(a, b) > 0)
    True
    >>> x = torch.rand(1, 1, 128, 128)
    >>> loss.for_scales([2, 1])(model(x, scales=[2, 1]), model(x, scales=[2, 1]))
    tensor(0.)

    """
    weights = dict(weights or {})
    ones = torch.ones(1, 1, model.n_statistics, dtype=torch.float64)
    groups = model.convert_to_dict(ones)
    unknown = sorted(set(weights) - set(groups))
    if unknown:
        raise ValueError(
            f"unknown Portilla-Simoncelli statistic groups {unknown}; valid: "
            f"{list(groups)}"
        )
    for name, value in {**PS_DEFAULT_WEIGHTS, **weights}.items():
        if name not in groups:
            continue
        group = groups[name]
        try:
            factor = torch.as_tensor(value, dtype=torch.float64)
            groups[name] = group * factor
        except (RuntimeError, TypeError, ValueError) as err:
            raise ValueError(
                f"weight for {name!r} must be a number or broadcast to shape "
                f"{tuple(group.shape[2:])}: {err}"
            ) from None
        if groups[name].shape != group.shape:
            raise ValueError(
                f"weight for {name!r} must broadcast to shape {tuple(group.shape[2:])}, "
                f"got shape {tuple(factor.shape)}"
            )
    full = model.convert_to_tensor(groups)[0, 0]
    return WeightedL2Loss(full, select_scales=model.remove_scales)
