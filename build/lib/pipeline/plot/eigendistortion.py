"""Eigendistortions shown on their image, from objects or stores alike."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure

__all__ = [
    "display_eigendistortion",
    "display_eigendistortion_all",
    "eigendistortion_arrays",
]


def eigendistortion_arrays(eigendistortion: Any) -> dict[str, np.ndarray]:
    """Read an eigendistortion result into numpy arrays.

    Parameters
    ----------
    eigendistortion
        A :class:`pipeline.Eigendistortion` after ``synthesize``, or an eigendistortion
        store (an :class:`xarray.Dataset` or its path).

    Returns
    -------
    arrays
        ``image`` (C, H, W), ``eigendistortions`` (N, C, H, W), ``eigenvalues`` (N,)
        and ``eigenindex`` (N,).

    Raises
    ------
    ValueError
        If there are no eigendistortions yet.

    """
    if isinstance(eigendistortion, str | os.PathLike):
        eigendistortion = xr.open_zarr(eigendistortion)
    if isinstance(eigendistortion, xr.Dataset):
        arrays = {
            "image": eigendistortion["image"].values[0],
            "eigendistortions": eigendistortion["eigendistortions"].values,
            "eigenvalues": eigendistortion["eigenvalues"].values,
            "eigenindex": eigendistortion["eigenindex"].values,
        }
    else:
        arrays = {
            name: getattr(eigendistortion, name).detach().cpu().numpy()
            for name in ("image", "eigendistortions", "eigenvalues", "eigenindex")
        }
        arrays["image"] = arrays["image"][0]
    if arrays["eigendistortions"].size == 0:
        raise ValueError("no eigendistortions yet: call synthesize first")
    return arrays


def _select(arrays: dict[str, np.ndarray], eigenindex: int) -> int:
    """Position of ``eigenindex`` (a rank, negative counts from the last computed)."""
    index = arrays["eigenindex"]
    if eigenindex < 0:
        return len(index) + eigenindex
    positions = np.flatnonzero(index == eigenindex)
    if positions.size == 0:
        raise ValueError(
            f"eigenindex {eigenindex} was not computed; available: {index.tolist()}"
        )
    return int(positions[0])


def display_eigendistortion(
    eigendistortion: Any,
    eigenindex: int = 0,
    alpha: float = 5.0,
    process_image: Callable[[np.ndarray], np.ndarray] | None = None,
    ax: Axes | None = None,
    title: str | None = None,
) -> Figure:
    """Show ``image + alpha * eigendistortion``, clipped to [0, 1].

    Parameters
    ----------
    eigendistortion
        An Eigendistortion object or store.
    eigenindex
        Rank of the eigendistortion (0: largest eigenvalue); negative values count
        from the last one computed (-1: the smallest computed).
    alpha
        Scale of the distortion added to the image.
    process_image
        Applied to the distorted image before clipping (e.g. to undo normalization).
    ax
        Axes to draw in; a new figure if None.
    title
        Title; by default the rank and eigenvalue.

    Returns
    -------
    fig
        The figure.

    """
    arrays = eigendistortion_arrays(eigendistortion)
    position = _select(arrays, eigenindex)
    distorted = arrays["image"] + alpha * arrays["eigendistortions"][position]
    if process_image is not None:
        distorted = process_image(distorted)
    if ax is None:
        _, ax = plt.subplots(figsize=(3, 3))
    shown = np.clip(distorted, 0, 1)
    if shown.shape[0] == 3:
        ax.imshow(np.moveaxis(shown, 0, -1))
    else:
        ax.imshow(shown.mean(axis=0), cmap="gray", vmin=0, vmax=1)
    rank, value = (
        int(arrays["eigenindex"][position]),
        float(arrays["eigenvalues"][position]),
    )
    ax.set_title(
        title if title is not None else f"eigenindex {rank}\nλ = {value:.3g}",
        fontsize=9,
    )
    ax.set_xticks([])
    ax.set_yticks([])
    return ax.figure


def display_eigendistortion_all(
    eigendistortions: Sequence[Any],
    labels: Sequence[str] | None = None,
    eigenindex: Sequence[int] = (0, -1),
    alpha: float = 5.0,
    zoom: float = 2.5,
) -> Figure:
    """Compare models: one row per eigendistortion result, image then chosen ranks.

    Parameters
    ----------
    eigendistortions
        Results (objects or stores), e.g. one per model at the same image.
    labels
        Row labels (default: the store's model name, or the row number).
    eigenindex
        Ranks to show per row (default: the top and the bottom computed).
    alpha
        Scale of the distortions added to the image.
    zoom
        Inches per panel.

    Returns
    -------
    fig
        The figure.

    """
    rows = len(eigendistortions)
    columns = 1 + len(eigenindex)
    fig, axes = plt.subplots(
        rows, columns, figsize=(zoom * columns, zoom * 1.15 * rows), squeeze=False
    )
    for row, result in enumerate(eigendistortions):
        arrays = eigendistortion_arrays(result)
        label = (
            labels[row]
            if labels is not None
            else (
                result.attrs.get("model_name", str(row))
                if isinstance(result, xr.Dataset)
                else str(row)
            )
        )
        image = arrays["image"].mean(axis=0)
        axes[row, 0].imshow(image, cmap="gray", vmin=0, vmax=1)
        axes[row, 0].set_title("image", fontsize=9)
        axes[row, 0].set_ylabel(label)
        axes[row, 0].set_xticks([])
        axes[row, 0].set_yticks([])
        for column, rank in enumerate(eigenindex, start=1):
            display_eigendistortion(result, rank, alpha=alpha, ax=axes[row, column])
    fig.tight_layout()
    return fig
