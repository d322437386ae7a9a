"""``pipeline prepare-images``."""

from __future__ import annotations

from pathlib import Path

import click

from .options import overwrite_option, stage_command

__all__ = ["prepare_images"]


@click.command("prepare-images")
@click.argument("source")
@click.argument("out_store", type=click.Path(path_type=Path))
@click.option(
    "--size",
    type=click.IntRange(min=8),
    default=None,
    help="Centre-crop to a square and resize to SIZE x SIZE pixels.",
)
@click.option("--color", is_flag=True, help="Keep color channels (default: grayscale).")
@click.option(
    "--name", default=None, help="Name recorded in the store (default: SOURCE's)."
)
@click.option(
    "--shift",
    type=(int, int),
    default=(0, 0),
    show_default=True,
    metavar="DOWN RIGHT",
    help="Circular shift in pixels, after resizing.",
)
@click.option(
    "--rotate",
    type=float,
    default=0.0,
    show_default=True,
    help="Rotation in degrees (counter-clockwise), after resizing.",
)
@overwrite_option
@stage_command
def prepare_images(
    source: str,
    out_store: Path,
    size: int | None,
    color: bool,
    name: str | None,
    shift: tuple[int, int],
    rotate: float,
    overwrite: bool,
) -> None:
    """Write SOURCE (a built-in image name or an image file) as a zarr image store."""
    from ..stages.images import prepare_image

    prepare_image(
        source,
        out_store,
        size=size,
        as_gray=not color,
        name=name,
        overwrite=overwrite,
        shift=shift,
        rotate=rotate,
    )
    click.echo(f"wrote {out_store}")
