"""Synthesize a metamer of an image store under a model artifact, into a store."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import PipelineError
from ..fingerprint import code_fingerprint
from ..store.atomic import refuse_existing
from ..store.schema import read_image_store
from ._checkpoint import Checkpoint, CheckpointPolicy, run_identity
from ._runtime import resolve_device
from ._synthesis import run_synthesis, start, write_store
from .models import load_model
from .settings import MetamerSettings

if TYPE_CHECKING:
    import numpy as np
    import torch

    from ..synthesis.metamer import Metamer

__all__ = ["synthesize_metamer", "synthesize_metamer_batch"]


def synthesize_metamer(
    image_store: str | Path,
    model_path: str | Path,
    out: str | Path,
    settings: MetamerSettings,
    overwrite: bool = False,
    progress: bool = True,
    checkpoints: CheckpointPolicy | None = None,
) -> Path:
    """Run metamer synthesis, resumably, and write its whole history into a store.

    The store is laid out as ``LAYOUTS["metamer"]`` of :mod:`pipeline.store.layout`
    declares: the history, the target and final representations (flattened), and
    for a coarse-to-fine metamer each iteration's scale and scale loss.

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
    checkpoints
        When to write the checkpoints a killed run resumes from.

    Returns
    -------
    out
        The written store.

    Raises
    ------
    PipelineError
        If the model can't do what the settings ask (coarse-to-fine, the
        Portilla-Simoncelli loss).

    """
    from ..tensors import set_seed

    # settings: the inputs, and the synthesis they define
    refuse_existing([out], overwrite)
    device = resolve_device(settings.device)
    image, image_attrs = read_image_store(image_store)
    loaded = load_model(model_path, device=device)
    model = loaded.model.to(settings.torch_dtype)
    image = image.to(device=device, dtype=settings.torch_dtype)
    set_seed(settings.seed)
    initial = _initial_image(image, settings)
    metamer = _metamer(image, model, settings, Path(model_path).stem)
    code = code_fingerprint("pipeline.stages.metamer:synthesize_metamer")
    identity = run_identity(metamer, settings, device, [image_store, model_path], code)
    with Checkpoint(out, identity, checkpoints or CheckpointPolicy()) as checkpoint:
        # resume state
        start(metamer, checkpoint, settings, device, initial)
        # synthesis loop
        run_synthesis(
            metamer, checkpoint, settings, progress, settings.synthesize_options()
        )
        # store
        arrays, results = _results(model, metamer, slice(None), settings)
        attrs = _store_attrs(image_store, image_attrs, model_path, loaded, settings)
        write_store(
            out,
            "metamer",
            checkpoint,
            settings,
            device,
            arrays,
            {**attrs, **results},
            synthesis=metamer,
            overwrite=overwrite,
        )
        checkpoint.complete(out)
    return Path(out)


def synthesize_metamer_batch(
    image_stores: Sequence[str | Path],
    model_path: str | Path,
    outs: Sequence[str | Path],
    settings: MetamerSettings,
    overwrite: bool = False,
    progress: bool = True,
    checkpoints: CheckpointPolicy | None = None,
) -> list[Path]:
    """Synthesize metamers of several images under one model as one batch.

    Each store is what :func:`synthesize_metamer` writes for its image (equal to
    float precision: the model sees a batch), from one synthesis
    (:class:`~pipeline.synthesis.MetamerBatch`): many small syntheses run several
    times faster together. The batch resumes from its checkpoint after a kill.

    Parameters
    ----------
    image_stores
        One image store per metamer (one image each, all the same size).
    model_path
        Model artifact.
    outs
        One store to create per image.
    settings
        Synthesis settings, shared by all (plain metamers, ``stop_criterion`` 0).
    overwrite
        Replace existing stores.
    progress
        Show a progress bar.
    checkpoints
        When to write the checkpoints a killed run resumes from.

    Returns
    -------
    outs
        The written stores.

    Raises
    ------
    PipelineError
        For settings a batch can't share (coarse to fine, the PS loss, a stopping
        rule), or images that can't be batched.

    """
    import torch

    from .. import loss as losses
    from ..synthesis.metamer_batch import MetamerBatch
    from ..tensors import set_seed

    # settings: the inputs, and the synthesis they define
    outs = [Path(out) for out in outs]
    if not image_stores or len(image_stores) != len(outs):
        raise PipelineError("give one output store per image store (and at least one)")
    settings.check_batchable()
    refuse_existing(outs, overwrite)
    device = resolve_device(settings.device)
    loaded = load_model(model_path, device=device)
    model = loaded.model.to(settings.torch_dtype)
    images, image_attrs = zip(*(read_image_store(s) for s in image_stores), strict=True)
    if any(i.shape != images[0].shape or i.shape[0] != 1 for i in images):
        raise PipelineError(
            "batched image stores must hold one image each, all of the same size"
        )
    batch = torch.cat(images).to(device=device, dtype=settings.torch_dtype)
    set_seed(settings.seed)
    initial = _initial_image(batch, settings)
    metamers = MetamerBatch(
        batch,
        model,
        loss_function=getattr(losses, settings.loss),
        penalty_lambda=settings.penalty_lambda,
    )
    code = code_fingerprint("pipeline.stages.metamer:synthesize_metamer_batch")
    inputs = [*image_stores, model_path]
    identity = run_identity(metamers, settings, device, inputs, code)
    # the checkpoints of the batch live beside its first store
    with Checkpoint(outs[0], identity, checkpoints or CheckpointPolicy()) as checkpoint:
        # resume state
        start(metamers, checkpoint, settings, device, initial)
        # synthesis loop
        run_synthesis(metamers, checkpoint, settings, progress)
        # stores: one per image
        for item, (store, attrs, out) in enumerate(
            zip(image_stores, image_attrs, outs, strict=True)
        ):
            arrays, results = _results(model, metamers, slice(item, item + 1), settings)
            attrs = _store_attrs(store, attrs, model_path, loaded, settings)
            write_store(
                out,
                "metamer",
                checkpoint,
                settings,
                device,
                arrays,
                {**attrs, **results},
                synthesis=metamers,
                item=item,
                overwrite=overwrite,
            )
        checkpoint.discard()  # several stores: nothing single to extend
    return outs


def _initial_image(images: torch.Tensor, settings: MetamerSettings) -> torch.Tensor:
    """Each image's start, drawn first from the seeded generator.

    Every image starts from the same draw, the one a run of that image alone makes,
    so a batch starts where separate runs do.
    """
    import torch

    shape = (1, *images.shape[1:])
    noise = torch.rand(shape, dtype=images.dtype, device=images.device)
    noise = noise.expand_as(images).clone()
    if settings.initial_noise is None:
        return noise
    mean = images.mean(dim=(-2, -1), keepdim=True)
    return mean + settings.initial_noise * (noise - 0.5)


def _store_attrs(
    image_store: str | Path,
    image_attrs: dict[str, Any],
    model_path: str | Path,
    loaded: Any,
    settings: MetamerSettings,
) -> dict[str, Any]:
    """Return the attributes naming a metamer store's image, model and method."""
    return {
        "method": "metamer" if settings.coarse_to_fine is None else "metamer_ctf",
        "image_name": image_attrs.get("name", Path(image_store).stem),
        "image_source": image_attrs.get("source", ""),
        "model_name": Path(model_path).stem,
        "model_class": loaded.class_path,
        "model_kwargs": json.dumps(loaded.kwargs, sort_keys=True),
        "model_fingerprint": loaded.fingerprint,
        "dtype": settings.dtype,
    }


def _results(
    model: torch.nn.Module, metamer: Metamer, part: slice, settings: MetamerSettings
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Representations of the images ``part`` selects, as arrays and attributes."""
    import torch

    with torch.no_grad():
        final = model(metamer.metamer[part])
    target = metamer.target_representation[part]
    arrays = {
        name: values.detach().reshape(target.shape[0], -1).cpu().numpy()
        for name, values in (
            ("target_representation", target),
            ("metamer_representation", final),
        )
    }
    attrs: dict[str, Any] = {"representation_shape": list(target.shape[1:])}
    if hasattr(model, "convert_to_dict"):
        attrs["representation_error_by_group"] = _group_errors(model, final, target)
    if settings.coarse_to_fine is not None:
        attrs["scales"] = [str(scale) for scale in metamer.scale_schedule]
    return arrays, attrs


def _metamer(
    image: torch.Tensor, model: torch.nn.Module, settings: MetamerSettings, name: str
) -> Metamer:
    """Build the (coarse-to-fine) metamer the settings ask for, or say why not."""
    from .. import loss as losses
    from ..synthesis.metamer import Metamer
    from ..synthesis.metamer_ctf import MetamerCTF

    if settings.loss == "portilla_simoncelli":
        if not hasattr(model, "convert_to_dict"):
            raise PipelineError(
                f"loss portilla_simoncelli needs a PortillaSimoncelli model, but "
                f"model {name} is a {type(model).__name__}: choose another loss"
            )
        try:
            loss_function = losses.portilla_simoncelli_loss(
                model, settings.loss_weights
            )
        except (KeyError, ValueError) as error:
            raise PipelineError(f"loss weights: {error}") from error
    else:
        loss_function = getattr(losses, settings.loss)
    common = {"loss_function": loss_function, "penalty_lambda": settings.penalty_lambda}
    if settings.coarse_to_fine is None:
        return Metamer(image, model, **common)
    try:
        return MetamerCTF(
            image, model, coarse_to_fine=settings.coarse_to_fine, **common
        )
    except (AttributeError, TypeError, ValueError) as error:
        raise PipelineError(
            f"model {name}: {error}; run it without coarse-to-fine"
        ) from error


def _group_errors(
    model: torch.nn.Module, final: torch.Tensor, target: torch.Tensor
) -> dict[str, float | None]:
    """Relative L2 error of each statistic group (``None`` where the target is 0)."""
    import torch

    finals, targets = model.convert_to_dict(final), model.convert_to_dict(target)
    errors: dict[str, float | None] = {}
    for group, wanted in targets.items():
        wanted = torch.nan_to_num(wanted)  # unused (redundant) entries may be NaN
        got = torch.nan_to_num(finals[group])
        difference = torch.linalg.vector_norm(got - wanted).item()
        scale = torch.linalg.vector_norm(wanted).item()
        errors[group] = difference / scale if scale > 0 else None
    return errors
