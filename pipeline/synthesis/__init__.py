"""Synthesis methods and the optimization machinery they share."""

from .base import (
    IterationRecord,
    OptimizedSynthesis,
    SynthesisDivergedError,
    SynthesisLoadError,
)
from .metamer import Metamer

__all__ = [
    "IterationRecord",
    "Metamer",
    "OptimizedSynthesis",
    "SynthesisDivergedError",
    "SynthesisLoadError",
]
