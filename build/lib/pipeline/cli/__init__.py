"""The ``pipeline`` command: one subcommand per workflow stage.

Commands are thin: parse and validate options, call a stage from
:mod:`pipeline.stages`, report. Heavy libraries are imported inside the commands, so
``pipeline --help`` starts fast.
"""

from __future__ import annotations

import click

from .aggregate import aggregate
from .build_model import build_model
from .prepare_images import prepare_images
from .render import render
from .synthesize import synthesize

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pipeline")
def main() -> None:
    """Model-based stimulus synthesis, one stage at a time.

    Stages read and write zarr stores that open with ``xarray.open_zarr``; the
    Snakefile chains them.
    """


for command in (prepare_images, build_model, synthesize, aggregate, render):
    main.add_command(command)
