"""Eigendistortions: closed forms, agreement of the solvers, stores and plots."""

import pytest
import torch

import pipeline as po
from pipeline.errors import PipelineError
from pipeline.synthesis import SynthesisLoadError
from pipeline.synthesis.autodiff import (
    FisherOperator,
    jacobian,
    jacobian_vector_product,
    vector_jacobian_product,
)


class LinearModel(torch.nn.Module):
    """y = A x for a fixed matrix A: the Fisher matrix is A^T A."""

    def __init__(self, matrix):
        super().__init__()
        self.register_buffer("matrix", matrix)

    def forward(self, x):
        return (self.matrix @ x.reshape(-1)).reshape(1, 1, -1)


@pytest.fixture
def linear():
    torch.manual_seed(0)
    return LinearModel(torch.randn(30, 36, dtype=torch.float64))


@pytest.fixture
def image():
    torch.manual_seed(1)
    return torch.rand(1, 1, 6, 6, dtype=torch.float64)


@pytest.fixture
def onoff_setup():
    model = po.models.OnOff(7, pretrained=False).double().eval()
    po.remove_grad(model)
    return po.data.camera(size=20).double(), model


def test_linear_model_eigenvalues_in_closed_form(linear, image):
    eig = po.Eigendistortion(image, linear)
    eig.synthesize("exact", progress=False)
    expected = torch.linalg.svdvals(linear.matrix) ** 2  # 30 nonzero, 6 zero
    torch.testing.assert_close(eig.eigenvalues[:30], expected)
    assert eig.eigenvalues[30:].abs().max() < 1e-10
    assert eig.jacobian.shape == (30, 36)
    torch.testing.assert_close(eig.jacobian, linear.matrix)


def test_exact_eigendistortions_are_orthonormal_and_ordered(onoff_setup):
    image, model = onoff_setup
    eig = po.Eigendistortion(image, model)
    eig.synthesize("exact", progress=False)
    vectors = eig.eigendistortions.reshape(len(eig.eigenvalues), -1)
    torch.testing.assert_close(vectors @ vectors.T, torch.eye(400, dtype=torch.float64))
    assert torch.all(eig.eigenvalues[:-1] >= eig.eigenvalues[1:])
    assert eig.eigenindex.tolist() == list(range(400))
    assert eig.eigendistortions.shape == (400, 1, 20, 20)


def test_power_and_randomized_svd_agree_with_exact(onoff_setup):
    _, model = onoff_setup
    image = po.data.camera(size=12).double()
    exact = po.Eigendistortion(image, model)
    exact.synthesize("exact", progress=False)
    po.set_seed(0)
    power = po.Eigendistortion(image, model)
    power.synthesize("power", k=2, max_iter=120, stop_criterion=1e-12, progress=False)
    top = exact.eigenvalues[0]
    assert abs(power.eigenvalues[0] - top) < 0.01 * top
    assert power.eigenindex.tolist() == [0, 1, 142, 143]
    assert power.eigenvalues[-1] < 0.01 * top  # the bottom end is tiny
    assert {r.phase for r in power.history} == {"top", "bottom"}
    cosine = (
        power.eigendistortions[0].flatten() @ exact.eigendistortions[0].flatten()
    ).abs()
    assert cosine > 0.99
    po.set_seed(0)
    rsvd = po.Eigendistortion(image, model)
    rsvd.synthesize("randomized_svd", k=2, p=10, q=3, progress=False)
    assert abs(rsvd.eigenvalues[0] - top) < 0.01 * top
    assert rsvd.eigenindex.tolist() == [0, 1]


def test_fisher_operator_matches_double_backward(onoff_setup):
    image, model = onoff_setup
    operator = FisherOperator(model, image)
    vectors = torch.randn(3, image.numel(), dtype=torch.float64)
    x = image.clone().requires_grad_(True)
    y = model(x)
    jv = jacobian_vector_product(y.reshape(-1, 1), x, vectors.T)
    jtjv = vector_jacobian_product(
        y.reshape(-1, 1), x, jv, create_graph=False, detach=True
    )
    torch.testing.assert_close(operator.matmul(vectors), jtjv.T)


def test_jacobian_helper():
    x = torch.rand(4, requires_grad=True)
    torch.testing.assert_close(jacobian(x**2, x), torch.diag(2 * x.detach()))


def test_exact_refuses_large_images():
    model = po.models.Gaussian(3)
    po.remove_grad(model)
    eig = po.Eigendistortion(torch.rand(1, 1, 65, 65), model)
    with pytest.raises(PipelineError, match="at most 4096 pixels"):
        eig.synthesize("exact", progress=False)


def test_invalid_arguments(linear, image):
    eig = po.Eigendistortion(image, linear)
    with pytest.raises(ValueError, match="method"):
        eig.synthesize("lanczos")
    with pytest.raises(ValueError, match="k must be"):
        eig.synthesize("power", k=0)
    with pytest.raises(ValueError, match="batch size 1"):
        po.Eigendistortion(torch.cat([image, image]), linear)


def test_save_load_and_refusal(tmp_path, linear, image):
    eig = po.Eigendistortion(image, linear)
    eig.synthesize("exact", progress=False)
    eig.save(tmp_path / "eig.pt")
    loaded = po.Eigendistortion(image, linear)
    loaded.load(tmp_path / "eig.pt")
    torch.testing.assert_close(loaded.eigenvalues, eig.eigenvalues)
    other = po.Eigendistortion(image * 0.5, linear)
    with pytest.raises(SynthesisLoadError, match="image have different values"):
        other.load(tmp_path / "eig.pt")


def test_plots_from_object(onoff_setup):
    image, model = onoff_setup
    eig = po.Eigendistortion(image, model)
    eig.synthesize("randomized_svd", k=1, progress=False)
    fig = po.plot.display_eigendistortion(eig, 0, alpha=3.0)
    shown = fig.axes[0].images[0].get_array()
    expected = (image[0, 0] + 3.0 * eig.eigendistortions[0, 0]).clamp(0, 1)
    torch.testing.assert_close(
        torch.as_tensor(shown.data, dtype=torch.float64), expected
    )
    fig = po.plot.display_eigendistortion_all(
        [eig, eig], labels=["a", "b"], eigenindex=[0]
    )
    assert len(fig.axes) == 4
    with pytest.raises(ValueError, match="eigenindex 5 was not computed"):
        po.plot.display_eigendistortion(eig, 5)
