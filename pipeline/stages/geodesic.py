"""Synthesize a geodesic between two image stores under a model artifact."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import PipelineError
from ..fingerprint import code_fingerprint
from ..store.atomic import refuse_existing
from ..store.schema import read_image_store
from ._checkpoint import Checkpoint, CheckpointPolicy, run_identity
from ._runtime import resolve_device
from ._synthesis import run_synthesis, start, write_store
from .models import load_model
from .settings import GeodesicSettings

if TYPE_CHECKING:
    import torch

__all__ = ["path_length", "synthesize_geodesic"]


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

    The store is laid out as ``LAYOUTS["geodesic"]`` of :mod:`pipeline.store.layout`
    declares: the history (interior frames, step energies, deviation from the
    line), the full sequence beside the pixel fade, and both paths' lengths in
    representation space.

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

    # settings: the inputs, and the synthesis they define
    refuse_existing([out], overwrite)
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
    code = code_fingerprint("pipeline.stages.geodesic:synthesize_geodesic")
    inputs = [image_a, image_b, model_path]
    identity = run_identity(geodesic, settings, device, inputs, code)
    with Checkpoint(out, identity, checkpoints or CheckpointPolicy()) as checkpoint:
        # resume state
        start(geodesic, checkpoint, settings, device)
        # synthesis loop
        run_synthesis(geodesic, checkpoint, settings, progress)
        # store
        sequence, pixelfade = geodesic.geodesic, geodesic.pixelfade
        arrays = {
            "sequence": sequence.cpu().numpy(),
            "pixelfade": pixelfade.cpu().numpy(),
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
            "path_length": path_length(model, sequence),
            "pixelfade_path_length": path_length(model, pixelfade),
        }
        write_store(
            out,
            "geodesic",
            checkpoint,
            settings,
            device,
            arrays,
            attrs,
            synthesis=geodesic,
            overwrite=overwrite,
        )
        checkpoint.complete(out)
    return Path(out)
