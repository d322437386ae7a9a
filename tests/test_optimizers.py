"""The stages' optimizers: torch's own updates, without importing torch._dynamo."""

import subprocess
import sys

import pytest
import torch

from pipeline.synthesis import optimizers

CASES = {
    "Adam": {"lr": 0.05, "amsgrad": True, "fused": True},
    "SGD": {"lr": 0.1, "momentum": 0.5},
    "LBFGS": {"lr": 1, "max_iter": 4, "line_search_fn": "strong_wolfe"},
}


def trajectory(optimizer_class, kwargs, steps=6):
    torch.manual_seed(0)
    x = torch.rand(1, 1, 8, 8, dtype=torch.float64, requires_grad=True)
    target = torch.rand_like(x)
    optimizer = optimizer_class([x], **kwargs)

    def closure():
        optimizer.zero_grad()
        loss = ((x.sin() - target) ** 2).sum()
        loss.backward()
        return loss

    for _ in range(steps):
        optimizer.step(closure)
    state = optimizer.state_dict()
    optimizer.load_state_dict(state)
    return x.detach(), state


@pytest.mark.parametrize("name", CASES)
def test_same_updates_and_state_as_torch(name):
    ours, our_state = trajectory(getattr(optimizers, name), CASES[name])
    theirs, their_state = trajectory(getattr(torch.optim, name), CASES[name])
    assert torch.equal(ours, theirs)
    assert our_state["param_groups"] == their_state["param_groups"]
    torch.testing.assert_close(our_state["state"], their_state["state"], rtol=0, atol=0)
    assert isinstance(
        getattr(optimizers, name)([torch.zeros(1)]), torch.optim.Optimizer
    )


def test_no_optimizer_imports_dynamo():
    # one fresh process for all three: what one imports stays imported for the next
    code = (
        "import sys, torch\n"
        "from pipeline.synthesis import optimizers\n"
        f"for name in {sorted(CASES)!r}:\n"
        "    x = torch.rand(4, requires_grad=True)\n"
        "    opt = getattr(optimizers, name)([x], lr=0.1)\n"
        "    def closure():\n"
        "        opt.zero_grad(); loss = (x ** 2).sum(); loss.backward(); return loss\n"
        "    opt.step(closure); opt.load_state_dict(opt.state_dict())\n"
        "    torch.optim.lr_scheduler.ReduceLROnPlateau(opt).step(1.0)\n"
        "    assert 'torch._dynamo' not in sys.modules, f'{name} imported torch._dynamo'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
