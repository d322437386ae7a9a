"""Display images and model representations.

:func:`imshow` draws batches of images as a grid of gray panels;
:func:`plot_representation` draws a model's output (or a representation error) as
images when it looks image-like and as a stem plot otherwise.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import matplotlib.pyplot as plt
import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["imshow", "plot_representation"]

_VRANGE_NAMES = ("indep1", "auto1", "indep0", "auto0")

# margins around each panel of a figure made by imshow, in inches
_PAD_SIDE = 0.15
_PAD_TOP = 0.4
_PAD_BOTTOM = 0.1


def _to_numpy(value: Any) -> np.ndarray:
    """Convert a tensor (possibly on a GPU or requiring grad) or array to numpy."""
    if hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _as_image_array(image: Any) -> np.ndarray:
    """Return ``image`` as a 4-D (batch, channel, height, width) numpy array."""
    array = _to_numpy(image)
    if array.ndim == 2:
        return array[None, None]
    if array.ndim == 3:
        return array[None]
    if array.ndim != 4:
        raise ValueError(
            "images must have 2 (y, x), 3 (channel, y, x) or 4 (batch, channel, y, x) "
            f"dimensions, got shape {array.shape}"
        )
    return array


def _complex_parts(
    data: np.ndarray, plot_complex: str
) -> list[tuple[np.ndarray, str | None]]:
    """Split complex data into real-valued parts to show, with their names."""
    if not np.iscomplexobj(data):
        return [(data, None)]
    if plot_complex == "rectangular":
        return [(data.real, "real"), (data.imag, "imaginary")]
    if plot_complex == "polar":
        return [(np.abs(data), "amplitude"), (np.angle(data), "phase")]
    if plot_complex == "logpolar":
        return [(np.log1p(np.abs(data)), "log amplitude"), (np.angle(data), "phase")]
    raise ValueError(
        "plot_complex must be 'rectangular', 'polar' or 'logpolar', got "
        f"{plot_complex!r}"
    )


def _label(title: str, parts: list[str]) -> str:
    """Join a title and the description of a panel within it."""
    if not parts:
        return title
    description = ", ".join(parts)
    return f"{title} [{description}]" if title else description


def _panels(
    arrays: list[np.ndarray],
    titles: list[str],
    plot_complex: str,
    as_rgb: bool,
) -> list[tuple[np.ndarray, str]]:
    """List the 2-D (or RGB) panels of a list of 4-D arrays, with their titles."""
    panels = []
    for array, title in zip(arrays, titles, strict=True):
        n_batch, n_channel = array.shape[:2]
        rgb = as_rgb and n_channel in (3, 4)
        for b in range(n_batch):
            channel_items: list[tuple[np.ndarray, int | None]]
            if rgb:
                channel_items = [(np.moveaxis(array[b], 0, -1), None)]
            else:
                channel_items = [(array[b, c], c) for c in range(n_channel)]
            for data, c in channel_items:
                for part, part_name in _complex_parts(data, plot_complex):
                    parts = []
                    if n_batch > 1:
                        parts.append(f"batch {b}")
                    if c is not None and n_channel > 1:
                        parts.append(f"channel {c}")
                    if part_name is not None:
                        parts.append(part_name)
                    panels.append((np.asarray(part, dtype=float), _label(title, parts)))
    return panels


def _finite_range(data: np.ndarray) -> tuple[float, float]:
    """Min and max of the finite values of ``data`` ((0, 1) if there are none)."""
    finite = data[np.isfinite(data)]
    if finite.size == 0:
        return 0.0, 1.0
    return float(finite.min()), float(finite.max())


def _vranges(
    panels: Sequence[np.ndarray], vrange: str | tuple[float, float]
) -> list[tuple[float, float]]:
    """Display range (vmin, vmax) of each panel for a ``vrange`` option."""
    if not isinstance(vrange, str):
        if len(vrange) != 2:
            raise ValueError(f"vrange must be a string or (vmin, vmax), got {vrange!r}")
        ranges = [(float(vrange[0]), float(vrange[1]))] * len(panels)
    elif vrange not in _VRANGE_NAMES:
        raise ValueError(f"vrange must be one of {_VRANGE_NAMES} or (vmin, vmax)")
    else:
        ranges = [_finite_range(p) for p in panels]
        if vrange.startswith("auto"):
            low = min(r[0] for r in ranges)
            high = max(r[1] for r in ranges)
            ranges = [(low, high)] * len(panels)
        if vrange.endswith("0"):
            limits = [max(abs(a), abs(b)) for a, b in ranges]
            ranges = [(-m, m) for m in limits]
    # a constant image is shown mid-gray rather than with a degenerate range
    return [(a - 0.5, b + 0.5) if a == b else (a, b) for a, b in ranges]


def _default_zoom(height: int, width: int) -> float:
    """Zoom showing an image at roughly 256 display pixels, whole factors only."""
    ratio = 256 / max(height, width, 1)
    if ratio >= 1:
        return float(math.floor(ratio))
    return 1 / math.ceil(1 / ratio)


def _grid_shape(n: int, col_wrap: int | None) -> tuple[int, int]:
    """Rows and columns for ``n`` panels, wrapped after ``col_wrap`` columns."""
    ncols = n if col_wrap is None else max(1, min(int(col_wrap), n))
    return math.ceil(n / ncols), ncols


def _new_panel_figure(
    n: int, nrows: int, ncols: int, height: int, width: int, zoom: float
) -> tuple[Figure, list[Axes]]:
    """Make a figure whose panels show ``height x width`` images at ``zoom``."""
    dpi = plt.rcParams["figure.dpi"]
    panel_w, panel_h = width * zoom / dpi, height * zoom / dpi
    cell_w = panel_w + 2 * _PAD_SIDE
    cell_h = panel_h + _PAD_TOP + _PAD_BOTTOM
    fig_w, fig_h = ncols * cell_w, nrows * cell_h
    fig = plt.figure(figsize=(fig_w, fig_h))
    axes = []
    for i in range(n):
        row, col = divmod(i, ncols)
        left = (col * cell_w + _PAD_SIDE) / fig_w
        bottom = 1 - ((row + 1) * cell_h - _PAD_BOTTOM) / fig_h
        axes.append(fig.add_axes((left, bottom, panel_w / fig_w, panel_h / fig_h)))
    return fig, axes


def _split_axes(ax: Axes, n: int, nrows: int, ncols: int) -> list[Axes]:
    """Split the area of ``ax`` into ``n`` sub-axes; ``ax`` itself is hidden.

    ``ax`` stays in its figure (so axes indices stay valid), with its frame and ticks
    turned off.
    """
    fig = ax.figure
    ax.set_axis_off()
    spec = ax.get_subplotspec()
    if spec is not None:
        grid = spec.subgridspec(nrows, ncols, wspace=0.15, hspace=0.35)
        return [fig.add_subplot(grid[divmod(i, ncols)]) for i in range(n)]
    left, bottom, width, height = ax.get_position().bounds
    cell_w, cell_h = width / ncols, height / nrows
    axes = []
    for i in range(n):
        row, col = divmod(i, ncols)
        axes.append(
            fig.add_axes(
                (
                    left + col * cell_w + 0.05 * cell_w,
                    bottom + (nrows - 1 - row) * cell_h + 0.05 * cell_h,
                    0.9 * cell_w,
                    0.8 * cell_h,
                )
            )
        )
    return axes


def _draw_panel(
    ax: Axes,
    data: np.ndarray,
    vmin: float,
    vmax: float,
    cmap: Any,
    title: str,
    **kwargs: Any,
) -> None:
    """Draw one gray (2-D) or RGB (3-D) panel without ticks."""
    kwargs.setdefault("interpolation", "nearest")
    if data.ndim == 3:
        scaled = np.clip((data - vmin) / (vmax - vmin), 0, 1)
        ax.imshow(scaled, **kwargs)
    else:
        ax.imshow(data, cmap=cmap, vmin=vmin, vmax=vmax, **kwargs)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)


def _titles_for(
    title: str | Sequence[str], n_images: int, n_panels: int
) -> tuple[list[str], list[str] | None]:
    """Titles per image, and exact titles per panel if one was given per panel."""
    if isinstance(title, str) or title is None:
        return [title or ""] * n_images, None
    title = [str(t) for t in title]
    if len(title) == n_images:
        return title, None
    if len(title) == n_panels:
        return [""] * n_images, title
    raise ValueError(
        f"title must be a string or a list with one entry per image ({n_images}) or "
        f"per panel ({n_panels}), got {len(title)} titles"
    )


def imshow(
    image: Any,
    vrange: str | tuple[float, float] = "indep1",
    zoom: float | None = None,
    title: str | Sequence[str] = "",
    col_wrap: int | None = None,
    ax: Axes | None = None,
    cmap: Any = None,
    plot_complex: Literal["rectangular", "polar", "logpolar"] = "rectangular",
    as_rgb: bool = False,
    **kwargs: Any,
) -> Figure:
    """Show images as a grid of gray panels, one per (batch, channel).

    Parameters
    ----------
    image
        A tensor or array of shape (batch, channel, height, width) (2-D and 3-D
        arrays are taken as (height, width) and (channel, height, width)), or a list
        of them, which may differ in shape.
    vrange
        Range of values mapped to black..white: ``"indep1"`` each panel its own
        min and max, ``"auto1"`` the min and max over all panels, ``"indep0"`` and
        ``"auto0"`` the same but symmetric around 0, or a ``(vmin, vmax)`` tuple.
    zoom
        Display pixels per image pixel, used to size a new figure (ignored with
        ``ax``). If None, a whole factor that shows the largest image at about 256
        pixels.
    title
        A title for every image, or a list with one title per image (each of whose
        panels gets the batch and channel appended) or one per panel.
    col_wrap
        Number of panels per row before wrapping; None puts all in one row.
    ax
        Axes to draw in. With several panels, its area is split into sub-axes and
        ``ax`` itself is hidden. If None, a new figure is created.
    cmap
        Colormap of gray (non-RGB) panels; gray by default.
    plot_complex
        How complex values are shown, as two panels each: ``"rectangular"`` (real
        and imaginary parts), ``"polar"`` (amplitude and phase) or ``"logpolar"``
        (log amplitude and phase).
    as_rgb
        Show images with 3 or 4 channels as one RGB(A) panel per batch entry.
    **kwargs
        Passed to :meth:`matplotlib.axes.Axes.imshow`.

    Returns
    -------
    fig
        The figure holding the panels.

    Raises
    ------
    ValueError
        If an image has an unsupported number of dimensions, or ``vrange`` or
        ``title`` is not valid.

    Examples
    --------
    >>> import numpy as np
    >>> from pipeline.plot import imshow
    >>> fig = imshow(np.random.rand(2, 1, 16, 16), title="noise")
    >>> len(fig.axes)
    2

    """
    images = list(image) if isinstance(image, list | tuple) else [image]
    if not images:
        raise ValueError("no image to show")
    arrays = [_as_image_array(im) for im in images]
    n_panels = len(_panels(arrays, [""] * len(arrays), plot_complex, as_rgb))
    image_titles, panel_titles = _titles_for(title, len(arrays), n_panels)
    panels = _panels(arrays, image_titles, plot_complex, as_rgb)
    if panel_titles is not None:
        panels = [(data, t) for (data, _), t in zip(panels, panel_titles, strict=True)]
    ranges = _vranges([p for p, _ in panels], vrange)
    n = len(panels)
    nrows, ncols = _grid_shape(n, col_wrap)
    if ax is None:
        height = max(a.shape[-2] for a in arrays)
        width = max(a.shape[-1] for a in arrays)
        if zoom is None:
            zoom = _default_zoom(height, width)
        fig, axes = _new_panel_figure(n, nrows, ncols, height, width, zoom)
    else:
        fig = ax.figure
        axes = [ax] if n == 1 else _split_axes(ax, n, nrows, ncols)
    cmap = "gray" if cmap is None else cmap
    for panel_ax, (data, panel_title), (vmin, vmax) in zip(
        axes, panels, ranges, strict=True
    ):
        _draw_panel(panel_ax, data, vmin, vmax, cmap, panel_title, **kwargs)
    return fig


def _is_image_like(data: np.ndarray) -> bool:
    """Whether data is (batch, channel, height, width) with real images."""
    return data.ndim == 4 and data.shape[-2] > 1 and data.shape[-1] > 1


def _figure_of(result: Any, ax: Axes | None) -> Figure:
    """Find the figure that a model's own plotting method drew in."""
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    candidates = list(result) if isinstance(result, list | tuple) else [result]
    for candidate in candidates:
        if isinstance(candidate, Figure):
            return candidate
        if isinstance(candidate, Axes):
            return candidate.figure
    if ax is not None:
        return ax.figure
    return plt.gcf()


def _call_model_plot(model: Any, **arguments: Any) -> Any:
    """Call ``model.plot_representation`` with the arguments its signature takes."""
    method = model.plot_representation
    try:
        parameters = inspect.signature(method).parameters
    except (TypeError, ValueError):
        return method(**arguments)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return method(**arguments)
    return method(**{k: v for k, v in arguments.items() if k in parameters})


def plot_representation(
    model: Any = None,
    data: Any = None,
    ax: Axes | None = None,
    figsize: tuple[float, float] = (15, 5),
    ylim: tuple[float, float] | None = None,
    title: str = "Representation",
    **kwargs: Any,
) -> Figure:
    """Plot a model representation, or a difference between representations.

    If ``model`` has its own ``plot_representation`` method, that draws the plot.
    Otherwise, image-like data (4-D, with height and width above 1) is shown as one
    gray panel per (batch, channel), and anything else as a stem plot of the
    flattened values of each batch entry.

    Parameters
    ----------
    model
        A model; only used if it has a ``plot_representation`` method, which is then
        called with those of ``data``, ``ax``, ``figsize``, ``ylim`` and ``title``
        that it accepts, plus ``kwargs``.
    data
        The representation (tensor or array) with the batch dimension first.
    ax
        Axes to draw in. Image-like data splits its area into one sub-axes per panel
        (hiding ``ax`` itself). If None, a new figure of size ``figsize`` is made.
    figsize
        Size of the new figure when ``ax`` is None.
    ylim
        The y-limits of a stem plot, or the display range of image panels. If None,
        matplotlib's limits and each image panel's own range.
    title
        Title of the plot; image panels are each labelled by their batch entry and
        channel, under this title.
    **kwargs
        Passed to the model's method, to :meth:`matplotlib.axes.Axes.imshow` for
        image panels or to :meth:`matplotlib.axes.Axes.stem` for a stem plot.

    Returns
    -------
    fig
        The figure containing the plot.

    Raises
    ------
    ValueError
        If ``data`` is None and the model cannot plot its representation itself.

    Examples
    --------
    >>> import numpy as np
    >>> from pipeline.plot import plot_representation
    >>> fig = plot_representation(data=np.random.rand(1, 2, 8, 8))
    >>> len(fig.axes)
    2
    >>> fig = plot_representation(data=np.random.rand(1, 10))
    >>> len(fig.axes)
    1

    """
    if model is not None and callable(getattr(model, "plot_representation", None)):
        # a figure size only applies to a new figure (models may refuse both)
        size = figsize if ax is None else None
        result = _call_model_plot(
            model, data=data, ax=ax, figsize=size, ylim=ylim, title=title, **kwargs
        )
        return _figure_of(result, ax)
    if data is None:
        raise ValueError(
            "data is required unless the model has its own plot_representation method"
        )
    array = _to_numpy(data)
    if np.iscomplexobj(array):
        array = np.abs(array)
    if _is_image_like(array):
        # one panel per (batch, channel), labelled by those alone: the title goes
        # over the whole group (the hidden container axes, or the figure)
        panels = _panels([array], [""], "rectangular", as_rgb=False)
        n = len(panels)
        if ax is None:
            fig = plt.figure(figsize=figsize)
            axes = list(fig.subplots(1, n, squeeze=False)[0])
            if n > 1:
                fig.suptitle(title)
        else:
            fig = ax.figure
            axes = [ax] if n == 1 else _split_axes(ax, n, 1, n)
            if n > 1:
                ax.set_title(title)
        if n == 1:
            panels = [(panels[0][0], title)]
        ranges = _vranges([p for p, _ in panels], "indep1" if ylim is None else ylim)
        for panel_ax, (panel, panel_title), (vmin, vmax) in zip(
            axes, panels, ranges, strict=True
        ):
            _draw_panel(panel_ax, panel, vmin, vmax, "gray", panel_title, **kwargs)
        return fig

    if ax is None:
        fig = plt.figure(figsize=figsize)
        ax = fig.add_subplot()
    rows = (
        array.reshape(array.shape[0], -1) if array.ndim >= 2 else array.reshape(1, -1)
    )
    for b, values in enumerate(rows):
        stem_kwargs = {
            "linefmt": f"C{b}-",
            "markerfmt": f"C{b}o",
            "basefmt": "k-",
            **kwargs,
        }
        if len(rows) > 1:
            stem_kwargs.setdefault("label", f"batch {b}")
        ax.stem(np.arange(values.size), values, **stem_kwargs)
    if len(rows) > 1:
        ax.legend()
    if ylim is not None:
        ax.set_ylim(ylim)
    ax.set_xlabel("Representation index")
    ax.set_title(title)
    return ax.figure
