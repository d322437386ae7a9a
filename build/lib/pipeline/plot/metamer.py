"""Plots specific to metamer synthesis."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ._history import SynthesisHistory, as_history
from .display import plot_representation

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["metamer_representation_error", "plot_scale_loss"]


def _symmetric_limits(data: np.ndarray) -> tuple[float, float] | None:
    """Limits symmetric around 0 covering the finite values of ``data``."""
    finite = np.abs(data[np.isfinite(data)])
    if finite.size == 0 or finite.max() == 0:
        return None
    limit = float(finite.max())
    return (-limit, limit)


def _representation_error_data(
    history: SynthesisHistory, iteration: int, batch_idx: int
) -> np.ndarray:
    """Representation error of one batch entry (batch dim kept) at an iteration.

    ``iteration`` must already be resolved; the closest saved image is used without
    warning (callers warn once).
    """
    error = history.representation_error(iteration, warn=False)
    if error is None:
        _, saved_iteration = history.closest_saved(iteration, warn=False)
        if history.representation_error_fn is None:
            raise ValueError(
                "This synthesis has no representation error to plot: it has no model "
                "(or the store has no target_representation and "
                "metamer_representation)."
            )
        available = history.representation_iterations.tolist()
        raise ValueError(
            f"The representation error is not available at iteration "
            f"{saved_iteration}: this synthesis only has it at iteration(s) "
            f"{available} (a store keeps the model output of the final metamer "
            "only). Use iteration=None for the final iteration."
        )
    n_batch = error.shape[0]
    if not -n_batch <= batch_idx < n_batch:
        raise IndexError(
            f"batch_idx {batch_idx} is out of range for batch size {n_batch}"
        )
    return error[[batch_idx]]


def _draw_representation_error(
    history: SynthesisHistory,
    ax: Axes | None,
    iteration: int,
    batch_idx: int = 0,
    ylim: tuple[float, float] | Literal[False] | None = None,
    figsize: tuple[float, float] = (10, 5),
    title: str = "Representation error",
    **kwargs: Any,
) -> Figure:
    """Draw the representation error at a resolved iteration (no warning)."""
    data = _representation_error_data(history, iteration, batch_idx)
    if ylim is None:
        limits = _symmetric_limits(data)
    elif ylim is False:
        limits = None
    else:
        limits = (float(ylim[0]), float(ylim[1]))
    model = history.model
    plot_data: Any = data
    if model is not None and callable(getattr(model, "plot_representation", None)):
        import torch

        plot_data = torch.as_tensor(data)
    return plot_representation(
        model=model,
        data=plot_data,
        ax=ax,
        figsize=figsize,
        ylim=limits,
        title=title,
        **kwargs,
    )


def metamer_representation_error(
    synthesis: Any,
    batch_idx: int = 0,
    iteration: int | None = None,
    ax: Axes | None = None,
    figsize: tuple[float, float] = (10, 5),
    ylim: tuple[float, float] | Literal[False] | None = None,
    title: str = "Representation error",
    **kwargs: Any,
) -> Figure:
    """Plot the representation error of a metamer: ``model(metamer) - target``.

    The error is drawn with :func:`~pipeline.plot.plot_representation`: with the
    model's own method if it has one, as image panels if it looks image-like, else as
    a stem plot.

    Parameters
    ----------
    synthesis
        A :class:`pipeline.Metamer`, a metamer store opened as an
        :class:`xarray.Dataset`, or a :class:`~pipeline.plot.SynthesisHistory`.
    batch_idx
        Which batch entry to plot.
    iteration
        Which iteration to plot: None for the last, negative values count from the
        end; the closest saved image is used. A store only holds the error of the
        final iteration.
    ax
        Axes to draw in; if None, a new figure of size ``figsize``.
    figsize
        Size of the new figure when ``ax`` is None.
    ylim
        If None, limits symmetric around 0 reaching the largest absolute error; if
        False, matplotlib's own; else the (min, max) to use. For image panels this is
        their display range.
    title
        Title of the plot.
    **kwargs
        Passed to :func:`~pipeline.plot.plot_representation`.

    Returns
    -------
    fig
        The figure containing the plot.

    Raises
    ------
    ValueError
        If the error is not available at ``iteration`` (a store at any iteration
        but the last).

    Warns
    -----
    UserWarning
        If no image was saved at ``iteration`` and the closest saved one is used.

    """
    history = as_history(synthesis)
    resolved = history.resolve_iteration(iteration)
    history.closest_saved(resolved, warn=True)
    return _draw_representation_error(
        history,
        ax,
        resolved,
        batch_idx=batch_idx,
        ylim=ylim,
        figsize=figsize,
        title=title,
        **kwargs,
    )


def _scale_segments(synthesis: Any) -> tuple[np.ndarray, np.ndarray, list]:
    """Overall loss, scale loss and (scale, first, last iteration) segments."""
    import xarray as xr

    if isinstance(synthesis, str | os.PathLike):
        synthesis = xr.open_zarr(synthesis)
    if isinstance(synthesis, xr.Dataset):
        if "scale_loss" not in synthesis.variables:
            raise ValueError("This store has no scale_loss: it is not coarse-to-fine")
        losses = np.asarray(synthesis["loss"].values, dtype=float)
        scale_losses = np.asarray(synthesis["scale_loss"].values, dtype=float)
        names = list(synthesis.attrs["scales"])
        index = np.asarray(synthesis["scale"].values)
        starts = np.flatnonzero(np.r_[True, index[1:] != index[:-1]])
        stops = [*(starts[1:] - 1), len(index) - 1]
        segments = [
            (names[index[a]], int(a), int(b))
            for a, b in zip(starts, stops, strict=True)
        ]
        return losses, scale_losses, segments
    if not hasattr(synthesis, "scales_timing"):
        raise TypeError(
            f"expected a MetamerCTF or its store, got {type(synthesis).__name__}"
        )
    losses = np.asarray(synthesis.losses, dtype=float)
    scale_losses = np.asarray(synthesis.scales_loss, dtype=float)
    last = len(losses) - 1
    segments = [
        (str(scale), timing[0], timing[1] if len(timing) > 1 else last)
        for scale, timing in synthesis.scales_timing.items()
        if timing
    ]
    return losses, scale_losses, sorted(segments, key=lambda s: s[1])


def plot_scale_loss(synthesis: Any, ax: Axes | None = None) -> Figure:
    """Plot a coarse-to-fine synthesis's loss and its scale-specific loss.

    The scale-specific loss (what the optimizer minimized) is drawn in one color per
    scale, the loss on the whole representation in black, and dashed lines mark the
    iterations where synthesis moved to the next scale.

    Parameters
    ----------
    synthesis
        A :class:`pipeline.MetamerCTF` after ``synthesize``, or its store (opened
        dataset or path).
    ax
        Axes to draw in; a new figure when ``None``.

    Returns
    -------
    fig
        The figure.

    Raises
    ------
    ValueError
        If the store is not that of a coarse-to-fine synthesis.

    """
    import matplotlib.pyplot as plt

    losses, scale_losses, segments = _scale_segments(synthesis)
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    iterations = np.arange(len(losses))
    ax.semilogy(iterations, losses, color="black", lw=1, label="all scales")
    colors = plt.get_cmap("viridis")(np.linspace(0, 0.9, max(len(segments), 1)))
    for (scale, first, last), color in zip(segments, colors, strict=False):
        span = slice(first, last + 1)
        ax.semilogy(iterations[span], scale_losses[span], color=color, label=scale)
        if first > 0:
            ax.axvline(first - 0.5, color="gray", ls="--", lw=0.7)
    ax.set(xlabel="iteration", ylabel="loss", title="Coarse-to-fine losses")
    ax.legend(fontsize=7, title="optimized scale", title_fontsize=7)
    return ax.figure
