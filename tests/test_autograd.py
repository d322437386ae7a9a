"""Tests of PositionalFunction: autograd functions without per-call argument binding."""

from __future__ import annotations

import inspect

import pytest
import torch

from pipeline.autograd import PositionalFunction


class _Cube(PositionalFunction):
    """x ** 3 with a hand-written derivative; counts setup_context calls."""

    generate_vmap_rule = True
    contexts = 0

    @staticmethod
    def forward(x, scale):
        return scale * x**3

    @staticmethod
    def setup_context(ctx, inputs, output):
        _Cube.contexts += 1
        x, scale = inputs
        ctx.save_for_backward(x)
        ctx.scale = scale

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 3 * ctx.scale * x**2, None


def test_apply_gives_the_values_and_derivatives_without_binding(monkeypatch):
    calls = []
    signature = inspect.signature
    monkeypatch.setattr(
        inspect, "signature", lambda f, **kw: calls.append(f) or signature(f, **kw)
    )
    x = torch.tensor([1.0, -2.0, 0.5], requires_grad=True)
    before = _Cube.contexts
    y = _Cube.apply(x, 2.0)
    y.sum().backward()
    assert torch.equal(y, 2 * x.detach() ** 3)
    assert torch.equal(x.grad, 6 * x.detach() ** 2)
    assert _Cube.contexts == before + 1
    assert calls == []  # torch's own apply calls inspect.signature on every call


def test_under_vmap_the_standard_apply_runs():
    x = torch.randn(4, 3)
    batched = torch.func.vmap(lambda row: _Cube.apply(row, 0.5))(x)
    assert torch.allclose(batched, 0.5 * x**3)
    grads = torch.func.vmap(torch.func.grad(lambda row: _Cube.apply(row, 1.0).sum()))(x)
    assert torch.allclose(grads, 3 * x**2)


def _with_default(x, scale=1.0):
    return x


def _with_keyword(x, *, scale):
    return x


def _variadic(*xs):
    return xs[0]


@pytest.mark.parametrize("forward", [_with_default, _with_keyword, _variadic])
def test_a_forward_with_defaults_or_keywords_is_refused(forward):
    with pytest.raises(TypeError, match="must be positional, without a default"):
        type("Bad", (PositionalFunction,), {"forward": staticmethod(forward)})
