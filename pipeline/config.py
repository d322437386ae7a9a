"""Cross-checks and expansion of the workflow config (after JSON-schema validation).

The schema (``workflow/schemas/config.schema.yaml``) checks types, names and defaults;
this module checks what a schema cannot: that every image and model a synthesis names
is defined, that every image file exists and is an image (from its header), that
every model class exists and accepts its parameters (read from the
class's source, see :mod:`pipeline.signatures`), that no existing store holds more
iterations than the config asks for, and it expands the config into the list of
syntheses to run. Each section's settings are those declared in
:mod:`pipeline.stages.settings` (see :data:`SECTIONS`), and every synthesis's
settings are built here as its stage builds them, so rules between settings fail
at parse time. No torch, zarr or xarray: the Snakefile imports it at parse time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .errors import PipelineError
from .image_sources import ImageError, check_image_source
from .signatures import (
    builtin_model_names,
    constructor_signature,
    find_model_class,
    model_import_problem,
)
from .stages.settings import (
    EigendistortionSettings,
    GeodesicSettings,
    MADSettings,
    MetamerSettings,
    SettingError,
    Settings,
    declarations,
)
from .store.layout import stored_iterations

__all__ = [
    "MAD_METRICS",
    "SECTIONS",
    "ConfigError",
    "Section",
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


@dataclass(frozen=True)
class Section:
    """How a config section sets the settings of its syntheses.

    The settings themselves (type, default, range, choices, help) are declared
    once, in :mod:`pipeline.stages.settings`; a section only chooses which of them
    it offers, and where its defaults or choices differ from the declaration's.
    ``workflow/schemas/config.schema.yaml`` is tested against both.

    Attributes
    ----------
    settings
        The settings class of the section's stage.
    defaults
        This section's own defaults, where they differ from the declaration's.
    choices
        Narrower choices than the declaration's, by setting.
    exclude
        Settings the section does not offer (set per synthesis, or not at all).

    """

    settings: type[Settings]
    defaults: dict[str, Any] = field(default_factory=dict)
    choices: dict[str, tuple[str, ...]] = field(default_factory=dict)
    exclude: tuple[str, ...] = ()

    @property
    def keys(self) -> tuple[str, ...]:
        """The settings this section offers, in declaration order."""
        return tuple(
            d.name for d in declarations(self.settings) if d.name not in self.exclude
        )

    def default(self, key: str) -> Any:
        """Return this section's default of one setting it offers.

        Parameters
        ----------
        key
            The setting.

        Returns
        -------
        default
            The section's own default, else the declaration's.

        """
        if key in self.defaults:
            return self.defaults[key]
        (declared,) = [d for d in declarations(self.settings) if d.name == key]
        return declared.default


_COARSE_TO_FINE = ("coarse_to_fine", "change_scale_criterion", "ctf_iters_to_check")
#: each synthesis section of the config
SECTIONS = {
    "metamer": Section(
        MetamerSettings,
        defaults={"max_iter": 200},
        # the portilla_simoncelli loss and coarse to fine are the texture section's
        choices={"loss": ("mse", "l2_norm", "relative_sse")},
        exclude=("loss_weights", "initial_noise", *_COARSE_TO_FINE),
    ),
    # Portilla-Simoncelli texture metamers: L-BFGS (one iteration is 10 line-searched
    # steps), coarse to fine with a fixed number of iterations per scale, from noise
    # around the image mean
    "texture": Section(
        MetamerSettings,
        defaults={
            "store_progress": 5,
            "lr": 1.0,
            "optimizer": "lbfgs",
            "loss": "portilla_simoncelli",
            "initial_noise": 0.2,
            "coarse_to_fine": "together",
            "change_scale_criterion": None,
            "ctf_iters_to_check": 5,
        },
    ),
    # minmax is set per synthesis: each set runs both
    "mad": Section(MADSettings, exclude=("minmax",)),
    "eigendistortion": Section(EigendistortionSettings),
    "geodesic": Section(GeodesicSettings, defaults={"lr": 0.001}),
}
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
    _check_settings(config)
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
    # last: the references above read no files, these do (image headers, model
    # sources; a user module must be findable: see pipeline.model_path)
    _check_image_sources(config)
    check_models(config)


def _check_image_sources(config: dict[str, Any]) -> None:
    """Refuse an image source that is not a built-in name or a readable image file."""
    for name, entry in config["images"].items():
        try:
            check_image_source(entry["source"])
        except ImageError as error:
            raise ConfigError(f"config images.{name}.source: {error}") from error


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
    problem = model_import_problem(cls) if ":" in cls else None
    if problem is not None:
        raise ConfigError(f"config models.{model}.class: {problem}")
    return found


def _check_texture(config: dict[str, Any]) -> None:
    """Check the texture section: names, sizes and what its models can do."""
    texture = config.get("texture", {})
    images, models = texture.get("images", []), texture.get("models", [])
    _check_names("texture.images", images, config["images"], "image")
    _check_names("texture.models", models, config["models"], "model")
    loss = settings(config, "texture")["loss"]
    for model in models:
        cls = config["models"][model]["class"]
        builtin_other = ":" not in cls and cls not in TEXTURE_MODEL_CLASSES
        if builtin_other and settings(config, "texture")["coarse_to_fine"] is not None:
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


def _check_settings(config: dict[str, Any]) -> None:
    """Build the settings of every synthesis, as its stage will.

    So the rules between settings (:mod:`pipeline.stages.settings`) refuse a
    config at parse time, naming the key, with the words the stage would use.
    """
    # (section, settings, where its own keys are, its own keys); MAD's minmax is
    # each synthesis's own
    checks = [(name, settings(config, name), name, ()) for name in SECTIONS]
    checks = [
        (name, values | ({"minmax": "min"} if name == "mad" else {}), *rest)
        for name, values, *rest in checks
    ]
    metamer = config.get("metamer", {})
    for model, override in metamer.get("overrides", {}).items():
        where = f"metamer.overrides.{model}"
        checks.append(("metamer", metamer_settings(config, model), where, override))
    for name, entry in config.get("mad", {}).get("sets", {}).items():
        where = f"mad.sets.{name}"
        checks.append(("mad", mad_settings(config, name, "", "min"), where, entry))
    for section, values, where, own in checks:
        try:
            built = SECTIONS[section].settings(**values)
        except SettingError as error:
            key = f"{where if error.key in own else section}.{error.key}"
            raise ConfigError(f"config {key}: {error}") from None
        if section == "metamer" and metamer.get("batch"):
            try:
                built.check_batchable()
            except SettingError as error:
                whose = "" if where == section else f" ({where})"
                raise ConfigError(f"config metamer.batch: {error}{whose}") from None


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
    overrides = config.get("metamer", {}).get("overrides", {})
    return {**settings(config, "metamer"), **overrides.get(model, {})}


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
        stored = stored_iterations(path)
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
    entry = config["mad"]["sets"][set_name]
    own = {k: v for k, v in entry.items() if k in SECTIONS["mad"].keys}
    return {**settings(config, "mad"), **own, "minmax": minmax}


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
        A key of :data:`SECTIONS`.

    Returns
    -------
    settings
        Every setting the section offers: its value in the config, else the
        section's default.

    """
    spec = SECTIONS[section]
    given = config.get(section, {})
    return {key: given.get(key, spec.default(key)) for key in spec.keys}
