"""What every stage needs at run time: devices and provenance."""

from __future__ import annotations

import platform
import sys
from importlib import metadata
from typing import Any

from ..errors import PipelineError

__all__ = ["provenance", "resolve_device"]


def resolve_device(device: str) -> str:
    """Turn ``"auto"`` into ``"cuda"`` when a GPU is available, else ``"cpu"``.

    Parameters
    ----------
    device
        ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"``.

    Returns
    -------
    device
        A concrete torch device string.

    Raises
    ------
    PipelineError
        If CUDA is asked for but not available.

    """
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise PipelineError(
            f"--device {device} asked for, but no CUDA GPU is available: use --device "
            "cpu or auto"
        )
    return device


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def provenance(device: str) -> dict[str, Any]:
    """Versions, device and host facts to record in a store's attributes.

    Parameters
    ----------
    device
        The device the stage ran on.

    Returns
    -------
    provenance
        JSON-able mapping.

    """
    import torch

    packages = ("pipeline", "torch", "numpy", "zarr", "xarray")
    return {
        "versions": {name: _version(name) for name in packages}
        | {"python": sys.version.split()[0]},
        "device": device,
        "device_name": torch.cuda.get_device_name(device)
        if device.startswith("cuda")
        else platform.processor() or platform.machine(),
        "host": platform.node(),
    }
