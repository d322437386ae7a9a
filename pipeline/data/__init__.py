"""Real images for synthesis, shipped inside installed packages.

The built-in images come from scikit-image's wheel, so nothing is downloaded at run
time. Every loader returns a float32 tensor (1, C, H, W) with values in [0, 1],
grayscale (C = 1) unless ``as_gray=False``.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..image_sources import BUILTIN_IMAGES, ImageError, check_image_source

if TYPE_CHECKING:
    import torch

__all__ = [
    "BUILTIN_IMAGES",
    "astronaut",
    "brick",
    "camera",
    "coffee",
    "grass",
    "gravel",
    "list_images",
    "load_image",
    "moon",
]


def list_images() -> list[str]:
    """Names of the built-in images.

    Returns
    -------
    names
        Sorted list of names accepted by :func:`load_image`.

    Examples
    --------
    >>> import pipeline as po
    >>> "camera" in po.data.list_images()
    True

    """
    return sorted(BUILTIN_IMAGES)


def _read_array(source: str | Path) -> np.ndarray:
    name = str(source)
    if name in BUILTIN_IMAGES:
        import skimage.data

        return getattr(skimage.data, BUILTIN_IMAGES[name])()
    check_image_source(source)  # name, file, format and size, from the header
    from PIL import Image

    path = Path(source)
    try:
        with Image.open(path) as handle:
            array = np.asarray(handle)
    except Exception as error:  # Pillow raises many types for unreadable files
        raise ImageError(
            f"cannot read image file {path}: {type(error).__name__}: {error}"
        ) from error
    return array


def _to_float(array: np.ndarray) -> np.ndarray:
    if np.issubdtype(array.dtype, np.integer):
        return array.astype(np.float64) / np.iinfo(array.dtype).max
    if array.dtype == bool:
        return array.astype(np.float64)
    array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
        raise ImageError("image has non-finite values (NaN or Inf)")
    if array.min() < 0 or array.max() > 1:
        raise ImageError(
            "float image values must lie in [0, 1], got "
            f"[{array.min():.4g}, {array.max():.4g}]"
        )
    return array


def load_image(
    source: str | Path, as_gray: bool = True, size: int | None = None
) -> torch.Tensor:
    """Load a built-in image or an image file as a float32 tensor in [0, 1].

    Parameters
    ----------
    source
        A built-in name (see :func:`list_images`) or the path of an image file.
    as_gray
        Convert color images to grayscale (luminance).
    size
        If given, centre-crop to a square and resize to ``size`` x ``size`` with
        anti-aliasing.

    Returns
    -------
    image
        Tensor of shape (1, C, H, W), dtype float32, values in [0, 1].

    Raises
    ------
    ImageError
        If the source is unknown, missing, unreadable or not an image.

    Examples
    --------
    >>> import pipeline as po
    >>> po.data.load_image("camera", size=64).shape
    torch.Size([1, 1, 64, 64])

    """
    import torch

    array = _read_array(source)
    if array.ndim == 3 and array.shape[-1] == 4:  # drop alpha
        array = array[..., :3]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] != 3):
        raise ImageError(
            f"{source} is not a 2-D grayscale or RGB image (array shape {array.shape})"
        )
    array = _to_float(array)
    if as_gray and array.ndim == 3:
        from skimage.color import rgb2gray

        array = rgb2gray(array)
    if size is not None:
        if size < 8:
            raise ImageError(f"size must be at least 8 pixels, got {size}")
        from skimage.transform import resize

        height, width = array.shape[:2]
        side = min(height, width)
        top, left = (height - side) // 2, (width - side) // 2
        array = array[top : top + side, left : left + side]
        array = resize(array, (size, size, *array.shape[2:]), anti_aliasing=side > size)
    array = np.clip(array, 0.0, 1.0)
    if array.ndim == 2:
        array = array[None]
    else:
        array = np.moveaxis(array, -1, 0)
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))[None]


astronaut = partial(load_image, "astronaut")
brick = partial(load_image, "brick")
camera = partial(load_image, "camera")
coffee = partial(load_image, "coffee")
grass = partial(load_image, "grass")
gravel = partial(load_image, "gravel")
moon = partial(load_image, "moon")
