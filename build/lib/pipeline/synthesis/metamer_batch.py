"""Independent metamers of several images, synthesized as one batch.

Many small syntheses under the same model and settings run faster as one batch: one
model call, one optimizer step for all. A :class:`MetamerBatch` keeps them
independent: its objective is the sum of each image's own metamer objective, so each
image's gradient, and with an element-wise optimizer such as Adam each image's
trajectory, is the one it would have alone; and it records every per-iteration value
per image.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .metamer import Metamer

__all__ = ["MetamerBatch"]


class MetamerBatch(Metamer):
    r"""Metamers of each image of a batch, each as if synthesized alone.

    The objective is :math:`\sum_b L(f(x_b), f(y_b)) + \lambda P(x_b)`, so the
    gradient with respect to each metamer :math:`x_b` is that of its own metamer
    objective. ``losses``, ``penalties``, ``gradient_norm``, ``pixel_change_norm``
    and ``objective_function()`` have one entry per image; the stopping rule watches
    the summed objective (use ``stop_criterion=0`` for results equal to separate
    runs). The constructor takes the arguments of :class:`Metamer`.

    Parameters
    ----------
    image
        The target images, (batch, channel, height, width).
    model
        A visual model that processes the images of a batch independently.
    loss_function
        Compares the representations of one image; returns a scalar.
    penalty_function
        Applied to one metamer; returns a scalar penalty (default: pixel range).
    penalty_lambda
        Non-negative weight of the penalty.

    Examples
    --------
    >>> import torch, pipeline as po
    >>> images = torch.cat([po.data.camera(size=16), po.data.astronaut(size=16)])
    >>> model = po.models.Gaussian(5).eval()
    >>> po.remove_grad(model)
    >>> batch = po.synthesis.MetamerBatch(images, model)
    >>> batch.synthesize(5, progress=False)
    >>> batch.losses.shape
    torch.Size([6, 2])

    """

    _minimized_term = "objective"
    _monitored_term = "objective"
    _norm_dims = (1, 2, 3)

    def _objective_terms(self, x: Tensor, **analyze_kwargs: Any) -> dict[str, Tensor]:
        representation = self._model(x, **analyze_kwargs)
        target = self._target_representation
        losses = torch.stack(
            [
                self._loss_function(representation[b : b + 1], target[b : b + 1])
                for b in range(x.shape[0])
            ]
        )
        penalties = torch.stack(
            [self._penalty_function(x[b : b + 1]) for b in range(x.shape[0])]
        )
        total = losses + self._penalty_lambda * penalties
        return {"objective": total.sum(), "loss": total, "penalty": penalties}
