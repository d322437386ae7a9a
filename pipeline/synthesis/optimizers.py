"""torch's optimizers for short-lived processes: the same code, without ``torch._dynamo``.

torch wraps some :class:`torch.optim.Optimizer` methods (``add_param_group``,
``zero_grad``, ``state_dict``, ``load_state_dict``, and ``step`` of Adam and SGD) in
decorators that import ``torch._dynamo`` on their first call, for ``torch.compile``'s
sake. That import takes longer (about 1.5 s on two CPU cores) than a short synthesis
stage spends on everything else. The classes here call the very methods those
decorators wrap, under :func:`torch.no_grad` as the decorators do: the update, the
optimizer state and its ``state_dict`` are torch's own (results are bit-identical,
tested), only the graph breaks that ``torch.compile`` needs are skipped. Nothing here
is ever compiled.

The workflow's stages use them; the library's default stays :class:`torch.optim.Adam`.

:func:`fused_adam_step` is the step a synthesis takes with the default fused Adam
(torch's class or the twin here), once torch's own step has made the state: the same
kernel call without the Python around it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch
import torch.optim.optimizer as torch_optimizer

__all__ = [
    "LBFGS",
    "SGD",
    "Adam",
    "fused_adam_step",
    "is_plain_fused_adam",
    "zero_grad_is_torchs",
]

_Closure = Callable[[], torch.Tensor] | None


def _undecorated(method: Callable) -> Callable:
    """Return the function under a stack of ``functools.wraps`` decorators."""
    return inspect.unwrap(method)


# looked up once: unwrapping on every call costs more than a small step itself
_ADD_PARAM_GROUP = _undecorated(torch.optim.Optimizer.add_param_group)
_ZERO_GRAD = _undecorated(torch.optim.Optimizer.zero_grad)
_STATE_DICT = _undecorated(torch.optim.Optimizer.state_dict)
_LOAD_STATE_DICT = _undecorated(torch.optim.Optimizer.load_state_dict)


class _WithoutDynamo(torch.optim.Optimizer):
    """Optimizer methods with torch's dynamo-importing decorators peeled off.

    A subclass also derives from a torch optimizer, after this class: ``step`` runs
    that torch class's own ``step`` body.
    """

    _undecorated_step: Callable[..., torch.Tensor | None]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        torch_class = next(
            base
            for base in cls.__mro__
            if base.__module__.startswith("torch.") and "step" in vars(base)
        )
        cls._undecorated_step = staticmethod(_undecorated(vars(torch_class)["step"]))

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        _ADD_PARAM_GROUP(self, param_group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        _ZERO_GRAD(self, set_to_none)

    def state_dict(self) -> dict[str, Any]:
        return _STATE_DICT(self)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        _LOAD_STATE_DICT(self, state_dict)

    def step(self, closure: _Closure = None) -> torch.Tensor | None:
        # the torch class's own ``step`` body, under no_grad as its decorator runs it
        with torch.no_grad():
            return self._undecorated_step(self, closure)


def zero_grad_is_torchs(optimizer: torch.optim.Optimizer) -> bool:
    """Whether ``optimizer.zero_grad`` is torch's own (or the one here, its twin).

    Then ``zero_grad(set_to_none=True)`` does nothing but set each parameter's
    ``grad`` to ``None``, and a caller that knows the parameters can do that itself,
    without the profiling scope and dynamo guard torch's method runs on every call.
    """
    return type(optimizer).zero_grad in (
        torch.optim.Optimizer.zero_grad,
        _WithoutDynamo.zero_grad,
    )


# torch's fused Adam kernel (absent from a torch without it: then no shortcut)
_FUSED_ADAM = getattr(torch, "_fused_adam_", None)


def _steps_like_torch(optimizer: torch.optim.Optimizer) -> bool:
    """Whether ``optimizer.step`` is torch Adam's, with nothing hooked onto it."""
    return (
        type(optimizer) in (torch.optim.Adam, Adam)
        and "step" not in vars(optimizer)  # e.g. a scheduler's call counter
        and not optimizer._optimizer_step_pre_hooks
        and not optimizer._optimizer_step_post_hooks
        and not torch_optimizer._global_optimizer_pre_hooks
        and not torch_optimizer._global_optimizer_post_hooks
        and getattr(optimizer, "grad_scale", None) is None  # set by a GradScaler
        and getattr(optimizer, "found_inf", None) is None
    )


def is_plain_fused_adam(optimizer: torch.optim.Optimizer) -> bool:
    """Whether :func:`fused_adam_step` can take ``optimizer``'s next step.

    That is: torch's Adam (or the twin here) with ``fused=True`` on one real tensor
    in one parameter group, its state already there (made by a first step of torch's
    own, or loaded with ``load_state_dict`` on resuming), float hyperparameters, none
    of ``differentiable``, ``capturable`` or decoupled weight decay, and nothing
    hooked onto its ``step`` (hooks, a scheduler's call counter, a gradient scaler).
    Checked before every step: a user may add any of these.
    """
    if _FUSED_ADAM is None or not _steps_like_torch(optimizer):
        return False
    groups = optimizer.param_groups
    if len(groups) != 1 or len(groups[0]["params"]) != 1:
        return False
    group = groups[0]
    (param,) = group["params"]
    beta1, beta2 = group["betas"]
    return bool(
        optimizer.state.get(param)
        and group["fused"]
        and not group["differentiable"]
        and not group["capturable"]
        and not group.get("decoupled_weight_decay", False)
        and all(isinstance(v, float) for v in (group["lr"], beta1, beta2))
        and not param.is_complex()
    )


def fused_adam_step(optimizer: torch.optim.Optimizer) -> None:
    """Take a plain fused Adam step by calling torch's fused kernel directly.

    ``torch.optim.Adam.step`` spends about 0.25 ms a call in Python around that one
    kernel once a model's forward and backward have pushed its code out of the CPU's
    caches (256x256 image, 2-core CPU): as much as the update itself. For the case
    :func:`is_plain_fused_adam` accepts, this makes the same calls as torch's step,
    so the image and the optimizer state come out bit-identical (tested).

    Parameters
    ----------
    optimizer
        An optimizer :func:`is_plain_fused_adam` accepts. Like torch's step, this
        does nothing while the parameter has no gradient.

    """
    group = optimizer.param_groups[0]
    (param,) = group["params"]
    if param.grad is None:
        return
    state = optimizer.state[param]
    amsgrad = group["amsgrad"]
    beta1, beta2 = group["betas"]
    with torch.no_grad():
        state["step"] += 1
        _FUSED_ADAM(
            [param],
            [param.grad],
            [state["exp_avg"]],
            [state["exp_avg_sq"]],
            [state["max_exp_avg_sq"]] if amsgrad else [],
            [state["step"]],
            amsgrad=amsgrad,
            lr=group["lr"],
            beta1=beta1,
            beta2=beta2,
            weight_decay=group["weight_decay"],
            eps=group["eps"],
            maximize=group["maximize"],
        )


class Adam(_WithoutDynamo, torch.optim.Adam):
    """:class:`torch.optim.Adam` (same arguments, state and results)."""


class SGD(_WithoutDynamo, torch.optim.SGD):
    """:class:`torch.optim.SGD` (same arguments, state and results)."""


class LBFGS(_WithoutDynamo, torch.optim.LBFGS):
    """:class:`torch.optim.LBFGS` (same arguments, state and results)."""
