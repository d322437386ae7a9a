"""Plots of images, representations and synthesis progress.

Every synthesis plot accepts an in-memory synthesis object (a :class:`pipeline.Metamer`,
a :class:`pipeline.MADCompetition`) or a stored history (an :class:`xarray.Dataset`
opened from its zarr store) and draws both alike, so figures never need the synthesis
to run again.
"""

from ._history import SynthesisHistory, as_history
from .display import imshow, plot_representation
from .eigendistortion import (
    display_eigendistortion,
    display_eigendistortion_all,
    eigendistortion_arrays,
)
from .geodesic import geodesic_sequence, geodesic_step_energy, plot_deviation_from_line
from .mad import mad_image_set, mad_metric_trajectories
from .metamer import metamer_representation_error, plot_scale_loss
from .synthesis import (
    synthesis_animate,
    synthesis_histogram,
    synthesis_imshow,
    synthesis_loss,
    synthesis_status,
)

__all__ = [
    "SynthesisHistory",
    "as_history",
    "display_eigendistortion",
    "display_eigendistortion_all",
    "eigendistortion_arrays",
    "geodesic_sequence",
    "geodesic_step_energy",
    "imshow",
    "mad_image_set",
    "mad_metric_trajectories",
    "metamer_representation_error",
    "plot_deviation_from_line",
    "plot_representation",
    "plot_scale_loss",
    "synthesis_animate",
    "synthesis_histogram",
    "synthesis_imshow",
    "synthesis_loss",
    "synthesis_status",
]
