"""Figures of a geodesic: its frames beside the pixel fade, and how straight it is."""

from __future__ import annotations

import os
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure

__all__ = ["geodesic_sequence", "geodesic_step_energy", "plot_deviation_from_line"]


def _numpy(value: Any) -> np.ndarray:
    return (
        value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
    )


def _arrays(geodesic: Any) -> dict[str, np.ndarray]:
    """Sequence, pixel fade, step energies and deviations of an object or a store."""
    if isinstance(geodesic, str | os.PathLike):
        geodesic = xr.open_zarr(geodesic)
    names = ("sequence", "pixelfade", "step_energy", "dev_from_line")
    if isinstance(geodesic, xr.Dataset):
        return {name: geodesic[name].values for name in names}
    values = (
        geodesic.geodesic,
        geodesic.pixelfade,
        geodesic.step_energy,
        geodesic.dev_from_line,
    )
    return {name: _numpy(value) for name, value in zip(names, values, strict=True)}


def geodesic_sequence(geodesic: Any, zoom: float = 1.6) -> Figure:
    """Show the geodesic's frames (top row) above the pixel fade (bottom row).

    Parameters
    ----------
    geodesic
        A :class:`pipeline.Geodesic`, or a geodesic store (dataset or path).
    zoom
        Inches per frame.

    Returns
    -------
    fig
        The figure.

    """
    arrays = _arrays(geodesic)
    rows = {"geodesic": arrays["sequence"], "pixel fade": arrays["pixelfade"]}
    n = len(rows["geodesic"])
    fig, axes = plt.subplots(2, n, figsize=(zoom * n, zoom * 2.2), squeeze=False)
    for row, (name, frames) in enumerate(rows.items()):
        for column in range(n):
            axis = axes[row, column]
            axis.imshow(
                np.clip(frames[column].mean(axis=0), 0, 1), cmap="gray", vmin=0, vmax=1
            )
            axis.set_xticks([])
            axis.set_yticks([])
            if column == 0:
                axis.set_ylabel(name)
    fig.tight_layout()
    return fig


def plot_deviation_from_line(
    geodesic: Any,
    natural_video: np.ndarray | None = None,
    iteration: int = -1,
    ax: Axes | None = None,
) -> Figure:
    """Distance along vs. distance from the straight line, in representation space.

    Parameters
    ----------
    geodesic
        A :class:`pipeline.Geodesic` after ``synthesize``, or a geodesic store.
    natural_video
        Optional (frames, 2) deviation of a natural video between the same anchors,
        drawn for comparison.
    iteration
        Which iteration's deviation to draw (default: the current one).
    ax
        Axes to draw in.

    Returns
    -------
    fig
        The figure.

    """
    deviation = _arrays(geodesic)["dev_from_line"][iteration]
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 3.5))
    ax.plot(deviation[:, 0], deviation[:, 1], "o-", label="geodesic")
    if natural_video is not None:
        ax.plot(natural_video[:, 0], natural_video[:, 1], "s--", label="natural video")
    ax.set_xlabel("distance along the line (normalized)")
    ax.set_ylabel("distance from the line (normalized)")
    ax.legend(fontsize=8)
    return ax.figure


def geodesic_step_energy(geodesic: Any) -> Figure:
    """Step energies over iterations, and the current jerkiness per frame.

    Parameters
    ----------
    geodesic
        A :class:`pipeline.Geodesic` after ``synthesize`` (both panels), or a geodesic
        store (step energies only: jerkiness needs the model).

    Returns
    -------
    fig
        The figure.

    """
    energy = _arrays(geodesic)["step_energy"]
    has_model = hasattr(geodesic, "calculate_jerkiness")
    fig, axes = plt.subplots(
        1, 2 if has_model else 1, figsize=(9 if has_model else 4.5, 3.5), squeeze=False
    )
    left = axes[0, 0]
    left.semilogy(energy)
    left.set_xlabel("iteration")
    left.set_ylabel("step energy (one line per step)")
    if has_model:  # jerkiness needs the model, which a store does not hold
        jerkiness = _numpy(geodesic.calculate_jerkiness())
        right = axes[0, 1]
        right.bar(np.arange(1, len(jerkiness) + 1), jerkiness)
        right.set_xlabel("interior frame")
        right.set_ylabel("jerkiness")
    fig.tight_layout()
    return fig
