"""Synthesize a geodesic between two image stores under a model artifact."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import PipelineError
from ..fingerprint import code_fingerprint
from ..store.schema import read_image_store
from ._checkpoint import CheckpointPolicy
from ._runtime import resolve_device
from ._synthesis import OptimizationSettings, run_streamed, write_array
from .models import load_model

if TYPE_CHECKING:
    import torch
    import zarr

__all__ = ["GeodesicSettings", "path_length", "synthesize_geodesic"]

FRAME_DIMS = ["step", "channel", "y", "x"]


@dataclass(frozen=True)
class GeodesicSettings(OptimizationSettings):
    """Settings of a geodesic: the shared ones plus the path's.

    Attributes
    ----------
    n_steps
        Number of transitions between the two anchors.
    initial_sequence
        ``"straight"`` (pixel fade) or ``"bridge"`` (Brownian bridge).

    """

    n_steps: int = 10
    initial_sequence: str = "straight"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n_steps < 2:
            raise PipelineError(f"n_steps must be at least 2, got {self.n_steps}")
        if self.initial_sequence not in ("straight", "bridge"):
            raise PipelineError(
                f"initial_sequence must be straight or bridge, got {self.initial_sequence!r}"
            )


def path_length(model: torch.nn.Module, frames: torch.Tensor) -> float:
    """Length of a path of frames in the model's representation space.

    Parameters
    ----------
    model
        The model.
    frames
        (n_frames, C, H, W).

    Returns
    -------
    length
        Sum of the Euclidean lengths of the steps between consecutive representations.

    """
    import torch

    with torch.no_grad():
        steps = torch.diff(model(frames), dim=0).flatten(1)
    return float(torch.linalg.vector_norm(steps, dim=1).sum())


def synthesize_geodesic(
    image_a: str | Path,
    image_b: str | Path,
    model_path: str | Path,
    out: str | Path,
    settings: GeodesicSettings,
    overwrite: bool = False,
    progress: bool = True,
    checkpoints: CheckpointPolicy | None = None,
) -> Path:
    """Run geodesic synthesis, resumably, and write its whole history into a store.

    Besides what every synthesis store holds (``geodesic``: the interior frames
    over ``interior``, ``saved_geodesic``, the two anchors as ``image`` over
    ``anchor``), the store has ``step_energy`` (``iteration``,
    ``transition``), ``dev_from_line`` (``iteration``, ``frame``, ``component``:
    along and from the line), the full ``sequence`` and the ``pixelfade`` over
    ``step``, and the attributes ``path_length`` and ``pixelfade_path_length`` (in
    representation space).

    Parameters
    ----------
    image_a, image_b
        Image stores of the anchors (one image each, same size).
    model_path
        Model artifact.
    out
        Store to create; it appears only once complete.
    settings
        The settings.
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

    """
    from ..synthesis.geodesic import Geodesic
    from ..tensors import set_seed

    device = resolve_device(settings.device)
    anchors, names = [], []
    for store in (image_a, image_b):
        image, attrs = read_image_store(store)
        if image.shape[0] != 1:
            raise PipelineError(f"{store} holds {image.shape[0]} images; use one")
        anchors.append(image.to(device=device, dtype=settings.torch_dtype))
        names.append(attrs.get("name", Path(store).stem))
    if anchors[0].shape != anchors[1].shape:
        raise PipelineError(
            f"the anchors differ in shape: {tuple(anchors[0].shape)} and "
            f"{tuple(anchors[1].shape)}: prepare them with the same --size"
        )
    loaded = load_model(model_path, device=device)
    model = loaded.model.to(settings.torch_dtype)
    set_seed(settings.seed)
    geodesic = Geodesic(
        anchors[0],
        anchors[1],
        model,
        n_steps=settings.n_steps,
        initial_sequence=settings.initial_sequence,
        penalty_lambda=settings.penalty_lambda,
    )

    def finish(group: zarr.Group) -> dict[str, Any]:
        sequence, pixelfade = geodesic.geodesic, geodesic.pixelfade
        write_array(group, "sequence", sequence.cpu().numpy(), FRAME_DIMS)
        write_array(group, "pixelfade", pixelfade.cpu().numpy(), FRAME_DIMS)
        return {
            "path_length": path_length(model, sequence),
            "pixelfade_path_length": path_length(model, pixelfade),
        }

    attrs = {
        "image_name": f"{names[0]}-{names[1]}",
        "image_a": names[0],
        "image_b": names[1],
        "model_name": Path(model_path).stem,
        "model_class": loaded.class_path,
        "model_kwargs": json.dumps(loaded.kwargs, sort_keys=True),
        "model_fingerprint": loaded.fingerprint,
        "dtype": settings.dtype,
    }
    dims = {"step_energy": ("transition",), "dev_from_line": ("frame", "component")}
    return run_streamed(
        geodesic,
        out,
        "geodesic",
        settings,
        device,
        attrs,
        setup=lambda: geodesic.setup(**settings.setup_arguments(device)),
        inputs=[image_a, image_b, model_path],
        code=code_fingerprint("pipeline.stages.geodesic:synthesize_geodesic"),
        checkpoints=checkpoints,
        finish=finish,
        overwrite=overwrite,
        progress=progress,
        value_dims=dims,
        image_dims=(["anchor", "channel", "y", "x"], ["interior", "channel", "y", "x"]),
    )
