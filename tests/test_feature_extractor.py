"""Tests of models.DeepNetFeatures, with a tiny stand-in network (and torchvision if present)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import pipeline as po
from pipeline.models import DeepNetFeatures


class Refuses(nn.Module):
    """A layer that must not run (after the last requested one)."""

    def forward(self, x):
        raise AssertionError("the network ran past the last requested layer")


def tiny_net():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3),
        nn.ReLU(),
        nn.Sequential(nn.Conv2d(4, 2, 3), nn.Tanh()),
        Refuses(),
    ).eval()


def test_features_are_the_layers_outputs_and_stop_early():
    net = tiny_net()
    model = DeepNetFeatures(net, {"1": "relu", "2.0": "conv"})
    x = torch.rand(2, 3, 10, 9)
    features = model.features(x)
    relu = net[1](net[0](x))
    assert list(features) == ["relu", "conv"]
    torch.testing.assert_close(features["relu"], relu)
    torch.testing.assert_close(features["conv"], net[2][0](relu))
    rep = model(x)
    assert rep.shape == (2, 4 * 8 * 7 + 2 * 6 * 5)
    back = model.convert_to_dict(rep)
    for key, value in features.items():
        assert torch.equal(back[key], value)
    # hooks are removed afterwards: the network runs as usual (up to Refuses)
    assert not any(m._forward_hooks for m in net.modules())


def test_transform_and_gradients():
    net = tiny_net()
    model = DeepNetFeatures(net, "2", transform=lambda x: 2 * x - 1)
    x = torch.rand(1, 3, 8, 8, requires_grad=True)
    rep = model(x)
    torch.testing.assert_close(rep, net[2](net[1](net[0](2 * x - 1))).flatten(1))
    rep.sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0


def test_training_mode_warns_eval_mode_propagates():
    net = tiny_net().train()
    with pytest.warns(UserWarning, match="training mode"):
        model = DeepNetFeatures(net, "1")
    assert model.training
    assert not DeepNetFeatures(tiny_net(), "1").training


def test_errors():
    net = tiny_net()
    with pytest.raises(ValueError, match=r"\['layer9'\] must name submodules"):
        DeepNetFeatures(net, ["1", "layer9"])
    model = DeepNetFeatures(net, "1")
    with pytest.raises(ValueError, match="call forward or convert_to_tensor"):
        model.convert_to_dict(torch.zeros(1, 5))
    rep = model(torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match="representation has 3 values"):
        model.convert_to_dict(rep[:, :3])


def test_in_a_metamer():
    model = DeepNetFeatures(tiny_net(), ["1", "2.1"])
    po.remove_grad(model)
    target = torch.rand(1, 3, 12, 12)
    met = po.Metamer(target, model)
    met.synthesize(max_iter=3)
    assert len(met.losses) >= 3


def test_torchvision_network():
    torchvision = pytest.importorskip("torchvision")
    net = torchvision.models.resnet18(weights=None).eval()
    model = DeepNetFeatures(net, ["layer1", "layer2.0.conv1"])
    features = model.features(torch.rand(1, 3, 64, 64))
    assert features["layer1"].shape == (1, 64, 16, 16)
    assert features["layer2.0.conv1"].shape == (1, 128, 8, 8)
