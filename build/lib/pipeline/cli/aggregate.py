"""``pipeline aggregate``."""

from __future__ import annotations

from pathlib import Path

import click

from .options import overwrite_option, stage_command

__all__ = ["aggregate"]


@click.command("aggregate")
@click.argument("stores", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--out", type=click.Path(path_type=Path), required=True, help="CSV to write."
)
@overwrite_option
@stage_command
def aggregate(stores: tuple[Path, ...], out: Path, overwrite: bool) -> None:
    """Summarize synthesis STORES into one table, one row per synthesis."""
    from ..stages.aggregate import aggregate as run

    table = run(stores, out, overwrite=overwrite)
    click.echo(f"wrote {out} ({len(table)} rows)")
