"""A batch of metamers equals the same metamers synthesized one by one."""

import pytest
import torch

import pipeline as po
from pipeline.synthesis import MetamerBatch


@pytest.fixture
def images():
    return torch.cat(
        [po.data.camera(size=16), po.data.astronaut(size=16), po.data.moon(size=16)]
    ).double()


@pytest.mark.parametrize("loss", [po.loss.mse, po.loss.l2_norm])
def test_batch_equals_separate_syntheses(images, loss):
    model = po.models.OnOff(7).double().eval()
    po.remove_grad(model)
    initial = torch.rand(images.shape, dtype=images.dtype,
                         generator=torch.Generator().manual_seed(0))  # fmt: skip
    batch = MetamerBatch(images, model, loss_function=loss)
    batch.setup(initial)
    batch.synthesize(15, store_progress=5, stop_criterion=0, progress=False)
    assert batch.losses.shape == (16, 3) and batch.gradient_norm.shape == (15, 3)
    for b in range(images.shape[0]):
        alone = po.Metamer(images[b : b + 1], model, loss_function=loss)
        alone.setup(initial[b : b + 1])
        alone.synthesize(15, store_progress=5, stop_criterion=0, progress=False)
        torch.testing.assert_close(batch.losses[:, b], alone.losses)
        torch.testing.assert_close(batch.penalties[:, b], alone.penalties)
        torch.testing.assert_close(batch.gradient_norm[:, b], alone.gradient_norm)
        torch.testing.assert_close(
            batch.pixel_change_norm[:, b], alone.pixel_change_norm
        )
        torch.testing.assert_close(batch.metamer[b : b + 1], alone.metamer)
        torch.testing.assert_close(
            batch.saved_metamer[:, b : b + 1], alone.saved_metamer
        )


def test_objective_function_is_per_image(images):
    model = po.models.Gaussian(5).double().eval()
    po.remove_grad(model)
    batch = MetamerBatch(images, model)
    batch.setup()
    values = batch.objective_function()
    assert values.shape == (3,)
    alone = po.Metamer(images[1:2], model)
    expected = alone.objective_function(batch.metamer[1:2].detach())
    torch.testing.assert_close(values[1], expected)
