"""Synthesis methods and the optimization machinery they share."""

from .base import (
    IterationRecord,
    OptimizedSynthesis,
    SynthesisDivergedError,
    SynthesisLoadError,
)
from .mad_competition import MADCompetition
from .metamer import Metamer

__all__ = [
    "IterationRecord",
    "MADCompetition",
    "Metamer",
    "OptimizedSynthesis",
    "SynthesisDivergedError",
    "SynthesisLoadError",
]
