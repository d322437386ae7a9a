"""What every synthesis object shares with the reference's: repr, load checks, warnings.

Each test pins one behaviour the reference library's users rely on (its own test
suite checks the same): the parameter listing of ``repr``, the checks ``load`` makes
and what ``raise_on_checks=False`` does instead, the stopping rule's window, the loss
recorded by ``setup``, the warnings for unusual images and models.
"""

import functools
import warnings

import pytest
import torch

import pipeline as po
from pipeline.io import LoadWarning


class Net(torch.nn.Module):
    """A model whose repr is just ``Net()``."""

    def forward(self, x):
        return torch.nn.functional.avg_pool2d(x, 3, stride=1, padding=1)


class Distance(torch.nn.Module):
    """A metric that is a module."""

    def forward(self, x, y):
        return (x - y).pow(2).mean()


class Scaled(torch.nn.Module):
    """Another model, with another name and other outputs."""

    def forward(self, x):
        return 2 * x


def shifted_penalty(x):
    return po.regularize.penalize_range(x, allowed_range=(0.3, 0.7))


def metamer(image, model=None, **kwargs):
    po.set_seed(0)
    return po.Metamer(image, Net() if model is None else model, **kwargs)


@pytest.fixture
def saved(tmp_path, image):
    met = metamer(image)
    met.synthesize(2, progress=False)
    met.save(tmp_path / "met.pt")
    return tmp_path / "met.pt"


# -- repr ----------------------------------------------------------------------------
def test_repr_lists_the_parameters_and_does_not_change_with_synthesis(image):
    penalty = functools.partial(po.regularize.penalize_range, allowed_range=(0, 1))
    met = metamer(image, loss_function=lambda x, y: po.loss.mse(x, y))
    expected = (
        "Metamer(\n  image = torch.Size([1, 1, 16, 16]) (torch.float32),\n"
        "  model = Net(),\n  loss_function = <lambda>,\n"
        "  penalty_function = penalize_range,\n  penalty_lambda = 0.1,\n)"
    )
    assert repr(met) == str(met) == expected
    met.synthesize(2, progress=False)
    assert repr(met) == expected
    mad = po.MADCompetition(image, po.loss.mse, Distance(), "max", 1, penalty)
    assert repr(mad).splitlines()[2:] == [
        "  optimized_metric = mse,",
        "  reference_metric = Distance(),",
        "  minmax = 'max',",
        "  metric_tradeoff_lambda = 1,",
        f"  penalty_function = {penalty!r},",
        "  penalty_lambda = 0.1,",
        ")",
    ]
    eig = po.Eigendistortion(image, Net())
    assert repr(eig) == (
        "Eigendistortion(\n  image = torch.Size([1, 1, 16, 16]) (torch.float32),\n"
        "  model = Net(),\n)"
    )
    # a module with submodules: its own lines are indented under the entry
    nested = torch.nn.Sequential(Net())
    assert "  model = Sequential(\n    (0): Net()\n  ),\n" in repr(
        metamer(image, nested)
    )
    geodesic = po.Geodesic(image, image.flip(-1), Net(), n_steps=2)
    assert "  n_steps = 2,\n  initial_sequence = 'straight'," in repr(geodesic)


# -- load checks ---------------------------------------------------------------------
def test_load_refuses_an_object_not_just_initialized(saved, image):
    met = metamer(image)
    met.setup()
    with pytest.raises(ValueError, match="load can only be called with a just-init"):
        met.load(saved)
    met = metamer(image)
    met.load(saved)
    with pytest.raises(ValueError, match="just-initialized Metamer"):
        met.load(saved)  # a second load, too
    eig = po.Eigendistortion(image[..., :8, :8], Net())
    eig.synthesize("exact", progress=False)
    eig.save(saved.parent / "eig.pt")
    with pytest.raises(ValueError, match="just-initialized Eigendistortion"):
        eig.load(saved.parent / "eig.pt")


def test_load_refuses_another_kind_of_synthesis(saved, image):
    mad = po.MADCompetition(image, po.loss.mse, po.loss.l2_norm, "min", 1)
    with pytest.raises(
        ValueError, match=r"Saved object was a pipeline\.Metamer, but in"
    ):
        mad.load(saved, raise_on_checks=False)  # a layout that cannot fit: always


def test_load_compares_callable_names_then_outputs(saved, image):
    def mse(x, y):  # same name and output as po.loss.mse: accepted
        return po.loss.mse(x, y)

    def other_mse(x, y):
        return po.loss.mse(x, y)

    metamer(image, loss_function=mse).load(saved)
    with pytest.raises(ValueError, match="loss_function have different names"):
        metamer(image, loss_function=other_mse).load(saved)
    with pytest.raises(ValueError, match="penalty_function output have different val"):
        metamer(image, penalty_function=shifted_penalty).load(saved)
    with pytest.raises(ValueError, match="model output have different values"):
        metamer(image, Scaled()).load(saved)


def test_load_detects_attributes_added_on_either_side(tmp_path, image):
    met = metamer(image)
    met.synthesize(1, progress=False)
    met.note = "extra"
    met.save(tmp_path / "met.pt")
    with pytest.raises(ValueError, match=r"Saved object has 1 attribute\(s\) not pr"):
        metamer(image).load(tmp_path / "met.pt")
    fresh = metamer(image)
    fresh.note = "extra"
    fresh.load(tmp_path / "met.pt")  # same attributes on both sides
    fresh = metamer(image)
    fresh.other = 1
    with pytest.raises(ValueError, match=r"Initialized object has 1 attr.*: other\."):
        fresh.load(tmp_path / "met.pt")


def test_raise_on_checks_false_warns_and_takes_saved_values(saved, image):
    other_image = torch.rand_like(image)
    met = po.Metamer(other_image, Scaled(), po.loss.l2_norm, shifted_penalty, 1.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        met.load(saved, raise_on_checks=False, tensor_equality_atol=1e-6)
    messages = [str(w.message) for w in caught if w.category is LoadWarning]
    assert [m.split(":")[0] for m in messages] == [
        "Saved and initialized attribute image have different values",
        "Saved and initialized penalty_lambda are different",
        "Saved and initialized loss_function output have different values",
        "Saved and initialized penalty_function output have different values",
        "Saved and initialized model output have different values",
        "Saved and initialized loss_function have different names",
        "Saved and initialized penalty_function have different names",
        "Saved and initialized model have different names",
    ]
    assert len(messages) == len(caught)
    assert torch.equal(met.image, image) and met.penalty_lambda == 0.1  # saved
    assert met.loss_function is po.loss.l2_norm and isinstance(met.model, Scaled)


def test_dtype_mismatch_raises_even_without_raise_on_checks(saved, image):
    met = metamer(image.double())
    with pytest.raises(ValueError, match="attribute image have different dtype"):
        met.load(saved, raise_on_checks=False)


def test_eigendistortion_load_has_the_checks_and_tolerances(tmp_path, image):
    image = image[..., :8, :8]
    eig = po.Eigendistortion(image, Net())
    eig.synthesize("exact", progress=False)
    eig.save(tmp_path / "eig.pt")
    nudged = image + 1e-4
    with pytest.raises(ValueError, match="attribute image have different values"):
        po.Eigendistortion(nudged, Net()).load(tmp_path / "eig.pt")
    loaded = po.Eigendistortion(nudged, Net())
    loaded.load(tmp_path / "eig.pt", tensor_equality_atol=1e-3)
    assert torch.equal(loaded.image, image)  # the saved one
    assert torch.equal(loaded.eigendistortions, eig.eigendistortions)
    with pytest.warns(LoadWarning, match="model have different names"):
        po.Eigendistortion(image, torch.nn.Sequential(Net())).load(
            tmp_path / "eig.pt", raise_on_checks=False
        )


def test_examine_saved_synthesis_prints_the_file(saved, tmp_path, capsys):
    po.io.examine_saved_synthesis(saved)
    out = capsys.readouterr().out
    assert "Saved object type : pipeline.Metamer" in out
    assert "model            : Net, output torch.float32, shape (1, 1, 16, 16)" in out
    torch.save(torch.zeros(3), tmp_path / "tensor.pt")
    with pytest.raises(ValueError, match="not a saved synthesis"):
        po.io.examine_saved_synthesis(tmp_path / "tensor.pt")


def test_load_then_setup_messages(tmp_path, image):
    met = metamer(image)
    met.setup(optimizer=torch.optim.SGD)
    met.synthesize(1, progress=False)
    met.save(tmp_path / "sgd.pt")
    loaded = metamer(image)
    with pytest.warns(UserWarning, match=r"You will need to call setup\(optimizer="):
        loaded.load(tmp_path / "sgd.pt")
    with pytest.raises(ValueError, match="Don't know how to initialize saved optim"):
        loaded.synthesize(1, progress=False)
    with pytest.raises(ValueError, match="optimizer must have same type"):
        loaded.setup(optimizer=torch.optim.Adam)
    with pytest.raises(ValueError, match="optimizer_kwargs must be None"):
        loaded.setup(optimizer=torch.optim.SGD, optimizer_kwargs={"lr": 1})
    loaded.setup(optimizer=torch.optim.SGD)
    loaded.synthesize(1, progress=False)
    assert loaded.n_iterations == 2


# -- synthesis -------------------------------------------------------------------------
def test_setup_records_the_starting_loss_and_penalty(image):
    met = metamer(image)
    assert len(met.losses) == len(met.penalties) == 0
    met.setup(image * 3)
    assert torch.equal(met.losses, met.objective_function().detach().reshape(1))
    assert met.penalties[0] > 0  # the start lies outside [0, 1]
    met.synthesize(2, progress=False)
    met.objective_function()
    assert len(met.losses) == len(met.penalties) == 3
    assert met.losses[0] == met.objective_function(image * 3)


def test_current_values_are_evaluated_when_read_after_synthesize(image):
    calls = []

    def counted(x, y):
        calls.append(1)
        return po.loss.mse(x, y)

    met = metamer(image, loss_function=counted)
    met.synthesize(3, progress=False)
    met.synthesize(2, progress=False)
    assert len(calls) == 5  # one per iteration: nobody read the values in between
    losses = met.losses
    assert len(calls) == 6 and len(losses) == 6
    assert torch.equal(losses[-1], met.objective_function().detach())
    met.get_progress(-1)
    assert len(calls) == 7  # objective_function; the values were kept


def test_pixel_change_norm_is_that_of_each_step(image):
    met = metamer(image)
    met.synthesize(3, store_progress=True, progress=False)
    changes = met.saved_metamer.diff(dim=0).flatten(1)
    assert torch.equal(met.pixel_change_norm, torch.linalg.vector_norm(changes, dim=1))


def test_stopping_rule_looks_at_the_last_stop_iters_to_check_losses(image):
    values = [10.0, 5.0, 3.0, 2.5, 2.45, 2.44, 2.43, 2.42]
    calls = []

    def scripted(x, y):  # no gradient: only the recorded value changes
        calls.append(1)
        return (x * 0).sum() + values[min(len(calls), len(values)) - 1]

    met = metamer(image, loss_function=scripted, penalty_lambda=0)
    with pytest.warns(UserWarning, match="converged"):
        met.synthesize(8, stop_criterion=0.1, stop_iters_to_check=3, progress=False)
    # losses 2.5 (iteration 3) and 2.44 (iteration 5) are the first 3 within 0.1
    assert met.n_iterations == 6


def test_unusual_images_warn_and_work(image):
    with pytest.warns(UserWarning, match="input_tensor range is"):
        po.Metamer(image + 1, Net())
    flat = image[0, 0]
    with pytest.warns(UserWarning, match="mostly been tested on 4d inputs"):
        met = po.Metamer(flat, lambda x: x.flatten() * 2)
    met.synthesize(2, progress=False)
    assert met.metamer.shape == flat.shape
    with pytest.warns(UserWarning, match="4d inputs"):
        eig = po.Eigendistortion(image[0], lambda x: x.flatten() * 2)
    eig.synthesize("power", k=2, max_iter=3, progress=False)
    assert eig.eigendistortions.shape == (4, 16, 16)


def test_a_plain_callable_model_is_left_alone_by_to(image):
    def double(x):
        return 2 * x

    met = metamer(image, double)
    met.synthesize(1, progress=False)
    with pytest.warns(UserWarning, match="Unable to call model.to"):
        met.to(torch.float64)
    met.synthesize(1, progress=False)
    assert met.metamer.dtype == torch.float64
    eig = po.Eigendistortion(image, double)
    with pytest.warns(UserWarning, match="Unable to call model.to"):
        eig.to(torch.float64)
    assert eig.image.dtype == torch.float64


def test_get_progress_out_of_bounds(image):
    met = metamer(image)
    met.synthesize(2, progress=False)
    with pytest.raises(IndexError, match="iteration -4 is out of bounds with 2"):
        met.get_progress(-4)
