"""Synthesize a metamer of an image store under a model artifact, into a store."""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import PipelineError
from ..store.atomic import atomic_output
from ..store.history import HistoryWriter
from ..store.schema import SCHEMA_VERSION, consolidate, read_image_store, write_attrs
from ._runtime import provenance, resolve_device
from .models import load_model

__all__ = ["LOSSES", "OPTIMIZERS", "MetamerSettings", "synthesize_metamer"]

OPTIMIZERS = ("adam", "sgd")
LOSSES = ("mse", "l2_norm", "relative_sse")


@dataclass(frozen=True)
class MetamerSettings:
    """Everything that determines a metamer synthesis besides its image and model.

    Attributes
    ----------
    max_iter
        Maximum number of iterations.
    store_progress
        Store the metamer every this many iterations (0: only the final one).
    seed
        Seed of the initial noise.
    lr
        Learning rate.
    optimizer
        ``"adam"`` (with amsgrad) or ``"sgd"``.
    loss
        Representation loss: ``"mse"``, ``"l2_norm"`` or ``"relative_sse"``.
    penalty_lambda
        Weight of the pixel-range penalty.
    stop_criterion
        Stop when the loss changes less than this over ``stop_iters_to_check``.
    stop_iters_to_check
        Window of the stopping rule.
    device
        ``"cpu"``, ``"cuda"`` or ``"auto"``.
    dtype
        ``"float32"`` or ``"float64"``.

    """

    max_iter: int
    store_progress: int = 10
    seed: int = 0
    lr: float = 0.01
    optimizer: str = "adam"
    loss: str = "mse"
    penalty_lambda: float = 0.1
    stop_criterion: float = 0.0
    stop_iters_to_check: int = 50
    device: str = "auto"
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if self.max_iter < 1:
            raise PipelineError(f"max_iter must be at least 1, got {self.max_iter}")
        if self.store_progress < 0:
            raise PipelineError(
                f"store_progress must be >= 0, got {self.store_progress}"
            )
        if self.lr <= 0:
            raise PipelineError(f"lr must be positive, got {self.lr}")
        if self.optimizer not in OPTIMIZERS:
            raise PipelineError(
                f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}"
            )
        if self.loss not in LOSSES:
            raise PipelineError(
                f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}"
            )
        if self.penalty_lambda < 0:
            raise PipelineError(
                f"penalty_lambda must be >= 0, got {self.penalty_lambda}"
            )
        if self.dtype not in ("float32", "float64"):
            raise PipelineError(f"dtype must be float32 or float64, got {self.dtype!r}")


def _setup_arguments(settings: MetamerSettings, device: str) -> dict[str, Any]:
    import torch

    from ..synthesis.base import default_adam_kwargs

    if settings.optimizer == "adam":
        kwargs = default_adam_kwargs(settings.lr, device)
        return {"optimizer": torch.optim.Adam, "optimizer_kwargs": kwargs}
    return {"optimizer": torch.optim.SGD, "optimizer_kwargs": {"lr": settings.lr}}


def _write_array(group: Any, name: str, values: np.ndarray, dims: list[str]) -> None:
    array = group.create_array(
        name,
        shape=values.shape,
        chunks=values.shape or None,
        dtype=values.dtype,
        dimension_names=dims,
    )
    array[...] = values


def synthesize_metamer(
    image_store: str | Path,
    model_path: str | Path,
    out: str | Path,
    settings: MetamerSettings,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Run metamer synthesis and stream its whole history into a zarr store.

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
    import zarr

    from .. import loss as losses
    from ..synthesis.metamer import Metamer
    from ..tensors import set_seed

    device = resolve_device(settings.device)
    dtype = getattr(torch, settings.dtype)
    image, image_attrs = read_image_store(image_store)
    loaded = load_model(model_path, device=device)
    model = loaded.model.to(dtype)
    image = image.to(device=device, dtype=dtype)
    set_seed(settings.seed)
    metamer = Metamer(
        image,
        model,
        loss_function=getattr(losses, settings.loss),
        penalty_lambda=settings.penalty_lambda,
    )
    metamer.setup(**_setup_arguments(settings, device))
    initial = metamer.metamer.detach().clone()
    started = time.perf_counter()
    with atomic_output(out, overwrite=overwrite) as temporary:
        group = zarr.open_group(str(temporary), mode="w-")
        write_attrs(
            temporary,
            {
                "pipeline_store": "metamer",
                "schema_version": SCHEMA_VERSION,
                "complete": False,
            },
        )
        writer = HistoryWriter(temporary, "saved_metamer")
        metamer.synthesize(
            settings.max_iter,
            store_progress=settings.store_progress,
            stop_criterion=settings.stop_criterion,
            stop_iters_to_check=settings.stop_iters_to_check,
            on_iteration=writer,
            keep_history=False,
            progress=progress,
        )
        n_iterations = writer.finalize(metamer.current_values, metamer.metamer)
        wall_time = time.perf_counter() - started
        dims = ["batch", "channel", "y", "x"]
        _write_array(group, "image", image.cpu().numpy(), dims)
        _write_array(group, "initial_image", initial.cpu().numpy(), dims)
        _write_array(group, "metamer", metamer.metamer.detach().cpu().numpy(), dims)
        with torch.no_grad():
            final_representation = model(metamer.metamer)
        target = metamer.target_representation
        batch = target.shape[0]
        for name, values in (
            ("target_representation", target),
            ("metamer_representation", final_representation),
        ):
            flat = values.detach().reshape(batch, -1).cpu().numpy()
            _write_array(group, name, flat, ["batch", "representation"])
        write_attrs(
            temporary,
            {
                "method": "metamer",
                "image_name": image_attrs.get("name", Path(image_store).stem),
                "image_source": image_attrs.get("source", ""),
                "model_name": Path(model_path).stem,
                "model_class": loaded.class_path,
                "model_kwargs": json.dumps(loaded.kwargs, sort_keys=True),
                "model_fingerprint": loaded.fingerprint,
                "parameters": dataclasses.asdict(settings),
                "representation_shape": list(target.shape[1:]),
                "n_iterations": n_iterations,
                "stop_reason": "max_iter"
                if n_iterations >= settings.max_iter
                else "converged",
                "wall_time_s": wall_time,
                "dtype": settings.dtype,
                **provenance(device),
                "complete": True,
            },
        )
        consolidate(temporary)
    return Path(out)
