"""Image-computable models: simple filters and early-visual-system front ends.

All models are :class:`torch.nn.Module` objects mapping images of shape
``(batch, channel, height, width)`` to responses of the same height and width
(same padding).  Multi-channel inputs are filtered channel by channel; the output
has ``channel * n_filters`` channels, input-channel-major.

Examples
--------
>>> import torch
>>> import pipeline as po
>>> model = po.models.OnOff(31, pretrained=True)
>>> model(torch.rand(1, 1, 64, 64)).shape
torch.Size([1, 2, 64, 64])

"""

from .frontend import (
    LinearNonlinear,
    LuminanceContrastGainControl,
    LuminanceGainControl,
    OnOff,
)
from .naive import CenterSurround, Gaussian, Identity, Linear
from .portilla_simoncelli import PortillaSimoncelli
from .steerable_pyramid import SteerablePyramidFreq

__all__ = [
    "CenterSurround",
    "Gaussian",
    "Identity",
    "Linear",
    "LinearNonlinear",
    "LuminanceContrastGainControl",
    "LuminanceGainControl",
    "OnOff",
    "PortillaSimoncelli",
    "SteerablePyramidFreq",
]
