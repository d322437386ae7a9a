import os

# One thread per process, in this one and in every process the tests start (the
# stages, snakemake's jobs): the suite already runs one worker per core, and OpenMP
# threads waiting for a busy core slow small tensor operations down tens of times.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import matplotlib
import pytest
import torch

matplotlib.use("Agg")


class Blur(torch.nn.Module):
    """A small differentiable model with no parameters."""

    def forward(self, x):
        return torch.nn.functional.avg_pool2d(x, 3, stride=1, padding=1)


@pytest.fixture
def blur():
    return Blur()


@pytest.fixture
def image():
    torch.manual_seed(1)
    return torch.rand(1, 1, 16, 16)


@pytest.fixture(scope="session")
def synthesis_inputs(tmp_path_factory):
    """Small image stores and model artifacts the synthesis-process tests share."""
    from synthesis_runs import pipeline

    d = tmp_path_factory.mktemp("synthesis_inputs")
    pipeline("prepare-images", "camera", d / "camera.zarr", "--size", 16)
    pipeline(
        "prepare-images", "camera", d / "shifted.zarr", "--size", 16, "--shift", 0, 2
    )
    pipeline("prepare-images", "brick", d / "brick.zarr", "--size", 32)
    pipeline("build-model", "Gaussian", d / "gauss.model", "--param", "kernel_size=5")
    pipeline(
        "build-model", "PortillaSimoncelli", d / "ps.model",
        "--param", "image_shape=[32,32]", "--param", "n_scales=2",
        "--param", "n_orientations=2", "--param", "spatial_corr_width=3",
    )  # fmt: skip
    return d


@pytest.fixture(scope="session")
def reference_store(synthesis_inputs, tmp_path_factory):
    """The store of one uninterrupted run of a method (made once, when first asked)."""
    from synthesis_runs import pipeline, synthesis_args

    directory = tmp_path_factory.mktemp("references")
    made = {}

    def reference(method):
        if method not in made:
            made[method] = directory / f"{method}.zarr"
            pipeline(*synthesis_args(synthesis_inputs, method, made[method]))
        return made[method]

    return reference


# `make test` runs one file per worker at a time (pytest-xdist --dist loadfile, in
# collection order): files of real snakemake runs and of real synthesis processes
# take the longest, so they go first and the workers end together.
SLOWEST_FIRST = ("workflow", "processes")


def pytest_collection_modifyitems(items):
    def rank(item):
        marks = {mark.name for mark in item.iter_markers()}
        return next(
            (i for i, name in enumerate(SLOWEST_FIRST) if name in marks),
            len(SLOWEST_FIRST),
        )

    items.sort(key=rank)
