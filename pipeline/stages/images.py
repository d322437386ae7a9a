"""Prepare images: a built-in name or an image file into an image store."""

from __future__ import annotations

from pathlib import Path

from ..store.atomic import atomic_output
from ..store.schema import write_image_store

__all__ = ["prepare_image"]


def prepare_image(
    source: str,
    out: str | Path,
    size: int | None = None,
    as_gray: bool = True,
    name: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Load ``source``, optionally crop and resize it, and write an image store.

    Parameters
    ----------
    source
        Built-in image name (see :func:`pipeline.data.list_images`) or file path.
    out
        The zarr store to create.
    size
        Side of the square output, or ``None`` to keep the original size.
    as_gray
        Convert to grayscale.
    name
        Name recorded in the store; defaults to the source's name.
    overwrite
        Replace an existing store.

    Returns
    -------
    out
        The written store.

    """
    from ..data import load_image

    image = load_image(source, as_gray=as_gray, size=size)
    attrs = {
        "name": name or Path(source).stem,
        "source": str(source),
        "size": list(image.shape[-2:]),
        "as_gray": as_gray,
    }
    with atomic_output(out, overwrite=overwrite) as temporary:
        write_image_store(temporary, image, attrs)
    return Path(out)
