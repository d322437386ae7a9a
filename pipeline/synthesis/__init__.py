"""Synthesis methods and the optimization machinery they share."""

from .base import (
    IterationRecord,
    OptimizedSynthesis,
    SynthesisDivergedError,
    SynthesisLoadError,
)
from .eigendistortion import Eigendistortion
from .mad_competition import MADCompetition
from .metamer import Metamer

__all__ = [
    "Eigendistortion",
    "IterationRecord",
    "MADCompetition",
    "Metamer",
    "OptimizedSynthesis",
    "SynthesisDivergedError",
    "SynthesisLoadError",
]
