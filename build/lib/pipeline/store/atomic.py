"""Outputs that appear under their final name only when complete."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from ..errors import PipelineError

__all__ = ["OutputExistsError", "atomic_output", "remove_path"]


class OutputExistsError(PipelineError, FileExistsError):
    """The output already exists and overwriting was not asked for."""


def remove_path(path: Path) -> None:
    """Remove a file or directory tree if it exists.

    Parameters
    ----------
    path
        What to remove.

    """
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _remove_abandoned_partials(final: Path) -> None:
    """Remove partial outputs of ``final`` left by processes that were killed."""
    for partial in final.parent.glob(f".{final.name}.partial-*"):
        pid = partial.name.rpartition("-")[2]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:  # its writer is gone: nobody will finish it
            remove_path(partial)
        except PermissionError:  # alive, another user's
            continue


@contextlib.contextmanager
def atomic_output(final: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling path; rename it to ``final`` only on success.

    A crash or an exception leaves nothing under the final name (and removes the
    temporary), so no later stage can mistake a partial output for a complete one.

    Parameters
    ----------
    final
        The output path (file or directory).
    overwrite
        Replace an existing output. Without it an existing output is an error, so
        finished work is never silently lost.

    Yields
    ------
    temporary
        Path to write to, in the same directory as ``final``.

    Raises
    ------
    OutputExistsError
        If ``final`` exists and ``overwrite`` is false.

    """
    final = Path(final)
    if final.exists() and not overwrite:
        raise OutputExistsError(
            f"output {final} already exists: remove it or pass --overwrite"
        )
    final.parent.mkdir(parents=True, exist_ok=True)
    _remove_abandoned_partials(final)
    temporary = final.with_name(f".{final.name}.partial-{os.getpid()}")
    remove_path(temporary)
    try:
        yield temporary
    except BaseException:
        remove_path(temporary)
        raise
    if final.is_dir() and not final.is_symlink():
        remove_path(final)  # a directory can't be renamed over; a file atomically can
    os.replace(temporary, final)
