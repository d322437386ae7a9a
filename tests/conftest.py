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
