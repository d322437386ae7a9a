"""Custom autograd functions without torch's per-call argument binding.

``torch.autograd.Function.apply`` binds its arguments to ``forward``'s signature
(``inspect.signature``, about 50 us) on every call of a function that defines
``setup_context``, the style that vmap and the other ``torch.func`` transforms need.
The Portilla-Simoncelli statistics and the sparse correlations of the metrics call
such functions dozens of times per forward, so on small images that binding costs
more than their arithmetic.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch._functorch.utils import unwrap_dead_wrappers

__all__ = ["PositionalFunction"]


class PositionalFunction(torch.autograd.Function):
    """An autograd function whose ``forward`` takes positional arguments only.

    With no defaults and no keywords to fill in, binding the arguments changes
    nothing, so :meth:`apply` hands them straight to autograd. Under a
    ``torch.func`` transform it is the standard ``apply``. Subclasses define
    ``forward``, ``setup_context`` and ``backward`` as for any autograd function.

    Raises
    ------
    TypeError
        When a subclass's ``forward`` has a default, a keyword-only or a variadic
        parameter.

    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for parameter in inspect.signature(cls.forward).parameters.values():
            if (
                parameter.kind is not inspect.Parameter.POSITIONAL_OR_KEYWORD
                or parameter.default is not inspect.Parameter.empty
            ):
                raise TypeError(
                    f"{cls.__name__}.forward: parameter {parameter.name!r} must be "
                    "positional, without a default (PositionalFunction)"
                )

    @classmethod
    def apply(cls, *args: Any) -> Any:
        """Run ``forward`` on ``args`` and record the node for the derivatives."""
        if torch._C._are_functorch_transforms_active():
            return super().apply(*args)
        # the C implementation under torch.autograd.Function.apply, as that calls it
        return super(torch.autograd.Function, cls).apply(*unwrap_dead_wrappers(args))
