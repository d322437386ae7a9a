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
    shift: tuple[int, int] = (0, 0),
    rotate: float = 0.0,
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
    shift
        Circular shift (down, right) in pixels, applied after resizing: with
        ``rotate``, this makes the transformed copies geodesics run between.
    rotate
        Rotation in degrees (counter-clockwise, reflected borders), after resizing.

    Returns
    -------
    out
        The written store.

    """
    import numpy as np

    from ..data import load_image_array  # numpy alone: this stage needs no torch

    image = load_image_array(source, as_gray=as_gray, size=size)
    if rotate:
        from scipy.ndimage import rotate as rotate_array

        rotated = rotate_array(
            image, rotate, axes=(-1, -2), reshape=False, mode="reflect"
        )
        image = np.clip(rotated, 0, 1).astype(np.float32)
    if any(shift):
        image = np.roll(image, tuple(shift), axis=(-2, -1))
    attrs = {
        "name": name or Path(source).stem,
        "source": str(source),
        "size": list(image.shape[-2:]),
        "as_gray": as_gray,
        "shift": list(shift),
        "rotate": rotate,
    }
    with atomic_output(out, overwrite=overwrite) as temporary:
        write_image_store(temporary, image, attrs)
    return Path(out)
