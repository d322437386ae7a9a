"""Eigendistortions of an image store under a model artifact, into a store."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import PipelineError
from ..fingerprint import code_fingerprint
from ..store.atomic import refuse_existing
from ..store.schema import read_image_store
from ._checkpoint import Checkpoint, CheckpointPolicy, run_identity
from ._runtime import resolve_device
from ._synthesis import write_store
from .models import load_model
from .settings import EigendistortionSettings

__all__ = ["synthesize_eigendistortion"]

PHASES = {"top": 0, "bottom": 1}


def synthesize_eigendistortion(
    image_store: str | Path,
    model_path: str | Path,
    out: str | Path,
    settings: EigendistortionSettings,
    overwrite: bool = False,
    progress: bool = True,
    checkpoints: CheckpointPolicy | None = None,
) -> Path:
    """Compute eigendistortions and write them, with the power-method history.

    The power method is resumable: a killed run continues from its last checkpoint
    (see :mod:`pipeline.stages._checkpoint`).

    The store is laid out as ``LAYOUTS["eigendistortion"]`` of
    :mod:`pipeline.store.layout` declares: the eigendistortions and eigenvalues
    over ``eigenindex`` (each one's rank), and for the power method its estimates
    over the iterations (``phase`` 0 top, 1 bottom).

    Parameters
    ----------
    image_store
        Image store (one image).
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

    Raises
    ------
    PipelineError
        For bad settings, several images, or an image too large for ``exact``.

    """
    import torch

    from ..synthesis.base import IterationRecord
    from ..synthesis.eigendistortion import Eigendistortion, PowerRecord
    from ..tensors import set_seed

    # settings: the inputs, and the synthesis they define
    refuse_existing([out], overwrite)
    device = resolve_device(settings.device)
    image, image_attrs = read_image_store(image_store)
    if image.shape[0] != 1:
        raise PipelineError(f"{image_store} holds {image.shape[0]} images; use one")
    loaded = load_model(model_path, device=device)
    model = loaded.model.to(settings.torch_dtype)
    image = image.to(device=device, dtype=settings.torch_dtype)
    set_seed(settings.seed)
    eig = Eigendistortion(image, model)
    code = code_fingerprint(
        "pipeline.stages.eigendistortion:synthesize_eigendistortion"
    )
    # max_iter counts: a larger one reruns both phases rather than extending
    identity = run_identity(
        eig, settings, device, [image_store, model_path], code, extendable=False
    )
    with Checkpoint(out, identity, checkpoints or CheckpointPolicy()) as checkpoint:
        # resume state
        if not checkpoint.restore(eig):
            checkpoint.begin(eig, image)

        # synthesis loop (the power method's; the others are not iterative)
        def record(power: PowerRecord) -> None:
            values = {
                "eigenvalue_estimates": power.eigenvalues,
                "eigenvalue_change": power.change,
                "phase": torch.tensor(PHASES[power.phase], device=power.change.device),
            }
            checkpoint(IterationRecord(eig.n_iterations - 1, values, None))

        eig.synthesize(
            settings.method,
            k=settings.k,
            max_iter=settings.max_iter,
            p=settings.p,
            q=settings.q,
            stop_criterion=settings.stop_criterion,
            on_iteration=record,
            progress=progress,
        )
        checkpoint.write(finished=True)
        # store
        arrays = {
            "image": image.cpu().numpy(),
            **{
                name: getattr(eig, name).cpu().numpy()
                for name in ("eigendistortions", "eigenvalues", "eigenindex")
            },
        }
        attrs = {
            "method": "eigendistortion",
            "image_name": image_attrs.get("name", Path(image_store).stem),
            "model_name": Path(model_path).stem,
            "model_class": loaded.class_path,
            "model_kwargs": json.dumps(loaded.kwargs, sort_keys=True),
            "model_fingerprint": loaded.fingerprint,
        }
        write_store(
            out,
            "eigendistortion",
            checkpoint,
            settings,
            device,
            arrays,
            attrs,
            overwrite=overwrite,
        )
        checkpoint.discard()  # nothing to extend: a larger max_iter reruns both phases
    return Path(out)
