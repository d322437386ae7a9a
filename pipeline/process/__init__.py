"""Signal processing on images and pyramid coefficients.

The building blocks the models and metrics are made of, under the names users of
the reference library know (``po.process``):

- :func:`circular_gaussian2d`: Gaussian filters for :func:`torch.nn.functional.conv2d`.
- :class:`SteerablePyramidFreq` (also ``po.models.SteerablePyramidFreq``) and
  :class:`LaplacianPyramid`: multiscale image decompositions.
- :func:`rectangular_to_polar`, :func:`polar_to_rectangular` and their ``_dict``
  versions for pyramid coefficients; :func:`local_gain_control`,
  :func:`local_gain_release` (and ``_dict``): divisive normalization by local
  amplitude.
- :func:`add_noise`, :func:`center_crop`, :func:`rescale`; :func:`same_padding`
  (pad so that a correlation keeps the image's size).
- :func:`ssim_map`, :func:`normalized_laplacian_pyramid` (also in ``po.metric``).

Examples
--------
>>> import torch
>>> import pipeline as po
>>> po.process.circular_gaussian2d(7, [1.0, 2.0]).shape
torch.Size([2, 1, 7, 7])

"""

from ..metric import normalized_laplacian_pyramid, ssim_map
from ..models import SteerablePyramidFreq
from ..models._filters import circular_gaussian2d, same_padding
from .laplacian_pyramid import LaplacianPyramid
from .non_linearities import (
    local_gain_control,
    local_gain_control_dict,
    local_gain_release,
    local_gain_release_dict,
    polar_to_rectangular_dict,
    rectangular_to_polar_dict,
)
from .signal import (
    add_noise,
    center_crop,
    polar_to_rectangular,
    rectangular_to_polar,
    rescale,
)

__all__ = [
    "LaplacianPyramid",
    "SteerablePyramidFreq",
    "add_noise",
    "center_crop",
    "circular_gaussian2d",
    "local_gain_control",
    "local_gain_control_dict",
    "local_gain_release",
    "local_gain_release_dict",
    "normalized_laplacian_pyramid",
    "polar_to_rectangular",
    "polar_to_rectangular_dict",
    "rectangular_to_polar",
    "rectangular_to_polar_dict",
    "rescale",
    "same_padding",
    "ssim_map",
]
