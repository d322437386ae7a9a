"""``pipeline build-model``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .options import overwrite_option, parse_params, stage_command

__all__ = ["build_model"]


@click.command("build-model")
@click.argument("name")
@click.argument("out", type=click.Path(path_type=Path))
@click.option(
    "--param",
    "params",
    multiple=True,
    callback=parse_params,
    metavar="KEY=VALUE",
    help="Constructor argument; VALUE is parsed as JSON (31, true, [1, 2]) "
    "or kept as a string. Repeat for several.",
)
@overwrite_option
@stage_command
def build_model(name: str, out: Path, params: dict[str, Any], overwrite: bool) -> None:
    """Build model NAME (a pipeline.models class or module:Class) into artifact OUT."""
    from ..stages.models import build_model as build

    build(name, out, params, overwrite=overwrite)
    click.echo(f"wrote {out}")
