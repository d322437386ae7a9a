"""Cross-checks and expansion of the workflow config (after JSON-schema validation).

The schema (``workflow/schemas/config.schema.yaml``) checks types, names and defaults;
this module checks what a schema cannot: that every image and model a synthesis names
is defined, and it expands the config into the list of syntheses to run. Standard
library only: the Snakefile imports it at parse time.
"""

from __future__ import annotations

from typing import Any

from .errors import PipelineError

__all__ = ["ConfigError", "check_config", "metamer_runs", "metamer_settings"]

METAMER_SETTING_KEYS = (
    "device",
    "dtype",
    "loss",
    "lr",
    "max_iter",
    "optimizer",
    "penalty_lambda",
    "seed",
    "stop_criterion",
    "stop_iters_to_check",
    "store_progress",
)


class ConfigError(PipelineError):
    """A config value that is inconsistent, with the key to change."""


def _check_names(
    key: str, names: list[str], defined: dict[str, Any], kind: str
) -> None:
    for name in names:
        if name not in defined:
            raise ConfigError(
                f"config {key}: unknown {kind} {name!r}; defined {kind}s are "
                f"{', '.join(sorted(defined)) or 'none'} (add it under '{kind}s:')"
            )


def check_config(config: dict[str, Any]) -> None:
    """Check the references between sections of a schema-validated config.

    Parameters
    ----------
    config
        The config after ``snakemake.utils.validate``.

    Raises
    ------
    ConfigError
        Naming the key whose value refers to something undefined.

    """
    metamer = config.get("metamer", {})
    _check_names("metamer.images", metamer.get("images", []), config["images"], "image")
    _check_names("metamer.models", metamer.get("models", []), config["models"], "model")
    for model in metamer.get("overrides", {}):
        if model not in metamer.get("models", []):
            raise ConfigError(
                f"config metamer.overrides.{model}: {model!r} is not in metamer.models"
            )


def metamer_runs(config: dict[str, Any]) -> list[tuple[str, str]]:
    """(image, model) pairs of every metamer synthesis the config asks for.

    Parameters
    ----------
    config
        The validated config.

    Returns
    -------
    runs
        Sorted pairs.

    """
    metamer = config.get("metamer", {})
    return sorted(
        (image, model)
        for image in metamer.get("images", [])
        for model in metamer.get("models", [])
    )


def metamer_settings(config: dict[str, Any], model: str) -> dict[str, Any]:
    """Return the settings of ``model``'s metamers: defaults, then its overrides.

    Parameters
    ----------
    config
        The validated config.
    model
        Model name.

    Returns
    -------
    settings
        Mapping of CLI option names (underscored) to values.

    """
    metamer = config["metamer"]
    settings = {key: metamer[key] for key in METAMER_SETTING_KEYS}
    settings.update(metamer.get("overrides", {}).get(model, {}))
    return settings
