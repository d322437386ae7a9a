"""Tests of pipeline.plot: plots from an in-memory synthesis or a stored history."""

import warnings
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import xarray as xr
from matplotlib.animation import FuncAnimation
from matplotlib.figure import Figure

from pipeline import plot
from pipeline.plot import SynthesisHistory, as_history

N_ITER = 5
STORE_PROGRESS = 2
SAVED = [0, 2, 4, 5]  # range(0, 5, 2) plus the final iteration
SHAPE = (1, 1, 8, 8)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


class Doubler(torch.nn.Module):
    """Image-like model: twice the image."""

    def forward(self, x):
        return 2 * x


class TwoChannel(torch.nn.Module):
    """Image-like model with two output channels."""

    def forward(self, x):
        return torch.cat([x, -x], dim=1)


class Flat(torch.nn.Module):
    """Non-image-like model: per-channel mean and std, shape (batch, 2 * channel)."""

    def forward(self, x):
        return torch.cat([x.mean((-2, -1)), x.std((-2, -1))], dim=1)


def make_metamer(model=None, store_progress=STORE_PROGRESS, n_iter=N_ITER, shape=SHAPE):
    """A stand-in with the attributes of a pipeline.Metamer after synthesize."""
    generator = torch.Generator().manual_seed(0)
    model = Doubler() if model is None else model
    image = torch.rand(shape, generator=generator)
    saved_iterations = (
        [*range(0, n_iter, store_progress), n_iter] if store_progress else [n_iter]
    )
    saved = torch.rand((len(saved_iterations), *shape), generator=generator)
    # make each saved image clearly different
    saved = saved + torch.arange(len(saved_iterations)).reshape(-1, 1, 1, 1, 1)
    losses = torch.tensor([2.0**-i for i in range(n_iter + 1)])
    return SimpleNamespace(
        image=image,
        metamer=saved[-1].clone().requires_grad_(True),
        losses=losses,
        penalties=losses / 10,
        gradient_norm=torch.linspace(1, 0.5, n_iter),
        pixel_change_norm=torch.linspace(0.3, 0.1, n_iter),
        saved_metamer=saved.requires_grad_(True) * 1,  # like a stacked tensor
        store_progress=store_progress,
        model=model,
        target_representation=model(image),
    )


def dataset_from(met):
    """The metamer store Dataset equivalent to an in-memory metamer."""
    n = len(met.losses) - 1
    saved = met.saved_metamer.detach().numpy()
    saved_iterations = (
        [*range(0, n, int(met.store_progress)), n] if met.store_progress else [n]
    )
    with torch.no_grad():
        target_rep = met.target_representation
        final_rep = met.model(met.metamer)
    rep_shape = list(target_rep.shape[1:])
    batch = target_rep.shape[0]
    image_dims = ("batch", "channel", "y", "x")
    return xr.Dataset(
        {
            "loss": ("iteration", met.losses.numpy()),
            "penalty": ("iteration", met.penalties.numpy()),
            "gradient_norm": (
                "iteration",
                np.append(met.gradient_norm.numpy(), np.float32(np.nan)),
            ),
            "pixel_change_norm": (
                "iteration",
                np.append(met.pixel_change_norm.numpy(), np.float32(np.nan)),
            ),
            "saved_metamer": (("saved_iteration", *image_dims), saved),
            "image": (image_dims, met.image.numpy()),
            "metamer": (image_dims, met.metamer.detach().numpy()),
            "initial_image": (image_dims, saved[0]),
            "target_representation": (
                ("batch", "representation"),
                target_rep.reshape(batch, -1).numpy(),
            ),
            "metamer_representation": (
                ("batch", "representation"),
                final_rep.reshape(batch, -1).numpy(),
            ),
        },
        coords={"iteration": np.arange(n + 1), "saved_iteration": saved_iterations},
        attrs={
            "representation_shape": rep_shape,
            "image_name": "noise",
            "model_name": type(met.model).__name__,
            "pipeline_store": "metamer",
        },
    )


def write_and_reopen(ds, path):
    ds.to_zarr(path, consolidated=False)
    return xr.open_zarr(path, consolidated=False)


@pytest.fixture(params=["object", "dataset", "zarr"])
def source(request, tmp_path):
    """The same synthesis, in memory, as a Dataset, and reopened from zarr."""
    met = make_metamer()
    if request.param == "object":
        return met
    ds = dataset_from(met)
    if request.param == "dataset":
        return ds
    return write_and_reopen(ds, tmp_path / "m.zarr")


def saved_image(index):
    return make_metamer().saved_metamer[index].detach().numpy()


# ---------------------------------------------------------------- the adapter


ARRAY_FIELDS = [
    "losses",
    "penalties",
    "gradient_norm",
    "pixel_change_norm",
    "saved_images",
    "saved_iterations",
    "target_image",
    "synthesized_image",
]


@pytest.mark.parametrize("reopen", [False, True])
def test_as_history_same_from_object_and_store(tmp_path, reopen):
    met = make_metamer()
    ds = dataset_from(met)
    if reopen:
        ds = write_and_reopen(ds, tmp_path / "m.zarr")
    from_object, from_store = as_history(met), as_history(ds)
    assert from_object.method == from_store.method == "metamer"
    for name in ARRAY_FIELDS:
        a, b = getattr(from_object, name), getattr(from_store, name)
        assert a.shape == b.shape, name
        assert a.dtype == b.dtype, name
        np.testing.assert_array_equal(a, b, err_msg=name)
    assert np.isnan(from_object.gradient_norm[-1])
    assert np.isnan(from_store.pixel_change_norm[-1])
    assert from_object.saved_iterations.tolist() == SAVED
    assert from_object.saved_images.shape == (len(SAVED), *SHAPE)
    np.testing.assert_allclose(
        from_object.representation_error(), from_store.representation_error()
    )
    # the error is model(image) - target with the batch dimension first
    expected = 2 * (saved_image(-1) - met.image.numpy())
    np.testing.assert_allclose(from_object.representation_error(), expected, rtol=1e-6)
    assert from_object.representation_error().shape == SHAPE


def test_as_history_accepts_path_and_history(tmp_path):
    ds = dataset_from(make_metamer())
    ds.to_zarr(tmp_path / "m.zarr", consolidated=False)
    history = as_history(tmp_path / "m.zarr")
    assert history.saved_iterations.tolist() == SAVED
    assert as_history(history) is history
    with pytest.raises(TypeError, match="synthesis must be"):
        as_history(42)


def test_history_is_read_only():
    history = as_history(make_metamer())
    with pytest.raises(ValueError, match="read-only"):
        history.losses[0] = 3.0
    with pytest.raises(AttributeError):
        history.method = "mad"


def test_representation_error_from_store_only_at_final_iteration():
    met = make_metamer()
    from_store = as_history(dataset_from(met))
    from_object = as_history(met)
    assert from_store.representation_iterations.tolist() == [N_ITER]
    assert from_store.representation_error(0) is None
    assert not from_store.has_representation_error(0)
    assert from_store.has_representation_error(-1)
    expected = 2 * (saved_image(0) - met.image.numpy())
    np.testing.assert_allclose(from_object.representation_error(0), expected, rtol=1e-6)
    assert from_object.has_representation_error(0)


def test_store_progress_false_keeps_only_final_image():
    met = make_metamer(store_progress=False)
    history = as_history(met)
    assert history.saved_iterations.tolist() == [N_ITER]
    with pytest.warns(UserWarning, match="closest stored iteration, 5"):
        assert history.closest_saved(0) == (0, N_ITER)


def test_mismatched_saved_images_is_a_clear_error():
    met = make_metamer()
    met.store_progress = 1
    with pytest.raises(ValueError, match="store_progress"):
        as_history(met)


def test_unsynthesized_object_is_a_clear_error():
    met = make_metamer()
    met.losses = torch.tensor([])
    with pytest.raises(ValueError, match="synthesize"):
        as_history(met)


def test_other_store_kind_is_rejected():
    ds = dataset_from(make_metamer())
    ds.attrs["pipeline_store"] = "image"
    with pytest.raises(ValueError, match="metamer"):
        as_history(ds)


# ------------------------------------------------------- iteration selection


@pytest.mark.parametrize(
    ("iteration", "expected"),
    [(None, 5), (-1, 5), (-2, 4), (-6, 0), (0, 0), (3, 3), (5, 5)],
)
def test_resolve_iteration(iteration, expected):
    assert as_history(make_metamer()).resolve_iteration(iteration) == expected


@pytest.mark.parametrize("iteration", [6, -7])
def test_resolve_iteration_out_of_range(iteration):
    with pytest.raises(IndexError, match="out of range"):
        as_history(make_metamer()).resolve_iteration(iteration)


@pytest.mark.parametrize(
    ("iteration", "index", "saved"),
    [(1, 1, 2), (3, 2, 4), (-3, 2, 4)],  # ties go to the later saved iteration
)
def test_closest_saved_rounds_up_and_warns(iteration, index, saved):
    history = as_history(make_metamer())
    with pytest.warns(UserWarning, match=f"iteration, {saved}, instead"):
        assert history.closest_saved(iteration) == (index, saved)
    assert history.closest_saved(iteration, warn=False) == (index, saved)


@pytest.mark.parametrize(("iteration", "index"), [(0, 0), (2, 1), (4, 2), (None, 3)])
def test_closest_saved_exact_does_not_warn(iteration, index):
    history = as_history(make_metamer())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert history.closest_saved(iteration)[0] == index


def test_closest_saved_rounds_to_nearest():
    met = make_metamer(store_progress=3, n_iter=8)  # saved 0, 3, 6, 8
    history = as_history(met)
    assert history.saved_iterations.tolist() == [0, 3, 6, 8]
    assert history.closest_saved(2, warn=False) == (1, 3)
    assert history.closest_saved(7, warn=False) == (3, 8)  # tie 6 / 8 goes up
    assert history.closest_saved(1, warn=False) == (0, 0)


# --------------------------------------------------------------- single plots


def test_synthesis_loss(source):
    fig = plot.synthesis_loss(source, iteration=-3)
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    line, dot = ax.lines
    np.testing.assert_array_equal(line.get_xdata(), np.arange(N_ITER + 1))
    np.testing.assert_allclose(line.get_ydata(), [2.0**-i for i in range(N_ITER + 1)])
    assert list(dot.get_xdata()) == [3]
    np.testing.assert_allclose(dot.get_ydata(), [2.0**-3])
    assert matplotlib.colors.same_color(dot.get_color(), "r")
    assert ax.get_yscale() == "log"


def test_synthesis_loss_default_is_last_and_uses_given_ax():
    fig, axes = plt.subplots(1, 2)
    out = plot.synthesis_loss(make_metamer(), ax=axes[1], linestyle="--")
    assert out is fig
    assert not axes[0].lines
    line, dot = axes[1].lines
    assert line.get_linestyle() == "--"
    assert list(dot.get_xdata()) == [N_ITER]


def test_synthesis_imshow_rounds_to_saved_iteration(source):
    with pytest.warns(UserWarning, match="iteration, 4, instead"):
        fig = plot.synthesis_imshow(source, iteration=3)
    (ax,) = fig.axes
    (image,) = ax.get_images()
    np.testing.assert_allclose(image.get_array(), saved_image(2)[0, 0])
    assert ax.get_title() == "Metamer [iteration 4]"
    assert ax.get_xticks().size == 0


def test_synthesis_imshow_into_ax_and_title_override():
    fig, axes = plt.subplots(1, 3)
    out = plot.synthesis_imshow(make_metamer(), iteration=0, ax=axes[2], title="start")
    assert out is fig and len(fig.axes) == 3
    np.testing.assert_allclose(
        axes[2].get_images()[0].get_array(), saved_image(0)[0, 0]
    )
    assert axes[2].get_title() == "start"


def test_synthesis_imshow_rgb_and_channel_selection():
    met = make_metamer(shape=(2, 3, 6, 6))
    fig = plot.synthesis_imshow(met, batch_idx=1)
    (ax,) = fig.axes
    assert ax.get_images()[0].get_array().shape == (6, 6, 3)
    fig = plot.synthesis_imshow(met, batch_idx=1, channel_idx=2, vrange="auto1")
    np.testing.assert_allclose(
        fig.axes[0].get_images()[0].get_array(),
        met.saved_metamer[-1, 1, 2].detach().numpy(),
    )
    with pytest.raises(IndexError, match="batch_idx"):
        plot.synthesis_imshow(met, batch_idx=2)


def test_synthesis_histogram(source):
    with pytest.warns(UserWarning, match="iteration, 2, instead"):
        fig = plot.synthesis_histogram(source, iteration=1, bins=10, ylim=(0, 30))
    (ax,) = fig.axes
    assert len(ax.patches) == 20
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["Target image", "Metamer [iteration 2]"]
    target_counts = [p.get_height() for p in ax.patches[:10]]
    metamer_counts = [p.get_height() for p in ax.patches[10:]]
    assert sum(target_counts) == sum(metamer_counts) == 64
    assert ax.get_ylim() == (0, 30)


def test_metamer_representation_error_image_like(source):
    fig = plot.metamer_representation_error(source)
    (ax,) = fig.axes
    (image,) = ax.get_images()
    met = make_metamer()
    expected = 2 * (saved_image(-1) - met.image.numpy())[0, 0]
    np.testing.assert_allclose(image.get_array(), expected, rtol=1e-6)
    limit = np.abs(expected).max()
    np.testing.assert_allclose(image.get_clim(), (-limit, limit), rtol=1e-6)


def test_metamer_representation_error_two_channels_split_ax():
    met = make_metamer(model=TwoChannel())
    fig, axes = plt.subplots(1, 2)
    plot.metamer_representation_error(met, ax=axes[1], iteration=0)
    # the given ax is hidden and split into one panel per channel
    assert len(fig.axes) == 4
    assert not axes[1].axison
    panels = fig.axes[2:]
    error = met.model(met.saved_metamer[0]) - met.target_representation
    for c, panel in enumerate(panels):
        np.testing.assert_allclose(
            panel.get_images()[0].get_array(), error[0, c].detach().numpy(), rtol=1e-6
        )
        assert panel.get_title() == f"channel {c}"
    assert axes[1].get_title() == "Representation error"


def test_metamer_representation_error_stem(tmp_path):
    met = make_metamer(model=Flat(), shape=(2, 2, 8, 8))
    ds = dataset_from(met)
    for source in (met, ds):
        fig = plot.metamer_representation_error(source, batch_idx=1, figsize=(6, 3))
        (ax,) = fig.axes
        markers = ax.containers[0].markerline
        expected = (met.model(met.metamer) - met.target_representation)[1]
        np.testing.assert_allclose(
            markers.get_ydata(), expected.detach().numpy(), rtol=1e-6
        )
        limit = np.abs(expected.detach().numpy()).max()
        np.testing.assert_allclose(ax.get_ylim(), (-limit, limit), rtol=1e-6)
        assert tuple(fig.get_size_inches()) == (6, 3)


def test_metamer_representation_error_store_non_final_raises():
    ds = dataset_from(make_metamer())
    with pytest.raises(ValueError, match=r"only has it at iteration\(s\) \[5\]"):
        plot.metamer_representation_error(ds, iteration=0)


def test_model_with_own_plot_representation_is_used():
    calls = []

    class Plotting(Doubler):
        def plot_representation(self, data, ax=None, title=""):
            calls.append((data, title))
            fig = plt.figure() if ax is None else ax.figure
            return fig, [ax]

    met = make_metamer(model=Plotting())
    fig = plot.metamer_representation_error(met)
    assert isinstance(fig, Figure)
    (data, title) = calls[0]
    assert isinstance(data, torch.Tensor)
    assert title == "Representation error"


def test_model_plot_gets_no_figsize_when_given_axes():
    class Strict(Doubler):
        def plot_representation(self, data, ax=None, figsize=None, title=""):
            if ax is not None and figsize is not None:
                raise ValueError("figsize can't be set if ax is given")
            fig = plt.figure(figsize=figsize) if ax is None else ax.figure
            return fig, [ax]

    met = make_metamer(model=Strict())
    _, ax = plt.subplots()
    assert plot.metamer_representation_error(met, ax=ax) is ax.figure
    fig = plot.metamer_representation_error(met, figsize=(3, 2))
    assert tuple(fig.get_size_inches()) == (3, 2)


# ------------------------------------------------------------------ imshow


def test_imshow_vranges():
    image = np.stack([np.linspace(-1, 1, 16), np.linspace(0, 4, 16)]).reshape(
        2, 1, 4, 4
    )
    clims = {
        "indep1": [(-1, 1), (0, 4)],
        "auto1": [(-1, 4), (-1, 4)],
        "indep0": [(-1, 1), (-4, 4)],
        "auto0": [(-4, 4), (-4, 4)],
        (0, 2): [(0, 2), (0, 2)],
    }
    for vrange, expected in clims.items():
        fig = plot.imshow(image, vrange=vrange)
        assert [ax.get_images()[0].get_clim() for ax in fig.axes] == expected
    with pytest.raises(ValueError, match="vrange"):
        plot.imshow(image, vrange="bogus")


def test_imshow_list_titles_and_wrap():
    images = [torch.rand(1, 1, 8, 8), torch.rand(2, 1, 4, 4)]
    fig = plot.imshow(images, title=["a", "b"], col_wrap=2)
    assert [ax.get_title() for ax in fig.axes] == ["a", "b [batch 0]", "b [batch 1]"]
    lefts = sorted({round(ax.get_position().x0, 3) for ax in fig.axes})
    bottoms = sorted({round(ax.get_position().y0, 3) for ax in fig.axes})
    assert len(lefts) == 2 and len(bottoms) == 2
    fig = plot.imshow(images, title=["x", "y", "z"])
    assert [ax.get_title() for ax in fig.axes] == ["x", "y", "z"]
    with pytest.raises(ValueError, match="title"):
        plot.imshow(images, title=["x", "y", "z", "w"])


def test_imshow_zoom_sets_pixel_size():
    fig = plot.imshow(np.random.default_rng(0).random((1, 1, 10, 20)), zoom=3)
    (ax,) = fig.axes
    width, height = ax.get_position().size * fig.get_size_inches() * fig.dpi
    np.testing.assert_allclose((width, height), (60, 30))


def test_imshow_into_ax_splits_for_several_panels():
    fig, ax = plt.subplots()
    out = plot.imshow(torch.rand(1, 3, 5, 5), ax=ax, title="t")
    assert out is fig
    assert len(fig.axes) == 4 and not ax.axison
    fig, ax = plt.subplots()
    plot.imshow(torch.rand(1, 1, 5, 5), ax=ax)
    assert len(fig.axes) == 1 and len(ax.get_images()) == 1


def test_imshow_complex():
    data = np.ones((1, 1, 4, 4)) * (1 + 2j)
    fig = plot.imshow(data, title="c")
    assert [ax.get_title() for ax in fig.axes] == ["c [real]", "c [imaginary]"]
    np.testing.assert_allclose(fig.axes[1].get_images()[0].get_array(), 2)


def test_plot_representation_requires_data():
    with pytest.raises(ValueError, match="data is required"):
        plot.plot_representation()
    fig = plot.plot_representation(data=torch.rand(1, 2, 6, 6), figsize=(8, 4))
    assert len(fig.axes) == 2
    fig = plot.plot_representation(data=torch.rand(3, 7))
    (ax,) = fig.axes
    assert len(ax.containers) == 3 and ax.get_legend() is not None


# ------------------------------------------------------------------ status


def test_synthesis_status_default(source):
    fig = plot.synthesis_status(source)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 3
    image_ax, loss_ax, error_ax = fig.axes
    np.testing.assert_allclose(
        image_ax.get_images()[0].get_array(), saved_image(-1)[0, 0]
    )
    assert list(loss_ax.lines[1].get_xdata()) == [N_ITER]
    assert error_ax.get_title() == "Representation error"


def test_synthesis_status_store_drops_representation_error_at_non_final():
    ds = dataset_from(make_metamer())
    fig = plot.synthesis_status(ds, iteration=2)
    assert len(fig.axes) == 2
    assert fig.axes[0].get_title() == "Metamer [iteration 2]"
    assert list(fig.axes[1].lines[1].get_xdata()) == [2]
    # the in-memory object has the error at every saved iteration
    fig = plot.synthesis_status(make_metamer(), iteration=2)
    assert len(fig.axes) == 3


def test_synthesis_status_warns_once_when_rounding():
    with pytest.warns(UserWarning) as record:
        plot.synthesis_status(
            make_metamer(), iteration=3, included_plots=[*plot.synthesis.PLOT_NAMES]
        )
    assert len(record) == 1


def test_synthesis_status_included_plots():
    met = make_metamer()
    fig = plot.synthesis_status(
        met, included_plots=["synthesis_histogram", "synthesis_loss"]
    )
    assert len(fig.axes) == 2
    assert len(fig.axes[0].patches) > 0 and fig.axes[0].get_legend() is not None
    assert len(fig.axes[1].lines) == 2
    fig = plot.synthesis_status(met, included_plots=[*plot.synthesis.PLOT_NAMES])
    assert len(fig.axes) == 4
    with pytest.raises(ValueError, match="Unknown plot"):
        plot.synthesis_status(met, included_plots=["display_metamer"])


def test_synthesis_status_axes_idx_with_given_figure():
    met = make_metamer()
    fig, axes = plt.subplots(1, 4, figsize=(16, 4))
    plot.imshow(met.image, ax=axes[0], title="Target image")
    out = plot.synthesis_status(met, fig=fig, axes_idx={"misc": 0})
    assert out is fig
    assert axes[0].get_title() == "Target image"
    np.testing.assert_allclose(axes[0].get_images()[0].get_array(), met.image[0, 0])
    assert axes[1].get_title() == "Metamer [iteration 5]"
    assert len(axes[2].lines) == 2
    assert axes[3].get_title() == "Representation error"

    fig, axes = plt.subplots(1, 3)
    plot.synthesis_status(
        met,
        fig=fig,
        axes_idx={"synthesis_loss": 0, "metamer_representation_error": 2},
    )
    assert len(axes[0].lines) == 2
    assert len(axes[1].get_images()) == 1
    with pytest.raises(ValueError, match="axes"):
        plot.synthesis_status(met, fig=plt.figure())
    with pytest.raises(ValueError, match="same axes"):
        plot.synthesis_status(
            met, axes_idx={"synthesis_loss": 0, "synthesis_imshow": 0}
        )


def test_synthesis_status_axes_idx_of_dropped_plot_stays_free():
    ds = dataset_from(make_metamer())
    fig = plot.synthesis_status(
        ds, iteration=0, axes_idx={"metamer_representation_error": 0}
    )
    assert len(fig.axes) == 3
    assert not fig.axes[0].get_images() and not fig.axes[0].lines
    assert len(fig.axes[1].get_images()) == 1
    assert len(fig.axes[2].lines) == 2


def test_synthesis_status_width_ratios():
    fig = plot.synthesis_status(
        make_metamer(), width_ratios={"metamer_representation_error": 2}
    )
    widths = [ax.get_position(original=True).width for ax in fig.axes]
    np.testing.assert_allclose(widths[2] / widths[1], 2, rtol=1e-6)
    np.testing.assert_allclose(widths[0], widths[1], rtol=1e-6)
    np.testing.assert_allclose(fig.get_size_inches(), (20, 5))


def test_synthesis_status_savefig(tmp_path):
    fig = plot.synthesis_status(
        make_metamer(model=TwoChannel()),
        included_plots=[*plot.synthesis.PLOT_NAMES],
    )
    assert len(fig.axes) == 4 + 2
    fig.savefig(tmp_path / "x.png")
    content = (tmp_path / "x.png").read_bytes()
    assert content.startswith(b"\x89PNG") and len(content) > 1000


# ----------------------------------------------------------------- animate


def test_synthesis_animate_one_frame_per_saved_image(source):
    anim = plot.synthesis_animate(
        source, included_plots=[*plot.synthesis.PLOT_NAMES], framerate=5
    )
    assert isinstance(anim, FuncAnimation)
    assert len(list(anim.new_frame_seq())) == len(SAVED)
    fig = anim._fig
    fig.canvas.draw()
    expected_axes = 4 if isinstance(source, SimpleNamespace) else 3
    for frame, iteration in enumerate(SAVED):
        anim._func(frame)
        assert len(fig.axes) == expected_axes
        image_ax, loss_ax, *_ = fig.axes
        np.testing.assert_allclose(
            image_ax.get_images()[0].get_array(), saved_image(frame)[0, 0]
        )
        assert image_ax.get_title() == f"Metamer [iteration {iteration}]"
        assert list(loss_ax.lines[1].get_xdata()) == [iteration]
        hist_ax = fig.axes[-1]
        assert hist_ax.get_legend().get_texts()[1].get_text() == (
            f"Metamer [iteration {iteration}]"
        )


def test_synthesis_animate_representation_error_updates():
    met = make_metamer(model=TwoChannel())
    anim = plot.synthesis_animate(met)
    fig = anim._fig
    fig.canvas.draw()
    for frame in range(len(SAVED)):
        anim._func(frame)
        # image, loss, hidden error container, and its two channel panels
        assert len(fig.axes) == 5
        error = met.model(met.saved_metamer[frame]) - met.target_representation
        np.testing.assert_allclose(
            fig.axes[3].get_images()[0].get_array(),
            error[0, 0].detach().numpy(),
            rtol=1e-6,
        )


def test_synthesis_animate_saves_gif(tmp_path):
    anim = plot.synthesis_animate(make_metamer(), figsize=(6, 2))
    anim.save(tmp_path / "a.gif", writer="pillow", fps=5, dpi=30)
    assert (tmp_path / "a.gif").stat().st_size > 0


def test_synthesis_animate_needs_saved_history():
    with pytest.raises(ValueError, match="store_progress"):
        plot.synthesis_animate(make_metamer(store_progress=False))
    with pytest.raises(ValueError, match="store_progress"):
        plot.synthesis_animate(dataset_from(make_metamer(store_progress=False)))


# ------------------------------------------------------- real Metamer class


def test_real_metamer_store_progress():
    import pipeline

    metamer_class = pipeline.Metamer
    image = torch.rand(1, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    met = metamer_class(image, TwoChannel())
    met.synthesize(max_iter=5, store_progress=2)
    history = as_history(met)
    assert history.saved_iterations.tolist() == SAVED
    np.testing.assert_array_equal(history.losses, met.losses.numpy())
    assert np.isnan(history.gradient_norm[-1])
    with pytest.warns(UserWarning, match="iteration, 4, instead"):
        fig = plot.synthesis_status(
            met, iteration=3, included_plots=[*plot.synthesis.PLOT_NAMES]
        )
    assert len(fig.axes) == 4 + 2
    anim = plot.synthesis_animate(met)
    anim._fig.canvas.draw()
    assert len(list(anim.new_frame_seq())) == len(SAVED)


def test_real_metamer_identity():
    import pipeline

    metamer_class, identity = pipeline.Metamer, pipeline.models.Identity
    image = torch.rand(1, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    met = metamer_class(image, identity())
    met.synthesize(max_iter=4, store_progress=3)
    history = as_history(met)
    assert isinstance(history, SynthesisHistory)
    assert history.saved_iterations.tolist() == [0, 3, 4]
    assert len(history.losses) == 5
    fig = plot.synthesis_status(met, included_plots=[*plot.synthesis.PLOT_NAMES])
    assert len(fig.axes) == 4
    np.testing.assert_allclose(
        history.representation_error(),
        (met.metamer - met.image).detach().numpy(),
        rtol=1e-5,
        atol=1e-6,
    )
    unsaved = metamer_class(image, identity())
    unsaved.synthesize(max_iter=2)
    with pytest.raises(ValueError, match="store_progress"):
        plot.synthesis_animate(unsaved)


@pytest.mark.parametrize("layout", [None, "constrained"])
def test_saved_figures_are_cropped_as_matplotlib_crops_them(tmp_path, layout):
    from pipeline.stages.render import DPI, save_figure

    def figure():
        fig, axes = plt.subplots(1, 2, layout=layout)
        axes[0].semilogy(np.arange(1, 50) ** 2)
        axes[1].set_title("a long title that sticks out of its axes " * 2)
        fig.suptitle("status")
        return fig

    reference = tmp_path / "reference.png"
    figure().savefig(reference, dpi=DPI, bbox_inches="tight")
    save_figure(figure(), [tmp_path / "ours.png", tmp_path / "ours.pdf"])
    expected, ours = plt.imread(reference), plt.imread(tmp_path / "ours.png")
    assert ours.shape == expected.shape
    if layout is None:  # a layout engine runs once more in ours: antialiasing moves
        np.testing.assert_array_equal(ours, expected)
    assert (tmp_path / "ours.pdf").read_bytes().startswith(b"%PDF")
