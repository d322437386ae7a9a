"""Direct separable correlation: banded-matrix products and convolutions agree."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from pipeline import separable
from pipeline.separable import correlate_separable

F64 = {"rtol": 1e-10, "atol": 1e-12}

# (input channels, kernels): kernel j filters channel j; every kernel filters the
# one channel; one kernel filters every channel
LAYOUTS = [(3, 3), (1, 3), (3, 1)]


def reference(x, gv, gh):
    """The same correlation with full 2-D kernels, one channel at a time."""
    channels = max(x.shape[1], gv.shape[0])
    outputs = []
    for c in range(channels):
        kernel = torch.outer(gv[min(c, gv.shape[0] - 1)], gh[min(c, gh.shape[0] - 1)])
        channel = x[:, min(c, x.shape[1] - 1)].unsqueeze(1)
        outputs.append(F.conv2d(channel, kernel[None, None]))
    return torch.cat(outputs, dim=1)


@pytest.mark.parametrize("path", ["matrices", "convolutions"])
@pytest.mark.parametrize(("channels", "kernels"), LAYOUTS)
def test_matches_2d_correlation_with_gradients(path, channels, kernels, monkeypatch):
    if path == "convolutions":
        monkeypatch.setattr(separable, "MATRIX_MAX_WORK", 0)
    dtype = torch.float64
    torch.manual_seed(0)
    x = torch.rand(2, channels, 21, 17, dtype=dtype, requires_grad=True)
    gv = torch.rand(kernels, 5, dtype=dtype, requires_grad=True)
    gh = torch.rand(kernels, 4, dtype=dtype, requires_grad=True)
    probe = torch.randn(2, max(channels, kernels), 17, 14, dtype=dtype)
    got = correlate_separable(x, gv, gh)
    ref = reference(x, gv, gh)
    torch.testing.assert_close(got, ref, **F64)
    got_grads = torch.autograd.grad((got * probe).sum(), (x, gv, gh))
    ref_grads = torch.autograd.grad((ref * probe).sum(), (x, gv, gh))
    for g, r in zip(got_grads, ref_grads, strict=True):
        assert g.abs().sum() > 0
        torch.testing.assert_close(g, r, **F64)


def test_paths_switch_at_the_work_bound(monkeypatch):
    # two channels of an input 70 wide: 140 units of work
    x = torch.rand(1, 2, 70, 70)
    g = torch.rand(2, 31)
    calls = []
    conv2d = F.conv2d
    monkeypatch.setattr(
        separable.F, "conv2d", lambda *a, **k: calls.append(1) or conv2d(*a, **k)
    )
    monkeypatch.setattr(separable, "MATRIX_MAX_WORK", 140)
    by_matrices = correlate_separable(x, g, g)
    assert not calls
    monkeypatch.setattr(separable, "MATRIX_MAX_WORK", 139)
    by_convolutions = correlate_separable(x, g, g)
    assert len(calls) == 2
    torch.testing.assert_close(by_matrices, by_convolutions, rtol=1e-5, atol=1e-6)


def bound_under(capability):
    """torch's CPU capability and the bound, in a process told to use ``capability``."""
    code = (
        "import torch; from pipeline import separable; "
        "print(torch.backends.cpu.get_cpu_capability(), separable.MATRIX_MAX_WORK)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=dict(os.environ, ATEN_CPU_CAPABILITY=capability),
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.split()


@pytest.mark.skipif(
    torch.backends.cpu.get_cpu_capability() not in ("AVX2", "AVX512"),
    reason="needs an x86-64 CPU with AVX2",
)
def test_bound_follows_the_cpu_capability():
    # the environment variable torch reads lowers the instructions it uses
    assert bound_under("avx2") == ["AVX2", "600"]
    assert bound_under("default") == ["DEFAULT", "1300"]
