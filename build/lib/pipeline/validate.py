"""Checks that inputs and models meet what synthesis requires.

Each check raises an error whose message names the requirement that failed, so a
user of their own model knows exactly what to change.
"""

from __future__ import annotations

import inspect

import torch
from torch import Tensor

__all__ = ["validate_coarse_to_fine", "validate_input", "validate_model"]


def validate_input(
    input_tensor: Tensor,
    no_batch: bool = False,
    allowed_range: tuple[float, float] | None = None,
) -> None:
    """Check that ``input_tensor`` is an image batch synthesis can work with.

    Parameters
    ----------
    input_tensor
        The image: a 4-D floating point tensor (batch, channel, height, width).
    no_batch
        Require a batch size of one.
    allowed_range
        If given, every value must lie in this inclusive (low, high) range.

    Raises
    ------
    TypeError
        If the input is not a floating point tensor.
    ValueError
        If it is not 4-D, has a batch larger than one when ``no_batch``, is empty or
        has values outside ``allowed_range``.

    Examples
    --------
    >>> import torch, pipeline as po
    >>> po.validate.validate_input(torch.rand(1, 1, 8, 8), allowed_range=(0, 1))

    """
    if not isinstance(input_tensor, Tensor):
        raise TypeError(f"image must be a torch.Tensor, got {type(input_tensor)!r}")
    if not input_tensor.is_floating_point():
        raise TypeError(
            f"image must have a floating point dtype, got {input_tensor.dtype}"
        )
    if input_tensor.ndim != 4:
        raise ValueError(
            "image must be 4-D (batch, channel, height, width), got shape "
            f"{tuple(input_tensor.shape)}"
        )
    if input_tensor.numel() == 0:
        raise ValueError("image is empty")
    if no_batch and input_tensor.shape[0] != 1:
        raise ValueError(f"image must have batch size 1, got {input_tensor.shape[0]}")
    if allowed_range is not None:
        low, high = allowed_range
        if input_tensor.min() < low or input_tensor.max() > high:
            raise ValueError(
                f"image values must lie in [{low}, {high}], got "
                f"[{input_tensor.min().item():.4g}, {input_tensor.max().item():.4g}]"
            )


def validate_model(
    model: torch.nn.Module,
    image_shape: tuple[int, int, int, int] = (1, 1, 16, 16),
    image_dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
) -> None:
    """Check that ``model`` meets the requirements of synthesis.

    The requirements: the model is callable on a 4-D image tensor; it returns a single
    tensor; the output is differentiable with respect to the input; the output keeps
    the input's dtype and device; it does not change its input in place.

    Parameters
    ----------
    model
        The model to check.
    image_shape
        Shape of the probe image passed through the model.
    image_dtype
        Dtype of the probe image.
    device
        Device of the probe image.

    Raises
    ------
    TypeError
        If the model is not callable or does not return a tensor.
    ValueError
        If a requirement on the output (differentiability, dtype, device) fails or the
        model modifies its input in place.

    Examples
    --------
    >>> import pipeline as po
    >>> po.validate.validate_model(po.models.Gaussian(5))

    """
    if not callable(model):
        raise TypeError(f"model must be callable, got {type(model)!r}")
    probe = torch.rand(image_shape, dtype=image_dtype, device=device)
    probe_copy = probe.clone()
    probe.requires_grad_(True)
    try:
        output = model(probe)
    except Exception as error:
        raise ValueError(
            "model must accept a 4-D image tensor of shape "
            f"{tuple(image_shape)}; calling it failed: {error}"
        ) from error
    if not isinstance(output, Tensor):
        raise TypeError(
            f"model must return a single torch.Tensor, got {type(output)!r}"
        )
    if not output.requires_grad:
        raise ValueError(
            "model output must be differentiable with respect to its input "
            "(it has no gradient): avoid detach(), numpy or in-place tricks"
        )
    if output.dtype != image_dtype:
        raise ValueError(
            f"model must preserve the input dtype: got {output.dtype} for "
            f"{image_dtype} input"
        )
    if output.device != probe.device:
        raise ValueError(
            f"model must keep its output on the input's device: got {output.device} "
            f"for input on {probe.device}"
        )
    if not torch.equal(probe.detach(), probe_copy):
        raise ValueError("model must not modify its input in place")


def validate_coarse_to_fine(
    model: torch.nn.Module,
    image_shape: tuple[int, int, int, int] = (1, 1, 16, 16),
    image_dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
) -> None:
    """Check that ``model`` can be used for coarse-to-fine synthesis.

    Coarse-to-fine synthesis (:class:`pipeline.MetamerCTF`) needs a ``scales``
    attribute listing the model's scales from coarse to fine, and a ``forward`` that
    takes a ``scales`` keyword and then returns the part of the representation that
    belongs to those scales only (so a smaller output than the full one).

    Parameters
    ----------
    model
        The model to check.
    image_shape
        Shape of the probe image passed through the model.
    image_dtype
        Dtype of the probe image.
    device
        Device of the probe image.

    Raises
    ------
    AttributeError
        If the model has no non-empty ``scales`` list.
    TypeError
        If its ``forward`` does not accept a ``scales`` keyword argument.
    ValueError
        If selecting a subset of the scales does not shrink the output.

    Examples
    --------
    >>> import pipeline as po
    >>> ps = po.models.PortillaSimoncelli((64, 64), n_scales=2)
    >>> po.validate.validate_coarse_to_fine(ps, image_shape=(1, 1, 64, 64))

    """
    scales = getattr(model, "scales", None)
    if not isinstance(scales, list | tuple) or len(scales) < 2:
        raise AttributeError(
            f"{type(model).__name__} can't do coarse-to-fine synthesis: it needs a "
            "'scales' attribute listing at least two scales from coarse to fine"
        )
    forward = getattr(model, "forward", model)
    if "scales" not in inspect.signature(forward).parameters:
        raise TypeError(
            f"{type(model).__name__} can't do coarse-to-fine synthesis: its forward() "
            "must accept a 'scales' keyword argument"
        )
    probe = torch.rand(image_shape, dtype=image_dtype, device=device)
    with torch.no_grad():
        full = model(probe).shape
        for scale in scales:
            if model(probe, scales=[scale]).shape == full:
                raise ValueError(
                    f"{type(model).__name__} can't do coarse-to-fine synthesis: "
                    f"forward(scales=[{scale!r}]) returns the full representation "
                    "instead of that scale's part"
                )
