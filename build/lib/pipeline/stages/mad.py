"""Synthesize one MAD competition image of an image store, into a store."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import PipelineError
from ..fingerprint import code_fingerprint
from ..store.schema import read_image_store
from ._checkpoint import CheckpointPolicy
from ._runtime import resolve_device
from ._synthesis import OptimizationSettings, run_streamed
from .models import load_model

if TYPE_CHECKING:
    import torch

__all__ = ["METRICS", "MADSettings", "resolve_metric", "synthesize_mad"]

# po.metric name -> how to make a distance (0 for identical images) from the module
METRICS: dict[str, Callable] = {
    "mse": lambda metric: metric.mse,
    "ssim": lambda metric: lambda x, y: 1 - metric.ssim(x, y),
    "ms_ssim": lambda metric: lambda x, y: 1 - metric.ms_ssim(x, y),
    "nlpd": lambda metric: metric.nlpd,
}


@dataclass(frozen=True)
class MADSettings(OptimizationSettings):
    """Settings of one MAD synthesis: the shared ones plus MAD's own.

    Attributes
    ----------
    minmax
        ``"min"`` or ``"max"`` the optimized metric.
    initial_noise
        Standard deviation of the Gaussian noise added to the image to start from;
        with the same seed, the four syntheses of a MAD set share this start.
    metric_tradeoff_lambda
        Weight of the reference-metric term; ``None`` picks it automatically.

    """

    minmax: str = "min"
    initial_noise: float = 0.1
    metric_tradeoff_lambda: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.minmax not in ("min", "max"):
            raise PipelineError(f"minmax must be min or max, got {self.minmax!r}")
        if self.initial_noise < 0:
            raise PipelineError(f"initial_noise must be >= 0, got {self.initial_noise}")
        if self.metric_tradeoff_lambda is not None and self.metric_tradeoff_lambda <= 0:
            raise PipelineError(
                f"metric_tradeoff_lambda must be positive, got {self.metric_tradeoff_lambda}"
            )


def resolve_metric(spec: str, device: str, dtype: torch.dtype) -> Callable:
    """Turn a metric name or a model artifact into a distance between two images.

    Parameters
    ----------
    spec
        A name of :data:`METRICS` (``ssim`` and ``ms_ssim`` become ``1 - ...``) or
        the path of a model artifact (distance between its representations, see
        :func:`pipeline.metric.model_metric`).
    device, dtype
        Where a model metric computes.

    Returns
    -------
    distance
        Callable of two images returning one number, 0 for identical images.

    Raises
    ------
    PipelineError
        For an unknown name or a missing artifact.

    """
    from .. import metric

    if spec in METRICS:
        distance = METRICS[spec](metric)
    elif spec.endswith(".model") or Path(spec).is_file():
        model = load_model(spec, device=device).model.to(dtype)
        distance = metric.model_metric(model)
    else:
        raise PipelineError(
            f"unknown metric {spec!r}: use one of {', '.join(METRICS)} or the path of "
            "a model artifact (*.model)"
        )
    return lambda x, y: distance(x, y).mean()  # one number per image, over channels


def synthesize_mad(
    image_store: str | Path,
    out: str | Path,
    optimized_metric: str,
    reference_metric: str,
    settings: MADSettings,
    overwrite: bool = False,
    progress: bool = True,
    checkpoints: CheckpointPolicy | None = None,
) -> Path:
    """Run one MAD competition synthesis, resumably, and write its history to a store.

    Besides what every synthesis store holds (``mad_image``, ``saved_mad_image``),
    the store has ``optimized_metric_loss`` and ``reference_metric_loss`` over
    ``iteration`` and the attributes ``optimized_metric``, ``reference_metric``,
    ``minmax`` and the ``metric_tradeoff_lambda`` used (chosen or given).

    Parameters
    ----------
    image_store
        Image store of the reference image (from ``prepare-images``).
    out
        Store to create; it appears only once synthesis completed.
    optimized_metric, reference_metric
        Metric names or model artifacts, see :func:`resolve_metric`.
    settings
        Synthesis settings.
    overwrite
        Replace an existing store.
    progress
        Show a progress bar.
    checkpoints
        When to write the checkpoints a killed run resumes from.

    Returns
    -------
    out
        The written store.

    Raises
    ------
    PipelineError
        If the two metrics are the same, or for bad settings or inputs.

    """
    import torch

    from ..synthesis.mad_competition import MADCompetition
    from ..tensors import set_seed

    if optimized_metric == reference_metric:
        raise PipelineError(
            f"the optimized and the reference metric are both {optimized_metric!r}: "
            "MAD competition needs two different metrics"
        )
    device = resolve_device(settings.device)
    image, image_attrs = read_image_store(image_store)
    image = image.to(device=device, dtype=settings.torch_dtype)
    if image.shape[0] != 1:
        raise PipelineError(
            f"{image_store} holds {image.shape[0]} images; MAD needs one"
        )
    optimized = resolve_metric(optimized_metric, device, settings.torch_dtype)
    reference = resolve_metric(reference_metric, device, settings.torch_dtype)
    set_seed(settings.seed)
    # drawn first, so the four syntheses of a set (same seed) share it
    initial = image + settings.initial_noise * torch.randn_like(image)
    with warnings.catch_warnings():
        # the lambda chosen is recorded in the store; the noisy start strays outside
        # [0, 1] (the range penalty pulls it back), and the metrics' range warning
        # would repeat for every run of a set
        warnings.filterwarnings("ignore", message="Since metric_tradeoff_lambda")
        warnings.filterwarnings("ignore", message="Image range falls outside")
        mad = MADCompetition(
            image,
            optimized,
            reference,
            settings.minmax,
            metric_tradeoff_lambda=settings.metric_tradeoff_lambda,
            penalty_lambda=settings.penalty_lambda,
        )
        attrs = {
            "image_name": image_attrs.get("name", Path(image_store).stem),
            "image_source": image_attrs.get("source", ""),
            "optimized_metric": Path(optimized_metric).stem,
            "reference_metric": Path(reference_metric).stem,
            "minmax": settings.minmax,
            "metric_tradeoff_lambda": mad.metric_tradeoff_lambda,
            "dtype": settings.dtype,
        }
        return run_streamed(
            mad,
            out,
            "mad",
            settings,
            device,
            attrs,
            setup=lambda: mad.setup(initial, **settings.setup_arguments(device)),
            inputs=[
                image_store,
                *(
                    Path(m)
                    for m in (optimized_metric, reference_metric)
                    if m.endswith(".model")
                ),
            ],
            code=code_fingerprint("pipeline.stages.mad:synthesize_mad"),
            checkpoints=checkpoints,
            overwrite=overwrite,
            progress=progress,
        )
