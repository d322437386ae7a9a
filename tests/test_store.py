"""Zarr stores: streamed histories, atomic outputs and validated opening."""

import math

import numpy as np
import pytest
import torch
import xarray as xr
import zarr

import pipeline as po
from pipeline.store import HistoryWriter, StoreError, atomic_output, open_store
from pipeline.store.schema import SCHEMA_VERSION, consolidate, write_attrs


def test_history_writer_matches_in_memory_history(tmp_path, image, blur):
    path = tmp_path / "h.zarr"
    zarr.open_group(str(path), mode="w")
    writer = HistoryWriter(path, "saved_metamer", chunk_iterations=3, chunk_images=2)
    po.set_seed(0)
    streamed = po.Metamer(image, blur)
    streamed.synthesize(
        7, store_progress=3, on_iteration=writer, keep_history=False, progress=False
    )
    n = writer.finalize(streamed.current_values, streamed.metamer)
    write_attrs(
        path,
        {
            "pipeline_store": "metamer",
            "schema_version": SCHEMA_VERSION,
            "complete": True,
        },
    )
    consolidate(path)
    po.set_seed(0)
    memory = po.Metamer(image, blur)
    memory.synthesize(7, store_progress=3, progress=False)

    ds = open_store(path, "metamer")
    assert n == 7
    assert list(ds["iteration"].values) == list(range(8))
    np.testing.assert_array_equal(ds["loss"].values, memory.losses.numpy())
    np.testing.assert_array_equal(ds["penalty"].values, memory.penalties.numpy())
    np.testing.assert_array_equal(
        ds["gradient_norm"].values[:-1], memory.gradient_norm.numpy()
    )
    assert math.isnan(ds["gradient_norm"].values[-1])
    assert list(ds["saved_iteration"].values) == [0, 3, 6, 7]
    np.testing.assert_array_equal(
        ds["saved_metamer"].values, memory.saved_metamer.numpy()
    )


def test_history_writer_refuses_out_of_order(tmp_path):
    from pipeline.synthesis import IterationRecord

    writer = HistoryWriter(tmp_path / "h.zarr", "saved")
    with pytest.raises(ValueError, match="out of order"):
        writer(IterationRecord(3, {"loss": torch.tensor(1.0)}, None))


def test_atomic_output_leaves_nothing_on_failure(tmp_path):
    final = tmp_path / "out.zarr"
    with pytest.raises(RuntimeError), atomic_output(final) as temporary:
        temporary.mkdir()
        (temporary / "chunk").write_text("partial")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_atomic_output_refuses_to_overwrite(tmp_path):
    final = tmp_path / "table.csv"
    final.write_text("precious")
    with pytest.raises(FileExistsError, match="--overwrite"), atomic_output(final):
        pass
    assert final.read_text() == "precious"
    with atomic_output(final, overwrite=True) as temporary:
        temporary.write_text("new")
    assert final.read_text() == "new"


def _image_store(path, **attrs):
    po.store.write_image_store(path, torch.zeros(1, 1, 4, 4), {"name": "x"})
    if attrs:
        write_attrs(path, attrs)


@pytest.mark.parametrize(
    ("make", "kind", "match"),
    [
        (lambda p: None, "image", "not found"),
        (lambda p: p.mkdir(), "image", "not a zarr store"),
        (
            lambda p: xr.Dataset({"a": ("x", [1.0])}).to_zarr(p, consolidated=False),
            "image",
            "not one written by pipeline",
        ),
        (lambda p: _image_store(p), "metamer", "is a image store, expected a metamer"),
        (lambda p: _image_store(p, complete=False), "image", "incomplete"),
        (lambda p: _image_store(p, schema_version=99), "image", "schema version 99"),
    ],
)
def test_open_store_refuses_bad_stores(tmp_path, make, kind, match):
    path = tmp_path / "s.zarr"
    make(path)
    with pytest.raises(StoreError, match=match):
        open_store(path, kind)


def test_image_store_round_trip(tmp_path):
    image = torch.rand(1, 1, 8, 8)
    po.store.write_image_store(tmp_path / "i.zarr", image, {"name": "noise"})
    pixels, attrs = po.store.read_image_store(tmp_path / "i.zarr")
    assert torch.equal(pixels, image)
    assert attrs["name"] == "noise"
    assert xr.open_zarr(tmp_path / "i.zarr")["image"].dims == (
        "batch",
        "channel",
        "y",
        "x",
    )
