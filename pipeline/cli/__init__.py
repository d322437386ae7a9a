"""The ``pipeline`` command: one subcommand per workflow stage.

Commands are thin: parse and validate options, call a stage from
:mod:`pipeline.stages`, report. Heavy libraries are imported inside the commands, so
``pipeline --help`` starts fast.
"""

from __future__ import annotations

import atexit
import gc
import logging
import os
import sys
from typing import NoReturn

import click

from .aggregate import aggregate
from .build_model import build_model
from .prepare_images import prepare_images
from .render import render
from .synthesize import synthesize

__all__ = ["exit_without_teardown", "main", "run"]


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
    commands are short and end. The process then ends without the interpreter's
    teardown (:func:`exit_without_teardown`).
    """
    gc.disable()
    try:
        main()
    except SystemExit as finished:  # click ends every command with one
        code = finished.code
    else:
        code = 0
    exit_without_teardown(code)


def exit_without_teardown(code: object) -> NoReturn:
    """End the process as ``sys.exit(code)`` would, without tearing the interpreter down.

    Tearing down an interpreter that imported torch (clearing every module, a last
    collection over a million objects) takes half as long as importing it did, and
    every workflow job would pay it. What an exit must still do runs first: the
    atexit handlers (logging's flush, weakref finalizers...) and flushing stdout and
    stderr. Threads still running are not waited for: the commands start none, and
    the stores' writes have all completed when a command returns.

    Parameters
    ----------
    code
        As for ``sys.exit``: None (0), an exit status, or a message (printed to
        stderr; status 1).

    """
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:
        print(code, file=sys.stderr)
        status = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing to flush to
            status = status or 1
    os._exit(status)


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
