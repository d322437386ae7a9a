"""Saved synthesis files: the warning ``load`` gives and a way to look inside them.

Every synthesis object's ``save`` writes a ``.pt`` file of tensors and plain values
only (no model, no code). :func:`examine_saved_synthesis` prints what such a file
holds without building any object, which helps when ``load`` refuses a file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["LoadWarning", "examine_saved_synthesis"]


class LoadWarning(UserWarning):
    """A check of ``load(..., raise_on_checks=False)`` failed and loading went on.

    With the default ``raise_on_checks=True`` the same check raises a ``ValueError``.
    """


def _describe(value: Any) -> str:
    import torch

    if isinstance(value, torch.Tensor):
        return f"{value.dtype}, shape {tuple(value.shape)}"
    if isinstance(value, dict | list | tuple):
        return f"{type(value).__name__} with {len(value)} entries"
    return repr(value)


def _section(title: str, rows: dict[str, str]) -> list[str]:
    lines = [title, "-" * len(title)]
    width = max((len(k) for k in rows), default=0)
    lines += [f"{key:<{width}} : {text}" for key, text in rows.items()]
    return [*lines, ""]


def examine_saved_synthesis(
    file_path: str | Path, map_location: str | None = None
) -> None:
    """Print what a saved synthesis file holds, without building the object.

    Prints the versions it was saved with, the class of the saved object, the name
    of each callable (model, loss, metrics, penalty) with the output ``load`` compares,
    the attributes ``load`` checks, and the rest of the saved state.

    Parameters
    ----------
    file_path
        A file written by the ``save`` method of a synthesis object.
    map_location
        Passed to :func:`torch.load`, e.g. ``"cpu"`` for a file saved on a GPU.

    Raises
    ------
    ValueError
        If the file is not a saved synthesis.

    Examples
    --------
    >>> import pipeline as po
    >>> model = po.models.Gaussian(5).eval()
    >>> po.remove_grad(model)
    >>> met = po.Metamer(po.data.camera(size=16), model)
    >>> met.synthesize(2, progress=False)
    >>> met.save("metamer.pt")
    >>> po.io.examine_saved_synthesis("metamer.pt")  # doctest: +ELLIPSIS
    Metadata
    --------
    ...
    Saved object type : pipeline.Metamer
    ...

    """
    import torch

    from . import __version__
    from .synthesis.common import SAVE_FORMAT

    payload = torch.load(file_path, map_location=map_location, weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != SAVE_FORMAT:
        raise ValueError(
            f"{file_path} is not a saved synthesis of this version of pipeline "
            f"(expected format {SAVE_FORMAT})"
        )
    metadata = {
        "pipeline version": f"{payload['pipeline_version']} (installed: {__version__})",
        "torch version": f"{payload['torch_version']} (installed: {torch.__version__})",
        "Saved object type": payload["class"],
    }
    callables = {
        name: f"{saved_name}, output {_describe(output)}"
        for name, (saved_name, output) in payload["callables"].items()
    }
    checked = {k: _describe(v) for k, v in payload["attributes"].items()}
    other = {k: _describe(v) for k, v in payload["restored"].items()}
    other.update({k: _describe(v) for k, v in payload["state"].items()})
    lines = [
        *_section("Metadata", metadata),
        *_section("Callables", callables),
        *_section("Checked attributes", checked),
        *_section("Other attributes", other),
    ]
    print("\n".join(lines).rstrip())
