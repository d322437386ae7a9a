"""Coarse-to-fine metamers: match a multiscale model's representation scale by scale.

Multiscale representations such as the Portilla-Simoncelli texture statistics have
many local optima in image space. Coarse-to-fine synthesis (Portilla and Simoncelli,
2000) first matches only the coarsest scale, then moves to finer ones, and ends by
matching all of them at once.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Callable, Hashable
from typing import Any, Literal

import torch
from torch import Tensor

from .. import loss as _loss
from .. import regularize as _regularize
from ..validate import validate_coarse_to_fine
from .base import IterationRecord
from .metamer import Metamer

__all__ = ["MetamerCTF"]

ALL_SCALES = "all"


class MetamerCTF(Metamer):
    r"""Synthesize model metamers with coarse-to-fine optimization.

    A :class:`Metamer` whose gradient comes from a subset of the model's scales that
    changes during synthesis: the coarsest first, then finer ones, and finally
    ``"all"`` of them. The model must list its scales from coarse to fine in a
    ``scales`` attribute and its ``forward`` must accept a ``scales`` keyword that
    restricts the output to those scales (see
    :func:`pipeline.validate.validate_coarse_to_fine`).

    The optimizer minimizes the scale-specific loss (``scales_loss``); ``losses``
    records the loss on the whole representation, so the two agree once synthesis
    reaches ``"all"``. When the model has a ``remove_scales(representation,
    scales)`` method (as :class:`pipeline.models.PortillaSimoncelli` has), each step
    runs the model once and selects the current scales from its output; otherwise
    it runs the model on the current scales and, without gradient, on all of them.
    A loss function with a ``for_scales(scales)`` method (such as
    :func:`pipeline.loss.portilla_simoncelli_loss`) is asked for the loss of each
    scale subset, so weighted statistics keep their weights.

    Parameters
    ----------
    image
        The target image, (batch, channel, height, width).
    model
        A multiscale model meeting the coarse-to-fine requirements.
    loss_function
        Compares two representations (or two parts of them); returns a scalar.
    penalty_function
        Applied to the metamer; returns a scalar penalty (default: pixel range).
    penalty_lambda
        Non-negative weight of the penalty.
    coarse_to_fine
        ``"together"``: start with the coarsest scale, then add each finer scale to
        those already optimized. ``"separate"``: optimize each scale on its own, then
        all of them.

    Raises
    ------
    ValueError
        If ``coarse_to_fine`` is neither ``"together"`` nor ``"separate"``, or the
        model's ``remove_scales`` disagrees with its ``forward(scales=...)``.
    AttributeError, TypeError
        If the model can't do coarse-to-fine synthesis.

    Examples
    --------
    >>> import pipeline as po
    >>> img = po.data.brick(size=64)
    >>> ps = po.models.PortillaSimoncelli(img.shape[-2:], n_scales=2)
    >>> met = po.MetamerCTF(img, ps, loss_function=po.loss.l2_norm)
    >>> met.synthesize(10, change_scale_criterion=None, ctf_iters_to_check=4,
    ...                progress=False)
    >>> met.scales_finished
    ('pixel_statistics', 'residual_lowpass')

    """

    _minimized_term = "scale_loss"

    def __init__(
        self,
        image: Tensor,
        model: torch.nn.Module,
        loss_function: Callable[[Tensor, Tensor], Tensor] = _loss.mse,
        penalty_function: Callable[[Tensor], Tensor] = _regularize.penalize_range,
        penalty_lambda: float = 0.1,
        coarse_to_fine: Literal["together", "separate"] = "together",
    ) -> None:
        if coarse_to_fine not in ("together", "separate"):
            raise ValueError(
                "coarse_to_fine must be 'together' or 'separate', got "
                f"{coarse_to_fine!r}"
            )
        super().__init__(image, model, loss_function, penalty_function, penalty_lambda)
        validate_coarse_to_fine(
            model,
            image_shape=tuple(image.shape),
            image_dtype=image.dtype,
            device=image.device,
        )
        self._coarse_to_fine = coarse_to_fine
        model_scales = list(model.scales)
        if coarse_to_fine == "together":  # its finest step would equal "all"
            model_scales = model_scales[:-1]
        self._schedule: list[Hashable] = [*model_scales, ALL_SCALES]
        self._scales = list(self._schedule)
        self._scales_timing: dict[Hashable, list[int]] = {s: [] for s in self._schedule}
        self._scales_timing[self._schedule[0]].append(0)
        self._scales_finished: list[Hashable] = []
        self._recent_scale_losses: collections.deque[float] = collections.deque()
        self._last_scale_loss = torch.tensor(math.nan)
        self._initial_lr: list[float] | None = None
        self._change_scale_criterion: float | None = 1e-2
        self._ctf_iters_to_check = 50
        self._target_parts: dict[tuple, Tensor] = {}
        self._part_losses: dict[tuple, Callable[[Tensor, Tensor], Tensor]] = {}
        self._selects_from_full = hasattr(model, "remove_scales")
        if self._selects_from_full:
            self._check_remove_scales()

    # -- the current scales -------------------------------------------------------
    def _current_subset(self) -> list[Hashable] | None:
        """Scales the gradient comes from now, or ``None`` for all of them."""
        current = self._scales[0]
        if current == ALL_SCALES:
            return None
        if self._coarse_to_fine == "together":
            return [*self._scales_finished, current]
        return [current]

    def _subsets(self) -> list[list[Hashable]]:
        """Every scale subset synthesis will optimize, in schedule order."""
        steps = self._schedule[:-1]
        if self._coarse_to_fine == "together":
            return [steps[: i + 1] for i in range(len(steps))]
        return [[s] for s in steps]

    def _target_part(self, subset: list[Hashable]) -> Tensor:
        key = tuple(subset)
        if key not in self._target_parts:
            with torch.no_grad():
                self._target_parts[key] = self._model(self._image, scales=subset)
        return self._target_parts[key]

    def _part_loss(self, subset: list[Hashable]) -> Callable[[Tensor, Tensor], Tensor]:
        """Return the loss for the statistics of ``subset`` (with their own weights)."""
        key = tuple(subset)
        if key not in self._part_losses:
            for_scales = getattr(self._loss_function, "for_scales", None)
            loss = self._loss_function if for_scales is None else for_scales(subset)
            self._part_losses[key] = loss
        return self._part_losses[key]

    def _check_remove_scales(self) -> None:
        """Make sure selecting from the full output equals running on the subset."""
        for subset in self._subsets():
            selected = self._model.remove_scales(self._target_representation, subset)
            direct = self._target_part(subset)
            if selected.shape != direct.shape or not torch.allclose(
                selected, direct, rtol=1e-4, atol=1e-6
            ):
                raise ValueError(
                    f"{type(self._model).__name__}.remove_scales(representation, "
                    f"{subset}) disagrees with forward(image, scales={subset})"
                )

    # -- method specifics ---------------------------------------------------------
    def _objective_terms(self, x: Tensor, **analyze_kwargs: Any) -> dict[str, Tensor]:
        if analyze_kwargs:
            return super()._objective_terms(x, **analyze_kwargs)
        representation = self._model(x)
        penalty = self._penalty_function(x)
        weighted = self._penalty_lambda * penalty
        target = self._target_representation
        position = torch.tensor(len(self._schedule) - len(self._scales))
        subset = self._current_subset()
        if subset is None:  # all scales: the loss is what the optimizer minimizes
            loss = scale_loss = self._loss_function(representation, target) + weighted
        else:
            if self._selects_from_full:
                part = self._model.remove_scales(representation, subset)
                representation = representation.detach()
            else:
                part = self._model(x, scales=subset)
                with torch.no_grad():
                    representation = self._model(x)
            part_loss = self._part_loss(subset)
            scale_loss = part_loss(part, self._target_part(subset)) + weighted
            with torch.no_grad():
                loss = self._loss_function(representation, target) + weighted
        return {
            "loss": loss,
            "penalty": penalty,
            "scale_loss": scale_loss,
            "scale": position,
        }

    def _after_step(self, record: IterationRecord) -> str | None:
        """Record the scale loss and move to the next scale when this one is done.

        Same rule as the reference: switch once the scale-specific loss changed by
        less than ``change_scale_criterion`` over the last ``ctf_iters_to_check``
        iterations (or at once when it is ``None``) and this scale ran at least
        ``ctf_iters_to_check`` iterations; the learning rate is then reset.
        """
        recent = self._recent_scale_losses
        window = self._ctf_iters_to_check
        self._last_scale_loss = record.values["scale_loss"]
        if self._change_scale_criterion is not None:  # only then read from the device
            recent.append(record.values["scale_loss"].item())
            while len(recent) > window:
                recent.popleft()
        t = self._n_iterations  # iterations run, i.e. the index of the next one
        current = self._scales[0]
        if (
            len(self._scales) > 1
            and t >= window
            and (
                self._change_scale_criterion is None
                or abs(recent[-1] - recent[0]) < self._change_scale_criterion
            )
            and t - self._scales_timing[current][0] >= window
        ):
            self._scales_timing[current].append(t - 1)
            self._scales_finished.append(self._scales.pop(0))
            self._scales_timing[self._scales[0]].append(t)
            for group, lr in zip(
                self._optimizer.param_groups, self._initial_lr, strict=True
            ):
                group["lr"] = lr
        return None

    def _may_converge(self) -> bool:
        """Stop on convergence only after all scales ran for a while together."""
        if self._scales[0] != ALL_SCALES:
            return False
        started = self._scales_timing[ALL_SCALES][0]
        return self._n_iterations - started > self._ctf_iters_to_check

    def _progress_postfix(self) -> dict[str, str]:
        scale_loss = self._last_scale_loss.item()
        return {"scale": str(self._scales[0]), "scale_loss": f"{scale_loss:.4g}"}

    def synthesize(
        self,
        max_iter: int = 100,
        store_progress: bool | int = False,
        stop_criterion: float = 1e-4,
        stop_iters_to_check: int = 50,
        change_scale_criterion: float | None = 1e-2,
        ctf_iters_to_check: int = 50,
        **kwargs: Any,
    ) -> None:
        """Run coarse-to-fine synthesis for up to ``max_iter`` more iterations.

        Continues where the last call stopped, at the same scale.

        Parameters
        ----------
        max_iter, store_progress, stop_criterion, stop_iters_to_check
            As :meth:`Metamer.synthesize`; the stopping rule only applies once all
            scales have been optimized together for ``ctf_iters_to_check``
            iterations.
        change_scale_criterion
            Move to the next scale once the scale-specific loss changed by less than
            this over the last ``ctf_iters_to_check`` iterations; ``None`` moves on
            after ``ctf_iters_to_check`` iterations at each scale.
        ctf_iters_to_check
            Window of the scale-change rule, and the fewest iterations per scale.
        **kwargs
            ``on_iteration``, ``keep_history`` and ``progress``, as
            :meth:`Metamer.synthesize`.

        Raises
        ------
        ValueError
            If ``stop_criterion`` is not below ``change_scale_criterion`` or
            ``ctf_iters_to_check`` is not positive, or as :meth:`Metamer.synthesize`.

        """
        if (
            change_scale_criterion is not None
            and stop_criterion >= change_scale_criterion
        ):
            raise ValueError(
                f"stop_criterion ({stop_criterion}) must be below "
                f"change_scale_criterion ({change_scale_criterion})"
            )
        if not isinstance(ctf_iters_to_check, int) or ctf_iters_to_check < 1:
            raise ValueError(
                f"ctf_iters_to_check must be a positive integer, got "
                f"{ctf_iters_to_check!r}"
            )
        self._change_scale_criterion = change_scale_criterion
        self._ctf_iters_to_check = ctf_iters_to_check
        if self._optimizer is None:
            self.setup()
        if self._initial_lr is None:
            self._initial_lr = [group["lr"] for group in self._optimizer.param_groups]
        super().synthesize(
            max_iter, store_progress, stop_criterion, stop_iters_to_check, **kwargs
        )

    def _checked_settings(self) -> dict[str, Any]:
        return {**super()._checked_settings(), "coarse_to_fine": self._coarse_to_fine}

    def _extra_state(self) -> dict[str, Any]:
        return {
            "scales": list(self._scales),
            "scales_timing": {k: list(v) for k, v in self._scales_timing.items()},
            "scales_finished": list(self._scales_finished),
            "recent_scale_losses": list(self._recent_scale_losses),
            "initial_lr": self._initial_lr,
        }

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        self._scales = list(state["scales"])
        self._scales_timing = {k: list(v) for k, v in state["scales_timing"].items()}
        self._scales_finished = list(state["scales_finished"])
        self._recent_scale_losses = collections.deque(state["recent_scale_losses"])
        self._initial_lr = state["initial_lr"]

    def to(self, *args: Any, **kwargs: Any) -> None:
        """Move and/or cast the metamer, its images and the model, in place.

        Parameters
        ----------
        *args, **kwargs
            As :meth:`torch.Tensor.to` (device, dtype or tensor).

        """
        super().to(*args, **kwargs)
        self._target_parts.clear()  # recomputed on the new device or dtype

    # -- documented attributes ------------------------------------------------------
    @property
    def coarse_to_fine(self) -> str:
        """How scales are combined: ``"together"`` or ``"separate"``."""
        return self._coarse_to_fine

    @property
    def scale_schedule(self) -> tuple:
        """Every step of the schedule, coarse to fine, ending with ``"all"``.

        The per-iteration ``scale`` value (in ``get_progress`` and stores) is an
        index into it.
        """
        return tuple(self._schedule)

    @property
    def scales(self) -> tuple:
        """Scales still to optimize, the current one first; ends with ``"all"``."""
        return tuple(self._scales)

    @property
    def scales_loss(self) -> Tensor:
        """Scale-specific loss at each iteration (what the optimizer minimized)."""
        return self._stacked("scale_loss")

    @property
    def scales_timing(self) -> dict:
        """Scale -> [first iteration, last iteration] at that scale (so far)."""
        return self._scales_timing

    @property
    def scales_finished(self) -> tuple:
        """Scales already optimized, in the order they finished."""
        return tuple(self._scales_finished)
