"""On-disk zarr stores: atomic creation, streamed histories, validated reading.

Every store is a zarr (format 3) group that opens with ``xarray.open_zarr``. Its
attributes name the store kind and schema version (``pipeline_store``,
``schema_version``) and mark it ``complete``; a store appears under its final name
only once complete (it is written under a temporary sibling name and renamed).
"""

from .atomic import atomic_output
from .history import HistoryWriter
from .schema import (
    SCHEMA_VERSION,
    StoreError,
    open_store,
    read_image_store,
    write_image_store,
)

__all__ = [
    "SCHEMA_VERSION",
    "HistoryWriter",
    "StoreError",
    "atomic_output",
    "open_store",
    "read_image_store",
    "write_image_store",
]
