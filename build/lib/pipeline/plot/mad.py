"""Figures of a MAD competition set: the four images and the metric trajectories.

A set is four syntheses from one image and one initial image: each of two metrics
minimized and maximized while the other is held. Each function takes the four as
in-memory :class:`pipeline.MADCompetition` objects or stores (datasets or paths).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from ._history import SynthesisHistory, as_history

__all__ = ["mad_image_set", "mad_metric_trajectories"]


def _set_histories(
    syntheses: Sequence[Any],
) -> tuple[list[SynthesisHistory], list[str]]:
    histories = [as_history(s) for s in syntheses]
    if not histories or any(h.method != "mad" for h in histories):
        raise ValueError("a MAD set figure needs MAD competition syntheses")
    metrics: list[str] = []
    for history in histories:
        for key in ("optimized_metric", "reference_metric"):
            name = history.labels.get(key, key)
            if name not in metrics:
                metrics.append(name)
    order = {
        (m, mm): i
        for i, (m, mm) in enumerate((m, mm) for m in metrics for mm in ("min", "max"))
    }
    histories.sort(
        key=lambda h: order.get(
            (h.labels.get("optimized_metric"), h.labels.get("minmax")), 0
        )
    )
    return histories, metrics


def _metric_values(history: SynthesisHistory, metric: str) -> np.ndarray:
    """Values of ``metric`` over the iterations of one synthesis of the set."""
    if history.labels.get("optimized_metric") == metric:
        return history.series["optimized_metric_loss"]
    return history.series["reference_metric_loss"]


def mad_image_set(syntheses: Sequence[Any], zoom: float = 2.5) -> Figure:
    """Show the reference, the shared initial image and the four MAD images.

    Under each image: the values of both metrics against the reference image.

    Parameters
    ----------
    syntheses
        The MAD syntheses of one set (objects or stores).
    zoom
        Inches per panel.

    Returns
    -------
    fig
        The figure.

    Raises
    ------
    ValueError
        If any synthesis is not a MAD competition.

    """
    histories, metrics = _set_histories(syntheses)
    first = histories[0]
    panels = [
        ("reference image", first.target_image, None),
        ("initial image", first.saved_images[0], 0),
    ]
    for history in histories:
        title = f"{history.labels.get('minmax', '?')} {history.labels.get('optimized_metric', '?')}"
        panels.append((title, history.synthesized_image, history))
    fig, axes = plt.subplots(
        1, len(panels), figsize=(zoom * len(panels), zoom * 1.35), squeeze=False
    )
    for ax, (title, image, source) in zip(axes[0], panels, strict=True):
        ax.imshow(np.clip(image[0, 0], 0, 1), cmap="gray", vmin=0, vmax=1)
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
        if source is None:
            continue
        index = 0 if isinstance(source, int) else -1
        history = first if isinstance(source, int) else source
        text = "\n".join(
            f"{m}: {_metric_values(history, m)[index]:.4g}" for m in metrics
        )
        ax.set_xlabel(text, fontsize=9)
    fig.tight_layout()
    return fig


def mad_metric_trajectories(
    syntheses: Sequence[Any], figsize: tuple[float, float] | None = None
) -> Figure:
    """Plot each metric over the iterations of the four syntheses of a set.

    One panel per metric: in the two syntheses that optimize it, it goes down or up;
    in the two that hold it, it should stay flat.

    Parameters
    ----------
    syntheses
        The MAD syntheses of one set (objects or stores).
    figsize
        Figure size; default scales with the number of metrics.

    Returns
    -------
    fig
        The figure.

    Raises
    ------
    ValueError
        If any synthesis is not a MAD competition.

    """
    histories, metrics = _set_histories(syntheses)
    fig, axes = plt.subplots(
        1, len(metrics), figsize=figsize or (4.5 * len(metrics), 3.5), squeeze=False
    )
    for ax, metric in zip(axes[0], metrics, strict=True):
        for history in histories:
            optimized = history.labels.get("optimized_metric")
            role = "optimized" if optimized == metric else "held"
            label = f"{history.labels.get('minmax')} {optimized} ({role})"
            style = "-" if role == "optimized" else "--"
            ax.plot(
                np.arange(history.n_iterations + 1),
                _metric_values(history, metric),
                style,
                label=label,
            )
        ax.set_title(metric)
        ax.set_xlabel("iteration")
        ax.set_ylabel(f"{metric}(image, MAD image)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
