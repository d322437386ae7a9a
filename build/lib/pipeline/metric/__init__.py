"""Image metrics: distances and similarities between two images.

All take two images of shape ``(batch, channel, height, width)`` (values in
``[0, 1]`` for the perceptual ones) and return one value per image and channel,
shape ``(batch, channel)``; all are differentiable, so they can be optimized
through, as in MAD competition.

- :func:`mse`: mean squared error.
- :func:`ssim`, :func:`ssim_map`: structural similarity (1 = identical).
- :func:`ms_ssim`: multiscale structural similarity (1 = identical).
- :func:`nlpd`, :func:`normalized_laplacian_pyramid`: normalized Laplacian pyramid
  distance and the representation it compares.
- :func:`model_metric`: turn a model into a metric (RMS difference of its
  representations; returns a scalar).

Examples
--------
>>> import torch
>>> from pipeline import metric
>>> img = torch.linspace(0, 1, 64 * 64).reshape(1, 1, 64, 64)
>>> noisy = (img + 0.1 * torch.randn_like(img)).clamp(0, 1)
>>> metric.ssim(img, noisy).shape
torch.Size([1, 1])

"""

from .model import model_metric, model_metric_factory
from .naive import mse
from .perceptual import ms_ssim, nlpd, normalized_laplacian_pyramid, ssim, ssim_map

__all__ = [
    "model_metric",
    "model_metric_factory",
    "ms_ssim",
    "mse",
    "nlpd",
    "normalized_laplacian_pyramid",
    "ssim",
    "ssim_map",
]
