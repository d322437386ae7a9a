"""Synthesis methods and the optimization machinery they share."""

from .base import (
    IterationRecord,
    OptimizedSynthesis,
    SynthesisDivergedError,
    SynthesisLoadError,
)
from .eigendistortion import Eigendistortion
from .geodesic import Geodesic
from .mad_competition import MADCompetition
from .metamer import Metamer
from .metamer_batch import MetamerBatch
from .metamer_ctf import MetamerCTF
from .simple_metamer import SimpleMetamer

__all__ = [
    "Eigendistortion",
    "Geodesic",
    "IterationRecord",
    "MADCompetition",
    "Metamer",
    "MetamerBatch",
    "MetamerCTF",
    "OptimizedSynthesis",
    "SimpleMetamer",
    "SynthesisDivergedError",
    "SynthesisLoadError",
]
