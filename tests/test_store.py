"""Zarr stores: streamed histories, atomic outputs and validated opening."""

import math

import numpy as np
import pytest
import torch
import xarray as xr
import zarr
from click.testing import CliRunner

import pipeline as po
from pipeline.cli import main
from pipeline.store import HistoryWriter, StoreError, atomic_output, open_store
from pipeline.store.layout import LAYOUTS, SYNTHESIS_KINDS
from pipeline.store.schema import consolidate, write_attrs


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
    consolidate(path)
    po.set_seed(0)
    memory = po.Metamer(image, blur)
    memory.synthesize(7, store_progress=3, progress=False)

    ds = xr.open_zarr(path)
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


def _cli(*args):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def every_kind(tmp_path_factory):
    """One tiny store of every kind (and of every variant of a kind), as written."""
    d = tmp_path_factory.mktemp("kinds")
    _cli("prepare-images", "camera", d / "image.zarr", "--size", 16)
    _cli("prepare-images", "camera", d / "shifted.zarr", "--size", 16, "--shift", 0, 2)
    _cli("prepare-images", "brick", d / "brick.zarr", "--size", 32)
    _cli("build-model", "Gaussian", d / "g.model", "--param", "kernel_size=5")
    _cli(
        "build-model", "PortillaSimoncelli", d / "ps.model",
        "--param", "image_shape=[32,32]", "--param", "n_scales=2",
        "--param", "n_orientations=2", "--param", "spatial_corr_width=3",
    )  # fmt: skip
    run = ["--max-iter", 2, "--device", "cpu", "--quiet"]
    image, model = d / "image.zarr", d / "g.model"
    _cli("synthesize", "metamer", image, model, d / "metamer.zarr", *run)
    _cli(
        "synthesize", "metamer", d / "brick.zarr", d / "ps.model", d / "ctf.zarr",
        *run, "--coarse-to-fine", "together", "--ctf-iters-to-check", 1,
        "--loss", "portilla_simoncelli", "--initial-noise", 0.2,
    )  # fmt: skip
    _cli(
        "synthesize", "metamer-batch", model, "--run", image, d / "batch.zarr",
        "--run", d / "shifted.zarr", d / "batch2.zarr", *run,
    )  # fmt: skip
    _cli(
        "synthesize", "mad", image, d / "mad.zarr", "--optimized-metric", "mse",
        "--reference-metric", "ssim", "--minmax", "max", *run,
    )  # fmt: skip
    for method in ("power", "exact"):
        out = d / f"eigendistortion_{method}.zarr"
        _cli(
            "synthesize", "eigendistortion", image, model, out, "--method", method, *run
        )
    _cli(
        "synthesize", "geodesic", image, d / "shifted.zarr", model,
        d / "geodesic.zarr", "--n-steps", 2, *run,
    )  # fmt: skip
    return d


def test_every_store_written_matches_its_declared_layout(every_kind):
    # this writes one store of every kind: each method's stage runs once (~3 s)
    seen = set()
    for path in sorted(every_kind.glob("*.zarr")):
        group = zarr.open_group(str(path), mode="r")
        kind = group.attrs["pipeline_store"]
        layout = LAYOUTS[kind]
        variables = {name: a.metadata.dimension_names for name, a in group.arrays()}
        assert layout.problems(variables, group.attrs) == [], path.name
        open_store(path, kind)  # and readers accept it
        seen.add(kind)
        if kind in SYNTHESIS_KINDS:
            assert group.attrs["resumed_at"] == []  # uninterrupted
    assert seen == set(LAYOUTS)
    ctf = zarr.open_group(str(every_kind / "ctf.zarr"), mode="r")
    assert {"scale", "scale_loss"} <= set(ctf.array_keys())  # its optional ones


def test_every_declared_variable_is_written_somewhere(every_kind):
    written = {}
    for path in every_kind.glob("*.zarr"):
        group = zarr.open_group(str(path), mode="r")
        kind = group.attrs["pipeline_store"]
        written.setdefault(kind, set()).update(group.array_keys(), group.attrs)
    for kind, layout in LAYOUTS.items():
        declared = {*layout.variables, *layout.optional_variables, *layout.attributes}
        optional = {"representation_error_by_group", "scales"}  # PS models, ctf
        assert declared - written[kind] == set(), kind
        assert set(layout.optional_attributes) <= written[kind] | optional


def test_readers_use_declared_names():
    from pipeline.plot import _history

    mad = LAYOUTS["mad"]
    assert set(_history._SERIES) <= set(mad.variables)
    labelled = {*LAYOUTS["metamer"].attributes, *mad.attributes}
    assert set(_history._LABELS) <= labelled


def test_open_store_refuses_a_store_that_breaks_its_layout(every_kind, tmp_path):
    import shutil

    broken = tmp_path / "broken.zarr"
    shutil.copytree(every_kind / "metamer.zarr", broken)
    shutil.rmtree(broken / "initial_image")
    consolidate(broken)
    with pytest.raises(StoreError, match="no variable initial_image"):
        open_store(broken, "metamer")
