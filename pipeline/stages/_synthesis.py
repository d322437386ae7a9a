"""The steps every synthesis stage takes, in order, after building its synthesis.

A stage reads top to bottom: its settings build the synthesis, then

1. resume state: a :class:`~pipeline.stages._checkpoint.Checkpoint` restores the
   synthesis or :func:`start` sets it up fresh;
2. synthesis loop: :func:`run_synthesis` runs it to ``max_iter``, checkpointing;
3. store: :func:`write_store` writes its whole history and results into a store
   that appears under its final name only once complete and matching its layout
   (:mod:`pipeline.store.layout`), and the checkpoint is retired.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import PipelineError
from ..faults import fault_point
from ..store.atomic import atomic_output
from ..store.history import HistoryWriter
from ..store.layout import LAYOUTS, SCHEMA_VERSION
from ..store.schema import consolidate, write_attrs
from ._runtime import provenance

if TYPE_CHECKING:
    from torch import Tensor

    from ..synthesis.base import OptimizedSynthesis
    from ._checkpoint import Checkpoint
    from .settings import OptimizationSettings, RunSettings

__all__ = ["run_synthesis", "start", "write_store"]


def start(
    synthesis: OptimizedSynthesis,
    checkpoint: Checkpoint,
    settings: OptimizationSettings,
    device: str,
    *initial: Tensor,
) -> None:
    """Restore ``synthesis`` from its checkpoint, or set it up to start afresh.

    Parameters
    ----------
    synthesis
        Built, not set up.
    checkpoint
        Its checkpoints (entered).
    settings
        Its settings (the optimizer).
    device
        Where it runs.
    *initial
        The first argument of its ``setup()`` for a fresh start (initial image),
        if it takes one.

    """
    arguments = settings.setup_arguments(device)
    if checkpoint.restore(synthesis):
        synthesis.setup(optimizer=arguments["optimizer"])
    else:
        synthesis.setup(*initial, **arguments)
        checkpoint.begin(synthesis, synthesis.synthesized_image)


def run_synthesis(
    synthesis: OptimizedSynthesis,
    checkpoint: Checkpoint,
    settings: OptimizationSettings,
    progress: bool = True,
    options: dict[str, Any] | None = None,
) -> None:
    """Run ``synthesis`` on to ``max_iter``, checkpointing as it goes.

    A synthesis restored from a checkpoint continues where it stopped; one that
    had converged, or had run ``max_iter`` iterations, runs no more.

    Parameters
    ----------
    synthesis
        Set up (see :func:`start`).
    checkpoint
        Its checkpoints.
    settings
        Its settings.
    progress
        Show a progress bar.
    options
        Method-specific arguments of ``synthesize`` (e.g. coarse-to-fine ones).

    Raises
    ------
    PipelineError
        If the checkpoint holds more iterations than ``max_iter``.

    """
    assert checkpoint.state is not None
    remaining = settings.max_iter - synthesis.n_iterations
    if remaining < 0:
        raise PipelineError(
            f"{checkpoint.directory} holds {synthesis.n_iterations} iterations, more "
            f"than max_iter {settings.max_iter}: raise max_iter, or pass --restart to "
            "start over with fewer"
        )
    finished = checkpoint.state["finished"]
    converged = finished and checkpoint.state["stop_reason"] == "converged"
    if remaining > 0 and not converged:
        synthesis.synthesize(
            remaining,
            store_progress=settings.store_progress,
            stop_criterion=settings.stop_criterion,
            stop_iters_to_check=settings.stop_iters_to_check,
            on_iteration=checkpoint,
            keep_history=False,
            progress=progress,
            **(options or {}),
        )
        done = synthesis.n_iterations >= settings.max_iter
        checkpoint.write(finished=True, stop_reason="max_iter" if done else "converged")
    elif not finished:  # killed after its last iteration
        synthesis.refresh_current_values()
        checkpoint.write(finished=True, stop_reason="max_iter")


def _select(values: dict[str, Tensor], item: int | None) -> dict[str, Tensor]:
    """Return the values of one image of a batch (None: all, as they are)."""
    if item is None:
        return values
    # per-image values have the batch first; batch-wide scalars belong to no store
    return {k: v[item] for k, v in values.items() if v.ndim}


def write_store(
    out: str | Path,
    kind: str,
    checkpoint: Checkpoint,
    settings: RunSettings,
    device: str,
    arrays: dict[str, np.ndarray],
    attrs: dict[str, Any],
    *,
    synthesis: OptimizedSynthesis | None = None,
    item: int | None = None,
    overwrite: bool = False,
) -> None:
    """Write the store of a finished synthesis from its checkpointed history.

    The store gets every iteration's values over ``iteration`` and the images
    stored along the way over ``saved_iteration``, ``arrays``, and the attributes
    every synthesis store has (settings, iterations, stop reason, wall time,
    ``resumed_at``, provenance) with ``attrs``; each named and shaped as the
    layout of ``kind`` declares. It is written under a temporary name and appears
    under ``out`` only once complete.

    Parameters
    ----------
    out
        The store.
    kind
        Its kind (a key of :data:`pipeline.store.layout.LAYOUTS`).
    checkpoint
        The synthesis's checkpoints (its whole history).
    settings, device
        Recorded as attributes.
    arrays
        The method's results, by variable name.
    attrs
        The method's attributes (image and model names...).
    synthesis
        A finished optimized synthesis: its final state ends the history, and its
        target, start and result become ``image``, ``initial_image`` and the
        synthesized image. ``None`` for a history without a final state.
    item
        For a batch of independent syntheses
        (:class:`~pipeline.synthesis.MetamerBatch`), the image whose store this is.
    overwrite
        Replace an existing store.

    Raises
    ------
    RuntimeError
        If what was written does not match the layout (a bug: nothing appears).

    """
    import zarr

    from ..synthesis.base import IterationRecord

    layout = LAYOUTS[kind]
    part = slice(None) if item is None else slice(item, item + 1)
    saved = None if layout.synthesized is None else f"saved_{layout.synthesized}"
    if synthesis is not None:
        arrays = {
            "image": synthesis.image[part].cpu().numpy(),
            "initial_image": checkpoint.initial[part].numpy(),
            layout.synthesized: synthesis.synthesized_image.detach()[part]
            .cpu()
            .numpy(),
            **arrays,
        }
    with atomic_output(out, overwrite=overwrite) as temporary:
        group = zarr.open_group(str(temporary), mode="w-")
        marker = {"pipeline_store": kind, "schema_version": SCHEMA_VERSION}
        write_attrs(temporary, {**marker, "complete": False})
        writer = HistoryWriter(
            temporary,
            saved,
            layout.dims(saved)[1:] if saved else (),
            value_dims=layout.history_dims(),
        )
        for record in checkpoint.history(saved or ""):
            image = None if record.image is None else record.image[part]
            writer(
                IterationRecord(record.iteration, _select(record.values, item), image)
            )
            if record.iteration % 64 == 0:
                fault_point("store")
        if synthesis is None:
            n_iterations = writer.close()
        else:
            final = synthesis.synthesized_image.detach()[part]
            n_iterations = writer.finalize(
                _select(synthesis.current_values, item), final
            )
        for name, values in arrays.items():
            array = group.create_array(
                name,
                shape=values.shape,
                chunks=values.shape or None,
                dtype=values.dtype,
                dimension_names=list(layout.dims(name)),
            )
            array[...] = values
        stop_reason = checkpoint.state["stop_reason"]
        write_attrs(
            temporary,
            {
                "method": kind,
                **attrs,
                "parameters": dataclasses.asdict(settings),
                "n_iterations": n_iterations,
                **({} if stop_reason is None else {"stop_reason": stop_reason}),
                "wall_time_s": checkpoint.elapsed,
                "resumed_at": checkpoint.resumed_at,
                **provenance(device),
                "complete": True,
            },
        )
        written = zarr.open_group(str(temporary), mode="r")
        problems = layout.problems(
            {name: a.metadata.dimension_names for name, a in written.arrays()},
            written.attrs,
        )
        if problems:
            raise RuntimeError(
                f"the {kind} store written does not match its layout: "
                f"{'; '.join(problems)} (see pipeline.store.layout)"
            )
        consolidate(temporary)
        fault_point("rename")
