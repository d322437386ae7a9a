"""Geodesics: shortest paths between two images in a model's representation space.

Hénaff & Simoncelli (2016): the frames between two anchor images are optimized to
minimize the path energy of their representation, the mean squared length of the
steps, which a constant-speed shortest path minimizes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

import torch
from torch import Tensor

from .. import regularize as _regularize
from ..validate import validate_input, validate_model
from .base import OptimizedSynthesis
from .common import CallableChecks, move_model

__all__ = [
    "Geodesic",
    "deviation_from_line",
    "make_straight_line",
    "sample_brownian_bridge",
]


def make_straight_line(start: Tensor, stop: Tensor, n_steps: int) -> Tensor:
    """Return the pixel fade: ``n_steps + 1`` frames from ``start`` to ``stop``.

    Parameters
    ----------
    start, stop
        Images (1, C, H, W).
    n_steps
        Number of transitions.

    Returns
    -------
    frames
        (n_steps + 1, C, H, W), linear interpolation.

    """
    t = torch.linspace(0, 1, n_steps + 1, dtype=start.dtype, device=start.device)
    return start + t.reshape(-1, 1, 1, 1) * (stop - start)


def sample_brownian_bridge(
    start: Tensor, stop: Tensor, n_steps: int, max_norm: float = 1.0
) -> Tensor:
    """Return a Brownian bridge from ``start`` to ``stop`` (random, uses torch's RNG).

    The pixel fade plus Gaussian noise whose standard deviation is ``sqrt(t (1 - t))``
    at time ``t``, scaled so its largest frame has L2 norm ``max_norm``.

    Parameters
    ----------
    start, stop
        Images (1, C, H, W).
    n_steps
        Number of transitions.
    max_norm
        L2 norm of the largest deviation from the pixel fade.

    Returns
    -------
    frames
        (n_steps + 1, C, H, W), equal to ``start`` and ``stop`` at the ends.

    """
    t = torch.linspace(0, 1, n_steps + 1, dtype=start.dtype, device=start.device)
    walk = torch.randn(
        (n_steps + 1, *start.shape[1:]), dtype=start.dtype, device=start.device
    )
    walk = walk * torch.sqrt(t * (1 - t)).reshape(-1, 1, 1, 1)
    norm = torch.linalg.vector_norm(walk.flatten(1), dim=1).max().clamp_min(1e-12)
    return make_straight_line(start, stop, n_steps) + walk * (max_norm / norm)


def deviation_from_line(sequence: Tensor) -> Tensor:
    """Distances of each frame along and from the line joining the first and last.

    Parameters
    ----------
    sequence
        (n_frames, ...) points (e.g. representations of the frames).

    Returns
    -------
    deviation
        (n_frames, 2): the distance along the straight line and the distance to it,
        both divided by the length of the line.

    """
    flat = sequence.reshape(sequence.shape[0], -1)
    line = flat[-1] - flat[0]
    length = torch.linalg.vector_norm(line).clamp_min(1e-12)
    offsets = flat - flat[0]
    along = offsets @ (line / length)
    off = torch.linalg.vector_norm(offsets - along[:, None] * (line / length), dim=1)
    return torch.stack([along, off], dim=1) / length


class Geodesic(OptimizedSynthesis):
    r"""Approximate geodesic between two images in a model's representation space.

    The ``n_steps - 1`` frames between ``image_a`` and ``image_b`` are optimized, all
    through one batched model call per iteration, to minimize the path energy
    ``mean_t ||f(x_{t+1}) - f(x_t)||^2`` plus the weighted penalty on the frames.
    The anchors' representations are computed once (again when the model's
    parameters or the dtype or device change), so the model must represent each
    frame on its own, as image-computable models do.

    Parameters
    ----------
    image_a, image_b
        The anchors, (1, channel, height, width), values in [0, 1].
    model
        Differentiable model.
    n_steps
        Number of transitions between the anchors.
    initial_sequence
        Start from the pixel fade (``"straight"``) or a Brownian bridge (``"bridge"``).
    penalty_function
        Penalty on the frames (default: pixel range).
    penalty_lambda
        Non-negative weight of the penalty.

    Examples
    --------
    >>> import pipeline as po
    >>> a, b = po.data.camera(size=16), po.data.astronaut(size=16)
    >>> geodesic = po.Geodesic(a, b, po.models.Identity(), n_steps=4)
    >>> geodesic.synthesize(2, progress=False)
    >>> geodesic.geodesic.shape
    torch.Size([5, 1, 16, 16])

    """

    _synthesized_name = "geodesic"
    _repr_attributes = (
        "image_a",
        "image_b",
        "model",
        "n_steps",
        "initial_sequence",
        "penalty_function",
        "penalty_lambda",
    )
    _default_lr = 0.001

    def __init__(
        self,
        image_a: Tensor,
        image_b: Tensor,
        model: torch.nn.Module,
        n_steps: int = 10,
        initial_sequence: Literal["straight", "bridge"] = "straight",
        penalty_function: Callable[[Tensor], Tensor] = _regularize.penalize_range,
        penalty_lambda: float = 0.1,
    ) -> None:
        super().__init__(penalty_function, penalty_lambda)
        for image in (image_a, image_b):
            validate_input(image, no_batch=True, allowed_range=(0, 1))
        if image_a.shape != image_b.shape:
            raise ValueError(
                f"image_a and image_b must have the same shape, got {tuple(image_a.shape)} "
                f"and {tuple(image_b.shape)}"
            )
        if n_steps < 2:
            raise ValueError(f"n_steps must be at least 2, got {n_steps}")
        if initial_sequence not in ("straight", "bridge"):
            raise ValueError(
                f"initial_sequence must be straight or bridge, got {initial_sequence!r}"
            )
        shape = (n_steps + 1, *image_a.shape[1:])
        validate_model(model, shape, image_a.dtype, image_a.device)
        self._image_a, self._image_b = image_a.detach(), image_b.detach()
        self._model = model
        self._n_steps = n_steps
        self._initial_sequence = initial_sequence
        self._pixelfade = make_straight_line(self._image_a, self._image_b, n_steps)
        self._anchors: tuple[tuple, Tensor] | None = None

    # -- method specifics ---------------------------------------------------------
    def _frames(self, interior: Tensor) -> Tensor:
        return torch.cat([self._image_a, interior, self._image_b])

    def _anchor_representations(self, like: Tensor) -> Tensor:
        """Return the representations of ``image_a`` and ``image_b``, a batch of 2.

        Kept while the model's tensors are the same ones, unchanged (their version
        counters), and the frames keep their dtype and device: recomputing them
        would be 2 of the ``n_steps + 1`` model evaluations of every iteration.
        """
        model = self._model
        tensors = (
            [*model.parameters(), *model.buffers()]
            if isinstance(model, torch.nn.Module)
            else []
        )
        key = (like.dtype, like.device, tuple((id(t), t._version) for t in tensors))
        if self._anchors is None or self._anchors[0] != key:
            with torch.no_grad():
                anchors = torch.cat([self._image_a, self._image_b]).to(like)
                self._anchors = (key, model(anchors))
        return self._anchors[1]

    def _objective_terms(self, x: Tensor) -> dict[str, Tensor]:
        anchors = self._anchor_representations(x)
        representation = torch.cat([anchors[:1], self._model(x), anchors[1:]])
        velocity = torch.diff(representation, dim=0).flatten(1)
        step_energy = velocity.pow(2).sum(dim=1)
        penalty = self._penalty_function(x)
        return {
            "loss": step_energy.mean() + self._penalty_lambda * penalty,
            "penalty": penalty,
            "step_energy": step_energy,
            "dev_from_line": deviation_from_line(representation.detach()),
        }

    def _initial_tensor(self, initial: Tensor | None) -> Tensor:
        if initial is not None:
            if initial.shape != self._pixelfade[1:-1].shape:
                raise ValueError(
                    f"initial frames must have shape {tuple(self._pixelfade[1:-1].shape)}"
                )
            return initial.to(self._image_a)
        if self._initial_sequence == "bridge":
            return sample_brownian_bridge(self._image_a, self._image_b, self._n_steps)[
                1:-1
            ]
        return self._pixelfade[1:-1]

    def _checked_attributes(self) -> dict[str, Any]:
        return {
            "image_a": self._image_a,
            "image_b": self._image_b,
            "n_steps": self._n_steps,
            "penalty_lambda": self._penalty_lambda,
        }

    def _checked_callables(self, values: Mapping[str, Any]) -> CallableChecks:
        fade = make_straight_line(
            values["image_a"], values["image_b"], values["n_steps"]
        )
        return {
            "penalty_function": self._penalty_check(fade[1:-1]),
            "model": (self._model, (fade,)),
        }

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        self._pixelfade = make_straight_line(
            self._image_a, self._image_b, self._n_steps
        )

    def _tensor_attributes(self) -> list[str]:
        return ["_image_a", "_image_b", "_pixelfade"]

    def to(self, *args: Any, **kwargs: Any) -> None:
        """Move and/or cast the frames, anchors and model, in place.

        Parameters
        ----------
        *args, **kwargs
            As :meth:`torch.Tensor.to`.

        """
        move_model(self._model, *args, **kwargs)
        super().to(*args, **kwargs)

    def calculate_jerkiness(self, geodesic: Tensor | None = None) -> Tensor:
        """First-order optimality check: the acceleration pulled back to pixels.

        Along a geodesic the acceleration of the representation is orthogonal to the
        model's image manifold, so ``J^T a`` vanishes at every interior frame (``a``
        the second difference of the representation, ``J`` the model's Jacobian at
        the frame). Unlike the reference, the acceleration is not normalized to a unit
        direction, which is undefined where it vanishes (e.g. any straight path under
        the identity model).

        Parameters
        ----------
        geodesic
            Full sequence (n_steps + 1, C, H, W); ``None`` uses :attr:`geodesic`.

        Returns
        -------
        jerkiness
            ``||J^T a||^2`` per interior frame, (n_steps - 1,).

        """
        frames = (
            (self.geodesic if geodesic is None else geodesic)
            .detach()
            .requires_grad_(True)
        )
        representation = self._model(frames)
        acceleration = torch.diff(representation, n=2, dim=0).detach()
        (pulled,) = torch.autograd.grad(representation[1:-1], frames, acceleration)
        return pulled[1:-1].flatten(1).pow(2).sum(dim=1)

    # -- documented attributes ------------------------------------------------------
    @property
    def image_a(self) -> Tensor:
        """First anchor."""
        return self._image_a

    @property
    def image_b(self) -> Tensor:
        """Last anchor."""
        return self._image_b

    @property
    def image(self) -> Tensor:
        """The anchors, (2, C, H, W), for code that expects a target image."""
        return torch.cat([self._image_a, self._image_b])

    @property
    def model(self) -> torch.nn.Module:
        """The model."""
        return self._model

    @property
    def n_steps(self) -> int:
        """Number of transitions between the anchors."""
        return self._n_steps

    @property
    def initial_sequence(self) -> str:
        """Where synthesis starts: ``"straight"`` (pixel fade) or ``"bridge"``."""
        return self._initial_sequence

    @property
    def pixelfade(self) -> Tensor:
        """The straight line in pixel space, (n_steps + 1, C, H, W)."""
        return self._pixelfade

    @property
    def geodesic(self) -> Tensor:
        """The sequence from ``image_a`` to ``image_b``, (n_steps + 1, C, H, W)."""
        if self._optimized.numel() == 0:
            return (
                self._pixelfade
                if self._initial_sequence == "straight"
                else torch.tensor([])
            )
        return self._frames(self._optimized.detach())

    @property
    def saved_geodesic(self) -> Tensor:
        """Interior frames stored every ``store_progress`` iterations, then the current."""
        return self._saved_images()

    @property
    def step_energy(self) -> Tensor:
        """Squared length of each step in representation space, over iterations."""
        return self._stacked("step_energy")

    @property
    def dev_from_line(self) -> Tensor:
        """Distance along and from the straight line in representation space, per frame."""
        return self._stacked("dev_from_line")
