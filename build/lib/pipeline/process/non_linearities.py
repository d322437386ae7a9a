"""Nonlinear transforms of pyramid coefficients: polar form and local gain control.

`local_gain_control` divides coefficients by a local estimate of their amplitude
(the root of their blurred-down energy), giving a "direction" and a coarse "norm";
`local_gain_release` undoes it exactly.  The ``_dict`` versions apply a transform to
every band of a steerable pyramid's coefficients, passing the residuals through.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from .laplacian_pyramid import blur_down, blur_up
from .signal import polar_to_rectangular, rectangular_to_polar

__all__ = [
    "local_gain_control",
    "local_gain_control_dict",
    "local_gain_release",
    "local_gain_release_dict",
    "polar_to_rectangular_dict",
    "rectangular_to_polar_dict",
]


def _is_residual(key: object) -> bool:
    return isinstance(key, str) and key.startswith("residual")


def _per_band(
    transform: Callable[..., object], *dicts: dict, residuals: bool
) -> tuple[dict, ...]:
    """Apply ``transform`` to the bands of ``dicts`` (key by key).

    Returns one dict per output of ``transform`` (in the first dict's key order);
    with ``residuals`` the residuals of the first dict are added to the first
    output unchanged.
    """
    outputs: list[dict] | None = None
    first = dicts[0]
    for key in first:
        if _is_residual(key):
            continue
        result = transform(*(d[key] for d in dicts))
        result = result if isinstance(result, tuple) else (result,)
        if outputs is None:
            outputs = [{} for _ in result]
        for out, value in zip(outputs, result, strict=True):
            out[key] = value
    if outputs is None:
        raise ValueError("the coefficients have no bands (only residuals)")
    if residuals:
        for key in first:
            if _is_residual(key):
                outputs[0][key] = first[key]
    return tuple(outputs)


def rectangular_to_polar_dict(
    coeff_dict: dict, residuals: bool = False
) -> tuple[dict, dict]:
    """Amplitude and phase of every band of (complex) pyramid coefficients.

    Parameters
    ----------
    coeff_dict
        Coefficients, e.g. from a complex `pipeline.models.SteerablePyramidFreq`;
        keys starting with ``"residual"`` are residuals.
    residuals
        Whether to copy the residuals into ``energy``.

    Returns
    -------
    energy
        Amplitude of each band (and the residuals, if asked).
    state
        Phase of each band.

    Examples
    --------
    >>> import torch, pipeline as po
    >>> pyr = po.models.SteerablePyramidFreq((32, 32), height=2, is_complex=True)
    >>> coeffs = pyr(torch.rand(1, 1, 32, 32))
    >>> energy, state = rectangular_to_polar_dict(coeffs, residuals=True)
    >>> back = polar_to_rectangular_dict(energy, state)
    >>> torch.allclose(back[0], coeffs[0], atol=1e-6)
    True

    """
    return _per_band(rectangular_to_polar, coeff_dict, residuals=residuals)


def polar_to_rectangular_dict(energy: dict, state: dict) -> dict:
    """Inverse of `rectangular_to_polar_dict`.

    Parameters
    ----------
    energy
        Amplitudes (and possibly residuals), as returned by
        `rectangular_to_polar_dict`.
    state
        Phases.

    Returns
    -------
    coeff_dict
        Complex bands, and the residuals found in ``energy``.

    """
    (coeffs,) = _per_band(polar_to_rectangular, energy, state, residuals=True)
    return coeffs


def _check_ndim(x: Tensor) -> None:
    if x.ndim not in (4, 5):
        raise ValueError(
            "Tensor must have 4 or 5 dimensions (batch, channel, [orientation,] "
            f"height, width), got shape {tuple(x.shape)}"
        )


def local_gain_control(x: Tensor, epsilon: float = 1e-8) -> tuple[Tensor, Tensor]:
    """Split coefficients into a local amplitude (norm) and a direction.

    ``norm = sqrt(blur_down(|x| ** 2))`` (half the size of ``x``) and ``direction =
    x / (blur_up(norm) + epsilon)``; `local_gain_release` inverts it.

    Parameters
    ----------
    x
        Real or complex tensor ``(batch, channel, height, width)`` or ``(batch,
        channel, orientation, height, width)``; every leading index is treated
        separately.  Height and width must be at least 3.
    epsilon
        Added to the norm before dividing.

    Returns
    -------
    norm
        Shape ``(..., ceil(height / 2), ceil(width / 2))``, real.
    direction
        Shape of ``x``.

    Raises
    ------
    ValueError
        If ``x`` does not have 4 or 5 dimensions.

    Examples
    --------
    >>> import torch
    >>> x = torch.randn(2, 1, 32, 32)
    >>> norm, direction = local_gain_control(x)
    >>> norm.shape
    torch.Size([2, 1, 16, 16])
    >>> torch.allclose(local_gain_release(norm, direction), x, atol=1e-5)
    True

    """
    _check_ndim(x)
    energy = x.abs().square() if x.is_complex() else x.square()
    norm = blur_down(energy).sqrt()
    return norm, x / (blur_up(norm, *x.shape[-2:]) + epsilon)


def local_gain_release(
    norm: Tensor, direction: Tensor, epsilon: float = 1e-8
) -> Tensor:
    """Undo `local_gain_control`: ``direction * (blur_up(norm) + epsilon)``.

    Parameters
    ----------
    norm, direction
        As returned by `local_gain_control`.
    epsilon
        The value used by `local_gain_control`.

    Returns
    -------
    x
        Shape of ``direction``.

    Raises
    ------
    ValueError
        If ``direction`` does not have 4 or 5 dimensions.

    """
    _check_ndim(direction)
    return direction * (blur_up(norm, *direction.shape[-2:]) + epsilon)


def local_gain_control_dict(
    coeff_dict: dict, residuals: bool = True
) -> tuple[dict, dict]:
    """Apply `local_gain_control` to every band of pyramid coefficients.

    Parameters
    ----------
    coeff_dict
        Coefficients; keys starting with ``"residual"`` are residuals.
    residuals
        Whether to copy the residuals into ``energy``.

    Returns
    -------
    energy
        The norm of each band (and the residuals, if asked).
    state
        The direction of each band.

    Examples
    --------
    >>> import torch, pipeline as po
    >>> pyr = po.models.SteerablePyramidFreq((32, 32), height=2)
    >>> coeffs = pyr(torch.rand(1, 1, 32, 32))
    >>> energy, state = local_gain_control_dict(coeffs)
    >>> back = local_gain_release_dict(energy, state)
    >>> torch.allclose(back[1], coeffs[1], atol=1e-5)
    True

    """
    return _per_band(local_gain_control, coeff_dict, residuals=residuals)


def local_gain_release_dict(energy: dict, state: dict, residuals: bool = True) -> dict:
    """Inverse of `local_gain_control_dict`.

    Parameters
    ----------
    energy, state
        As returned by `local_gain_control_dict`.
    residuals
        Whether to copy the residuals found in ``energy`` into the result.

    Returns
    -------
    coeff_dict
        The coefficients.

    """
    (coeffs,) = _per_band(local_gain_release, energy, state, residuals=residuals)
    return coeffs
