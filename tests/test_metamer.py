"""Metamer behaviours documented in seed 002 (the current API)."""

import warnings

import pytest
import torch

import pipeline as po
from pipeline.synthesis import SynthesisDivergedError, SynthesisLoadError


def make(image, model, **kwargs):
    po.set_seed(0)
    return po.Metamer(image, model, **kwargs)


def test_before_setup_attributes_are_empty(image, blur):
    met = make(image, blur)
    assert met.objective_function().numel() == 0
    assert met.metamer.numel() == 0
    assert met.saved_metamer.numel() == 0
    assert torch.equal(met.target_representation, blur(image))


@pytest.mark.parametrize(("store_progress", "n_saved"), [(True, 6), (2, 4), (False, 1)])
def test_history_lengths(image, blur, store_progress, n_saved):
    met = make(image, blur)
    met.synthesize(5, store_progress=store_progress, progress=False)
    assert met.losses.shape == (6,)
    assert met.penalties.shape == (6,)
    assert met.gradient_norm.shape == (5,)
    assert met.pixel_change_norm.shape == (5,)
    assert met.saved_metamer.shape == (n_saved, 1, 1, 16, 16)
    assert torch.equal(met.saved_metamer[-1], met.metamer.detach())
    assert met.losses.device.type == "cpu"


def test_saved_metamer_matches_losses(image, blur):
    met = make(image, blur)
    met.synthesize(5, store_progress=True, progress=False)
    for i in (0, 2, 5):
        assert torch.allclose(
            met.objective_function(met.saved_metamer[i]), met.losses[i]
        )


def test_objective_is_loss_plus_weighted_penalty(image, blur):
    met = make(image, blur, penalty_lambda=0.5)
    x = image * 2
    expected = po.loss.mse(blur(x), blur(image)) + 0.5 * po.regularize.penalize_range(x)
    assert torch.allclose(met.objective_function(x), expected)
    assert po.regularize.penalize_range(x) > 0


@pytest.mark.parametrize(
    ("x_shape", "y_shape"), [((3, 5, 7), (3, 5, 7)), ((2, 1, 4), (3, 4))]
)
def test_mse_is_the_mean_squared_difference_bit_for_bit(x_shape, y_shape):
    torch.manual_seed(0)
    x = torch.randn(x_shape, requires_grad=True)
    y = torch.randn(y_shape)
    value = po.loss.mse(x, y)
    (gradient,) = torch.autograd.grad(value, x)
    by_hand = torch.mean((x - y).pow(2))
    assert torch.equal(value, by_hand)
    assert torch.equal(gradient, torch.autograd.grad(by_hand, x)[0])
    z = torch.randn(4, dtype=torch.complex64)
    assert torch.equal(po.loss.mse(z, 2 * z), torch.mean((-z).pow(2)))


def test_loss_decreases(image, blur):
    met = make(image, blur)
    met.synthesize(60, progress=False)
    assert met.losses[-1] < 0.2 * met.losses[0]


def test_continuing_equals_running_at_once(image, blur):
    image = image.double()
    once = make(image, blur)
    once.synthesize(10, store_progress=3, progress=False)
    twice = make(image, blur)
    twice.synthesize(4, store_progress=3, progress=False)
    twice.synthesize(6, store_progress=3, progress=False)
    assert torch.equal(once.metamer, twice.metamer)
    assert torch.equal(once.losses, twice.losses)
    assert torch.equal(once.saved_metamer, twice.saved_metamer)
    assert twice.saved_iterations() == [0, 3, 6, 9, 10]


def test_store_progress_must_not_change(image, blur):
    met = make(image, blur)
    met.synthesize(2, store_progress=2, progress=False)
    with pytest.raises(ValueError, match="store_progress must stay the same"):
        met.synthesize(2, store_progress=1, progress=False)


def test_stop_criterion_stops_early(image, blur):
    met = make(image, blur)
    with pytest.warns(UserWarning, match="converged"):
        met.synthesize(12, stop_criterion=1e9, stop_iters_to_check=2, progress=False)
    assert len(met.losses) == 4


def test_nan_loss_raises_with_iteration(image, blur):
    calls = []

    def loss(x, y):
        calls.append(1)
        return po.loss.mse(x, y) * (float("nan") if len(calls) > 3 else 1.0)

    met = make(image, blur, loss_function=loss)
    with pytest.raises(SynthesisDivergedError, match=r"NaN in loss.* iteration 3"):
        met.synthesize(10, progress=False)
    assert issubclass(SynthesisDivergedError, ValueError)


def test_setup_only_once(image, blur):
    met = make(image, blur)
    met.setup(torch.full_like(image, 0.5))
    assert torch.equal(met.metamer.detach(), torch.full_like(image, 0.5))
    with pytest.raises(ValueError, match="only be called once"):
        met.setup()
    met = make(image, blur)
    met.synthesize(1, progress=False)
    with pytest.raises(ValueError, match="only be called once"):
        met.setup()


def test_setup_warns_on_other_initial_shape(image):
    # a model whose output does not depend on the image size (one statistic)
    met = make(image, lambda x: x.mean((-2, -1)))
    with pytest.warns(UserWarning, match="initial_image and image are different sizes"):
        met.setup(torch.rand(1, 1, 8, 8))
    met.synthesize(2, progress=False)
    assert met.metamer.shape == (1, 1, 8, 8)


def test_setup_optimizer_and_scheduler(image, blur):
    met = make(image, blur)
    met.setup(
        optimizer=torch.optim.SGD,
        optimizer_kwargs={"lr": 0.5},
        scheduler=torch.optim.lr_scheduler.ReduceLROnPlateau,
    )
    met.synthesize(3, progress=False)
    assert isinstance(met.optimizer, torch.optim.SGD)
    assert met.optimizer.param_groups[0]["lr"] == 0.5


def test_steps_equal_a_plain_torch_loop_bit_for_bit(image, blur):
    start = torch.rand_like(image)
    met = make(image, blur)
    met.setup(start)
    met.synthesize(4, progress=False)
    x = start.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([x], lr=0.01, amsgrad=True, fused=True)
    for _ in range(4):
        optimizer.zero_grad()
        loss = po.loss.mse(blur(x), blur(image)) + 0.1 * po.regularize.penalize_range(x)
        loss.backward()
        optimizer.step()
    assert torch.equal(met.metamer, x)
    assert torch.equal(met.gradient_norm[-1], torch.linalg.vector_norm(x.grad))


def test_default_adam_steps_through_the_fused_kernel_after_the_first(
    image, blur, monkeypatch
):
    # torch's own step makes the optimizer state; the later ones call its fused
    # kernel directly (pipeline.synthesis.optimizers.fused_adam_step), whose
    # results test_steps_equal_a_plain_torch_loop_bit_for_bit compares
    calls = []
    torch_step = torch.optim.Adam.step

    def counted(self, closure=None):
        calls.append(1)
        return torch_step(self, closure)

    monkeypatch.setattr(torch.optim.Adam, "step", counted)
    met = make(image, blur)
    met.synthesize(4, progress=False)
    assert len(calls) == 1


def test_a_step_hook_runs_every_step_with_torchs_results(image, blur):
    def synthesize(hook):
        met = make(image, blur)
        met.setup()
        if hook is not None:
            met.optimizer.register_step_pre_hook(hook)
        met.synthesize(4, progress=False)
        return met.metamer

    calls = []
    hooked = synthesize(lambda *args: calls.append(1))
    assert len(calls) == 4
    assert torch.equal(hooked, synthesize(None))


def test_synthesis_inside_no_grad_steps_as_outside(image, blur):
    # torch's step runs the closure with gradients enabled; so must every step
    outside = make(image, blur)
    outside.synthesize(3, progress=False)
    inside = make(image, blur)
    with torch.no_grad():
        inside.synthesize(3, progress=False)
    assert torch.equal(inside.metamer, outside.metamer)


def test_an_optimizers_own_zero_grad_runs_every_step(image, blur):
    calls = []

    class CountingSGD(torch.optim.SGD):
        def zero_grad(self, set_to_none=True):
            calls.append(set_to_none)
            super().zero_grad(set_to_none)

    met = make(image, blur)
    met.setup(optimizer=CountingSGD, optimizer_kwargs={"lr": 0.5})
    met.synthesize(3, progress=False)
    assert calls == [True] * 3


def test_a_parameter_group_added_by_hand_is_still_cleared(image, blur):
    met = make(image, blur)
    met.setup()
    other = torch.zeros(3, requires_grad=True)
    met.optimizer.add_param_group({"params": [other]})
    other.grad = torch.ones(3)
    met.synthesize(1, progress=False)
    assert other.grad is None  # torch's zero_grad ran, as before every step


def test_get_progress(image, blur):
    met = make(image, blur)
    met.synthesize(5, store_progress=2, progress=False)
    current = met.get_progress(-1)
    assert list(current) == [
        "losses",
        "iteration",
        "penalties",
        "pixel_change_norm",
        "gradient_norm",
        "saved_metamer",
        "store_progress_iteration",
    ]
    assert current["iteration"] == 5
    assert current["gradient_norm"] is None
    assert torch.equal(current["saved_metamer"], met.saved_metamer[-1])
    with pytest.warns(UserWarning, match="not stored"):
        info = met.get_progress(-3)
    assert (info["iteration"], info["store_progress_iteration"]) == (3, 4)
    assert torch.equal(info["losses"], met.losses[3])
    with pytest.warns(UserWarning):
        assert (
            met.get_progress(3, iteration_selection="floor")["store_progress_iteration"]
            == 2
        )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert met.get_progress(2)["store_progress_iteration"] == 2
    with pytest.raises(IndexError):
        met.get_progress(7)


def test_batches_get_one_metamer_each(blur):
    images = torch.rand(3, 1, 16, 16)
    met = make(images, blur)
    met.synthesize(3, store_progress=1, progress=False)
    assert met.metamer.shape == images.shape
    assert met.saved_metamer.shape == (4, 3, 1, 16, 16)


def test_records_stream_without_history(image, blur):
    records = []
    met = make(image, blur)
    met.synthesize(
        5,
        store_progress=2,
        on_iteration=records.append,
        keep_history=False,
        progress=False,
    )
    assert [r.iteration for r in records] == [0, 1, 2, 3, 4]
    assert [r.image is not None for r in records] == [True, False, True, False, True]
    assert set(records[0].values) == {
        "loss",
        "penalty",
        "gradient_norm",
        "pixel_change_norm",
    }
    assert met.losses.shape == (1,)  # only the current value is kept
    reference = make(image, blur)
    reference.synthesize(5, store_progress=2, progress=False)
    assert torch.equal(
        torch.stack([r.values["loss"] for r in records]), reference.losses[:-1]
    )


def test_save_load_round_trip_continues_identically(tmp_path, image, blur):
    image = image.double()
    met = make(image, blur)
    met.synthesize(4, store_progress=2, progress=False)
    met.save(tmp_path / "met.pt")
    loaded = make(image, blur)
    loaded.load(tmp_path / "met.pt")
    assert torch.equal(loaded.losses, met.losses)
    assert torch.equal(loaded.saved_metamer, met.saved_metamer)
    met.synthesize(3, store_progress=2, progress=False)
    loaded.synthesize(3, store_progress=2, progress=False)
    assert torch.equal(loaded.metamer, met.metamer)
    payload = torch.load(tmp_path / "met.pt", weights_only=True)
    assert payload["format"] == "pipeline.synthesis/2"


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda img, m: (torch.rand_like(img), m, {}), "image have different values"),
        (lambda img, m: (img, torch.nn.Identity(), {}), "model output .* values"),
        (lambda img, m: (img, m, {"loss_function": po.loss.l2_norm}), "loss_function"),
        (lambda img, m: (img, m, {"penalty_lambda": 0.3}), "penalty_lambda"),
    ],
)
def test_load_refuses_a_different_synthesis(tmp_path, image, blur, change, match):
    met = make(image, blur)
    met.synthesize(2, progress=False)
    met.save(tmp_path / "met.pt")
    other_image, other_model, kwargs = change(image, blur)
    other = po.Metamer(other_image, other_model, **kwargs)
    with pytest.raises(SynthesisLoadError, match=match):
        other.load(tmp_path / "met.pt")


def test_load_refuses_other_dtype_and_garbage(tmp_path, image, blur):
    met = make(image, blur)
    met.synthesize(2, progress=False)
    met.save(tmp_path / "met.pt")
    other = make(image, blur)
    other.to(torch.float64)
    with pytest.raises(SynthesisLoadError, match="dtype"):
        other.load(tmp_path / "met.pt")
    (tmp_path / "bad.pt").write_bytes(b"not a torch file")
    with pytest.raises(SynthesisLoadError, match="cannot read"):
        make(image, blur).load(tmp_path / "bad.pt")


def test_load_needs_setup_with_non_default_optimizer(tmp_path, image, blur):
    met = make(image, blur)
    met.setup(optimizer=torch.optim.SGD, optimizer_kwargs={"lr": 0.1})
    met.synthesize(2, progress=False)
    met.save(tmp_path / "met.pt")
    loaded = make(image, blur)
    with pytest.warns(UserWarning, match="setup"):
        loaded.load(tmp_path / "met.pt")
    with pytest.raises(ValueError, match=r"initialize saved optimizer .*SGD"):
        loaded.setup()
    loaded = make(image, blur)
    with pytest.warns(UserWarning):
        loaded.load(tmp_path / "met.pt")
    with pytest.raises(ValueError, match="initial_image"):
        loaded.setup(image, optimizer=torch.optim.SGD)
    loaded.setup(optimizer=torch.optim.SGD)
    loaded.synthesize(1, progress=False)
    assert loaded.optimizer.param_groups[0]["lr"] == 0.1


def test_to_casts_everything(image, blur):
    met = make(image, blur)
    met.synthesize(2, store_progress=1, progress=False)
    met.to(torch.float64)
    assert (
        met.image.dtype
        == met.metamer.dtype
        == met.target_representation.dtype
        == torch.float64
    )
    met.synthesize(1, store_progress=1, progress=False)
    assert met.losses.dtype == torch.float64


def test_invalid_inputs_are_refused(blur):
    with pytest.raises(TypeError, match="floating point"):
        po.Metamer(torch.ones(1, 1, 8, 8, dtype=torch.int64), blur)
    with pytest.raises(ValueError, match="differentiable"):
        po.Metamer(torch.rand(1, 1, 8, 8), lambda x: x.detach())
    with pytest.raises(ValueError, match="max_iter"):
        make(torch.rand(1, 1, 8, 8), blur).synthesize(0)
