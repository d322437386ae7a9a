"""Coarse-to-fine metamers: scale schedule, switching rule, stopping, saving/resuming."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import pipeline as po
from pipeline.synthesis.metamer_ctf import MetamerCTF


class ThreeScales(nn.Module):
    """Coarse-to-fine toy: 4x-pooled, 2x-pooled and full-resolution squared pixels."""

    scales = ("coarse", "middle", "fine")

    def _parts(self, x):
        return {
            "coarse": F.avg_pool2d(x, 4).flatten(1),
            "middle": F.avg_pool2d(x, 2).pow(2).flatten(1),
            "fine": x.pow(3).flatten(1),
        }

    def forward(self, x, scales=None):
        keep = self.scales if scales is None else scales
        parts = self._parts(x)
        return torch.cat([parts[s] for s in self.scales if s in keep], 1)[:, None]


class ThreeScalesSelectable(ThreeScales):
    """The same model with ``remove_scales``: one forward per step suffices."""

    def remove_scales(self, representation, scales_to_keep):
        sizes = {"coarse": 4, "middle": 16, "fine": 64}  # 8x8 images
        pieces = representation.split([sizes[s] for s in self.scales], dim=-1)
        return torch.cat(
            [
                p
                for s, p in zip(self.scales, pieces, strict=True)
                if s in scales_to_keep
            ],
            -1,
        )


@pytest.fixture
def image():
    torch.manual_seed(0)
    return torch.rand(1, 1, 8, 8, dtype=torch.float64)


def ctf(image, model=None, **kwargs):
    met = MetamerCTF(
        image, model or ThreeScales(), loss_function=po.loss.l2_norm, **kwargs
    )
    torch.manual_seed(1)
    met.setup(torch.rand_like(image))
    return met


def test_together_schedule_switches_every_window_and_keeps_all_last(image):
    met = ctf(image)
    assert met.scales == ("coarse", "middle", "all")  # "fine" equals "all"
    records = []
    met.synthesize(
        10,
        change_scale_criterion=None,
        ctf_iters_to_check=3,
        progress=False,
        on_iteration=records.append,
    )
    assert met.scales_finished == ("coarse", "middle")
    assert met.scales == ("all",)
    assert met.scales_timing == {"coarse": [0, 2], "middle": [3, 5], "all": [6]}
    scale_index = [int(record.values["scale"]) for record in records]
    assert scale_index == [0, 0, 0, 1, 1, 1, 2, 2, 2, 2]
    # as the reference's: the scale terms are not part of get_progress
    assert {"scale", "scale_loss"}.isdisjoint(met.get_progress(4))


def test_separate_schedule_visits_every_scale(image):
    met = ctf(image, coarse_to_fine="separate")
    assert met.scales == ("coarse", "middle", "fine", "all")
    met.synthesize(8, change_scale_criterion=None, ctf_iters_to_check=2, progress=False)
    assert met.scales_finished == ("coarse", "middle", "fine")
    assert met.scales_timing["fine"] == [4, 5]


def test_scale_loss_is_what_is_minimized_and_equals_loss_at_all(image):
    met = ctf(image)
    met.synthesize(8, change_scale_criterion=None, ctf_iters_to_check=3, progress=False)
    losses = met.losses
    scale_losses = torch.tensor(met.scales_loss, dtype=losses.dtype)
    assert len(scale_losses) == met.n_iterations == len(losses) - 1  # one per step
    assert (scale_losses[:6] < losses[:6]).all()  # a part of the representation
    torch.testing.assert_close(scale_losses[6:], losses[6:-1], rtol=0, atol=0)
    # the coarse-scale loss by hand, at the current image after one more coarse step
    restart = ctf(image)
    restart.synthesize(
        1, change_scale_criterion=None, ctf_iters_to_check=3, progress=False
    )
    x = restart.metamer.detach()
    model = restart.model
    by_hand = po.loss.l2_norm(
        model(x, scales=["coarse"]), model(image, scales=["coarse"])
    ) + 0.1 * po.regularize.penalize_range(x)
    torch.testing.assert_close(restart.current_values["scale_loss"], by_hand)


def test_selecting_from_full_output_matches_running_on_the_subset(image):
    plain, selectable = ctf(image), ctf(image, ThreeScalesSelectable())
    for met in (plain, selectable):
        met.synthesize(
            9, change_scale_criterion=None, ctf_iters_to_check=3, progress=False
        )
    torch.testing.assert_close(plain.losses, selectable.losses, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(
        plain.metamer, selectable.metamer, rtol=1e-12, atol=1e-14
    )


def test_wrong_remove_scales_is_refused(image):
    class Broken(ThreeScalesSelectable):
        def remove_scales(self, representation, scales_to_keep):
            return representation[..., : len(scales_to_keep)]

    with pytest.raises(ValueError, match="disagrees with forward"):
        MetamerCTF(image, Broken())


def test_scale_changes_when_loss_stalls_not_before(image):
    met = ctf(image)
    met.synthesize(30, change_scale_criterion=1e9, ctf_iters_to_check=5, progress=False)
    # any change is below a huge criterion: switch as soon as the window allows
    assert met.scales_timing["coarse"] == [0, 4]
    met2 = ctf(image)
    met2.synthesize(
        30,
        stop_criterion=0,
        change_scale_criterion=1e-12,
        ctf_iters_to_check=5,
        progress=False,
    )
    assert met2.scales == ("coarse", "middle", "all")  # never stalls that much


def test_learning_rate_resets_at_each_switch(image):
    met = ctf(image)
    met.synthesize(2, change_scale_criterion=None, ctf_iters_to_check=3, progress=False)
    met.optimizer.param_groups[0]["lr"] = 1e-5
    met.synthesize(1, change_scale_criterion=None, ctf_iters_to_check=3, progress=False)
    assert met.scales[0] == "middle"
    assert met.optimizer.param_groups[0]["lr"] == 0.01


def test_no_convergence_stop_before_all_scales(image):
    met = ctf(image)
    with pytest.warns(UserWarning, match="converged"):
        met.synthesize(
            40,
            stop_criterion=1e9,  # "converged" at once, if it were allowed
            stop_iters_to_check=1,
            change_scale_criterion=None,
            ctf_iters_to_check=3,
            progress=False,
        )
    # coarse 0-2, middle 3-5, all from 6; stops at the first iteration more than 3
    # after the first at "all" (10), as the reference does
    assert met.n_iterations == 11
    assert met.scales == ("all",)


def test_criteria_are_checked(image):
    met = ctf(image)
    with pytest.raises(ValueError, match="stop_criterion"):
        met.synthesize(5, stop_criterion=0.1, change_scale_criterion=0.01)
    with pytest.raises(ValueError, match="ctf_iters_to_check"):
        met.synthesize(5, ctf_iters_to_check=0)
    with pytest.raises(ValueError, match="together' or 'separate"):
        MetamerCTF(image, ThreeScales(), coarse_to_fine="sideways")


@pytest.mark.parametrize("selectable", [False, True])
def test_save_load_resume_is_bit_identical(image, tmp_path, selectable):
    model = ThreeScalesSelectable() if selectable else ThreeScales()
    settings = {
        "change_scale_criterion": 1e-3,
        "ctf_iters_to_check": 3,
        "progress": False,
    }
    whole = ctf(image, model)
    whole.synthesize(12, store_progress=2, **settings)
    first = ctf(image, model)
    first.synthesize(5, store_progress=2, **settings)  # stops inside "middle"
    first.save(tmp_path / "ctf.pt")
    resumed = MetamerCTF(image, model, loss_function=po.loss.l2_norm)
    resumed.load(tmp_path / "ctf.pt")
    assert resumed.scales == first.scales
    resumed.synthesize(7, store_progress=2, **settings)
    assert torch.equal(resumed.metamer, whole.metamer)
    assert torch.equal(resumed.losses, whole.losses)
    assert resumed.scales_loss == whole.scales_loss
    assert resumed.scales_timing == whole.scales_timing
    assert torch.equal(resumed.saved_metamer, whole.saved_metamer)


def test_load_refuses_other_coarse_to_fine_mode(image, tmp_path):
    met = ctf(image)
    met.synthesize(2, change_scale_criterion=None, ctf_iters_to_check=3, progress=False)
    met.save(tmp_path / "ctf.pt")
    other = MetamerCTF(image, ThreeScales(), po.loss.l2_norm, coarse_to_fine="separate")
    with pytest.raises(po.synthesis.SynthesisLoadError, match="coarse_to_fine"):
        other.load(tmp_path / "ctf.pt")


def test_progress_bar_shows_the_current_scale(image, monkeypatch):
    import tqdm.auto

    shown = []

    class Recording(tqdm.auto.tqdm):
        def set_postfix(self, **fields):
            shown.append(fields)

    monkeypatch.setattr(tqdm.auto, "tqdm", Recording)
    met = ctf(image)
    for _ in range(2):  # the bar shows the loss when it refreshes: first, then 1/s
        met.synthesize(2, change_scale_criterion=None, ctf_iters_to_check=3)
    assert [fields["scale"] for fields in shown] == ["coarse", "middle"]


class NoScales(nn.Module):
    def forward(self, x):
        return x


class NoKeyword(NoScales):
    scales = (0, 1)


class IgnoresScales(NoScales):
    scales = (0, 1)

    def forward(self, x, scales=None):
        return x * 2


@pytest.mark.parametrize(
    ("model", "error", "message"),
    [
        (NoScales(), AttributeError, "'scales' attribute"),
        (NoKeyword(), TypeError, "'scales' keyword"),
        (IgnoresScales(), ValueError, "returns the full representation"),
    ],
)
def test_models_that_cannot_do_coarse_to_fine_are_refused(image, model, error, message):
    with pytest.raises(error, match=message):
        po.validate.validate_coarse_to_fine(model, image_shape=(1, 1, 8, 8))
    with pytest.raises(error, match="can't do coarse-to-fine"):
        MetamerCTF(image, model)


def test_forward_with_kwargs_can_do_coarse_to_fine():
    # a subclass passing **kwargs on to a forward that takes scales
    class Pyramid(po.models.SteerablePyramidFreq):
        def forward(self, *args, **kwargs):
            coeffs = super().forward(*args, **kwargs)
            return self.convert_pyr_to_tensor(coeffs)[0]

    pyr = Pyramid((16, 16), height=1, order=1, downsample=False)
    po.validate.validate_coarse_to_fine(pyr, image_shape=(1, 1, 16, 16))


def test_loss_with_for_scales_gets_each_subset(image):
    asked = []

    class Weighted:
        def __call__(self, x, y):
            return po.loss.l2_norm(x, y)

        def for_scales(self, scales):
            asked.append(list(scales))
            return lambda x, y: 2 * po.loss.l2_norm(x, y)

    met = MetamerCTF(image, ThreeScalesSelectable(), loss_function=Weighted())
    met.synthesize(
        7,
        store_progress=1,
        change_scale_criterion=None,
        ctf_iters_to_check=3,
        progress=False,
    )
    assert asked == [["coarse"], ["coarse", "middle"]]
    model = met.model
    for iteration, subset in ((0, ["coarse"]), (4, ["coarse", "middle"])):
        x = met.saved_metamer[iteration]
        by_hand = 2 * po.loss.l2_norm(
            model(x, scales=subset), model(image, scales=subset)
        ) + 0.1 * po.regularize.penalize_range(x)
        scale_loss = torch.tensor(met.scales_loss[iteration], dtype=by_hand.dtype)
        torch.testing.assert_close(scale_loss, by_hand)
    # on "all" the plain call is used
    x = met.saved_metamer[6]
    by_hand = po.loss.l2_norm(
        model(x), model(image)
    ) + 0.1 * po.regularize.penalize_range(x)
    torch.testing.assert_close(
        torch.tensor(met.scales_loss[6], dtype=by_hand.dtype), by_hand
    )


def test_plot_scale_loss_of_an_object_ends_at_the_current_image(image):
    met = ctf(image)
    met.synthesize(7, change_scale_criterion=None, ctf_iters_to_check=3, progress=False)
    fig = po.plot.plot_scale_loss(met)
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    segments = [lines[scale] for scale in ("coarse", "middle", "all")]
    # 7 iterations, then the current image
    assert len(lines["all scales"].get_xdata()) == 8
    assert [len(line.get_xdata()) for line in segments] == [3, 3, 2]
    # the last point of "all" is the current image's scale loss (= its loss there)
    assert segments[-1].get_ydata()[-1] == pytest.approx(met.losses[-1].item())
