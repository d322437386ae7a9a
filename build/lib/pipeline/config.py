"""Cross-checks and expansion of the workflow config (after JSON-schema validation).

The schema (``workflow/schemas/config.schema.yaml``) checks types, names and defaults;
this module checks what a schema cannot: that every image and model a synthesis names
is defined, that every model class exists and accepts its parameters (read from the
class's source, see :mod:`pipeline.signatures`), that no existing store holds more
iterations than the config asks for, and it expands the config into the list of
syntheses to run. Standard library only: the Snakefile imports it at parse time.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .errors import PipelineError
from .signatures import builtin_model_names, constructor_signature, find_model_class

__all__ = [
    "MAD_METRICS",
    "ConfigError",
    "check_config",
    "check_models",
    "check_stored_iterations",
    "mad_metric_pair",
    "mad_runs",
    "mad_settings",
    "max_iter_setting",
    "metamer_settings",
    "runs",
    "settings",
]

# settings every optimized synthesis takes (the CLI options of the same names)
OPTIMIZATION_KEYS = (
    "device",
    "dtype",
    "lr",
    "max_iter",
    "optimizer",
    "penalty_lambda",
    "seed",
    "stop_criterion",
    "stop_iters_to_check",
    "store_progress",
)
METAMER_SETTING_KEYS = (*OPTIMIZATION_KEYS, "loss")
TEXTURE_SETTING_KEYS = (
    *METAMER_SETTING_KEYS,
    "change_scale_criterion",
    "coarse_to_fine",
    "ctf_iters_to_check",
    "initial_noise",
    "loss_weights",
)
MAD_SETTING_KEYS = (*OPTIMIZATION_KEYS, "initial_noise", "metric_tradeoff_lambda")
GEODESIC_SETTING_KEYS = (*OPTIMIZATION_KEYS, "n_steps", "initial_sequence")
EIGENDISTORTION_SETTING_KEYS = (
    "device",
    "dtype",
    "k",
    "max_iter",
    "method",
    "p",
    "q",
    "seed",
    "stop_criterion",
)
# metrics MAD competition knows by name (see pipeline.stages.mad); others are models
MAD_METRICS = ("mse", "ssim", "ms_ssim", "nlpd")
# built-in model classes that coarse-to-fine synthesis and the PS loss work with
TEXTURE_MODEL_CLASSES = ("PortillaSimoncelli",)


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
        Naming the key whose value refers to something undefined or impossible.

    """
    for model, entry in config["models"].items():
        if ":" not in entry["class"]:  # built-in names first: sections refer to them
            _check_model_class(model, entry["class"])
    metamer = config.get("metamer", {})
    _check_names("metamer.images", metamer.get("images", []), config["images"], "image")
    _check_names("metamer.models", metamer.get("models", []), config["models"], "model")
    for model in metamer.get("overrides", {}):
        if model not in metamer.get("models", []):
            raise ConfigError(
                f"config metamer.overrides.{model}: {model!r} is not in metamer.models"
            )
    if metamer.get("batch"):
        for model in metamer.get("models", []):
            if metamer_settings(config, model).get("stop_criterion", 0) > 0:
                raise ConfigError(
                    f"config metamer.batch: batched metamers need stop_criterion 0, "
                    f"but model {model!r} has a stopping rule; set batch: false or "
                    "drop the stopping rule"
                )
    eigen = config.get("eigendistortion", {})
    key = "eigendistortion"
    _check_names(f"{key}.images", eigen.get("images", []), config["images"], "image")
    _check_names(f"{key}.models", eigen.get("models", []), config["models"], "model")
    geodesic = config.get("geodesic", {})
    _check_names(
        "geodesic.models", geodesic.get("models", []), config["models"], "model"
    )
    for name, pair in geodesic.get("pairs", {}).items():
        _check_names(
            f"geodesic.pairs.{name}", [pair["a"], pair["b"]], config["images"], "image"
        )
        sizes = {config["images"][pair[end]].get("size", 64) for end in ("a", "b")}
        if len(sizes) != 1:
            raise ConfigError(
                f"config geodesic.pairs.{name}: images {pair['a']!r} and {pair['b']!r} have "
                "different sizes; give them the same images.<name>.size"
            )
    _check_texture(config)
    for name, entry in config.get("mad", {}).get("sets", {}).items():
        key = f"mad.sets.{name}"
        _check_names(f"{key}.image", [entry["image"]], config["images"], "image")
        first, second = entry["metrics"]
        if first == second:
            raise ConfigError(
                f"config {key}.metrics: both metrics are {first!r}; MAD competition "
                "needs two different metrics"
            )
        for metric in entry["metrics"]:
            if metric not in MAD_METRICS and metric not in config["models"]:
                raise ConfigError(
                    f"config {key}.metrics: unknown metric {metric!r}; use one of "
                    f"{', '.join(MAD_METRICS)} or a model defined under 'models:'"
                )
    # last: the references above need no model source, this reads it (a user
    # module must then be importable, e.g. on PYTHONPATH)
    check_models(config)


def check_models(config: dict[str, Any]) -> None:
    """Check that every model's class exists and accepts its parameters.

    Read from source, without importing the model code (see
    :mod:`pipeline.signatures`); what cannot be told statically (a constructor taking
    ``**kwargs``, a class built at run time...) is left to the job that builds it.

    Parameters
    ----------
    config
        The config after ``snakemake.utils.validate``.

    Raises
    ------
    ConfigError
        Naming ``models.<name>.class`` for an unknown class, or
        ``models.<name>.params`` for an unknown or missing constructor parameter.

    """
    for model, entry in config["models"].items():
        cls = entry["class"]
        found = _check_model_class(model, cls)
        signature = constructor_signature(cls) if found else None
        if signature is None:
            continue
        params = entry.get("params") or {}
        accepted = ", ".join(signature.accepted) or "none"
        for parameter in params:
            if parameter not in signature.accepted:
                raise ConfigError(
                    f"config models.{model}.params: unknown parameter {parameter!r} "
                    f"for {cls}; accepted are {accepted}"
                )
        for parameter in signature.required:
            if parameter not in params:
                raise ConfigError(
                    f"config models.{model}.params: {cls} needs parameter "
                    f"{parameter!r}; add it under models.{model}.params"
                )


def _check_model_class(model: str, cls: str) -> bool | None:
    """Refuse a class that certainly does not exist; return whether it was found."""
    found = find_model_class(cls)
    if found is False and ":" not in cls:
        raise ConfigError(
            f"config models.{model}.class: unknown model class {cls!r}; built-in "
            f"classes are {', '.join(builtin_model_names())} (or module:Class for "
            "your own)"
        )
    if found is False:
        module, _, name = cls.partition(":")
        raise ConfigError(
            f"config models.{model}.class: cannot find class {name!r} in module "
            f"{module!r} (the module must be importable, e.g. on PYTHONPATH, and "
            f"define {name or 'the class'}); give module:Class of a torch.nn.Module"
        )
    return found


def _check_texture(config: dict[str, Any]) -> None:
    """Check the texture section: names, sizes and what its models can do."""
    texture = config.get("texture", {})
    images, models = texture.get("images", []), texture.get("models", [])
    _check_names("texture.images", images, config["images"], "image")
    _check_names("texture.models", models, config["models"], "model")
    loss = texture.get("loss", "portilla_simoncelli")
    if texture.get("loss_weights") and loss != "portilla_simoncelli":
        raise ConfigError(
            f"config texture.loss_weights: only the portilla_simoncelli loss has "
            f"weights, but texture.loss is {loss!r}"
        )
    criterion = texture.get("change_scale_criterion")
    if criterion is not None and texture.get("stop_criterion", 0.0) >= criterion:
        raise ConfigError(
            "config texture.stop_criterion: must be below "
            f"texture.change_scale_criterion ({criterion})"
        )
    for model in models:
        cls = config["models"][model]["class"]
        builtin_other = ":" not in cls and cls not in TEXTURE_MODEL_CLASSES
        if builtin_other and texture.get("coarse_to_fine", "together") is not None:
            raise ConfigError(
                f"config texture.models: model {model!r} ({cls}) can't do "
                "coarse-to-fine synthesis; use a PortillaSimoncelli model or set "
                "texture.coarse_to_fine: null"
            )
        if builtin_other and loss == "portilla_simoncelli":
            raise ConfigError(
                f"config texture.loss: the portilla_simoncelli loss needs a "
                f"PortillaSimoncelli model, but {model!r} is a {cls}; use another loss"
            )
        shape = config["models"][model].get("params", {}).get("image_shape")
        for image in images:
            size = config["images"][image].get("size", 64)
            if shape is not None and list(shape) != [size, size]:
                raise ConfigError(
                    f"config models.{model}.params.image_shape: {list(shape)} does not "
                    f"match the {size}x{size} image {image!r} (texture.images); set "
                    f"it to [{size}, {size}]"
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
    return {
        **settings(config, "metamer"),
        **config["metamer"].get("overrides", {}).get(model, {}),
    }


def max_iter_setting(
    config: dict[str, Any], section: str, run: tuple[str, ...]
) -> tuple[str, int]:
    """Return the config key and value of one synthesis's ``max_iter``.

    Parameters
    ----------
    config
        The validated config.
    section
        ``"metamer"``, ``"texture"``, ``"mad"`` or ``"geodesic"``.
    run
        The synthesis, as :func:`runs` (image or pair, model) or :func:`mad_runs`
        (set, optimized metric, min or max) give it.

    Returns
    -------
    key, max_iter
        E.g. ``("metamer.overrides.on_off.max_iter", 500)`` where an override sets
        it, else ``("metamer.max_iter", 300)``.

    """
    if section == "metamer":
        model = run[1]
        override = config["metamer"].get("overrides", {}).get(model, {})
        if "max_iter" in override:
            return f"metamer.overrides.{model}.max_iter", override["max_iter"]
    elif section == "mad":
        name = run[0]
        entry = config["mad"]["sets"][name]
        if entry.get("max_iter") is not None:
            return f"mad.sets.{name}.max_iter", entry["max_iter"]
    return f"{section}.max_iter", config[section]["max_iter"]


def _stored_iterations(store: Path) -> int | None:
    """Return the iterations a complete store holds (zarr attributes), or None."""
    try:
        metadata = json.loads((store / "zarr.json").read_text(encoding="utf-8"))
        attrs = metadata["attributes"]
    except (OSError, ValueError, KeyError, TypeError):
        return None  # no store, or one the stage itself will report
    if not isinstance(attrs, dict) or attrs.get("complete") is not True:
        return None
    count = attrs.get("n_iterations")
    if count is None:
        parameters = attrs.get("parameters")
        count = parameters.get("max_iter") if isinstance(parameters, dict) else None
    is_count = isinstance(count, int) and not isinstance(count, bool)
    return count if is_count else None


def check_stored_iterations(stores: Iterable[tuple[str, str, int]]) -> None:
    """Refuse a ``max_iter`` below the iterations a synthesis store already holds.

    A synthesis continues from its store when ``max_iter`` is raised; lowering it
    below what is stored would silently throw computed iterations away.

    Parameters
    ----------
    stores
        ``(store path, config key of its max_iter, max_iter)`` of every synthesis
        (see :func:`max_iter_setting`); stores that do not exist (yet), are
        incomplete or unreadable are skipped (their job rewrites or reports them).

    Raises
    ------
    ConfigError
        Naming the key, the store and what to do.

    """
    for path, key, max_iter in stores:
        stored = _stored_iterations(Path(path))
        if stored is not None and stored > max_iter:
            raise ConfigError(
                f"config {key}: {max_iter} is below the {stored} iterations already "
                f"stored in {path}; raise it, or delete that store to recompute with "
                "fewer"
            )


def mad_runs(config: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(set, optimized metric, min or max) of every MAD synthesis: four per set.

    Parameters
    ----------
    config
        The validated config.

    Returns
    -------
    runs
        Sorted triples.

    """
    sets = config.get("mad", {}).get("sets", {})
    return sorted(
        (name, metric, minmax)
        for name, entry in sets.items()
        for metric in entry["metrics"]
        for minmax in ("min", "max")
    )


def mad_settings(
    config: dict[str, Any], set_name: str, optimized: str, minmax: str
) -> dict[str, Any]:
    """Return the settings of one MAD synthesis: section defaults, then its set's.

    Parameters
    ----------
    config
        The validated config.
    set_name
        Name of the MAD set.
    optimized
        The metric this synthesis optimizes (the other one of the set is held).
    minmax
        ``"min"`` or ``"max"``.

    Returns
    -------
    settings
        Mapping of CLI option names (underscored) to values, without the metrics.

    """
    section = config["mad"]
    entry = section["sets"][set_name]
    settings = {
        key: section[key] for key in MAD_SETTING_KEYS if section.get(key) is not None
    }
    settings.update({k: v for k, v in entry.items() if k in MAD_SETTING_KEYS})
    settings["minmax"] = minmax
    return settings


def mad_metric_pair(
    config: dict[str, Any], set_name: str, optimized: str
) -> tuple[str, str]:
    """Return (optimized, reference) metrics of one synthesis of a MAD set.

    Parameters
    ----------
    config
        The validated config.
    set_name
        Name of the MAD set.
    optimized
        The metric the synthesis optimizes; the other one of the set is held.

    Returns
    -------
    pair
        The two metric names, optimized first.

    """
    first, second = config["mad"]["sets"][set_name]["metrics"]
    return (first, second) if optimized == first else (second, first)


# section -> (the two lists whose every combination is one synthesis)
_RUN_AXES = {
    "metamer": ("images", "models"),
    "texture": ("images", "models"),
    "eigendistortion": ("images", "models"),
    "geodesic": ("pairs", "models"),
}
_SETTING_KEYS = {
    "metamer": METAMER_SETTING_KEYS,
    "texture": TEXTURE_SETTING_KEYS,
    "eigendistortion": EIGENDISTORTION_SETTING_KEYS,
    "geodesic": GEODESIC_SETTING_KEYS,
}


def runs(config: dict[str, Any], section: str) -> list[tuple[str, str]]:
    """Every (image or pair, model) synthesis a section asks for: all combinations.

    Parameters
    ----------
    config
        The validated config.
    section
        ``"metamer"``, ``"texture"``, ``"eigendistortion"`` or ``"geodesic"``.

    Returns
    -------
    runs
        Sorted pairs.

    """
    entries = config.get(section, {})
    first, second = _RUN_AXES[section]
    return sorted(
        (a, b) for a in entries.get(first, []) for b in entries.get(second, [])
    )


def settings(config: dict[str, Any], section: str) -> dict[str, Any]:
    """Return the CLI settings (underscored option names) of a section's syntheses.

    Parameters
    ----------
    config
        The validated config.
    section
        ``"metamer"``, ``"texture"``, ``"eigendistortion"`` or ``"geodesic"``.

    Returns
    -------
    settings
        Mapping of option names to values.

    """
    return {key: config[section][key] for key in _SETTING_KEYS[section]}
