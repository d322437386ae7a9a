"""Model-based stimulus synthesis: metamers, MAD competition, eigendistortions.

The public API follows the reference documentation of this family of methods, so
``import pipeline as po`` then ``po.Metamer(image, model)`` works as documented.

Submodules and classes are loaded lazily: ``import pipeline`` does not import torch or
matplotlib, which keeps the command-line interface and the Snakefile fast to start.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it (relative to this package)
_LAZY_ATTRIBUTES = {
    "Eigendistortion": ".synthesis.eigendistortion",
    "Geodesic": ".synthesis.geodesic",
    "MADCompetition": ".synthesis.mad_competition",
    "Metamer": ".synthesis.metamer",
    "MetamerCTF": ".synthesis.metamer_ctf",
    "SimpleMetamer": ".synthesis.simple_metamer",
    "remove_grad": ".tensors",
    "set_seed": ".tensors",
    "to_numpy": ".tensors",
    "convert_float_to_int": ".tensors",
}
_LAZY_SUBMODULES = (
    "data",
    "io",
    "loss",
    "metric",
    "models",
    "plot",
    "process",
    "regularize",
    "store",
    "synthesis",
    "tensors",
    "validate",
)

__all__ = ["__version__", *_LAZY_ATTRIBUTES, *_LAZY_SUBMODULES]


def __getattr__(name: str) -> Any:
    if name in _LAZY_ATTRIBUTES:
        module = importlib.import_module(_LAZY_ATTRIBUTES[name], __name__)
        return getattr(module, name)
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
