"""Synthesize a metamer of an image store under a model artifact, into a store."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import PipelineError
from ..fingerprint import code_fingerprint
from ..store.atomic import OutputExistsError
from ..store.schema import read_image_store
from ._checkpoint import Checkpoint, CheckpointPolicy, run_identity
from ._runtime import resolve_device
from ._synthesis import (
    OptimizationSettings,
    run_resumably,
    run_streamed,
    write_array,
    write_store,
)
from .models import load_model

if TYPE_CHECKING:
    import torch
    import zarr

    from ..synthesis.metamer import Metamer

__all__ = [
    "COARSE_TO_FINE",
    "LOSSES",
    "MetamerSettings",
    "synthesize_metamer",
    "synthesize_metamer_batch",
]

LOSSES = ("mse", "l2_norm", "relative_sse", "portilla_simoncelli")
COARSE_TO_FINE = ("together", "separate")


@dataclass(frozen=True)
class MetamerSettings(OptimizationSettings):
    """Settings of a metamer synthesis: the shared ones plus loss, start and scales.

    Attributes
    ----------
    loss
        Representation loss: ``"mse"``, ``"l2_norm"``, ``"relative_sse"`` or
        ``"portilla_simoncelli"`` (L2 norm with per-statistic-group weights, for
        :class:`pipeline.models.PortillaSimoncelli`).
    loss_weights
        Statistic group -> weight, for the ``portilla_simoncelli`` loss.
    initial_noise
        ``None``: start from uniform noise in [0, 1]. A number: start from the
        target's mean plus uniform noise of that width (the usual start for
        texture metamers).
    coarse_to_fine
        ``None`` for a plain metamer, else ``"together"`` or ``"separate"``
        (:class:`pipeline.MetamerCTF`).
    change_scale_criterion
        Coarse-to-fine: move to the next scale once the scale loss changes less
        than this over ``ctf_iters_to_check`` iterations (``None``: always after
        ``ctf_iters_to_check``).
    ctf_iters_to_check
        Coarse-to-fine: window of the scale-change rule.

    """

    loss: str = "mse"
    loss_weights: dict[str, float] = field(default_factory=dict)
    initial_noise: float | None = None
    coarse_to_fine: str | None = None
    change_scale_criterion: float | None = 0.01
    ctf_iters_to_check: int = 50

    def __post_init__(self) -> None:
        super().__post_init__()
        problems = [
            (
                self.loss in LOSSES,
                f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}",
            ),
            (
                not self.loss_weights or self.loss == "portilla_simoncelli",
                "loss weights only apply to the portilla_simoncelli loss",
            ),
            (
                all(
                    isinstance(w, int | float) and not isinstance(w, bool)
                    for w in self.loss_weights.values()
                ),
                f"loss weights must be numbers, got {self.loss_weights}",
            ),
            (
                self.initial_noise is None or self.initial_noise >= 0,
                f"initial_noise must be >= 0, got {self.initial_noise}",
            ),
            (
                self.coarse_to_fine in (None, *COARSE_TO_FINE),
                "coarse_to_fine must be together or separate, got "
                f"{self.coarse_to_fine!r}",
            ),
            (
                self.ctf_iters_to_check >= 1,
                f"ctf_iters_to_check must be >= 1, got {self.ctf_iters_to_check}",
            ),
            (
                self.coarse_to_fine is None
                or self.change_scale_criterion is None
                or self.stop_criterion < self.change_scale_criterion,
                f"stop_criterion ({self.stop_criterion}) must be below "
                f"change_scale_criterion ({self.change_scale_criterion})",
            ),
        ]
        for ok, message in problems:
            if not ok:
                raise PipelineError(message)

    def synthesize_options(self) -> dict[str, Any]:
        """Coarse-to-fine arguments of ``synthesize`` (none for a plain metamer).

        Returns
        -------
        options
            ``change_scale_criterion`` and ``ctf_iters_to_check``, or nothing.

        """
        if self.coarse_to_fine is None:
            return {}
        return {
            "change_scale_criterion": self.change_scale_criterion,
            "ctf_iters_to_check": self.ctf_iters_to_check,
        }


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

    Besides what every synthesis store holds, a metamer store has the flattened
    ``target_representation`` and ``metamer_representation`` (final) over
    (``batch``, ``representation``), and the ``representation_shape`` attribute.
    A coarse-to-fine metamer adds ``scale_loss`` and ``scale`` (an index into the
    ``scales`` attribute) over ``iteration``. For a model that groups its
    statistics (``convert_to_dict``, as Portilla-Simoncelli), the
    ``representation_error_by_group`` attribute holds each group's relative error.

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

    device = resolve_device(settings.device)
    image, image_attrs = read_image_store(image_store)
    loaded = load_model(model_path, device=device)
    model = loaded.model.to(settings.torch_dtype)
    image = image.to(device=device, dtype=settings.torch_dtype)
    set_seed(settings.seed)
    initial = _initial_image(image, settings)
    metamer = _metamer(image, model, settings, Path(model_path).stem)
    more = {} if settings.coarse_to_fine is None else {"scales": None}
    return run_streamed(
        metamer,
        out,
        "metamer",
        settings,
        device,
        _store_attrs(image_store, image_attrs, model_path, loaded, settings),
        setup=lambda: metamer.setup(initial, **settings.setup_arguments(device)),
        inputs=[image_store, model_path],
        code=code_fingerprint("pipeline.stages.metamer:synthesize_metamer"),
        checkpoints=checkpoints,
        finish=_finisher(model, metamer, slice(None), more),
        overwrite=overwrite,
        progress=progress,
        synthesize_options=settings.synthesize_options(),
    )


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

    outs = [Path(out) for out in outs]
    if not image_stores or len(image_stores) != len(outs):
        raise PipelineError("give one output store per image store (and at least one)")
    if settings.coarse_to_fine is not None or settings.loss == "portilla_simoncelli":
        raise PipelineError(
            "batched metamers are plain metamers: synthesize coarse-to-fine or "
            "texture metamers one by one"
        )
    if settings.stop_criterion > 0:
        raise PipelineError(
            "batched metamers need stop_criterion 0 (each would stop when the whole "
            "batch converged): run them one by one to use a stopping rule"
        )
    for out in outs:
        if out.exists() and not overwrite:
            raise OutputExistsError(
                f"output {out} already exists: remove it or pass --overwrite"
            )
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
    identity = run_identity(
        metamers, settings, device, [*image_stores, model_path], code
    )
    policy = checkpoints or CheckpointPolicy()
    with Checkpoint(outs[0], identity, policy) as checkpoint:
        run_resumably(
            metamers,
            checkpoint,
            settings,
            device,
            lambda: metamers.setup(initial, **settings.setup_arguments(device)),
            progress,
        )
        for item, (store, attrs, out) in enumerate(
            zip(image_stores, image_attrs, outs, strict=True)
        ):
            write_store(
                out,
                checkpoint,
                metamers,
                "metamer",
                settings,
                device,
                _store_attrs(store, attrs, model_path, loaded, settings),
                _finisher(model, metamers, slice(item, item + 1), {}),
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


def _finisher(
    model: torch.nn.Module, metamer: Metamer, part: slice, more: dict[str, Any]
) -> Callable[[zarr.Group], dict[str, Any]]:
    """Write the representations of the images ``part`` selects, into a store."""

    def finish(group: zarr.Group) -> dict[str, Any]:
        import torch

        with torch.no_grad():
            final = model(metamer.metamer[part])
        target = metamer.target_representation[part]
        for name, values in (
            ("target_representation", target),
            ("metamer_representation", final),
        ):
            flat = values.detach().reshape(target.shape[0], -1).cpu().numpy()
            write_array(group, name, flat, ["batch", "representation"])
        attrs: dict[str, Any] = {"representation_shape": list(target.shape[1:])}
        if hasattr(model, "convert_to_dict"):
            attrs["representation_error_by_group"] = _group_errors(model, final, target)
        if "scales" in more:
            attrs["scales"] = [str(scale) for scale in metamer.scale_schedule]
        return attrs

    return finish


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
