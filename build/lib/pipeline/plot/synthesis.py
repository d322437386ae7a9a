"""Plots of synthesis progress: image, loss, pixel histogram, status and animation.

Each function accepts an in-memory synthesis object (a :class:`pipeline.Metamer`) or
a stored history (an :class:`xarray.Dataset` opened from a metamer zarr store), read
through :func:`~pipeline.plot.as_history`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.animation import FuncAnimation

from ._history import SynthesisHistory, as_history
from .display import imshow
from .metamer import _draw_representation_error, _representation_error_data

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

__all__ = [
    "synthesis_animate",
    "synthesis_histogram",
    "synthesis_imshow",
    "synthesis_loss",
    "synthesis_status",
]

PLOT_NAMES = (
    "synthesis_imshow",
    "synthesis_loss",
    "metamer_representation_error",
    "synthesis_histogram",
)
_DEFAULT_PLOTS = ("synthesis_imshow", "synthesis_loss", "metamer_representation_error")
_REPRESENTATION = "metamer_representation_error"


def _select(
    image: np.ndarray, batch_idx: int, channel_idx: int | None
) -> tuple[np.ndarray, bool]:
    """Pick a batch entry (and channel) keeping 4 dims; say whether to show RGB."""
    n_batch, n_channel = image.shape[:2]
    if not -n_batch <= batch_idx < n_batch:
        raise IndexError(
            f"batch_idx {batch_idx} is out of range for batch size {n_batch}"
        )
    selected = image[[batch_idx]]
    if channel_idx is not None:
        if not -n_channel <= channel_idx < n_channel:
            raise IndexError(
                f"channel_idx {channel_idx} is out of range for {n_channel} channels"
            )
        return selected[:, [channel_idx]], False
    return selected, n_channel in (3, 4)


def _title(history: SynthesisHistory, saved_iteration: int) -> str:
    """Title of the synthesized image at a saved iteration."""
    return f"{history.display_name} [iteration {saved_iteration}]"


def _draw_image(
    history: SynthesisHistory,
    ax: Axes | None,
    iteration: int,
    batch_idx: int = 0,
    channel_idx: int | None = None,
    zoom: float | None = None,
    **kwargs: Any,
) -> Figure:
    """Show the image saved closest to a resolved iteration (no warning)."""
    image, saved_iteration = history.image_at(iteration, warn=False)
    selected, as_rgb = _select(image, batch_idx, channel_idx)
    kwargs.setdefault("title", _title(history, saved_iteration))
    return imshow(selected, zoom=zoom, ax=ax, as_rgb=as_rgb, **kwargs)


def _draw_loss(
    history: SynthesisHistory, ax: Axes, iteration: int, **kwargs: Any
) -> tuple[Line2D, Line2D]:
    """Plot the loss with a red dot at a resolved iteration; return both lines."""
    losses = history.losses
    (line,) = ax.plot(np.arange(len(losses)), losses, **kwargs)
    if np.any(losses > 0):
        ax.set_yscale("log")
    (dot,) = ax.plot([iteration], [losses[iteration]], "o", color="r")
    ax.set_xlabel("Synthesis iteration")
    ax.set_ylabel("Loss")
    ax.set_title("Synthesis loss")
    return line, dot


def _draw_histogram(
    history: SynthesisHistory,
    ax: Axes,
    iteration: int,
    batch_idx: int = 0,
    channel_idx: int | None = None,
    ylim: tuple[float, float] | None = None,
    **kwargs: Any,
) -> None:
    """Overlay pixel histograms of the target and the image at an iteration."""
    image, saved_iteration = history.image_at(iteration, warn=False)
    target = _select(history.target_image, batch_idx, channel_idx)[0].ravel()
    synthesized = _select(image, batch_idx, channel_idx)[0].ravel()
    values = np.concatenate([target, synthesized]).astype(float)
    edges = np.histogram_bin_edges(values[np.isfinite(values)], kwargs.pop("bins", 50))
    kwargs.setdefault("alpha", 0.4)
    ax.hist(target, bins=edges, label="Target image", **kwargs)
    ax.hist(synthesized, bins=edges, label=_title(history, saved_iteration), **kwargs)
    ax.legend()
    ax.set_xlabel("Pixel value")
    ax.set_ylabel("Count")
    ax.set_title("Histogram of pixel values")
    if ylim is not None:
        ax.set_ylim(ylim)


def _new_axes(ax: Axes | None) -> Axes:
    """Return ``ax``, or the axes of a new figure."""
    if ax is not None:
        return ax
    return plt.figure().add_subplot()


def synthesis_loss(
    synthesis: Any, iteration: int | None = None, ax: Axes | None = None, **kwargs: Any
) -> Figure:
    """Plot the synthesis loss over iterations, on a log scale.

    A red dot marks the loss at ``iteration``.

    Parameters
    ----------
    synthesis
        A :class:`pipeline.Metamer`, a metamer store opened as an
        :class:`xarray.Dataset`, or a :class:`~pipeline.plot.SynthesisHistory`.
    iteration
        Iteration to mark: None for the last, negative values count from the end.
    ax
        Axes to draw in; if None, a new figure.
    **kwargs
        Passed to :meth:`matplotlib.axes.Axes.plot` for the loss line.

    Returns
    -------
    fig
        The figure containing the plot.

    Raises
    ------
    IndexError
        If ``iteration`` is out of range.

    """
    history = as_history(synthesis)
    resolved = history.resolve_iteration(iteration)
    ax = _new_axes(ax)
    _draw_loss(history, ax, resolved, **kwargs)
    return ax.figure


def synthesis_imshow(
    synthesis: Any,
    batch_idx: int = 0,
    channel_idx: int | None = None,
    iteration: int | None = None,
    ax: Axes | None = None,
    zoom: float | None = None,
    **kwargs: Any,
) -> Figure:
    """Show the synthesized image at an iteration.

    Parameters
    ----------
    synthesis
        A :class:`pipeline.Metamer`, a metamer store opened as an
        :class:`xarray.Dataset`, or a :class:`~pipeline.plot.SynthesisHistory`.
    batch_idx
        Which batch entry to show.
    channel_idx
        Which channel to show. If None, all channels: as one RGB(A) image when there
        are 3 or 4, else one panel each.
    iteration
        Iteration to show: None for the last, negative values count from the end.
        If no image was saved then, the closest saved one is shown (ties go to the
        later one).
    ax
        Axes to draw in; if None, a new figure sized by ``zoom``.
    zoom
        Display pixels per image pixel for a new figure; see
        :func:`~pipeline.plot.imshow`.
    **kwargs
        Passed to :func:`~pipeline.plot.imshow` (e.g. ``vrange``, ``title``).

    Returns
    -------
    fig
        The figure containing the image.

    Warns
    -----
    UserWarning
        If no image was saved at ``iteration`` and the closest saved one is shown.

    """
    history = as_history(synthesis)
    resolved = history.resolve_iteration(iteration)
    history.closest_saved(resolved, warn=True)
    return _draw_image(history, ax, resolved, batch_idx, channel_idx, zoom, **kwargs)


def synthesis_histogram(
    synthesis: Any,
    batch_idx: int = 0,
    channel_idx: int | None = None,
    iteration: int | None = None,
    ylim: tuple[float, float] | None = None,
    ax: Axes | None = None,
    **kwargs: Any,
) -> Figure:
    """Overlay the pixel histograms of the target and the synthesized image.

    A quick check of the distribution of pixel values, e.g. of values outside the
    allowed range.

    Parameters
    ----------
    synthesis
        A :class:`pipeline.Metamer`, a metamer store opened as an
        :class:`xarray.Dataset`, or a :class:`~pipeline.plot.SynthesisHistory`.
    batch_idx
        Which batch entry to use.
    channel_idx
        Which channel to use; if None, all channels together.
    iteration
        Iteration of the synthesized image: None for the last, negative values count
        from the end; the closest saved image is used.
    ylim
        The y-limits to set; None leaves matplotlib's.
    ax
        Axes to draw in; if None, a new figure.
    **kwargs
        Passed to :meth:`matplotlib.axes.Axes.hist` (``bins`` defaults to 50 bins
        shared by both histograms).

    Returns
    -------
    fig
        The figure containing the plot.

    Warns
    -----
    UserWarning
        If no image was saved at ``iteration`` and the closest saved one is used.

    """
    history = as_history(synthesis)
    resolved = history.resolve_iteration(iteration)
    history.closest_saved(resolved, warn=True)
    ax = _new_axes(ax)
    _draw_histogram(history, ax, resolved, batch_idx, channel_idx, ylim, **kwargs)
    return ax.figure


def _place_plots(
    included: Sequence[str], axes_idx: Mapping[str, Any] | None
) -> tuple[dict[str, int], list[int]]:
    """Axes index of each included plot, and the indices reserved as "misc"."""
    axes_idx = dict(axes_idx or {})
    unknown = set(axes_idx) - {*PLOT_NAMES, "misc"}
    if unknown:
        raise ValueError(
            f"axes_idx keys must be among {[*PLOT_NAMES, 'misc']}, "
            f"got {sorted(unknown)}"
        )
    misc = axes_idx.pop("misc", [])
    misc = [int(misc)] if isinstance(misc, int | np.integer) else [int(i) for i in misc]
    # indices named for any plot are taken, even for a plot left out this time
    used = set(misc) | {int(i) for i in axes_idx.values()}
    placement: dict[str, int] = {
        name: int(axes_idx[name]) for name in included if name in axes_idx
    }
    for name in included:
        if name not in placement:
            index = min(set(range(len(used) + 1)) - used)
            placement[name] = index
            used.add(index)
    indices = list(placement.values())
    if len(set(indices)) != len(indices) or set(indices) & set(misc):
        raise ValueError(f"axes_idx gives two plots the same axes: {axes_idx}")
    return placement, misc


def _check_plots(
    included_plots: Sequence[str], width_ratios: Mapping[str, float] | None
) -> list[str]:
    """Validate plot names; return the included plots as a list."""
    if isinstance(included_plots, str):
        included_plots = [included_plots]
    included = list(included_plots)
    if not included:
        raise ValueError("included_plots is empty: nothing to plot")
    for name in [*included, *(width_ratios or {})]:
        if name not in PLOT_NAMES:
            raise ValueError(f"Unknown plot {name!r}: plots are {list(PLOT_NAMES)}")
    return included


class _Panel:
    """One panel of a status figure: its axes and what its drawing added."""

    def __init__(self, name: str, ax: Axes) -> None:
        self.name = name
        self.ax = ax
        self.extra_axes: list[Axes] = []
        self.dot: Line2D | None = None

    def draw(self, draw: Callable[[Axes], Any]) -> Any:
        """Draw into the axes, remembering any sub-axes the drawing adds."""
        fig = self.ax.figure
        before = list(fig.axes)
        result = draw(self.ax)
        self.extra_axes = [a for a in fig.axes if a not in before]
        return result

    def redraw(self, draw: Callable[[Axes], Any]) -> Any:
        """Clear the axes (removing added sub-axes) and draw again."""
        for extra in self.extra_axes:
            extra.remove()
        self.ax.clear()
        self.ax.set_axis_on()
        return self.draw(draw)


def _status(
    history: SynthesisHistory,
    iteration: int,
    batch_idx: int,
    channel_idx: int | None,
    vrange: str | tuple[float, float],
    zoom: float | None,
    fig: Figure | None,
    axes_idx: Mapping[str, Any] | None,
    figsize: tuple[float, float] | None,
    included: list[str],
    width_ratios: Mapping[str, float] | None,
    ylim: tuple[float, float] | Literal[False] | None,
) -> tuple[Figure, dict[str, _Panel]]:
    """Draw a status figure at a resolved iteration; return it and its panels."""
    placement, misc = _place_plots(included, axes_idx)
    n_axes = max([*placement.values(), *misc]) + 1
    if fig is None:
        by_index = {index: name for name, index in placement.items()}
        ratios = [
            float((width_ratios or {}).get(by_index.get(i, ""), 1.0))
            for i in range(n_axes)
        ]
        if figsize is None:
            height = 5.0
            if zoom is not None:
                dpi = plt.rcParams["figure.dpi"]
                height = history.saved_images.shape[-2] * zoom / dpi + 1.0
            figsize = (height * sum(ratios), height)
        fig = plt.figure(figsize=figsize)
        axes = list(
            fig.subplots(
                1,
                n_axes,
                squeeze=False,
                gridspec_kw={"width_ratios": ratios, "wspace": 0.35},
            )[0]
        )
    else:
        axes = list(fig.axes)
        if len(axes) < n_axes:
            raise ValueError(
                f"fig has {len(axes)} axes but the plots need {n_axes} "
                f"(placement {placement}, misc {misc})"
            )
    panels = {name: _Panel(name, axes[index]) for name, index in placement.items()}
    for name in included:
        _draw_panel(
            history, panels[name], iteration, batch_idx, channel_idx, vrange, ylim
        )
    return fig, panels


def _draw_panel(
    history: SynthesisHistory,
    panel: _Panel,
    iteration: int,
    batch_idx: int,
    channel_idx: int | None,
    vrange: str | tuple[float, float],
    ylim: tuple[float, float] | Literal[False] | None,
    redraw: bool = False,
) -> None:
    """Draw (or redraw) one named panel at a resolved iteration."""
    if panel.name == "synthesis_loss" and panel.dot is not None:
        panel.dot.set_data([iteration], [history.losses[iteration]])
        return
    if panel.name == "synthesis_imshow":

        def draw(ax: Axes) -> Any:
            return _draw_image(
                history, ax, iteration, batch_idx, channel_idx, vrange=vrange
            )

    elif panel.name == "synthesis_loss":

        def draw(ax: Axes) -> Any:
            return _draw_loss(history, ax, iteration)

    elif panel.name == "synthesis_histogram":

        def draw(ax: Axes) -> Any:
            return _draw_histogram(history, ax, iteration, batch_idx, channel_idx)

    else:

        def draw(ax: Axes) -> Any:
            return _draw_representation_error(
                history, ax, iteration, batch_idx=batch_idx, ylim=ylim
            )

    result = panel.redraw(draw) if redraw else panel.draw(draw)
    if panel.name == "synthesis_loss":
        panel.dot = result[1]


def synthesis_status(
    synthesis: Any,
    batch_idx: int = 0,
    channel_idx: int | None = None,
    iteration: int | None = None,
    vrange: str | tuple[float, float] = "indep1",
    zoom: float | None = None,
    fig: Figure | None = None,
    axes_idx: Mapping[str, int | Sequence[int]] | None = None,
    figsize: tuple[float, float] | None = None,
    included_plots: Sequence[str] = _DEFAULT_PLOTS,
    width_ratios: Mapping[str, float] | None = None,
    ylim: tuple[float, float] | Literal[False] | None = None,
) -> Figure:
    """Show the status of a synthesis at an iteration, as one row of panels.

    By default: the synthesized image, the loss (a red dot at ``iteration``) and the
    representation error; ``"synthesis_histogram"`` (pixel histograms) can be added.

    Parameters
    ----------
    synthesis
        A :class:`pipeline.Metamer`, a metamer store opened as an
        :class:`xarray.Dataset`, or a :class:`~pipeline.plot.SynthesisHistory`.
    batch_idx
        Which batch entry to show.
    channel_idx
        Which channel to show; if None, all (as RGB(A) with 3 or 4 channels).
    iteration
        Iteration to show: None for the last, negative values count from the end;
        the closest saved image is used.
    vrange
        Display range of the image, see :func:`~pipeline.plot.imshow`.
    zoom
        Display pixels per image pixel, used for the figure height when neither
        ``fig`` nor ``figsize`` is given.
    fig
        A figure with enough axes to draw in; if None, a new figure is made.
    axes_idx
        Index (into ``fig.axes``) of the axes for some plots, by plot name; the key
        ``"misc"`` (an int or a list of ints) reserves axes to leave untouched. Plots
        not named get the lowest free indices.
    figsize
        Size of a new figure; by default 5 inches high and as wide as the panels'
        relative widths.
    included_plots
        Which plots to draw, among ``"synthesis_imshow"``, ``"synthesis_loss"``,
        ``"metamer_representation_error"`` and ``"synthesis_histogram"``, in this
        order of axes unless ``axes_idx`` says otherwise. The representation error is
        left out where it is not available (a store at a non-final iteration).
    width_ratios
        Relative width of plots of a new figure, by plot name (default 1).
    ylim
        Limits of the representation error, see
        :func:`~pipeline.plot.metamer_representation_error`.

    Returns
    -------
    fig
        The figure containing the plots.

    Raises
    ------
    ValueError
        If a plot name is unknown, ``axes_idx`` places two plots in one axes, or
        ``fig`` has too few axes.

    Warns
    -----
    UserWarning
        If no image was saved at ``iteration`` and the closest saved one is used.

    """
    history = as_history(synthesis)
    included = _check_plots(included_plots, width_ratios)
    resolved = history.resolve_iteration(iteration)
    history.closest_saved(resolved, warn=True)
    if _REPRESENTATION in included and not history.has_representation_error(resolved):
        included.remove(_REPRESENTATION)
        if not included:
            raise ValueError(
                "The representation error, the only plot asked for, is not available "
                f"at iteration {resolved} of this synthesis"
            )
    fig, _ = _status(
        history,
        resolved,
        batch_idx,
        channel_idx,
        vrange,
        zoom,
        fig,
        axes_idx,
        figsize,
        included,
        width_ratios,
        ylim,
    )
    return fig


def synthesis_animate(
    synthesis: Any,
    framerate: float = 10,
    batch_idx: int = 0,
    channel_idx: int | None = None,
    zoom: float | None = None,
    fig: Figure | None = None,
    included_plots: Sequence[str] = _DEFAULT_PLOTS,
    width_ratios: Mapping[str, float] | None = None,
    axes_idx: Mapping[str, int | Sequence[int]] | None = None,
    figsize: tuple[float, float] | None = None,
    vrange: str | tuple[float, float] = "indep1",
    ylim: tuple[float, float] | Literal[False] | None = None,
) -> FuncAnimation:
    """Animate the synthesis: the status figure at each saved iteration.

    One frame per saved image: the image, the loss dot and, when included, the
    histogram and the representation error are updated.

    Parameters
    ----------
    synthesis
        A :class:`pipeline.Metamer` synthesized with ``store_progress``, a metamer
        store opened as an :class:`xarray.Dataset`, or a
        :class:`~pipeline.plot.SynthesisHistory`.
    framerate
        Frames per second.
    batch_idx
        Which batch entry to show.
    channel_idx
        Which channel to show; if None, all (as RGB(A) with 3 or 4 channels).
    zoom
        See :func:`synthesis_status`.
    fig
        A figure with enough axes to draw in; if None, a new figure is made.
    included_plots
        Which plots to draw, see :func:`synthesis_status`. The representation error
        is left out when it is not available at every saved iteration (a store only
        holds it for the final one).
    width_ratios
        Relative width of plots of a new figure, by plot name (default 1).
    axes_idx
        See :func:`synthesis_status`.
    figsize
        See :func:`synthesis_status`.
    vrange
        Display range of the image in each frame, see :func:`~pipeline.plot.imshow`.
    ylim
        Limits of the representation error; if None, symmetric around 0 reaching the
        largest absolute error of the first frame, kept for all frames.

    Returns
    -------
    anim
        The animation; view it with ``anim.to_html5_video()`` or save it with
        ``anim.save(path)`` (this needs a writer such as ffmpeg or pillow).

    Raises
    ------
    ValueError
        If only the final image was saved (synthesis was run without
        ``store_progress``).

    """
    history = as_history(synthesis)
    included = _check_plots(included_plots, width_ratios)
    saved_iterations = [int(i) for i in history.saved_iterations]
    if len(saved_iterations) < 2:
        raise ValueError(
            "Only the final image was saved, so there is nothing to animate: run "
            "synthesize with store_progress=True (or an int) to save images during "
            "synthesis."
        )
    if _REPRESENTATION in included:
        available = all(history.has_representation_error(i) for i in saved_iterations)
        if not available:
            included.remove(_REPRESENTATION)
        elif ylim is None:
            first = _representation_error_data(history, saved_iterations[0], batch_idx)
            finite = np.abs(first[np.isfinite(first)])
            if finite.size and finite.max() > 0:
                ylim = (-float(finite.max()), float(finite.max()))
    if not included:
        raise ValueError("No plot left to animate")
    fig, panels = _status(
        history,
        saved_iterations[0],
        batch_idx,
        channel_idx,
        vrange,
        zoom,
        fig,
        axes_idx,
        figsize,
        included,
        width_ratios,
        ylim,
    )

    def update(frame: int) -> list[Any]:
        iteration = saved_iterations[frame]
        for panel in panels.values():
            _draw_panel(
                history,
                panel,
                iteration,
                batch_idx,
                channel_idx,
                vrange,
                ylim,
                redraw=True,
            )
        return []

    return FuncAnimation(
        fig,
        update,
        frames=len(saved_iterations),
        interval=1000 / framerate,
        blit=False,
        repeat=False,
    )
