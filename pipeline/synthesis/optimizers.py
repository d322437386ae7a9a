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
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch

__all__ = ["LBFGS", "SGD", "Adam", "zero_grad_is_torchs"]

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


class Adam(_WithoutDynamo, torch.optim.Adam):
    """:class:`torch.optim.Adam` (same arguments, state and results)."""


class SGD(_WithoutDynamo, torch.optim.SGD):
    """:class:`torch.optim.SGD` (same arguments, state and results)."""


class LBFGS(_WithoutDynamo, torch.optim.LBFGS):
    """:class:`torch.optim.LBFGS` (same arguments, state and results)."""
