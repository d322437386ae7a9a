"""Model metamers: images whose model representation matches a target image's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from .. import loss as _loss
from .. import regularize as _regularize
from ..validate import validate_input, validate_model
from .base import OptimizedSynthesis

__all__ = ["Metamer"]


class Metamer(OptimizedSynthesis):
    r"""Synthesize metamers for image-computable differentiable models.

    Starting from an initial image (uniform noise by default), pixels are adjusted
    until the model's representation of the metamer matches that of ``image``:
    minimize ``loss_function(model(metamer), model(image)) + penalty_lambda *
    penalty_function(metamer)``.

    Parameters
    ----------
    image
        The target image, (batch, channel, height, width). Each image of a batch gets
        its own metamer; they are optimized together.
    model
        A visual model (see :func:`pipeline.validate.validate_model`).
    loss_function
        Compares the two representations; returns a scalar.
    penalty_function
        Applied to the metamer; returns a scalar penalty (default: pixel range).
    penalty_lambda
        Non-negative weight of the penalty.

    Examples
    --------
    >>> import pipeline as po
    >>> img = po.data.camera(size=32)
    >>> model = po.models.Gaussian(5).eval()
    >>> po.remove_grad(model)
    >>> met = po.Metamer(img, model)
    >>> met.synthesize(5, progress=False)
    >>> met.losses.shape
    torch.Size([6])

    """

    _synthesized_name = "metamer"

    def __init__(
        self,
        image: Tensor,
        model: torch.nn.Module,
        loss_function: Callable[[Tensor, Tensor], Tensor] = _loss.mse,
        penalty_function: Callable[[Tensor], Tensor] = _regularize.penalize_range,
        penalty_lambda: float = 0.1,
    ) -> None:
        super().__init__(penalty_function, penalty_lambda)
        validate_input(image)
        validate_model(
            model,
            image_shape=tuple(image.shape),
            image_dtype=image.dtype,
            device=image.device,
        )
        self._image = image.detach()
        self._model = model
        self._loss_function = loss_function
        with torch.no_grad():
            self._target_representation = model(self._image).detach()

    # -- method specifics ---------------------------------------------------------
    def _objective_terms(self, x: Tensor, **analyze_kwargs: Any) -> dict[str, Tensor]:
        representation = self._model(x, **analyze_kwargs)
        loss = self._loss_function(representation, self._target_representation)
        penalty = self._penalty_function(x)
        return {"loss": loss + self._penalty_lambda * penalty, "penalty": penalty}

    def _initial_tensor(self, initial: Tensor | None) -> Tensor:
        if initial is None:
            return torch.rand_like(self._image)
        validate_input(initial)
        if initial.shape != self._image.shape:
            raise ValueError(
                f"initial_image shape {tuple(initial.shape)} must equal the image "
                f"shape {tuple(self._image.shape)}"
            )
        return initial.to(self._image)

    @property
    def _target_tensors(self) -> dict[str, Tensor]:
        return {
            "image": self._image,
            "target_representation": self._target_representation,
        }

    def _probe_values(self) -> dict[str, Tensor]:
        probes = super()._probe_values()
        target = self._target_representation
        probes["loss_function"] = self._loss_function(
            target, target * 0.5 + 0.1
        ).detach()
        return probes

    def _tensor_attributes(self) -> list[str]:
        return ["_image", "_target_representation"]

    def to(self, *args: Any, **kwargs: Any) -> None:
        """Move and/or cast the metamer, its images and the model, in place.

        Parameters
        ----------
        *args, **kwargs
            As :meth:`torch.Tensor.to` (device, dtype or tensor).

        """
        self._model.to(*args, **kwargs)
        super().to(*args, **kwargs)

    def objective_function(
        self,
        metamer: Tensor | None = None,
        target_representation: Tensor | None = None,
        **analyze_kwargs: Any,
    ) -> Tensor:
        """Compute the metamer synthesis loss.

        ``loss_function(model(metamer), target_representation) + penalty_lambda *
        penalty_function(metamer)``.

        Parameters
        ----------
        metamer
            Image to evaluate; ``None`` uses the current metamer.
        target_representation
            Representation to match; ``None`` uses that of ``image``.
        **analyze_kwargs
            Passed to the model.

        Returns
        -------
        loss
            Scalar loss; an empty tensor before setup when ``metamer`` is ``None``.

        """
        if metamer is None:
            if self._optimized.numel() == 0:
                return torch.tensor([])
            metamer = self._optimized
        if target_representation is None:
            return self._objective_terms(metamer, **analyze_kwargs)["loss"]
        representation = self._model(metamer, **analyze_kwargs)
        loss = self._loss_function(representation, target_representation)
        return loss + self._penalty_lambda * self._penalty_function(metamer)

    # -- documented attributes ------------------------------------------------------
    @property
    def image(self) -> Tensor:
        """Target image of metamer optimization."""
        return self._image

    @property
    def model(self) -> torch.nn.Module:
        """The model for which the metamer is synthesized."""
        return self._model

    @property
    def loss_function(self) -> Callable[[Tensor, Tensor], Tensor]:
        """Callable which specifies how close metamer representation is to target."""
        return self._loss_function

    @property
    def target_representation(self) -> Tensor:
        """Model representation of ``image``; synthesis makes the metamer's match."""
        return self._target_representation

    @property
    def metamer(self) -> Tensor:
        """Model metamer, the parameter we are optimizing."""
        return self._optimized

    @property
    def saved_metamer(self) -> Tensor:
        """Metamer cached every ``store_progress`` iterations, then the current one.

        Shape (saves, batch, channel, height, width); always on the CPU.
        """
        return self._saved_images()
