"""Image sources (a built-in name or an image file), checked without decoding them.

The Snakefile checks every image source of a config at parse time, so this module
uses the standard library only, and Pillow (imported when there is a file to check)
to read a file's header: the format and size, not the pixels.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import PipelineError

__all__ = ["BUILTIN_IMAGE_NAMES", "MIN_IMAGE_SIDE", "ImageError", "check_image_source"]

# names of the built-in images (pipeline.data loads them: scikit-image's and our own)
BUILTIN_IMAGE_NAMES = (
    "astronaut",
    "brick",
    "camera",
    "coffee",
    "color_wheel",
    "curie",
    "einstein",
    "grass",
    "gravel",
    "moon",
    "parrot",
    "reptile_skin",
)
# smaller images carry too little to resize or synthesize from
MIN_IMAGE_SIDE = 8


class ImageError(PipelineError):
    """An image source that cannot be read, with a message saying how to fix it."""


def check_image_source(source: str | Path) -> None:
    """Check that ``source`` is a built-in image or an image file Pillow can open.

    Reads only the file's header (format and size), not its pixels: a file whose
    header is fine but whose data is truncated fails only when it is decoded.

    Parameters
    ----------
    source
        A built-in name (see :data:`BUILTIN_IMAGE_NAMES`) or the path of an image file
        (relative paths are relative to the working directory).

    Raises
    ------
    ImageError
        If the name is unknown, the file is missing, a directory, not an image, or
        smaller than :data:`MIN_IMAGE_SIDE` pixels on a side.

    Examples
    --------
    >>> from pipeline.image_sources import check_image_source
    >>> check_image_source("camera")
    >>> check_image_source("einsteinn")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    pipeline.image_sources.ImageError: unknown image 'einsteinn': use a built-in name ...

    """
    name = str(source)
    if name in BUILTIN_IMAGE_NAMES:
        return
    path = Path(source)
    if path.is_dir():
        raise ImageError(f"{path} is a directory, not an image file")
    if not path.suffix:
        raise ImageError(
            f"unknown image {name!r}: use a built-in name "
            f"({', '.join(sorted(BUILTIN_IMAGE_NAMES))}) or a path to an image file"
        )
    if not path.is_file():
        where = (
            "" if path.is_absolute() else f" (in the working directory {os.getcwd()})"
        )
        raise ImageError(f"image file not found: {path}{where}")
    from PIL import Image

    try:
        with Image.open(path) as handle:
            width, height = handle.size
    except Exception as error:  # Pillow raises many types for unreadable files
        raise ImageError(
            f"cannot read image file {path}: {type(error).__name__}: {error}"
        ) from error
    if min(height, width) < MIN_IMAGE_SIDE:
        raise ImageError(
            f"image file {path} is {height}x{width}: too small to synthesize from "
            f"(at least {MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE} pixels)"
        )
