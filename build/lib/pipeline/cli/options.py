"""Options shared by several commands, defined once so each name means one thing."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

import click

__all__ = [
    "OPTIONAL_FLOAT",
    "device_option",
    "overwrite_option",
    "parse_params",
    "seed_option",
    "stage_command",
]

overwrite_option = click.option(
    "--overwrite", is_flag=True, help="Replace the output if it already exists."
)
seed_option = click.option(
    "--seed",
    type=click.IntRange(min=0, max=2**32 - 1),
    default=0,
    show_default=True,
    help="Seed of the random generators.",
)
device_option = click.option(
    "--device",
    type=click.Choice(["cpu", "cuda", "auto"]),
    default="auto",
    show_default=True,
    help="Where to compute: auto uses a CUDA GPU when there is one.",
)


class _OptionalFloat(click.ParamType):
    """A float, or ``none`` for ``None``."""

    name = "float|none"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float | None:
        if value is None or isinstance(value, float):
            return value
        if str(value).strip().lower() == "none":
            return None
        try:
            return float(value)
        except ValueError:
            self.fail(f"{value!r} is neither a number nor 'none'", param, ctx)


OPTIONAL_FLOAT = _OptionalFloat()


def parse_params(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, Any]:
    """Parse repeated ``KEY=VALUE`` options; VALUE is JSON, else a plain string.

    Parameters
    ----------
    ctx, param
        Click's callback arguments.
    values
        The raw option values.

    Returns
    -------
    params
        Mapping of keys to parsed values (no code is ever evaluated).

    Raises
    ------
    click.BadParameter
        If an entry has no ``=`` or an empty key, or a key repeats.

    """
    params: dict[str, Any] = {}
    for entry in values:
        key, sep, raw = entry.partition("=")
        key = key.strip()
        if not sep or not key:
            raise click.BadParameter(
                f"{entry!r} is not KEY=VALUE", ctx=ctx, param=param
            )
        if key in params:
            raise click.BadParameter(f"{key!r} given twice", ctx=ctx, param=param)
        try:
            params[key] = json.loads(raw)
        except json.JSONDecodeError:
            params[key] = raw
    return params


def stage_command(function: Callable[..., None]) -> Callable[..., None]:
    """Wrap a command body so errors a user can fix print as one ``Error:`` line.

    Any :class:`pipeline.errors.PipelineError` becomes a click error (exit status 1),
    so does running out of memory (with what to change); anything else is a bug and
    keeps its traceback.

    Parameters
    ----------
    function
        The command's body.

    Returns
    -------
    wrapped
        The same function with that translation.

    """

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        from ..errors import PipelineError

        try:
            function(*args, **kwargs)
        except PipelineError as error:
            raise click.ClickException(str(error).splitlines()[0]) from None
        except (MemoryError, RuntimeError) as error:
            if not _is_out_of_memory(error):
                raise
            raise click.ClickException(
                f"out of memory ({str(error).splitlines()[0][:120]}): the last "
                "checkpoint is kept; rerun with --device cpu (more memory than a "
                "GPU), a smaller image or --dtype float32, or for eigendistortions "
                "--method power"
            ) from None

    return wrapper


def _is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` is an allocation failure (host or device)."""
    return (
        isinstance(error, MemoryError)
        or type(error).__name__ == "OutOfMemoryError"  # torch's, without importing it
        or "out of memory" in str(error).lower()
    )
