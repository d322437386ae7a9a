"""Model artifacts: a model's class, constructor arguments and weights, safely stored.

An artifact is a safetensors file: tensors plus string metadata, no pickled code, so
loading it never executes anything. Its metadata records the class, the canonical JSON
of the constructor arguments, and the fingerprint of the model's code, so the same
model always gives a byte-for-byte identical file.
"""

from __future__ import annotations

import importlib
import inspect
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import PipelineError
from ..fingerprint import code_fingerprint
from ..model_path import add_model_directories
from ..store.atomic import atomic_output

if TYPE_CHECKING:
    import torch

__all__ = [
    "LoadedModel",
    "ModelError",
    "build_model",
    "load_model",
    "resolve_model_class",
]

ARTIFACT_FORMAT = "pipeline.model/1"


class ModelError(PipelineError):
    """A model name, parameter or artifact that cannot be used."""


@dataclass(frozen=True)
class LoadedModel:
    """A model rebuilt from its artifact.

    Attributes
    ----------
    model
        The module, in eval mode with gradients of its parameters turned off.
    class_path
        ``module:Class`` of the model.
    kwargs
        Constructor arguments.
    fingerprint
        Fingerprint of the model code the artifact was built with.

    """

    model: torch.nn.Module
    class_path: str
    kwargs: dict[str, Any]
    fingerprint: str


def resolve_model_class(name: str) -> tuple[type, str]:
    """Find a model class by ``pipeline.models`` name or ``module:Class`` path.

    Parameters
    ----------
    name
        E.g. ``"OnOff"`` or ``"mypackage.models:MyModel"``; a module is imported from
        the installed packages, the workflow's config folders or the working
        directory (see :mod:`pipeline.model_path`).

    Returns
    -------
    cls, class_path
        The class and its ``module:Class`` path.

    Raises
    ------
    ModelError
        If no such class exists or it is not a torch module.

    """
    import torch

    if ":" in name:
        module_name, _, class_name = name.partition(":")
        searched = add_model_directories()
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            raise ModelError(
                f"cannot import module {module_name!r} of model {name!r}: {error} "
                f"(searched the installed packages and {', '.join(searched)})"
            ) from error
        cls = getattr(module, class_name, None)
    else:
        from .. import models

        cls = getattr(models, name, None) if name in models.__all__ else None
        if cls is None:
            raise ModelError(
                f"unknown model {name!r}: use one of {', '.join(sorted(models.__all__))} "
                "or module:Class for your own"
            )
    if not (inspect.isclass(cls) and issubclass(cls, torch.nn.Module)):
        raise ModelError(f"{name!r} is not a torch.nn.Module class")
    # a built-in name is recorded where the class is defined, for its fingerprint
    return cls, name if ":" in name else f"{cls.__module__}:{cls.__qualname__}"


def _check_kwargs(cls: type, kwargs: dict[str, Any], name: str) -> None:
    signature = inspect.signature(cls.__init__)
    accepted = [p for p in signature.parameters if p != "self"]
    if any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values()):
        return
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ModelError(
            f"unknown parameter {unknown[0]!r} for model {name}: accepted are "
            f"{', '.join(accepted)}"
        )


def _validate(model: torch.nn.Module) -> None:
    """Check the model on a probe image (at its own size, for fixed-size models)."""
    from ..validate import validate_model

    height, width = getattr(model, "image_shape", (32, 32))
    validate_model(model, image_shape=(1, 1, int(height), int(width)))


def _as_constructor_value(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def build_model(
    name: str, out: str | Path, params: dict[str, Any], overwrite: bool = False
) -> Path:
    """Instantiate, validate and save a model artifact.

    Parameters
    ----------
    name
        ``pipeline.models`` class name or ``module:Class``.
    out
        Artifact path (conventionally ``*.model``).
    params
        JSON-able constructor arguments.
    overwrite
        Replace an existing artifact.

    Returns
    -------
    out
        The written path.

    Raises
    ------
    ModelError
        For an unknown model or parameter, or a model that fails validation.

    """
    import safetensors.torch
    import torch

    from ..tensors import remove_grad, set_seed

    cls, class_path = resolve_model_class(name)
    _check_kwargs(cls, params, name)
    set_seed(0)  # models with random initial parameters give the same artifact
    try:
        model = cls(**{k: _as_constructor_value(v) for k, v in params.items()})
        remove_grad(model)
        _validate(model.eval())
    except (TypeError, ValueError) as error:
        raise ModelError(f"cannot build model {name} with {params}: {error}") from error
    state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    metadata = {
        "format": ARTIFACT_FORMAT,
        "class": class_path,
        "kwargs": json.dumps(params, sort_keys=True),
        "fingerprint": code_fingerprint(class_path),
        "torch": torch.__version__.split("+")[0],
    }
    with atomic_output(out, overwrite=overwrite) as temporary:
        # one metadata entry: safetensors writes several in an unstable order
        header = {"pipeline": json.dumps(metadata, sort_keys=True)}
        safetensors.torch.save_file(state, str(temporary), metadata=header)
    return Path(out)


def load_model(path: str | Path, device: str = "cpu") -> LoadedModel:
    """Rebuild a model from its artifact, without executing anything stored in it.

    Parameters
    ----------
    path
        The artifact written by :func:`build_model`.
    device
        Device to put the model on.

    Returns
    -------
    loaded
        The model and what it was built from.

    Raises
    ------
    ModelError
        If the file is missing, truncated, tampered with or not a model artifact.

    """
    import safetensors
    import safetensors.torch

    from ..tensors import remove_grad

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model artifact not found: {path}")
    try:
        with safetensors.safe_open(str(path), framework="pt", device="cpu") as handle:
            metadata = json.loads((handle.metadata() or {}).get("pipeline", "{}"))
            state = {key: handle.get_tensor(key) for key in handle.keys()}
    except Exception as error:  # safetensors raises several types for bad files
        raise ModelError(
            f"{path} is not a readable model artifact ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else 'unreadable'}): rebuild it "
            "with `pipeline build-model`"
        ) from error
    if metadata.get("format") != ARTIFACT_FORMAT:
        raise ModelError(
            f"{path} is not a pipeline model artifact: rebuild it with `pipeline build-model`"
        )
    try:
        kwargs = json.loads(metadata["kwargs"])
    except (KeyError, TypeError, json.JSONDecodeError) as error:
        raise ModelError(
            f"{path} has corrupt constructor arguments: rebuild it"
        ) from error
    cls, class_path = resolve_model_class(metadata["class"])
    try:
        _check_kwargs(cls, kwargs, class_path)
        model = cls(**{k: _as_constructor_value(v) for k, v in kwargs.items()})
        model.load_state_dict(state, strict=True)
        remove_grad(model)
        _validate(model.eval())
    except (ModelError, TypeError, ValueError, RuntimeError) as error:
        raise ModelError(
            f"{path} does not build a working {class_path} "
            f"({str(error).splitlines()[0]}): rebuild it with `pipeline build-model`"
        ) from error
    model.to(device)
    return LoadedModel(model, class_path, kwargs, metadata.get("fingerprint", ""))
