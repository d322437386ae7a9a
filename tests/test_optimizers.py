"""The stages' optimizers: torch's own updates, without importing torch._dynamo."""

import copy
import subprocess
import sys

import pytest
import torch
import torch.optim.optimizer as torch_optimizer

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


# torch's fused Adam options the shortcut passes on to the kernel
FUSED_ADAM_OPTIONS = [
    {"lr": 0.05, "amsgrad": True},
    {
        "lr": 0.02,
        "amsgrad": False,
        "betas": (0.8, 0.99),
        "eps": 1e-6,
        "weight_decay": 0.1,
        "maximize": True,
    },
]


def fused_adam(kwargs, optimizer_class=torch.optim.Adam):
    torch.manual_seed(0)
    x = torch.rand(1, 1, 8, 8, requires_grad=True)
    return x, optimizer_class([x], fused=True, **kwargs)


@pytest.mark.parametrize("kwargs", FUSED_ADAM_OPTIONS)
@pytest.mark.parametrize("optimizer_class", [torch.optim.Adam, optimizers.Adam])
def test_fused_adam_step_is_torchs_step_bit_for_bit(kwargs, optimizer_class):
    ours_x, ours = fused_adam(kwargs, optimizer_class)
    theirs_x, theirs = fused_adam(kwargs)
    torch.manual_seed(1)
    for step in range(6):
        gradient = torch.randn_like(ours_x)
        ours_x.grad, theirs_x.grad = gradient.clone(), gradient.clone()
        theirs.step()
        # the first step makes the state: torch's own step does it
        assert optimizers.is_plain_fused_adam(ours) == (step > 0)
        if step == 0:
            ours.step()
        else:
            optimizers.fused_adam_step(ours)
    assert torch.equal(ours_x, theirs_x)
    torch.testing.assert_close(ours.state_dict(), theirs.state_dict(), rtol=0, atol=0)


@pytest.mark.parametrize("optimizer_class", [torch.optim.Adam, optimizers.Adam])
def test_fused_adam_step_continues_a_loaded_state_as_torch_does(optimizer_class):
    # a resumed synthesis: the state comes from load_state_dict, not from a step
    kwargs = FUSED_ADAM_OPTIONS[0]
    theirs_x, theirs = fused_adam(kwargs)
    torch.manual_seed(1)
    gradients = [torch.randn_like(theirs_x) for _ in range(4)]
    for gradient in gradients[:2]:
        theirs_x.grad = gradient.clone()
        theirs.step()
    ours_x = theirs_x.detach().clone().requires_grad_(True)
    ours = optimizer_class([ours_x], fused=True, **kwargs)
    ours.load_state_dict(copy.deepcopy(theirs.state_dict()))  # as read from disk
    assert optimizers.is_plain_fused_adam(ours)
    for gradient in gradients[2:]:
        ours_x.grad, theirs_x.grad = gradient.clone(), gradient.clone()
        theirs.step()
        optimizers.fused_adam_step(ours)
    assert torch.equal(ours_x, theirs_x)
    torch.testing.assert_close(ours.state_dict(), theirs.state_dict(), rtol=0, atol=0)


def test_fused_adam_step_without_a_gradient_does_nothing():
    x, optimizer = fused_adam({"lr": 0.1})
    x.grad = torch.ones_like(x)
    optimizer.step()
    before = {k: v.clone() for k, v in optimizer.state[x].items()}
    start = x.detach().clone()
    x.grad = None
    optimizers.fused_adam_step(optimizer)
    assert torch.equal(x, start)
    torch.testing.assert_close(dict(optimizer.state[x]), before, rtol=0, atol=0)


def hooked(optimizer, x):
    handle = optimizer.register_step_pre_hook(lambda *args: None)
    return handle.remove


def globally_hooked(optimizer, x):
    handle = torch_optimizer.register_optimizer_step_post_hook(lambda *args: None)
    return handle.remove


def scheduled(optimizer, x):
    torch.optim.lr_scheduler.StepLR(optimizer, step_size=1)


def second_group(optimizer, x):
    optimizer.add_param_group({"params": [torch.zeros(2, requires_grad=True)]})


def tensor_learning_rate(optimizer, x):
    optimizer.param_groups[0]["lr"] = torch.tensor(0.01)


def scaled(optimizer, x):
    optimizer.grad_scale = torch.tensor(2.0)


@pytest.mark.parametrize(
    "change",
    [hooked, globally_hooked, scheduled, second_group, tensor_learning_rate, scaled],
)
def test_anything_else_takes_torchs_own_step(change):
    x, optimizer = fused_adam({"lr": 0.1})
    x.grad = torch.ones_like(x)
    optimizer.step()
    assert optimizers.is_plain_fused_adam(optimizer)
    undo = change(optimizer, x)
    try:
        assert not optimizers.is_plain_fused_adam(optimizer)
    finally:
        if undo is not None:
            undo()


@pytest.mark.parametrize(
    ("optimizer_class", "kwargs"),
    [
        (torch.optim.Adam, {"lr": 0.1, "fused": False}),
        (torch.optim.AdamW, {"lr": 0.1, "fused": True}),
        (torch.optim.SGD, {"lr": 0.1}),
    ],
)
def test_other_optimizers_take_their_own_step(optimizer_class, kwargs):
    x = torch.rand(4, requires_grad=True)
    optimizer = optimizer_class([x], **kwargs)
    x.grad = torch.ones_like(x)
    optimizer.step()
    assert not optimizers.is_plain_fused_adam(optimizer)
