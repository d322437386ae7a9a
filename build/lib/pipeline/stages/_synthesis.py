"""What every optimized-synthesis stage shares: settings, and streaming into a store.

A stage builds its synthesis object (metamer, MAD competition...) and hands it to
:func:`run_streamed`, which runs it with every iteration streamed into a zarr store
that appears under its final name only once complete.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import PipelineError
from ..faults import fault_point
from ..store.atomic import OutputExistsError, atomic_output
from ..store.history import HistoryWriter
from ..store.schema import SCHEMA_VERSION, consolidate, write_attrs
from ._checkpoint import Checkpoint, CheckpointPolicy, run_identity
from ._runtime import provenance

if TYPE_CHECKING:
    import torch
    import zarr
    from torch import Tensor

    from ..synthesis.base import OptimizedSynthesis

__all__ = [
    "OPTIMIZERS",
    "OptimizationSettings",
    "run_resumably",
    "run_streamed",
    "write_array",
    "write_store",
]

OPTIMIZERS = ("adam", "sgd", "lbfgs")
# L-BFGS as recommended for Portilla-Simoncelli texture metamers
LBFGS_KWARGS = {"max_iter": 10, "history_size": 100, "line_search_fn": "strong_wolfe"}
IMAGE_DIMS = ["batch", "channel", "y", "x"]


@dataclass(frozen=True)
class OptimizationSettings:
    """Settings every optimized synthesis shares.

    Attributes
    ----------
    max_iter
        Maximum number of iterations.
    store_progress
        Store the synthesized image every this many iterations (0: only the final).
    seed
        Seed of the random generators (initial noise...).
    lr
        Learning rate.
    optimizer
        ``"adam"`` (with amsgrad), ``"sgd"`` or ``"lbfgs"`` (10 steps with a
        strong-Wolfe line search per iteration; use ``lr`` 1).
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
    penalty_lambda: float = 0.1
    stop_criterion: float = 0.0
    stop_iters_to_check: int = 50
    device: str = "auto"
    dtype: str = "float32"

    def __post_init__(self) -> None:
        checks = [
            (self.max_iter >= 1, f"max_iter must be at least 1, got {self.max_iter}"),
            (
                self.store_progress >= 0,
                f"store_progress must be >= 0, got {self.store_progress}",
            ),
            (self.lr > 0, f"lr must be positive, got {self.lr}"),
            (
                self.optimizer in OPTIMIZERS,
                f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}",
            ),
            (
                self.penalty_lambda >= 0,
                f"penalty_lambda must be >= 0, got {self.penalty_lambda}",
            ),
            (
                self.dtype in ("float32", "float64"),
                f"dtype must be float32 or float64, got {self.dtype!r}",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise PipelineError(message)

    def setup_arguments(self, device: str) -> dict[str, Any]:
        """Arguments of ``setup()`` for the optimizer these settings name.

        Parameters
        ----------
        device
            Device of the synthesis.

        Returns
        -------
        arguments
            ``optimizer`` and ``optimizer_kwargs``.

        """
        import torch

        from ..synthesis.base import default_adam_kwargs

        if self.optimizer == "adam":
            kwargs = default_adam_kwargs(self.lr, device)
            return {"optimizer": torch.optim.Adam, "optimizer_kwargs": kwargs}
        if self.optimizer == "lbfgs":
            kwargs = {"lr": self.lr, **LBFGS_KWARGS}
            return {"optimizer": torch.optim.LBFGS, "optimizer_kwargs": kwargs}
        return {"optimizer": torch.optim.SGD, "optimizer_kwargs": {"lr": self.lr}}

    @property
    def torch_dtype(self) -> torch.dtype:
        """The torch dtype these settings name."""
        import torch

        return getattr(torch, self.dtype)


def write_array(
    group: zarr.Group, name: str, values: np.ndarray, dims: list[str]
) -> None:
    """Write one whole array (a single chunk) into a zarr group.

    Parameters
    ----------
    group
        The open group.
    name
        Array name.
    values
        The values.
    dims
        Dimension names.

    """
    array = group.create_array(
        name,
        shape=values.shape,
        chunks=values.shape or None,
        dtype=values.dtype,
        dimension_names=dims,
    )
    array[...] = values


def run_streamed(
    synthesis: OptimizedSynthesis,
    out: str | Path,
    kind: str,
    settings: OptimizationSettings,
    device: str,
    attrs: dict[str, Any],
    *,
    setup: Callable[[], None],
    inputs: Sequence[str | Path],
    code: str,
    checkpoints: CheckpointPolicy | None = None,
    finish: Callable[[zarr.Group], dict[str, Any]] | None = None,
    overwrite: bool = False,
    progress: bool = True,
    value_dims: dict[str, tuple[str, ...]] | None = None,
    image_dims: tuple[list[str], list[str]] = (IMAGE_DIMS, IMAGE_DIMS),
    synthesize_options: dict[str, Any] | None = None,
) -> Path:
    """Run ``synthesis`` resumably and write its whole history into a new store.

    The synthesis resumes from its checkpoint when an earlier run of the same
    synthesis (same settings but ``max_iter``, inputs and code) was killed, and
    continues a finished one when ``max_iter`` grew (see
    :mod:`pipeline.stages._checkpoint`). The store gets the per-iteration values over
    ``iteration``, the synthesized image over ``saved_iteration``
    (``saved_<name>``), the target ``image``, the ``initial_image``, the final
    ``<name>``, and attributes with the settings, provenance and wall time. It is
    written under a temporary name and renamed only when complete.

    Parameters
    ----------
    synthesis
        Synthesis object, built but not set up, with an ``image``.
    out
        Store to create.
    kind
        Store kind (``pipeline_store`` attribute), e.g. ``"metamer"``.
    settings
        Settings the synthesis runs with (recorded as ``parameters``).
    device
        Device it runs on.
    attrs
        Method-specific attributes (image and model names...).
    setup
        Sets ``synthesis`` up for a fresh start (initial image, optimizer).
    inputs
        Files and stores the synthesis reads; a checkpoint of other inputs is not
        resumed.
    code
        Fingerprint of the stage's code; a checkpoint of other code is not resumed.
    checkpoints
        When to write checkpoints (default :class:`CheckpointPolicy`).
    finish
        Called with the open group after synthesis to write method-specific arrays;
        returns more attributes.
    overwrite
        Replace an existing store.
    progress
        Show a progress bar.
    value_dims
        Dimension names of non-scalar per-iteration values (after ``iteration``).
    image_dims
        Dimension names of the target ``image`` and of the synthesized image
        (default: batch, channel, y, x for both).
    synthesize_options
        Method-specific arguments of ``synthesize`` (e.g. coarse-to-fine ones).

    Returns
    -------
    out
        The written store.

    Raises
    ------
    PipelineError
        If the output exists (without ``overwrite``), or a checkpoint holds more
        iterations than ``max_iter``.

    """
    out = Path(out)
    if out.exists() and not overwrite:
        raise OutputExistsError(
            f"output {out} already exists: remove it or pass --overwrite"
        )
    identity = run_identity(synthesis, settings, device, inputs, code)
    with Checkpoint(out, identity, checkpoints or CheckpointPolicy()) as checkpoint:
        run_resumably(
            synthesis, checkpoint, settings, device, setup, progress, synthesize_options
        )
        write_store(
            out,
            checkpoint,
            synthesis,
            kind,
            settings,
            device,
            attrs,
            finish,
            overwrite=overwrite,
            value_dims=value_dims,
            image_dims=image_dims,
        )
        checkpoint.complete(out)
    return out


def run_resumably(
    synthesis: OptimizedSynthesis,
    checkpoint: Checkpoint,
    settings: OptimizationSettings,
    device: str,
    setup: Callable[[], None],
    progress: bool = True,
    synthesize_options: dict[str, Any] | None = None,
) -> None:
    """Run ``synthesis`` to ``max_iter``, from its checkpoint when there is one.

    Parameters
    ----------
    synthesis
        Built, not set up.
    checkpoint
        Its checkpoints (entered).
    settings
        Its settings.
    device
        Where it runs.
    setup
        Sets the synthesis up for a fresh start.
    progress
        Show a progress bar.
    synthesize_options
        Method-specific arguments of ``synthesize``.

    Raises
    ------
    PipelineError
        If the checkpoint holds more iterations than ``max_iter``.

    """
    state = checkpoint.load()
    if state is None:
        setup()
        checkpoint.begin(synthesis, synthesis.synthesized_image)
        stop_reason = None
    else:
        checkpoint.resume(synthesis)
        synthesis.setup(optimizer=settings.setup_arguments(device)["optimizer"])
        stop_reason = state["stop_reason"] if state["finished"] else None
    remaining = settings.max_iter - synthesis.n_iterations
    if remaining < 0:
        raise PipelineError(
            f"{checkpoint.directory} holds {synthesis.n_iterations} iterations, more "
            f"than max_iter {settings.max_iter}: raise max_iter, or pass --restart to "
            "start over with fewer"
        )
    if remaining > 0 and stop_reason != "converged":
        synthesis.synthesize(
            remaining,
            store_progress=settings.store_progress,
            stop_criterion=settings.stop_criterion,
            stop_iters_to_check=settings.stop_iters_to_check,
            on_iteration=checkpoint,
            keep_history=False,
            progress=progress,
            **(synthesize_options or {}),
        )
        done = synthesis.n_iterations >= settings.max_iter
        checkpoint.write(finished=True, stop_reason="max_iter" if done else "converged")
    elif not state or not state["finished"]:  # killed after its last iteration
        synthesis.refresh_current_values()
        checkpoint.write(finished=True, stop_reason="max_iter")


def _select(values: dict[str, Tensor], item: int | None) -> dict[str, Tensor]:
    """Return the values of one image of a batch (None: all, as they are)."""
    if item is None:
        return values
    # per-image values have the batch first; batch-wide scalars belong to no store
    return {k: v[item] for k, v in values.items() if v.ndim}


def write_store(
    out: Path,
    checkpoint: Checkpoint,
    synthesis: OptimizedSynthesis,
    kind: str,
    settings: OptimizationSettings,
    device: str,
    attrs: dict[str, Any],
    finish: Callable[[zarr.Group], dict[str, Any]] | None = None,
    *,
    item: int | None = None,
    overwrite: bool = False,
    value_dims: dict[str, tuple[str, ...]] | None = None,
    image_dims: tuple[list[str], list[str]] = (IMAGE_DIMS, IMAGE_DIMS),
) -> None:
    """Write the store of a finished synthesis from its checkpointed history.

    Parameters
    ----------
    out
        The store; it appears under this name only once complete.
    checkpoint
        The synthesis's checkpoints (its whole history).
    synthesis
        The finished synthesis.
    kind
        Store kind (``pipeline_store`` attribute).
    settings, device, attrs
        Recorded as attributes.
    finish
        Called with the open group to write method-specific arrays; returns more
        attributes.
    item
        For a batch of independent syntheses (:class:`~pipeline.synthesis.MetamerBatch`),
        the image whose store this is; ``None`` for a single synthesis.
    overwrite
        Replace an existing store.
    value_dims
        Dimension names of non-scalar per-iteration values (after ``iteration``).
    image_dims
        Dimension names of the target ``image`` and of the synthesized image.

    """
    import zarr

    from ..synthesis.base import IterationRecord

    part = slice(None) if item is None else slice(item, item + 1)
    name = synthesis.synthesized_name
    with atomic_output(out, overwrite=overwrite) as temporary:
        group = zarr.open_group(str(temporary), mode="w-")
        write_attrs(
            temporary,
            {
                "pipeline_store": kind,
                "schema_version": SCHEMA_VERSION,
                "complete": False,
            },
        )
        target_dims, synthesized_dims = image_dims
        writer = HistoryWriter(
            temporary, f"saved_{name}", tuple(synthesized_dims), value_dims=value_dims
        )
        for record in checkpoint.history(f"saved_{name}"):
            image = None if record.image is None else record.image[part]
            writer(
                IterationRecord(record.iteration, _select(record.values, item), image)
            )
            if record.iteration % 64 == 0:
                fault_point("store")
        final = synthesis.synthesized_image.detach()[part]
        n_iterations = writer.finalize(_select(synthesis.current_values, item), final)
        image = synthesis.image[part].cpu().numpy()
        write_array(group, "image", image, target_dims)
        initial = checkpoint.initial[part].numpy()
        write_array(group, "initial_image", initial, synthesized_dims)
        write_array(group, name, final.cpu().numpy(), synthesized_dims)
        more = finish(group) if finish is not None else {}
        write_attrs(
            temporary,
            {
                "method": kind,
                **attrs,
                **more,
                "parameters": dataclasses.asdict(settings),
                "n_iterations": n_iterations,
                "stop_reason": checkpoint.state["stop_reason"],
                "wall_time_s": checkpoint.elapsed,
                **provenance(device),
                "complete": True,
            },
        )
        consolidate(temporary)
        fault_point("rename")
