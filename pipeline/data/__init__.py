"""Real images for synthesis, shipped inside installed packages.

The built-in images come from scikit-image's wheel and from this package's own
data (``einstein``, ``curie``, ``parrot``, ``reptile_skin``: small PNG files next to
this module, whose provenance and licences are in its ``README.md``; ``color_wheel``
is drawn on the fly), so nothing is downloaded at run time. Every loader returns a
float32 tensor (1, C, H, W) with values in [0, 1], grayscale (C = 1) unless
``as_gray=False`` (C = 3; grayscale images are repeated on the three channels).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..image_sources import ImageError, check_image_source

if TYPE_CHECKING:
    import torch

__all__ = [
    "BUILTIN_IMAGES",
    "astronaut",
    "brick",
    "camera",
    "coffee",
    "color_wheel",
    "curie",
    "einstein",
    "grass",
    "gravel",
    "list_images",
    "load_image",
    "load_image_array",
    "moon",
    "parrot",
    "reptile_skin",
]

_DATA_DIR = Path(__file__).parent


def _skimage(name: str) -> Callable[[], np.ndarray]:
    def read() -> np.ndarray:
        import skimage.data

        return getattr(skimage.data, name)()

    return read


def _packaged(filename: str) -> Callable[[], np.ndarray]:
    return lambda: _read_file(_DATA_DIR / filename)


@functools.cache
def _color_wheel_array(size: int = 600) -> np.ndarray:
    """Hue by angle, saturation by radius, on a white background (uint8 RGB).

    Computed once and returned read-only.
    """
    coords = np.arange(size) - (size - 1) / 2
    y, x = np.meshgrid(-coords, coords, indexing="ij")
    radius = np.hypot(x, y) / (size / 2 - 1)
    hue6 = 6 * ((np.arctan2(y, x) / (2 * np.pi)) % 1.0)  # hue in [0, 6)
    # fully saturated colour of each hue (the HSV hexcone with value 1)
    pure = np.stack(
        [np.abs(hue6 - 3) - 1, 2 - np.abs(hue6 - 2), 2 - np.abs(hue6 - 4)], axis=-1
    ).clip(0, 1)
    saturation = np.clip(radius, 0, 1)[..., None]
    rgb = 1 - saturation * (1 - pure)
    inside = np.clip((1 - radius) * size / 2 + 0.5, 0, 1)[..., None]  # smooth edge
    wheel = np.round((inside * rgb + (1 - inside)) * 255).astype(np.uint8)
    wheel.flags.writeable = False
    return wheel


# built-in name -> function returning the image as an array; textures first-class
# for PS
BUILTIN_IMAGES: dict[str, Callable[[], np.ndarray]] = {
    "astronaut": _skimage("astronaut"),
    "brick": _skimage("brick"),
    "camera": _skimage("camera"),
    "coffee": _skimage("coffee"),
    "color_wheel": _color_wheel_array,
    "curie": _packaged("curie.png"),
    "einstein": _packaged("einstein.png"),
    "grass": _skimage("grass"),
    "gravel": _skimage("gravel"),
    "moon": _skimage("moon"),
    "parrot": _packaged("parrot.png"),
    "reptile_skin": _packaged("reptile_skin.png"),
}


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
        return BUILTIN_IMAGES[name]()
    check_image_source(source)  # name, file, format and size, from the header
    return _read_file(Path(source))


def _read_file(path: Path) -> np.ndarray:
    from PIL import Image

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


def load_image_array(
    source: str | Path, as_gray: bool = True, size: int | None = None
) -> np.ndarray:
    """Load a built-in image or an image file as a float32 array in [0, 1].

    What :func:`load_image` returns, as a NumPy array: for code that needs no torch
    (the ``prepare-images`` stage).

    Parameters
    ----------
    source
        A built-in name (see :func:`list_images`) or the path of an image file.
    as_gray
        Convert color images to grayscale (luminance); if False, the image has
        three (RGB) channels, a grayscale one repeated on each.
    size
        If given, centre-crop to a square and resize to ``size`` x ``size`` with
        anti-aliasing.

    Returns
    -------
    image
        Array of shape (1, C, H, W), dtype float32, values in [0, 1]; C is 1 if
        ``as_gray`` else 3.

    Raises
    ------
    ImageError
        If the source is unknown, missing, unreadable or not an image.

    Examples
    --------
    >>> import pipeline as po
    >>> po.data.load_image_array("camera", size=64).shape
    (1, 1, 64, 64)

    """
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
        array = array[None] if as_gray else np.repeat(array[None], 3, axis=0)
    else:
        array = np.moveaxis(array, -1, 0)
    return np.ascontiguousarray(array, dtype=np.float32)[None]


def load_image(
    source: str | Path, as_gray: bool = True, size: int | None = None
) -> torch.Tensor:
    """Load a built-in image or an image file as a float32 tensor in [0, 1].

    :func:`load_image_array` as a tensor: the same parameters, checks and errors.

    Parameters
    ----------
    source, as_gray, size
        As in :func:`load_image_array`.

    Returns
    -------
    image
        Tensor of shape (1, C, H, W), dtype float32, values in [0, 1].

    Examples
    --------
    >>> import pipeline as po
    >>> po.data.load_image("camera", size=64).shape
    torch.Size([1, 1, 64, 64])

    """
    import torch

    return torch.from_numpy(load_image_array(source, as_gray=as_gray, size=size))


astronaut = partial(load_image, "astronaut")
brick = partial(load_image, "brick")
camera = partial(load_image, "camera")
coffee = partial(load_image, "coffee")
grass = partial(load_image, "grass")
gravel = partial(load_image, "gravel")
moon = partial(load_image, "moon")


_LOADER_SECTIONS = """

    Parameters
    ----------
    as_gray
        One grayscale channel (True) or three {channels} channels (False).
    size
        If given, centre-crop to a square and resize to ``size`` x ``size``.

    Returns
    -------
    image
        Float32 tensor of shape ``{shape}`` (with the defaults), values in [0, 1].

    Examples
    --------
    >>> import pipeline as po
    >>> po.data.{name}().shape
    torch.Size({size_list})

    """


def _example_loader(
    name: str, summary: str, shape: tuple[int, ...], as_gray: bool = True
) -> Callable[..., torch.Tensor]:
    """Make the public loader ``po.data.<name>``, with its numpydoc docstring."""

    def loader(as_gray: bool = as_gray, size: int | None = None) -> torch.Tensor:
        return load_image(name, as_gray=as_gray, size=size)

    loader.__name__ = loader.__qualname__ = name
    loader.__doc__ = summary + _LOADER_SECTIONS.format(
        channels="identical RGB" if shape[1] == 1 else "RGB",
        shape=shape,
        name=name,
        size_list=list(shape),
    )
    return loader


_PROVENANCE = "Provenance and licence: ``pipeline/data/README.md``."
einstein = _example_loader(
    "einstein",
    "Load a grayscale photograph of Albert Einstein.\n\n    A public-domain "
    f"historical portrait, 256 x 256 pixels. {_PROVENANCE}",
    (1, 1, 256, 256),
)
curie = _example_loader(
    "curie",
    "Load a grayscale photograph of Marie Curie.\n\n    A public-domain historical "
    f"portrait, 256 x 256 pixels. {_PROVENANCE}",
    (1, 1, 256, 256),
)
parrot = _example_loader(
    "parrot",
    "Load a natural grayscale photograph (stand-in for the reference's parrot).\n\n"
    "    The reference library's parrot has no documented licence: this is\n"
    "    scikit-image's ``chelsea`` (a cat, CC0) in grayscale, cut and resized to the\n"
    f"    parrot's size. {_PROVENANCE}",
    (1, 1, 254, 266),
)
reptile_skin = _example_loader(
    "reptile_skin",
    "Load a grayscale texture (stand-in for the reference's reptile skin).\n\n"
    "    The reference library's reptile skin has no documented licence: this is the\n"
    f"    central 256 x 256 crop of scikit-image's ``gravel`` texture (CC0). {_PROVENANCE}",
    (1, 1, 256, 256),
)
color_wheel = _example_loader(
    "color_wheel",
    "Draw a color wheel: hue by angle, saturation by distance to the centre.\n\n"
    "    A 600 x 600 RGB image computed on the fly (no file): a disk whose hue turns\n"
    "    once around the centre (red to the right, counterclockwise through green and\n"
    "    blue) and whose saturation grows from white at the centre to full at the rim,\n"
    "    on a white background. It stands in for the reference library's color wheel\n"
    "    photograph (see ``pipeline/data/README.md``).",
    (1, 3, 600, 600),
    as_gray=False,
)
