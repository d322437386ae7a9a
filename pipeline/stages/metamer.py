"""Synthesize a metamer of an image store under a model artifact, into a store."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import PipelineError
from ..store.schema import read_image_store
from ._runtime import resolve_device
from ._synthesis import OptimizationSettings, run_streamed, write_array
from .models import load_model

if TYPE_CHECKING:
    import zarr

__all__ = ["LOSSES", "MetamerSettings", "synthesize_metamer"]

LOSSES = ("mse", "l2_norm", "relative_sse")


@dataclass(frozen=True)
class MetamerSettings(OptimizationSettings):
    """Settings of a metamer synthesis: the shared ones plus the loss.

    Attributes
    ----------
    loss
        Representation loss: ``"mse"``, ``"l2_norm"`` or ``"relative_sse"``.

    """

    loss: str = "mse"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.loss not in LOSSES:
            raise PipelineError(
                f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}"
            )


def synthesize_metamer(
    image_store: str | Path,
    model_path: str | Path,
    out: str | Path,
    settings: MetamerSettings,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Run metamer synthesis and stream its whole history into a zarr store.

    Besides what every synthesis store holds, a metamer store has the flattened
    ``target_representation`` and ``metamer_representation`` (final) over
    (``batch``, ``representation``), and the ``representation_shape`` attribute.

    Parameters
    ----------
    image_store
        Image store of the target (from ``prepare-images``).
    model_path
        Model artifact (from ``build-model``).
    out
        Store to create; it appears only once synthesis completed.
    settings
        Synthesis settings.
    overwrite
        Replace an existing store.
    progress
        Show a progress bar.

    Returns
    -------
    out
        The written store.

    """
    import torch

    from .. import loss as losses
    from ..synthesis.metamer import Metamer
    from ..tensors import set_seed

    device = resolve_device(settings.device)
    image, image_attrs = read_image_store(image_store)
    loaded = load_model(model_path, device=device)
    model = loaded.model.to(settings.torch_dtype)
    image = image.to(device=device, dtype=settings.torch_dtype)
    set_seed(settings.seed)
    metamer = Metamer(
        image,
        model,
        loss_function=getattr(losses, settings.loss),
        penalty_lambda=settings.penalty_lambda,
    )
    metamer.setup(**settings.setup_arguments(device))

    def finish(group: zarr.Group) -> dict[str, Any]:
        with torch.no_grad():
            final = model(metamer.metamer)
        target = metamer.target_representation
        for name, values in (
            ("target_representation", target),
            ("metamer_representation", final),
        ):
            flat = values.detach().reshape(target.shape[0], -1).cpu().numpy()
            write_array(group, name, flat, ["batch", "representation"])
        return {"representation_shape": list(target.shape[1:])}

    attrs = {
        "image_name": image_attrs.get("name", Path(image_store).stem),
        "image_source": image_attrs.get("source", ""),
        "model_name": Path(model_path).stem,
        "model_class": loaded.class_path,
        "model_kwargs": json.dumps(loaded.kwargs, sort_keys=True),
        "model_fingerprint": loaded.fingerprint,
        "dtype": settings.dtype,
    }
    return run_streamed(
        metamer,
        out,
        "metamer",
        settings,
        device,
        attrs,
        finish,
        overwrite=overwrite,
        progress=progress,
    )
