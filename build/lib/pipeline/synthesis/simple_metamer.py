"""The simplest metamer synthesis, written to be read from top to bottom.

Everything else in :mod:`pipeline.synthesis` adds options, history, checkpoints and
streaming on top of these few lines: start from noise, then repeatedly nudge the pixels
to make the model's response to them match its response to the target image.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from ..validate import validate_input, validate_model

__all__ = ["SimpleMetamer"]


class SimpleMetamer:
    """A metamer of ``image`` for ``model``, with no options.

    Parameters
    ----------
    image
        Target image, (batch, channel, height, width).
    model
        Differentiable model.

    Examples
    --------
    >>> import pipeline as po
    >>> met = po.SimpleMetamer(po.data.camera(size=16), po.models.Gaussian(5))
    >>> metamer = met.synthesize(max_iter=5)
    >>> len(met.losses)
    5

    """

    def __init__(self, image: Tensor, model: torch.nn.Module) -> None:
        validate_input(image)
        validate_model(model, tuple(image.shape), image.dtype, image.device)
        self.image = image.detach()
        self.model = model
        # what the metamer's response must match
        self.target_representation = model(self.image).detach()
        # start from uniform noise; these pixels are what we optimize
        self.metamer = torch.rand_like(self.image, requires_grad=True)
        self.optimizer: torch.optim.Optimizer | None = None
        self.losses: list[float] = []

    def synthesize(
        self, max_iter: int = 100, optimizer: torch.optim.Optimizer | None = None
    ) -> Tensor:
        """Run ``max_iter`` steps of gradient descent on the representation error.

        Parameters
        ----------
        max_iter
            Number of steps.
        optimizer
            A torch optimizer over ``[self.metamer]``; by default Adam (lr 0.01),
            kept across calls so synthesis continues where it stopped.

        Returns
        -------
        metamer
            The synthesized image.

        """
        if optimizer is not None:
            self.optimizer = optimizer
        if self.optimizer is None:
            self.optimizer = torch.optim.Adam([self.metamer], lr=0.01, amsgrad=True)
        for _ in range(max_iter):
            self.optimizer.zero_grad()
            representation = self.model(self.metamer)
            loss = torch.mean((representation - self.target_representation) ** 2)
            loss.backward()
            self.optimizer.step()
            self.losses.append(loss.item())
        return self.metamer

    def save(self, file_path: str | Path) -> None:
        """Save image, metamer and losses (tensors and numbers only).

        Parameters
        ----------
        file_path
            Where to write.

        """
        torch.save(
            {
                "image": self.image,
                "metamer": self.metamer.detach(),
                "losses": self.losses,
            },
            file_path,
        )

    def load(self, file_path: str | Path, map_location: str | None = None) -> None:
        """Load a saved metamer of the same image.

        Parameters
        ----------
        file_path
            The file written by :meth:`save`.
        map_location
            Passed to :func:`torch.load`.

        Raises
        ------
        ValueError
            If the saved metamer is of another image.

        """
        saved = torch.load(file_path, map_location=map_location, weights_only=True)
        if not torch.allclose(saved["image"], self.image):
            raise ValueError(
                "Saved and initialized attribute image have different values"
            )
        self.metamer = saved["metamer"].clone().requires_grad_(True)
        self.losses = list(saved["losses"])
        self.optimizer = None

    def to(self, *args: object, **kwargs: object) -> None:
        """Move and/or cast image, metamer and model, in place.

        Parameters
        ----------
        *args, **kwargs
            As :meth:`torch.Tensor.to`.

        """
        self.model.to(*args, **kwargs)
        self.image = self.image.to(*args, **kwargs)
        self.target_representation = self.target_representation.to(*args, **kwargs)
        self.metamer = self.metamer.detach().to(*args, **kwargs).requires_grad_(True)
        self.optimizer = None
