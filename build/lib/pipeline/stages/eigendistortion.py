"""Eigendistortions of an image store under a model artifact, into a store."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import PipelineError
from ..faults import fault_point
from ..fingerprint import code_fingerprint
from ..store.atomic import OutputExistsError, atomic_output
from ..store.history import HistoryWriter
from ..store.schema import SCHEMA_VERSION, consolidate, read_image_store, write_attrs
from ._checkpoint import Checkpoint, CheckpointPolicy, run_identity
from ._runtime import provenance, resolve_device
from ._synthesis import IMAGE_DIMS, write_array
from .models import load_model

__all__ = ["METHODS", "EigendistortionSettings", "synthesize_eigendistortion"]

METHODS = ("exact", "power", "randomized_svd")
PHASES = {"top": 0, "bottom": 1}


@dataclass(frozen=True)
class EigendistortionSettings:
    """Settings of an eigendistortion synthesis.

    Attributes
    ----------
    method
        ``"exact"``, ``"power"`` or ``"randomized_svd"``.
    k
        Eigendistortions per end (power) or in all (randomized SVD).
    max_iter
        Maximum power iterations per end.
    p, q
        Oversampling and power iterations of randomized SVD.
    stop_criterion
        Power method convergence threshold on the eigenvalue change.
    seed
        Seed of the random starting vectors.
    device
        ``"cpu"``, ``"cuda"`` or ``"auto"``.
    dtype
        ``"float32"`` or ``"float64"``.

    """

    method: str = "power"
    k: int = 1
    max_iter: int = 1000
    p: int = 5
    q: int = 2
    stop_criterion: float = 1e-7
    seed: int = 0
    device: str = "auto"
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise PipelineError(
                f"method must be one of {', '.join(METHODS)}, got {self.method!r}"
            )
        if self.k < 1 or self.max_iter < 1 or self.p < 0 or self.q < 0:
            raise PipelineError("k and max_iter must be >= 1, p and q >= 0")
        if self.dtype not in ("float32", "float64"):
            raise PipelineError(f"dtype must be float32 or float64, got {self.dtype!r}")


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

    The store holds ``eigendistortions`` over (``eigenindex``, channel, y, x),
    ``eigenvalues`` over ``eigenindex`` (its coordinate is each one's rank), the
    ``image``; for the power method ``eigenvalue_estimates`` (``iteration``,
    ``estimate``), ``eigenvalue_change`` and ``phase`` (0 top, 1 bottom) over
    ``iteration``, streamed while it runs.

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
    import zarr

    from ..synthesis.base import IterationRecord
    from ..synthesis.eigendistortion import Eigendistortion, PowerRecord
    from ..tensors import set_seed

    if Path(out).exists() and not overwrite:
        raise OutputExistsError(
            f"output {out} already exists: remove it or pass --overwrite"
        )
    device = resolve_device(settings.device)
    dtype = getattr(torch, settings.dtype)
    image, image_attrs = read_image_store(image_store)
    if image.shape[0] != 1:
        raise PipelineError(f"{image_store} holds {image.shape[0]} images; use one")
    loaded = load_model(model_path, device=device)
    model = loaded.model.to(dtype)
    image = image.to(device=device, dtype=dtype)
    set_seed(settings.seed)
    eig = Eigendistortion(image, model)
    code = code_fingerprint(
        "pipeline.stages.eigendistortion:synthesize_eigendistortion"
    )
    # max_iter counts: a larger one reruns both phases rather than extending
    identity = run_identity(
        eig, settings, device, [image_store, model_path], code, extendable=False
    )
    checkpoint = Checkpoint(out, identity, checkpoints or CheckpointPolicy())
    with checkpoint:
        if checkpoint.load() is None:
            checkpoint.begin(eig, image)
        else:
            checkpoint.resume(eig)

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
        with atomic_output(out, overwrite=overwrite) as temporary:
            group = zarr.open_group(str(temporary), mode="w-")
            write_attrs(
                temporary,
                {
                    "pipeline_store": "eigendistortion",
                    "schema_version": SCHEMA_VERSION,
                    "complete": False,
                },
            )
            writer = HistoryWriter(
                temporary, value_dims={"eigenvalue_estimates": ("estimate",)}
            )
            for power in checkpoint.history(""):
                writer(power)
            n_iterations = writer.close()
            write_array(group, "image", image.cpu().numpy(), IMAGE_DIMS)
            write_array(
                group,
                "eigendistortions",
                eig.eigendistortions.cpu().numpy(),
                ["eigenindex", "channel", "y", "x"],
            )
            write_array(
                group, "eigenvalues", eig.eigenvalues.cpu().numpy(), ["eigenindex"]
            )
            write_array(
                group, "eigenindex", eig.eigenindex.cpu().numpy(), ["eigenindex"]
            )
            write_attrs(
                temporary,
                {
                    "method": "eigendistortion",
                    "image_name": image_attrs.get("name", Path(image_store).stem),
                    "model_name": Path(model_path).stem,
                    "model_class": loaded.class_path,
                    "model_kwargs": json.dumps(loaded.kwargs, sort_keys=True),
                    "model_fingerprint": loaded.fingerprint,
                    "parameters": dataclasses.asdict(settings),
                    "n_iterations": n_iterations,
                    "wall_time_s": checkpoint.elapsed,
                    **provenance(device),
                    "complete": True,
                },
            )
            consolidate(temporary)
            fault_point("rename")
        checkpoint.discard()  # nothing to extend: a larger max_iter reruns both phases
    return Path(out)
