"""Render figures from stores alone: synthesis never has to run again for a figure."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import PipelineError
from ..store.atomic import atomic_output
from ..store.schema import open_store

# stores with a loss per iteration (optimized syntheses)
OPTIMIZED_KINDS = ("metamer", "mad", "geodesic")

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "render_eigendistortions",
    "render_geodesic",
    "render_geodesic_deviation",
    "render_losses",
    "render_mad_set",
    "render_mad_trajectories",
    "render_metamer_grid",
    "render_representation_error",
    "render_scale_losses",
    "render_status",
    "save_figure",
]


DPI = 150  # of the PNG figures


def save_figure(
    figure: Figure, outs: Sequence[str | Path], overwrite: bool = False
) -> None:
    """Save ``figure`` to each path (format from the suffix), atomically, and close it.

    Parameters
    ----------
    figure
        The figure.
    outs
        Output paths, e.g. a PNG and a PDF.
    overwrite
        Replace existing files.

    """
    import matplotlib.pyplot as plt

    supported = figure.canvas.get_supported_filetypes()
    for out in outs:
        suffix = Path(out).suffix.lstrip(".")
        if suffix not in supported:
            plt.close(figure)
            raise PipelineError(
                f"cannot write a figure as {out}: use a .png, .pdf or .svg name"
            )
    try:
        # the tight crop once for every format: bbox_inches="tight" lays the figure
        # out again in each savefig, which costs as much as drawing it; only a
        # layout engine needs a draw first to place the axes (ours place them)
        figure.set_dpi(DPI)
        if figure.get_layout_engine() is not None:
            figure.draw_without_rendering()
        crop = figure.get_tightbbox(figure.canvas.get_renderer())
        crop = crop.padded(plt.rcParams["savefig.pad_inches"])
        for out in outs:
            suffix = Path(out).suffix.lstrip(".")
            with atomic_output(out, overwrite=overwrite) as temporary:
                figure.savefig(temporary, format=suffix, dpi=DPI, bbox_inches=crop)
    finally:
        plt.close(figure)


def _backend() -> None:
    import matplotlib

    matplotlib.use("Agg")


def _render_stores(
    stores: Sequence[str | Path],
    kind: str,
    plot_name: str,
    outs: Sequence[str | Path],
    overwrite: bool,
) -> None:
    """Open ``stores`` of one kind (sorted by model name) and save ``po.plot.<plot_name>``."""
    _backend()
    from .. import plot

    datasets = sorted(
        (open_store(store, kind) for store in stores),
        key=lambda d: d.attrs.get("model_name", ""),
    )
    save_figure(getattr(plot, plot_name)(datasets), outs, overwrite)


def render_status(
    stores: str | Path | Sequence[str | Path],
    outs: Sequence[str | Path],
    overwrite: bool = False,
) -> None:
    """Draw the synthesis status (image, loss, representation error) of each store.

    One process draws several figures: the workflow renders all metamers of a
    model in one job, so the imports (matplotlib, xarray) are paid once.

    Parameters
    ----------
    stores
        One complete metamer store, or several.
    outs
        Figure paths, the same number for each store, in store order: with two
        stores and ``[a.png, a.pdf, b.png, b.pdf]``, the first store's figure goes
        to ``a.png`` and ``a.pdf``.
    overwrite
        Replace existing figures.

    Raises
    ------
    PipelineError
        When the paths cannot be shared out evenly among the stores.

    """
    stores = [stores] if isinstance(stores, (str, Path)) else list(stores)
    per_store, left = divmod(len(outs), len(stores))
    if per_store == 0 or left:
        raise PipelineError(
            f"{len(outs)} --out paths for {len(stores)} stores: give each store "
            "the same number of --out paths, in store order"
        )
    _backend()
    from .. import plot

    datasets = [open_store(store, "metamer") for store in stores]
    for index, dataset in enumerate(datasets):
        figure = plot.synthesis_status(
            dataset, width_ratios={"metamer_representation_error": 2}
        )
        figure.suptitle(
            f"{dataset.attrs['image_name']} / {dataset.attrs['model_name']}"
        )
        save_figure(
            figure, outs[index * per_store : (index + 1) * per_store], overwrite
        )


def render_metamer_grid(
    stores: Sequence[str | Path], outs: Sequence[str | Path], overwrite: bool = False
) -> None:
    """Draw targets (rows) against their metamers under each model (columns).

    Parameters
    ----------
    stores
        Complete metamer stores.
    outs
        Figure paths.
    overwrite
        Replace existing figures.

    """
    _backend()
    import matplotlib.pyplot as plt

    datasets = [open_store(store, "metamer") for store in stores]
    images = sorted({d.attrs["image_name"] for d in datasets})
    models = sorted({d.attrs["model_name"] for d in datasets})
    by_key = {(d.attrs["image_name"], d.attrs["model_name"]): d for d in datasets}
    figure, axes = plt.subplots(
        len(images),
        len(models) + 1,
        squeeze=False,
        figsize=(2.2 * (len(models) + 1), 2.3 * len(images)),
    )
    for row, image in enumerate(images):
        target = next(d for (i, _), d in by_key.items() if i == image)["image"].values
        axes[row, 0].imshow(target[0, 0], cmap="gray", vmin=0, vmax=1)
        axes[row, 0].set_title(f"{image} (target)", fontsize=9)
        for column, model in enumerate(models, start=1):
            axis = axes[row, column]
            dataset = by_key.get((image, model))
            if dataset is not None:
                metamer = np.clip(dataset["metamer"].values[0, 0], 0, 1)
                axis.imshow(metamer, cmap="gray", vmin=0, vmax=1)
                loss = float(dataset["loss"].values[-1])
                axis.set_title(f"{model}\nloss {loss:.2e}", fontsize=9)
    for axis in axes.flat:
        axis.set_xticks([])
        axis.set_yticks([])
    figure.tight_layout()
    save_figure(figure, outs, overwrite)


def render_losses(
    stores: Sequence[str | Path], outs: Sequence[str | Path], overwrite: bool = False
) -> None:
    """Draw the loss curves of all syntheses, one panel per image.

    Parameters
    ----------
    stores
        Complete synthesis stores.
    outs
        Figure paths.
    overwrite
        Replace existing figures.

    """
    _backend()
    import matplotlib.pyplot as plt

    datasets = [open_store(store, OPTIMIZED_KINDS) for store in stores]
    images = sorted({d.attrs.get("image_name", "") for d in datasets})
    figure, axes = plt.subplots(
        1, len(images), squeeze=False, figsize=(4.5 * len(images), 3.5)
    )
    for axis, image in zip(axes[0], images, strict=True):
        for dataset in sorted(
            (d for d in datasets if d.attrs.get("image_name", "") == image),
            key=lambda d: d.attrs.get("model_name", ""),
        ):
            axis.semilogy(
                dataset["iteration"].values,
                dataset["loss"].values,
                label=dataset.attrs.get("model_name"),
            )
        axis.set_title(image)
        axis.set_xlabel("iteration")
        axis.set_ylabel("loss")
        axis.legend(fontsize=8)
    figure.tight_layout()
    save_figure(figure, outs, overwrite)


def render_mad_set(
    stores: Sequence[str | Path], outs: Sequence[str | Path], overwrite: bool = False
) -> None:
    """Draw a MAD set: reference, initial image and the four MAD images.

    Parameters
    ----------
    stores
        The complete MAD stores of one set.
    outs
        Figure paths.
    overwrite
        Replace existing figures.

    """
    _render_stores(stores, "mad", "mad_image_set", outs, overwrite)


def render_mad_trajectories(
    stores: Sequence[str | Path], outs: Sequence[str | Path], overwrite: bool = False
) -> None:
    """Draw both metrics over the iterations of the syntheses of a MAD set.

    Parameters
    ----------
    stores
        The complete MAD stores of one set.
    outs
        Figure paths.
    overwrite
        Replace existing figures.

    """
    _render_stores(stores, "mad", "mad_metric_trajectories", outs, overwrite)


def render_eigendistortions(
    stores: Sequence[str | Path], outs: Sequence[str | Path], overwrite: bool = False
) -> None:
    """Compare models: rows models, columns the image, top and bottom eigendistortion.

    Parameters
    ----------
    stores
        Complete eigendistortion stores (one per model, same image).
    outs
        Figure paths.
    overwrite
        Replace existing figures.

    """
    _render_stores(
        stores, "eigendistortion", "display_eigendistortion_all", outs, overwrite
    )


def render_geodesic(
    store: str | Path, outs: Sequence[str | Path], overwrite: bool = False
) -> None:
    """Draw a geodesic's frames above the pixel fade between the same anchors.

    Parameters
    ----------
    store
        A complete geodesic store.
    outs
        Figure paths.
    overwrite
        Replace existing figures.

    """
    _backend()
    from .. import plot

    dataset = open_store(store, "geodesic")
    figure = plot.geodesic_sequence(dataset)
    figure.suptitle(f"{dataset.attrs['image_name']} / {dataset.attrs['model_name']}")
    save_figure(figure, outs, overwrite)


def render_geodesic_deviation(
    stores: Sequence[str | Path], outs: Sequence[str | Path], overwrite: bool = False
) -> None:
    """Draw each geodesic's deviation from the straight line, one curve per model.

    Parameters
    ----------
    stores
        Complete geodesic stores (e.g. one per model, same anchors).
    outs
        Figure paths.
    overwrite
        Replace existing figures.

    """
    _backend()
    import matplotlib.pyplot as plt

    from .. import plot

    figure, axis = plt.subplots(figsize=(4.5, 3.5))
    for store in stores:
        dataset = open_store(store, "geodesic")
        plot.plot_deviation_from_line(dataset, ax=axis)
        axis.lines[-1].set_label(dataset.attrs["model_name"])
    axis.legend(fontsize=8)
    save_figure(figure, outs, overwrite)


def render_representation_error(
    store: str | Path,
    model_path: str | Path,
    outs: Sequence[str | Path],
    overwrite: bool = False,
) -> None:
    """Draw a metamer's final representation error with its model's own plot.

    For a Portilla-Simoncelli model this is one panel per statistic group.

    Parameters
    ----------
    store
        A complete metamer store.
    model_path
        The artifact of the model the metamer was synthesized for.
    outs
        Figure paths.
    overwrite
        Replace existing figures.

    Raises
    ------
    PipelineError
        If the artifact is not the store's model.

    """
    _backend()
    import torch

    from .. import plot
    from .models import load_model

    dataset = open_store(store, "metamer")
    loaded = load_model(model_path, device="cpu")
    attrs = dataset.attrs
    same = (loaded.class_path, json.dumps(loaded.kwargs, sort_keys=True)) == (
        attrs.get("model_class"),
        attrs.get("model_kwargs"),
    )
    if not same:
        raise PipelineError(
            f"{model_path} is not the model {store} was synthesized for "
            f"({dataset.attrs.get('model_name')}); pass that model's artifact"
        )
    shape = [int(n) for n in dataset.attrs["representation_shape"]]
    error = (
        dataset["metamer_representation"] - dataset["target_representation"]
    ).values
    error = torch.from_numpy(error.reshape(error.shape[0], *shape))
    figure = plot.plot_representation(loaded.model, error, title="Representation error")
    figure.suptitle(f"{dataset.attrs['image_name']} / {dataset.attrs['model_name']}")
    save_figure(figure, outs, overwrite)


def render_scale_losses(
    store: str | Path, outs: Sequence[str | Path], overwrite: bool = False
) -> None:
    """Draw a coarse-to-fine metamer's loss and per-scale losses over iterations.

    Parameters
    ----------
    store
        A complete coarse-to-fine metamer store.
    outs
        Figure paths.
    overwrite
        Replace existing figures.

    Raises
    ------
    PipelineError
        If the store is not coarse-to-fine.

    """
    _backend()
    from .. import plot

    dataset = open_store(store, "metamer")
    if "scale_loss" not in dataset.variables:
        raise PipelineError(
            f"{store} is a plain metamer store, not a coarse-to-fine one: it has no "
            "per-scale losses"
        )
    figure = plot.plot_scale_loss(dataset)
    figure.suptitle(f"{dataset.attrs['image_name']} / {dataset.attrs['model_name']}")
    save_figure(figure, outs, overwrite)
