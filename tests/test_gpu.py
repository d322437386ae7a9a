"""On a CUDA device the numbers agree with the CPU's (skipped without a GPU)."""

import copy

import pytest
import torch

import pipeline as po

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device"
)


def run_metamer(model, image, initial, device):
    model = model.to(device)
    met = po.Metamer(image.to(device), model)
    met.setup(initial.to(device))
    met.synthesize(20, progress=False)
    return met.losses, met.metamer.detach().cpu()


@pytest.mark.parametrize("name", ["OnOff", "LuminanceGainControl"])
def test_metamer_on_gpu_agrees_with_cpu(name):
    image = po.data.camera(size=32).double()
    generator = torch.Generator().manual_seed(0)
    initial = torch.rand(image.shape, generator=generator, dtype=image.dtype)
    model = getattr(po.models, name)(7).double().eval()
    po.remove_grad(model)
    results = [
        run_metamer(copy.deepcopy(model), image, initial, device)
        for device in ("cpu", "cuda")
    ]
    (cpu_losses, cpu_metamer), (gpu_losses, gpu_metamer) = results
    torch.testing.assert_close(gpu_losses, cpu_losses, rtol=1e-6, atol=1e-12)
    torch.testing.assert_close(gpu_metamer, cpu_metamer, rtol=1e-6, atol=1e-9)


def test_portilla_simoncelli_on_gpu_agrees_with_cpu():
    image = po.data.brick(size=64).double()
    model = po.models.PortillaSimoncelli((64, 64), n_scales=3).double()
    on_cpu = model(image)
    on_gpu = model.to("cuda")(image.to("cuda")).cpu()
    torch.testing.assert_close(on_gpu, on_cpu, rtol=1e-8, atol=1e-10)
