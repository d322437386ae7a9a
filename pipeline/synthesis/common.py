"""What every synthesis object shares: its repr, its save file and the checks of load.

A saved synthesis holds tensors and plain values only, never the model or any other
callable: it loads with ``torch.load(..., weights_only=True)``, so loading never runs
code. For the file to be loaded only into an object built like the one that saved
it, the file also records

- the class of the saved object and the names of its attributes;
- the attributes that define the problem (the image, ``penalty_lambda``...), which
  ``load`` compares with the new object's and then takes from the file;
- for each callable (model, loss function, metrics, penalty): its name, and its
  output on inputs built from the saved tensors. ``load`` calls the new object's
  callable on the same saved inputs and compares the outputs, so a changed callable
  is told apart from a changed image.

With ``raise_on_checks=False`` a failed check warns (:class:`pipeline.io.LoadWarning`)
instead of raising and the saved attributes are taken anyway; a different dtype or
device always raises (``map_location`` and ``to`` are the fix).
"""

from __future__ import annotations

import abc
import math
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..errors import PipelineError
from ..io import LoadWarning

__all__ = [
    "SAVE_FORMAT",
    "Synthesis",
    "SynthesisLoadError",
    "callable_name",
    "move_model",
    "synthesis_name",
    "tensor_mismatch",
]

SAVE_FORMAT = "pipeline.synthesis/2"

#: (callable, its inputs) for each callable that load checks, by attribute name
CallableChecks = dict[str, tuple[Callable[..., Any], tuple[Any, ...]]]


class SynthesisLoadError(PipelineError):
    """A saved synthesis that cannot be loaded into this object."""


def callable_name(function: Any) -> str:
    """Return the name load compares: a function's name, else its class's name.

    Parameters
    ----------
    function
        A function, a module or any callable object.

    Returns
    -------
    name
        ``function.__name__`` when it is a string (functions, lambdas: ``"<lambda>"``),
        otherwise the name of its class (``"Gaussian"``, ``"partial"``).

    """
    name = getattr(function, "__name__", None)
    return name if isinstance(name, str) else type(function).__name__


def synthesis_name(cls: type) -> str:
    """Return the name a synthesis class is saved under, e.g. ``pipeline.Metamer``.

    Parameters
    ----------
    cls
        A synthesis class (ours or a user's subclass).

    Returns
    -------
    name
        ``pipeline.<name>`` for the classes ``pipeline`` exports at its top level,
        otherwise ``<module>.<qualified name>``.

    """
    import pipeline

    if cls.__module__.startswith("pipeline.") and cls.__name__ in pipeline.__all__:
        return f"pipeline.{cls.__name__}"
    return f"{cls.__module__}.{cls.__qualname__}"


def _kind(cls: type) -> str:
    """Return the pipeline class whose save layout ``cls`` uses (itself or a parent)."""
    for ancestor in cls.__mro__:
        if ancestor.__module__.startswith("pipeline.synthesis."):
            return ancestor.__name__
    return cls.__name__


def tensor_mismatch(
    saved: Tensor, mine: Tensor, atol: float, rtol: float
) -> str | None:
    """Return how two tensors differ (device, shape, dtype, values), or ``None``.

    Tensors of one element each count as the same shape (a scalar and a 1-element
    tensor hold the same number).

    Parameters
    ----------
    saved, mine
        The tensors.
    atol, rtol
        Tolerances of the value comparison (:func:`torch.allclose`).

    Returns
    -------
    problem
        ``"device"``, ``"shape"``, ``"dtype"``, ``"values"`` (checked in this order)
        or ``None`` when they match.

    """
    if saved.device != mine.device:
        return "device"
    if saved.shape != mine.shape and not saved.numel() == mine.numel() == 1:
        return "shape"
    if saved.dtype != mine.dtype:
        return "dtype"
    if not torch.allclose(saved, mine, atol=atol, rtol=rtol, equal_nan=True):
        return "values"
    return None


def move_model(model: Any, *args: Any, **kwargs: Any) -> None:
    """Call ``model.to(*args, **kwargs)``; warn and leave it when it has no ``to``.

    Parameters
    ----------
    model
        The model (or any callable).
    *args, **kwargs
        As :meth:`torch.nn.Module.to`.

    Warns
    -----
    UserWarning
        If the model has no ``to`` method (a plain callable): it is left as it is.

    """
    if callable(getattr(model, "to", None)):
        model.to(*args, **kwargs)
        return
    warnings.warn(
        f"Unable to call model.to(): {type(model).__name__} has no to() method, so "
        "the model is left as it is (make it compute in the new dtype and device "
        "itself)",
        UserWarning,
        stacklevel=3,
    )


def _describe(value: Any) -> str:
    """Return one entry of a repr: a tensor shape and dtype, a function name..."""
    if isinstance(value, Tensor):
        return f"{value.shape} ({value.dtype})"
    name = getattr(value, "__name__", None)
    if isinstance(name, str):
        return name
    return repr(value).replace("\n", "\n  ")


def _shown(value: Any) -> str:
    if isinstance(value, Tensor):
        return f"{tuple(value.shape)} {value.dtype} on {value.device}"
    return repr(value)


class _LoadChecks:
    """Run the checks of one load: raise, or warn with ``raise_on_checks=False``."""

    def __init__(
        self, raise_on_checks: bool, atol: float, rtol: float, source: str
    ) -> None:
        self.raise_on_checks = raise_on_checks
        self.atol = atol
        self.rtol = rtol
        self.source = source

    def fail(self, message: str) -> None:
        if self.raise_on_checks:
            raise SynthesisLoadError(
                f"{message}. If you are sure the objects are the same, call load again "
                "with raise_on_checks=False (or look inside the file with "
                f"pipeline.io.examine_saved_synthesis('{self.source}'))"
            )
        warnings.warn(
            f"{message}; loading anyway, with the saved value where one was saved",
            LoadWarning,
            stacklevel=5,
        )

    def tensors(self, what: str, saved: Tensor, mine: Tensor) -> None:
        problem = tensor_mismatch(saved, mine, self.atol, self.rtol)
        if problem is None:
            return
        message = (
            f"Saved and initialized {what} have different {problem}: saved "
            f"{_shown(saved)}, initialized {_shown(mine)}"
        )
        if problem in ("dtype", "device"):
            raise SynthesisLoadError(
                f"{message}. Load with map_location=..., or move the new object with "
                "its to() method before loading"
            )
        self.fail(message)

    def values(self, what: str, saved: Any, mine: Any) -> None:
        numbers = (int, float)
        if isinstance(saved, numbers) and isinstance(mine, numbers):
            same = math.isclose(saved, mine, rel_tol=self.rtol, abs_tol=self.atol)
        else:
            same = saved == mine
        if not same:
            self.fail(
                f"Saved and initialized {what} are different: saved {saved!r}, "
                f"initialized {mine!r}"
            )


class Synthesis(abc.ABC):
    """Base class of synthesis objects: repr, ``save`` and ``load`` with checks.

    Subclasses list the attributes shown by ``repr`` in :attr:`_repr_attributes` and
    implement :meth:`_is_fresh`, :meth:`_checked_attributes`,
    :meth:`_checked_callables`, :meth:`_method_state` and
    :meth:`_restore_method_state`; :meth:`_restored_tensors` is optional. Every
    attribute named by :meth:`_checked_attributes` or :meth:`_restored_tensors` is
    stored in the object as ``_<name>``.
    """

    #: public attributes listed by ``repr``, in order
    _repr_attributes: tuple[str, ...] = ()

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}("]
        lines += [
            f"  {k} = {_describe(getattr(self, k))}," for k in self._repr_attributes
        ]
        return "\n".join([*lines, ")"])

    # -- what subclasses provide ---------------------------------------------------
    @abc.abstractmethod
    def _is_fresh(self) -> bool:
        """Return whether nothing was computed or loaded yet (load is allowed)."""

    @abc.abstractmethod
    def _checked_attributes(self) -> dict[str, Any]:
        """Return the tensors and values defining the problem, in the order load checks."""

    def _restored_tensors(self) -> dict[str, Tensor]:
        """Return tensors derived from the checked ones, restored on load unchecked."""
        return {}

    @abc.abstractmethod
    def _checked_callables(self, values: Mapping[str, Any]) -> CallableChecks:
        """Return each callable load checks, with its inputs built from ``values``.

        ``values`` holds the checked attributes and restored tensors: the object's
        own when saving, the saved ones when loading.
        """

    @abc.abstractmethod
    def _method_state(self) -> dict[str, Any]:
        """Return the rest of what save writes (tensors and plain values only)."""

    @abc.abstractmethod
    def _restore_method_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`_method_state` returned."""

    # -- saving ---------------------------------------------------------------------
    def _payload(self) -> dict[str, Any]:
        """Return everything save writes: header, checks and the method state."""
        import pipeline

        attributes = {
            k: v.detach() if isinstance(v, Tensor) else v
            for k, v in self._checked_attributes().items()
        }
        restored = {k: v.detach() for k, v in self._restored_tensors().items()}
        checks = self._checked_callables({**attributes, **restored})
        with torch.no_grad():
            outputs = {
                name: (callable_name(function), function(*inputs).detach())
                for name, (function, inputs) in checks.items()
            }
        return {
            "format": SAVE_FORMAT,
            "class": synthesis_name(type(self)),
            "kind": _kind(type(self)),
            "pipeline_version": pipeline.__version__,
            "torch_version": str(torch.__version__),
            "attribute_names": sorted(vars(self)),
            "attributes": attributes,
            "restored": restored,
            "callables": outputs,
            "state": self._method_state(),
        }

    def save(self, file_path: str | Path) -> None:
        """Save the synthesis (not the model or other callables) to a ``.pt`` file.

        The file holds only tensors and plain values: it loads with
        ``torch.load(..., weights_only=True)``, so loading never executes code.
        :func:`pipeline.io.examine_saved_synthesis` prints what it holds.

        Parameters
        ----------
        file_path
            Where to write.

        """
        torch.save(self._payload(), file_path)

    # -- loading ----------------------------------------------------------------------
    def load(
        self,
        file_path: str | Path,
        map_location: str | torch.device | None = None,
        raise_on_checks: bool = True,
        tensor_equality_atol: float = 1e-8,
        tensor_equality_rtol: float = 1e-5,
    ) -> None:
        """Load a saved synthesis into this just-initialized object.

        The object must have been built like the saved one: same class, image, and
        settings, and callables (model, loss function, metrics, penalty) of the same
        name that give the same output on the saved inputs. The problem's tensors
        and settings are then taken from the file; the callables stay this object's.

        Parameters
        ----------
        file_path
            The file written by :meth:`save`.
        map_location
            Passed to :func:`torch.load`, e.g. ``"cpu"`` for a file saved on a GPU.
        raise_on_checks
            With ``False``, a failed check warns (:class:`pipeline.io.LoadWarning`)
            instead of raising. A dtype or device mismatch always raises.
        tensor_equality_atol, tensor_equality_rtol
            Tolerances of the tensor comparisons (:func:`torch.allclose`).

        Raises
        ------
        SynthesisLoadError
            A ``ValueError``: if this object is not just initialized, the file is not
            a saved synthesis of this kind, or a check fails.

        """
        if not self._is_fresh():
            self._refuse_load()
        try:
            payload = torch.load(
                file_path, map_location=map_location, weights_only=True
            )
        except Exception as error:  # torch raises many types for unreadable files
            first = str(error).splitlines()[0] if str(error) else ""
            raise SynthesisLoadError(
                f"cannot read saved synthesis {file_path}: {type(error).__name__}: "
                f"{first}"
            ) from error
        self._apply_payload(
            payload,
            source=str(file_path),
            raise_on_checks=raise_on_checks,
            atol=tensor_equality_atol,
            rtol=tensor_equality_rtol,
        )

    def _refuse_load(self) -> None:
        name = type(self).__name__
        raise SynthesisLoadError(
            f"load can only be called with a just-initialized {name} object: this "
            f"one was already set up, synthesized or loaded; create a new {name} "
            "and call load on it"
        )

    def _apply_payload(
        self,
        payload: Any,
        *,
        source: str,
        raise_on_checks: bool,
        atol: float,
        rtol: float,
    ) -> None:
        """Check ``payload`` against this object, then restore it (see module doc)."""
        if not self._is_fresh():
            self._refuse_load()
        if not isinstance(payload, dict) or payload.get("format") != SAVE_FORMAT:
            raise SynthesisLoadError(
                f"{source} is not a saved synthesis of this version of pipeline "
                f"(expected format {SAVE_FORMAT})"
            )
        checks = _LoadChecks(raise_on_checks, atol, rtol, source)
        mine = synthesis_name(type(self))
        if payload["class"] != mine:
            message = (
                f"Saved object was a {payload['class']}, but initialized object is "
                f"{mine}"
            )
            if payload["kind"] != _kind(type(self)):
                raise SynthesisLoadError(
                    f"{message}: load it into a {payload['class']} instead"
                )
            checks.fail(message)
        names, saved_names = set(vars(self)), set(payload["attribute_names"])
        for side, extra in (
            ("Initialized", sorted(names - saved_names)),
            ("Saved", sorted(saved_names - names)),
        ):
            if extra:
                other = "saved" if side == "Initialized" else "initialized"
                checks.fail(
                    f"{side} object has {len(extra)} attribute(s) not present in "
                    f"the {other} object: {', '.join(extra)}"
                )
        saved = payload["attributes"]
        for name, value in self._checked_attributes().items():
            if isinstance(value, Tensor):
                checks.tensors(f"attribute {name}", saved[name], value)
            else:
                checks.values(name, saved[name], value)
        values = {**saved, **payload["restored"]}
        callables = self._checked_callables(values)
        for name, (function, inputs) in callables.items():
            expected = payload["callables"][name][1]
            try:
                with torch.no_grad():
                    output = function(*inputs)
            except Exception as error:  # any failure of a user's callable
                checks.fail(
                    f"Saved and initialized {name} output cannot be compared: the "
                    f"initialized {name} fails on the saved inputs "
                    f"({type(error).__name__}: {error})"
                )
                continue
            checks.tensors(f"{name} output", expected, output)
        for name, (function, _) in callables.items():
            saved_name, new_name = (
                payload["callables"][name][0],
                callable_name(function),
            )
            if saved_name != new_name:
                checks.fail(
                    f"Saved and initialized {name} have different names: saved "
                    f"{saved_name}, initialized {new_name}"
                )
        for name, value in values.items():
            setattr(self, f"_{name}", value)
        self._restore_method_state(payload["state"])
