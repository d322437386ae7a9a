"""Writing store attributes and images, and opening stores checked against their layout.

What each kind holds is declared in :mod:`pipeline.store.layout`.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import PipelineError
from .layout import IMAGE_DIMS, LAYOUTS, SCHEMA_VERSION, SYNTHESIS_KINDS

if TYPE_CHECKING:
    import torch
    import xarray as xr

__all__ = [
    "SCHEMA_VERSION",
    "SYNTHESIS_KINDS",
    "StoreError",
    "consolidate",
    "open_store",
    "read_image_store",
    "store_attributes",
    "write_image_store",
]


class StoreError(PipelineError):
    """A store that is missing, partial, corrupt or of another kind."""


def consolidate(path: str | Path) -> None:
    """Write consolidated metadata so ``xr.open_zarr`` opens the store quietly.

    Parameters
    ----------
    path
        The zarr group.

    """
    import zarr

    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="Consolidated metadata", category=UserWarning
        )
        zarr.consolidate_metadata(str(path))


def store_attributes(
    path: str | Path, kind: str | tuple[str, ...] | None = None
) -> dict[str, Any]:
    """Return the attributes of a complete store of the expected kind.

    Reads only the group's metadata (``zarr.json``), so it needs neither zarr nor
    xarray: stages check their inputs this way before anything heavy is imported.

    Parameters
    ----------
    path
        The zarr store.
    kind
        Expected ``pipeline_store`` kind (``"image"``, ``"metamer"``...) or kinds
        (e.g. :data:`SYNTHESIS_KINDS`); ``None`` accepts any kind.

    Returns
    -------
    attrs
        The group's attributes.

    Raises
    ------
    StoreError
        If the path is missing, not a zarr store, not written by this pipeline, of
        another kind or schema version, or incomplete.

    """
    path = Path(path)
    if not path.exists():
        raise StoreError(f"store not found: {path}")
    metadata_file = path / "zarr.json"
    if not metadata_file.is_file():
        raise StoreError(f"{path} is not a zarr store (no zarr.json inside)")
    try:
        metadata = json.loads(metadata_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise StoreError(
            f"cannot open store {path}: {type(error).__name__}: {error}"
        ) from error
    attrs = metadata.get("attributes") if isinstance(metadata, dict) else None
    if not isinstance(attrs, dict) or attrs.get("pipeline_store") is None:
        raise StoreError(f"{path} is a zarr store but not one written by pipeline")
    found = attrs["pipeline_store"]
    kinds = (kind,) if isinstance(kind, str) else kind
    if kinds is not None and found not in kinds:
        raise StoreError(
            f"{path} is a {found} store, expected a {' or '.join(kinds)} store"
        )
    version = attrs.get("schema_version")
    if version != SCHEMA_VERSION:
        newer = isinstance(version, int) and version > SCHEMA_VERSION
        advice = (
            "update pipeline to read it" if newer else "rerun the stage that made it"
        )
        raise StoreError(
            f"{path} has schema version {version}, this pipeline reads version "
            f"{SCHEMA_VERSION}: {advice}"
        )
    if attrs.get("complete") is not True:
        raise StoreError(f"{path} is incomplete: rerun the stage that writes it")
    return attrs


def open_store(
    path: str | Path, kind: str | tuple[str, ...] | None = None
) -> xr.Dataset:
    """Open a complete store of the expected kind as an xarray Dataset.

    Parameters
    ----------
    path
        The zarr store.
    kind
        Expected ``pipeline_store`` kind (``"image"``, ``"metamer"``...) or kinds
        (e.g. :data:`SYNTHESIS_KINDS`); ``None`` accepts any kind.

    Returns
    -------
    dataset
        The lazily loaded dataset.

    Raises
    ------
    StoreError
        If the path is missing, not a zarr store, not written by this pipeline, of
        another kind or schema version, incomplete, or lacks what its kind's
        layout declares (:mod:`pipeline.store.layout`).

    """
    import xarray as xr

    found = store_attributes(path, kind)["pipeline_store"]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dataset = xr.open_zarr(path, consolidated=None)
    except Exception as error:
        raise StoreError(
            f"cannot open store {path}: {type(error).__name__}: {error}"
        ) from error
    layout = LAYOUTS.get(found)
    variables = {name: dataset[name].dims for name in dataset.variables}
    problems = (
        ["a kind this pipeline does not know"]
        if layout is None
        else layout.problems(variables, dataset.attrs, exact=False)
    )
    if problems:
        raise StoreError(
            f"{path} is not a valid {found} store ({'; '.join(problems[:3])}): "
            "rerun the stage that writes it"
        )
    return dataset


def write_attrs(path: str | Path, attrs: dict[str, Any]) -> None:
    """Merge JSON-able ``attrs`` into the attributes of the zarr group at ``path``.

    Parameters
    ----------
    path
        The zarr group.
    attrs
        Values to set; they must survive a JSON round trip.

    """
    import zarr

    group = zarr.open_group(str(path), mode="r+")
    group.attrs.update(json.loads(json.dumps(attrs)))


def write_image_store(
    path: str | Path, image: torch.Tensor | np.ndarray, attrs: dict[str, Any]
) -> None:
    """Write an image (batch, channel, y, x) as a complete image store.

    Parameters
    ----------
    path
        Where to create the store (it must not exist).
    image
        The pixels: a tensor or an array.
    attrs
        Provenance: name, source, size...

    """
    import zarr

    group = zarr.open_group(str(path), mode="w-")
    pixels = image if isinstance(image, np.ndarray) else image.detach().cpu().numpy()
    array = group.create_array(
        "image",
        shape=pixels.shape,
        chunks=pixels.shape,
        dtype=pixels.dtype,
        dimension_names=list(IMAGE_DIMS),
    )
    array[...] = pixels
    write_attrs(
        path,
        {
            **attrs,
            "pipeline_store": "image",
            "schema_version": SCHEMA_VERSION,
            "complete": True,
        },
    )
    consolidate(path)


def read_image_store(path: str | Path) -> tuple[torch.Tensor, dict[str, Any]]:
    """Read an image store.

    Parameters
    ----------
    path
        The store written by :func:`write_image_store`.

    Returns
    -------
    image, attrs
        The float tensor (batch, channel, y, x) and the store's attributes.

    Raises
    ------
    StoreError
        If the store is missing, foreign, incomplete or holds no valid image.

    """
    import torch
    import zarr

    attrs = store_attributes(path, "image")
    try:
        group = zarr.open_group(str(path), mode="r")
        if "image" not in group:
            raise StoreError(f"{path} has no 'image' variable")
        pixels = np.asarray(group["image"][...])
    except StoreError:
        raise
    except Exception as error:
        raise StoreError(
            f"cannot read the image of {path}: {type(error).__name__}: {error}"
        ) from error
    if pixels.ndim != 4 or not np.issubdtype(pixels.dtype, np.floating):
        raise StoreError(
            f"{path} holds no 4-D float image (got {pixels.shape}, {pixels.dtype})"
        )
    return torch.from_numpy(pixels), attrs
