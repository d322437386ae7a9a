"""Stream the iteration history of a synthesis into a zarr store, chunk by chunk."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch
    import zarr

    from ..synthesis.base import IterationRecord

__all__ = ["HistoryWriter"]


class HistoryWriter:
    """Observer of :meth:`OptimizedSynthesis.synthesize` that writes to zarr.

    Per-iteration values (``loss``, ``penalty``, ``gradient_norm``...) become arrays
    over the ``iteration`` dimension, stored images an array over ``saved_iteration``.
    Values stay on the synthesis device until a chunk is full, then the chunk is
    copied to the host in one transfer and appended, so memory stays flat however long
    synthesis runs and the loop does not wait on the disk each iteration.

    Parameters
    ----------
    path
        The zarr group to write into (created if missing).
    image_name
        Name of the stored image array, e.g. ``"saved_metamer"`` (None: records
        carry no images).
    image_dims
        Dimension names of one stored image, e.g. ``("batch", "channel", "y", "x")``.
    chunk_iterations
        Iterations buffered per write of the per-iteration values.
    chunk_images
        Stored images buffered per write; they are written uncompressed, in zarr
        chunks of ``chunk_images // 4`` images (per-chunk overhead dominates the cost
        of writing small images, and iterates of noise do not compress).
    value_dims
        Extra dimension names of non-scalar per-iteration values, by value name.

    """

    def __init__(
        self,
        path: str | Path,
        image_name: str | None = None,
        image_dims: tuple[str, ...] = ("batch", "channel", "y", "x"),
        chunk_iterations: int = 1000,
        chunk_images: int = 16,
        value_dims: dict[str, tuple[str, ...]] | None = None,
    ) -> None:
        import zarr

        self._group = zarr.open_group(str(path), mode="a")
        self._image_name = image_name
        self._image_dims = tuple(image_dims)
        self._chunk_iterations = chunk_iterations
        self._chunk_images = chunk_images
        self._value_dims = dict(value_dims or {})
        # one preallocated buffer per value, filled in place: keeping thousands of
        # small tensors alive between image-sized temporaries fragments the heap
        # (RSS grew by ~0.4 MB per iteration at 256x256 with glibc)
        self._values: dict[str, torch.Tensor] = {}
        self._images: list[torch.Tensor] = []
        self._saved_iterations: list[int] = []
        self._n_written = 0
        self._n_buffered = 0

    def __call__(self, record: IterationRecord) -> None:
        """Buffer one iteration; write a chunk when the buffer is full.

        Parameters
        ----------
        record
            What the iteration produced.

        """
        if record.iteration != self._n_written + self._n_buffered:
            raise ValueError(
                f"history out of order: got iteration {record.iteration}, expected "
                f"{self._n_written + self._n_buffered}"
            )
        row = self._n_buffered
        for name, value in record.values.items():
            buffer = self._values.get(name)
            if buffer is None:
                buffer = value.new_empty((self._chunk_iterations, *value.shape))
                self._values[name] = buffer
            buffer[row].copy_(value)
        self._n_buffered += 1
        if record.image is not None:
            self._images.append(record.image)
            self._saved_iterations.append(record.iteration)
        if self._n_buffered >= self._chunk_iterations:
            self._flush_values()
        if len(self._images) >= self._chunk_images:
            self._flush_images()

    def _array(
        self,
        name: str,
        example: np.ndarray,
        dims: tuple[str, ...],
        chunk: int,
        compressed: bool = True,
    ) -> zarr.Array:
        if name in self._group:
            return self._group[name]
        return self._group.create_array(
            name,
            shape=(0, *example.shape[1:]),
            chunks=(chunk, *example.shape[1:]),
            dtype=example.dtype,
            dimension_names=list(dims),
            fill_value=np.nan if np.issubdtype(example.dtype, np.floating) else 0,
            **({} if compressed else {"compressors": None}),
        )

    def _flush_values(self) -> None:
        if not self._n_buffered:
            return
        names = sorted(self._values)
        # one device-to-host copy per value for the whole chunk
        host = [self._values[name][: self._n_buffered].cpu().numpy() for name in names]
        for name, values in zip(names, host, strict=True):
            dims = ("iteration", *self._value_dims.get(name, ()))
            self._array(name, values, dims, self._chunk_iterations).append(values)
        self._n_written += self._n_buffered
        self._n_buffered = 0

    def _flush_images(self) -> None:
        import torch

        if not self._images:
            return
        images = torch.stack(self._images).cpu().numpy()
        dims = ("saved_iteration", *self._image_dims)
        chunk = max(self._chunk_images // 4, 1)
        self._array(self._image_name, images, dims, chunk, compressed=False).append(
            images
        )
        self._array(
            "saved_iteration",
            np.asarray(self._saved_iterations, dtype=np.int64),
            ("saved_iteration",),
            1024,
        ).append(np.asarray(self._saved_iterations, dtype=np.int64))
        self._images = []
        self._saved_iterations = []

    def finalize(
        self, final_values: dict[str, torch.Tensor], final_image: torch.Tensor
    ) -> int:
        """Flush everything and append the final state as the last iteration.

        The final iteration has the objective's values of the current image and NaN
        for the values that belong to a step (gradient and pixel change norms); the
        current image becomes the last stored image.

        Parameters
        ----------
        final_values
            Objective terms of the current (final) image.
        final_image
            The current (final) optimized image.

        Returns
        -------
        n_iterations
            Number of iterations run (the final entry's index).

        """
        self._flush_values()
        n = self._n_written
        template = {
            name: self._group[name]
            for name in self._group.array_keys()
            if self._group[name].metadata.dimension_names[0] == "iteration"
        }
        for name, array in template.items():
            if name == "iteration":
                continue
            value = final_values.get(name)
            if value is None:
                row = np.full((1, *array.shape[1:]), math.nan, dtype=array.dtype)
            else:
                row = value.detach().cpu().numpy().astype(array.dtype)[None]
            array.append(row)
        for name, value in final_values.items():  # terms only known at the end
            if name not in template:
                row = value.detach().cpu().numpy()[None]
                dims = ("iteration", *self._value_dims.get(name, ()))
                array = self._array(name, row, dims, self._chunk_iterations)
                array.append(np.full((n, *row.shape[1:]), math.nan, dtype=row.dtype))
                array.append(row)
        self._images.append(final_image.detach())
        self._saved_iterations.append(n)
        self._write_coordinate(n + 1)
        return n

    def close(self) -> int:
        """Flush everything, with no final state (for methods without one).

        Returns
        -------
        n_iterations
            Number of iterations written.

        """
        self._flush_values()
        self._write_coordinate(self._n_written)
        return self._n_written

    def _write_coordinate(self, length: int) -> None:
        self._flush_images()
        coordinate = self._group.create_array(
            "iteration",
            shape=(length,),
            chunks=(max(length, 1),),
            dtype="int64",
            dimension_names=["iteration"],
        )
        coordinate[:] = np.arange(length)
