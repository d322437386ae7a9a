"""``pipeline render <figure>``: figures drawn from stores alone."""

from __future__ import annotations

from pathlib import Path

import click

from .options import overwrite_option, stage_command

__all__ = ["render"]

_out_option = click.option(
    "--out",
    "outs",
    multiple=True,
    required=True,
    type=click.Path(path_type=Path),
    help="Figure path; the suffix sets the format (png, pdf, svg). Repeat for several.",
)


@click.group()
def render() -> None:
    """Draw figures from synthesis stores."""


@render.command("status")
@click.argument("stores", nargs=-1, required=True, type=click.Path(path_type=Path))
@_out_option
@overwrite_option
@stage_command
def status(stores: tuple[Path, ...], outs: tuple[Path, ...], overwrite: bool) -> None:
    """Synthesis status of each metamer store: image, loss curve, representation error.

    With several STORES, give each the same number of --out paths, in store order.
    """
    from ..stages.render import render_status

    render_status(stores, outs, overwrite)


@render.command("metamer-grid")
@click.argument("stores", nargs=-1, required=True, type=click.Path(path_type=Path))
@_out_option
@overwrite_option
@stage_command
def metamer_grid(
    stores: tuple[Path, ...], outs: tuple[Path, ...], overwrite: bool
) -> None:
    """Targets (rows) against their metamers under each model (columns)."""
    from ..stages.render import render_metamer_grid

    render_metamer_grid(stores, outs, overwrite)


@render.command("losses")
@click.argument("stores", nargs=-1, required=True, type=click.Path(path_type=Path))
@_out_option
@overwrite_option
@stage_command
def losses(stores: tuple[Path, ...], outs: tuple[Path, ...], overwrite: bool) -> None:
    """Loss curves of all STORES, one panel per image."""
    from ..stages.render import render_losses

    render_losses(stores, outs, overwrite)


@render.command("mad-set")
@click.argument("stores", nargs=-1, required=True, type=click.Path(path_type=Path))
@_out_option
@overwrite_option
@stage_command
def mad_set(stores: tuple[Path, ...], outs: tuple[Path, ...], overwrite: bool) -> None:
    """Draw the MAD images of one set (STORES) beside the reference and initial image."""
    from ..stages.render import render_mad_set

    render_mad_set(stores, outs, overwrite)


@render.command("mad-trajectories")
@click.argument("stores", nargs=-1, required=True, type=click.Path(path_type=Path))
@_out_option
@overwrite_option
@stage_command
def mad_trajectories(
    stores: tuple[Path, ...], outs: tuple[Path, ...], overwrite: bool
) -> None:
    """Both metrics over the iterations of the MAD syntheses of one set (STORES)."""
    from ..stages.render import render_mad_trajectories

    render_mad_trajectories(stores, outs, overwrite)


@render.command("eigendistortions")
@click.argument("stores", nargs=-1, required=True, type=click.Path(path_type=Path))
@_out_option
@overwrite_option
@stage_command
def eigendistortions(
    stores: tuple[Path, ...], outs: tuple[Path, ...], overwrite: bool
) -> None:
    """Draw the top and bottom eigendistortions of STORES, one row per model."""
    from ..stages.render import render_eigendistortions

    render_eigendistortions(stores, outs, overwrite)


@render.command("geodesic")
@click.argument("store", type=click.Path(path_type=Path))
@_out_option
@overwrite_option
@stage_command
def geodesic(store: Path, outs: tuple[Path, ...], overwrite: bool) -> None:
    """Draw a geodesic's frames (STORE) above the pixel fade."""
    from ..stages.render import render_geodesic

    render_geodesic(store, outs, overwrite)


@render.command("geodesic-deviation")
@click.argument("stores", nargs=-1, required=True, type=click.Path(path_type=Path))
@_out_option
@overwrite_option
@stage_command
def geodesic_deviation(
    stores: tuple[Path, ...], outs: tuple[Path, ...], overwrite: bool
) -> None:
    """Draw the deviation from the straight line of geodesics (STORES), one per model."""
    from ..stages.render import render_geodesic_deviation

    render_geodesic_deviation(stores, outs, overwrite)


@render.command("representation-error")
@click.argument("store", type=click.Path(path_type=Path))
@click.argument("model", type=click.Path(path_type=Path))
@_out_option
@overwrite_option
@stage_command
def representation_error(
    store: Path, model: Path, outs: tuple[Path, ...], overwrite: bool
) -> None:
    """Draw the final representation error of a metamer (STORE) under MODEL."""
    from ..stages.render import render_representation_error

    render_representation_error(store, model, outs, overwrite)


@render.command("scale-losses")
@click.argument("store", type=click.Path(path_type=Path))
@_out_option
@overwrite_option
@stage_command
def scale_losses(store: Path, outs: tuple[Path, ...], overwrite: bool) -> None:
    """Draw the loss and per-scale losses of a coarse-to-fine metamer (STORE)."""
    from ..stages.render import render_scale_losses

    render_scale_losses(store, outs, overwrite)
