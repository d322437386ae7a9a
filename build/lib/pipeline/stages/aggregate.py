"""Aggregate synthesis stores into one summary table (one row per synthesis)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..store.atomic import atomic_output
from ..store.schema import SYNTHESIS_KINDS, StoreError, open_store

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr

__all__ = ["aggregate", "summary_row"]


def _rmse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(a, dtype=np.float64) - b) ** 2)))


def _parameter_columns(attrs: dict[str, Any]) -> dict[str, Any]:
    return {
        f"param_{key}": json.dumps(value) if isinstance(value, list | dict) else value
        for key, value in sorted(attrs.get("parameters", {}).items())
    }


def _eigendistortion_row(store: str | Path, dataset: xr.Dataset) -> dict[str, Any]:
    """Top and bottom eigenvalues of an eigendistortion store, and their ratio."""
    attrs = dataset.attrs
    values = dataset["eigenvalues"].values
    return {
        "store": str(store),
        "method": "eigendistortion",
        "image": attrs.get("image_name"),
        "model": attrs.get("model_name"),
        "model_class": attrs.get("model_class"),
        "iterations": int(attrs.get("n_iterations", 0)),
        "top_eigenvalue": float(values[0]),
        "bottom_eigenvalue": float(values[-1]),
        "eigenvalue_ratio": float(values[0] / values[-1])
        if values[-1] != 0
        else np.inf,
        "wall_time_s": float(attrs.get("wall_time_s", np.nan)),
        "device": attrs.get("device"),
        **_parameter_columns(attrs),
    }


def summary_row(store: str | Path, dataset: xr.Dataset) -> dict[str, Any]:
    """Summarize one synthesis store.

    Parameters
    ----------
    store
        Path of the store (recorded in the row).
    dataset
        The opened store.

    Returns
    -------
    row
        method, image, model, iterations, final loss, wall time, distances to the
        target in pixel and model space (per statistic group as ``error_<group>``
        for texture models), and one ``param_*`` column per setting.

    """
    attrs = dataset.attrs
    if "eigenvalues" in dataset:
        return _eigendistortion_row(store, dataset)
    losses = dataset["loss"].values
    row: dict[str, Any] = {
        "store": str(store),
        "method": attrs.get("method", attrs.get("pipeline_store")),
        "image": attrs.get("image_name"),
        "model": attrs.get("model_name"),
        "model_class": attrs.get("model_class"),
        "iterations": int(attrs.get("n_iterations", len(losses) - 1)),
        "stop_reason": attrs.get("stop_reason"),
        "initial_loss": float(losses[0]),
        "final_loss": float(losses[-1]),
        "wall_time_s": float(attrs.get("wall_time_s", np.nan)),
        "device": attrs.get("device"),
    }
    if "metamer" in dataset:
        target = dataset["target_representation"].values
        final = dataset["metamer_representation"].values
        row["pixel_rmse"] = _rmse(dataset["metamer"].values, dataset["image"].values)
        row["representation_rmse"] = _rmse(final, target)
        row["relative_representation_error"] = float(
            np.linalg.norm(final - target) / max(np.linalg.norm(target), 1e-12)
        )
        for group, error in attrs.get("representation_error_by_group", {}).items():
            row[f"error_{group}"] = np.nan if error is None else float(error)
    if "sequence" in dataset:
        row["path_length"] = float(attrs["path_length"])
        row["pixelfade_path_length"] = float(attrs["pixelfade_path_length"])
        row["path_length_ratio"] = row["path_length"] / max(
            row["pixelfade_path_length"], 1e-12
        )
    if "mad_image" in dataset:
        for role in ("optimized", "reference"):
            values = dataset[f"{role}_metric_loss"].values
            row[f"{role}_metric"] = attrs.get(f"{role}_metric")
            row[f"{role}_metric_initial"] = float(values[0])
            row[f"{role}_metric_final"] = float(values[-1])
        row["minmax"] = attrs.get("minmax")
        row["metric_tradeoff_lambda"] = attrs.get("metric_tradeoff_lambda")
        row["pixel_rmse"] = _rmse(dataset["mad_image"].values, dataset["image"].values)
    row.update(_parameter_columns(attrs))
    return row


def _row(store: str | Path) -> dict[str, Any]:
    """Summarize one synthesis store, or say it is damaged."""
    dataset = open_store(store, SYNTHESIS_KINDS)
    try:
        return summary_row(store, dataset)
    except (RuntimeError, ValueError, OSError, KeyError) as error:  # unreadable data
        raise StoreError(
            f"{store} is damaged ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else 'unreadable'}): rerun the "
            "stage that writes it"
        ) from error


def aggregate(
    stores: Sequence[str | Path], out: str | Path, overwrite: bool = False
) -> pd.DataFrame:
    """Write the summary table of ``stores`` as CSV.

    Parameters
    ----------
    stores
        Complete synthesis stores.
    out
        CSV path; written atomically.
    overwrite
        Replace an existing table.

    Returns
    -------
    table
        The summary, one row per store, sorted by method, image and model.

    """
    import pandas as pd

    rows = [_row(store) for store in stores]
    table = pd.DataFrame(rows)
    if not table.empty:
        keys = [
            k
            for k in ("method", "image", "model", "optimized_metric", "minmax")
            if k in table
        ]
        table = table.sort_values(keys, kind="stable")
    with atomic_output(out, overwrite=overwrite) as temporary:
        table.to_csv(temporary, index=False)
    return table
