"""Maximum differentiation (MAD) competition between two image-quality metrics."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from typing import Any, Literal

import torch
from torch import Tensor

from .. import regularize as _regularize
from ..validate import validate_input
from .base import OptimizedSynthesis, check_start
from .common import CallableChecks

__all__ = ["MADCompetition"]

Metric = Callable[[Tensor, Tensor], Tensor]


def _scalar(value: Tensor, name: str) -> Tensor:
    if value.numel() != 1:
        raise ValueError(
            f"{name} should return a scalar value but output had shape "
            f"{tuple(value.shape)}: a MAD metric returns a single number for the pair "
            "of images (batches included), e.g. reduce with .mean()"
        )
    return value if value.ndim == 0 else value.reshape(())


def _validate_metric(metric: Metric, image: Tensor, name: str) -> None:
    """Check the documented requirements: callable, one number, 0 for equal images."""
    if not callable(metric):
        raise TypeError(f"{name} must be callable, got {type(metric)!r}")
    with torch.no_grad():
        same = _scalar(metric(image, image), name)
    if not math.isfinite(same.item()) or abs(same.item()) > 5e-5:
        raise ValueError(
            f"{name} must return 0 for identical images (it is a distance), got "
            f"{same.item():.3g}: use e.g. 1 - ssim rather than ssim"
        )


class MADCompetition(OptimizedSynthesis):
    r"""Synthesize one maximally-differentiating image for two metrics.

    Starting from ``image`` plus Gaussian noise, the MAD image is adjusted to minimize
    (``minmax="min"``) or maximize (``"max"``) ``optimized_metric(image, mad_image)``
    while ``reference_metric(image, mad_image)`` is held at its initial value. The
    objective is

    .. math::

        t L_1(x, \hat{x}) + \lambda_1 [L_2(x, x+\epsilon) - L_2(x, \hat{x})]^2
        + \lambda_2 \mathcal{B}(\hat{x})

    with :math:`t = 1` for ``"min"`` and :math:`-1` for ``"max"``. A full MAD set is
    four syntheses: both metrics, both directions, from the same initial image.

    Parameters
    ----------
    image
        The reference image, (batch, channel, height, width) (other shapes work
        with metrics that accept them, with a warning). A batch is one stimulus (a
        video, say): the metrics return one number for the whole batch.
    optimized_metric
        Metric to minimize or maximize: takes two images, returns one number, 0 if
        and only if the images are identical.
    reference_metric
        Metric held constant, with the same requirements.
    minmax
        ``"min"`` or ``"max"``.
    metric_tradeoff_lambda
        Weight :math:`\lambda_1` of the reference-metric term. ``None`` picks the
        power of 10 nearest to ``optimized_metric(image, noise) /
        reference_metric(image, noise)`` for a uniform noise image, so both terms
        start at about the same magnitude (and warns with the value chosen).
    penalty_function
        Penalty on the MAD image (default: pixel range).
    penalty_lambda
        Non-negative weight of the penalty.

    Examples
    --------
    >>> import pipeline as po
    >>> img = po.data.camera(size=32)
    >>> mad = po.MADCompetition(
    ...     img, po.loss.mse, po.loss.l2_norm, "min", metric_tradeoff_lambda=1.0
    ... )
    >>> mad.synthesize(3, progress=False)
    >>> mad.optimized_metric_loss.shape
    torch.Size([4])

    """

    _synthesized_name = "mad_image"
    _repr_attributes = (
        "image",
        "optimized_metric",
        "reference_metric",
        "minmax",
        "metric_tradeoff_lambda",
        "penalty_function",
        "penalty_lambda",
    )

    def __init__(
        self,
        image: Tensor,
        optimized_metric: Metric,
        reference_metric: Metric,
        minmax: Literal["min", "max"],
        metric_tradeoff_lambda: float | None = None,
        penalty_function: Callable[[Tensor], Tensor] = _regularize.penalize_range,
        penalty_lambda: float = 0.1,
    ) -> None:
        super().__init__(penalty_function, penalty_lambda)
        validate_input(image)
        if minmax not in ("min", "max"):
            raise ValueError(f"minmax must be 'min' or 'max', got {minmax!r}")
        _validate_metric(optimized_metric, image, "optimized_metric")
        _validate_metric(reference_metric, image, "reference_metric")
        self._image = image.detach()
        self._optimized_metric = optimized_metric
        self._reference_metric = reference_metric
        self._minmax = minmax
        if metric_tradeoff_lambda is None:
            metric_tradeoff_lambda = self._balancing_lambda()
            warnings.warn(
                "Since metric_tradeoff_lambda was None, automatically set to "
                f"{metric_tradeoff_lambda} to roughly balance metrics.",
                UserWarning,
                stacklevel=2,
            )
        self._metric_tradeoff_lambda = metric_tradeoff_lambda
        self._initial_image = torch.tensor([])
        self._reference_target = torch.tensor([])

    def _balancing_lambda(self) -> float:
        other = torch.rand_like(self._image)
        with torch.no_grad():
            ratio = _scalar(self._optimized_metric(self._image, other), "metric").abs()
            ratio = ratio / _scalar(
                self._reference_metric(self._image, other), "metric"
            )
        return float(10 ** torch.round(torch.log10(ratio)).item())

    # -- method specifics ---------------------------------------------------------
    def _objective_terms(
        self, x: Tensor, image: Tensor | None = None
    ) -> dict[str, Tensor]:
        image = self._image if image is None else image
        optimized = _scalar(self._optimized_metric(image, x), "optimized_metric")
        reference = _scalar(self._reference_metric(image, x), "reference_metric")
        penalty = self._penalty_function(x)
        # the same numbers as multiplying by +-1, with one operation fewer per step
        signed = optimized if self._minmax == "min" else -optimized
        held = (self._reference_target - reference).pow(2)
        loss = (
            signed
            + self._metric_tradeoff_lambda * held
            + self._penalty_lambda * penalty
        )
        return {
            "loss": loss,
            "penalty": penalty,
            "optimized_metric_loss": optimized,
            "reference_metric_loss": reference,
        }

    def _initial_tensor(self, initial: Tensor | float | None) -> Tensor:
        noise = 0.1 if initial is None else initial
        if isinstance(noise, Tensor):  # a given initial image (one start for a set)
            check_start(noise, "initial image")
            if noise.shape != self._image.shape:
                raise ValueError(
                    f"initial image shape {tuple(noise.shape)} must equal the image "
                    f"shape {tuple(self._image.shape)}"
                )
            start = noise.to(self._image)
        else:
            if noise < 0:
                raise ValueError(f"initial_noise must be non-negative, got {noise}")
            start = self._image + noise * torch.randn_like(self._image)
        self._initial_image = start.detach().clone()
        with torch.no_grad():
            reference = self._reference_metric(self._image, self._initial_image)
        self._reference_target = _scalar(reference, "reference_metric").detach()
        return start

    def setup(
        self,
        initial_noise: float | Tensor | None = None,
        optimizer: type[torch.optim.Optimizer] | None = None,
        optimizer_kwargs: dict | None = None,
        scheduler: type | None = None,
        scheduler_kwargs: dict | None = None,
    ) -> None:
        """Initialize the MAD image, the optimizer and the scheduler.

        Can only be called once, before :meth:`synthesize`; after :meth:`load`, pass
        only the optimizer and scheduler classes.

        Parameters
        ----------
        initial_noise
            Standard deviation of the Gaussian noise added to ``image`` to make the
            initial MAD image (``None``: 0.1); or the initial image itself, so the four
            syntheses of a MAD set can share one start.
        optimizer
            Un-initialized optimizer class; ``None`` uses Adam with amsgrad.
        optimizer_kwargs
            Keyword arguments of the optimizer (``None``: ``{"lr": 0.01}``).
        scheduler
            Un-initialized learning rate scheduler class, or ``None``.
        scheduler_kwargs
            Keyword arguments of the scheduler.

        """
        if self._loaded and initial_noise is not None:
            raise ValueError("Cannot set initial_noise after calling load()")
        super().setup(
            initial_noise, optimizer, optimizer_kwargs, scheduler, scheduler_kwargs
        )

    def _checked_attributes(self) -> dict[str, Any]:
        return {
            "image": self._image,
            "metric_tradeoff_lambda": self._metric_tradeoff_lambda,
            "penalty_lambda": self._penalty_lambda,
            "minmax": self._minmax,
        }

    def _checked_callables(self, values: Mapping[str, Any]) -> CallableChecks:
        image = values["image"]
        pair = (image, image * 0.5 + 0.25)
        return {
            "optimized_metric": (self._optimized_metric, pair),
            "reference_metric": (self._reference_metric, pair),
            "penalty_function": self._penalty_check(image),
        }

    def _extra_state(self) -> dict[str, Any]:
        return {
            "initial_image": self._initial_image,
            "reference_target": self._reference_target,
        }

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        self._initial_image = state["initial_image"]
        self._reference_target = state["reference_target"]

    def _tensor_attributes(self) -> list[str]:
        return ["_image", "_initial_image", "_reference_target"]

    def to(self, *args: Any, **kwargs: Any) -> None:
        """Move and/or cast the images and the metrics that are modules, in place.

        Parameters
        ----------
        *args, **kwargs
            As :meth:`torch.Tensor.to` (device, dtype or tensor).

        """
        for metric in (self._optimized_metric, self._reference_metric):
            if isinstance(metric, torch.nn.Module):
                metric.to(*args, **kwargs)
        super().to(*args, **kwargs)

    def objective_function(
        self, mad_image: Tensor | None = None, image: Tensor | None = None
    ) -> Tensor:
        """Compute the MAD competition loss (see the class description).

        Parameters
        ----------
        mad_image
            Proposed MAD image; ``None`` uses the current one.
        image
            Proposed reference image; ``None`` uses :attr:`image`.

        Returns
        -------
        loss
            Scalar loss; an empty tensor before setup when ``mad_image`` is ``None``.

        """
        if mad_image is None:
            if self._optimized.numel() == 0:
                return torch.tensor([])
            mad_image = self._optimized
        return self._objective_terms(mad_image, image)["loss"]

    # -- documented attributes ------------------------------------------------------
    @property
    def image(self) -> Tensor:
        """The reference image of this MAD competition."""
        return self._image

    @property
    def initial_image(self) -> Tensor:
        """The image the MAD image started from (image plus noise)."""
        return self._initial_image

    @property
    def mad_image(self) -> Tensor:
        """Maximally-differentiating image, the parameter being optimized."""
        return self._optimized

    @property
    def saved_mad_image(self) -> Tensor:
        """MAD image cached every ``store_progress`` iterations, then the current one."""
        return self._saved_images()

    @property
    def optimized_metric(self) -> Metric:
        """The metric being minimized or maximized."""
        return self._optimized_metric

    @property
    def reference_metric(self) -> Metric:
        """The metric held constant."""
        return self._reference_metric

    @property
    def minmax(self) -> Literal["min", "max"]:
        """Whether ``optimized_metric`` is minimized or maximized."""
        return self._minmax

    @property
    def metric_tradeoff_lambda(self) -> float:
        """Weight of the reference-metric term in the loss."""
        return self._metric_tradeoff_lambda

    @property
    def optimized_metric_loss(self) -> Tensor:
        """``optimized_metric(image, mad_image)`` over iterations (CPU)."""
        return self._stacked("optimized_metric_loss")

    @property
    def reference_metric_loss(self) -> Tensor:
        """``reference_metric(image, mad_image)`` over iterations (CPU)."""
        return self._stacked("reference_metric_loss")
