"""The ``pipeline`` command: one subcommand per workflow stage.

Commands are thin: parse and validate options, call a stage from
:mod:`pipeline.stages`, report. Heavy libraries are imported inside the commands, so
``pipeline --help`` starts fast.
"""

from __future__ import annotations

import gc
import logging

import click

from .aggregate import aggregate
from .build_model import build_model
from .prepare_images import prepare_images
from .render import render
from .synthesize import synthesize

__all__ = ["main", "run"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pipeline")
def main() -> None:
    """Model-based stimulus synthesis, one stage at a time.

    Stages read and write zarr stores that open with ``xarray.open_zarr``; the
    Snakefile chains them.
    """
    _log_to_stderr()


def run() -> None:
    """Run :func:`main` as the ``pipeline`` command, the cyclic collector paused.

    A stage process imports torch, zarr, matplotlib... once: a million objects, over
    which the collector's passes cost a tenth of the import time, and none of which
    becomes garbage. Synthesis commands freeze those objects and turn the collector on
    again before their loop (:func:`pipeline.cli.synthesize.run_stage`); the other
    commands are short and end.
    """
    gc.disable()
    main()


class _EchoHandler(logging.Handler):
    """Write log records as lines on the current stderr (click's, when testing)."""

    def emit(self, record: logging.LogRecord) -> None:
        click.echo(self.format(record), err=True)


def _log_to_stderr() -> None:
    """Show what the stages log (e.g. where a synthesis resumed) on stderr."""
    logger = logging.getLogger("pipeline")
    if not any(isinstance(handler, _EchoHandler) for handler in logger.handlers):
        logger.addHandler(_EchoHandler())
    logger.setLevel(logging.INFO)


for command in (prepare_images, build_model, synthesize, aggregate, render):
    main.add_command(command)
