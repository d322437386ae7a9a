"""Every synthesis setting, declared once: type, default, range, choices and help.

Each stage's settings are a frozen dataclass whose fields carry their declaration
(:func:`setting`). The ``pipeline synthesize`` options are made from it
(:mod:`pipeline.cli.synthesize`), every value is checked against it when settings
are built, and the workflow config's schema (``workflow/schemas/config.schema.yaml``)
is tested against it. Rules that tie several fields together are methods of the
class (:meth:`Settings.problems`, :meth:`MetamerSettings.check_batchable`), so the
command line, the stages and the workflow's parse-time check apply the same ones.

Standard library only: the Snakefile imports it at parse time.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import PipelineError

if TYPE_CHECKING:
    import torch

__all__ = [
    "Declared",
    "EigendistortionSettings",
    "GeodesicSettings",
    "MADSettings",
    "MetamerSettings",
    "OptimizationSettings",
    "RunSettings",
    "Setting",
    "SettingError",
    "Settings",
    "declarations",
    "setting",
]

# L-BFGS as recommended for Portilla-Simoncelli texture metamers
LBFGS_KWARGS = {"max_iter": 10, "history_size": 100, "line_search_fn": "strong_wolfe"}


class SettingError(PipelineError):
    """A setting outside its declaration, or settings that contradict each other.

    Parameters
    ----------
    key
        The setting to change (a field name).
    message
        What is wrong and how to fix it.

    """

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class Setting:
    """What a setting's field declares besides its type and default.

    Attributes
    ----------
    help
        One sentence for ``--help`` and the docs.
    minimum, exclusive_minimum, maximum
        The range of a number (``None``: unbounded).
    choices
        The values a string may take.
    metavar
        How ``--help`` shows the value (mappings: ``GROUP=WEIGHT``).
    library
        Why the library's default of the same name differs, where it does (the
        library keeps the reference's API; a test holds both to this).

    """

    help: str
    minimum: float | None = None
    exclusive_minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None
    metavar: str | None = None
    library: str | None = None


def setting(
    default: Any = dataclasses.MISSING,
    *,
    help: str,
    minimum: float | None = None,
    exclusive_minimum: float | None = None,
    maximum: float | None = None,
    choices: tuple[str, ...] | None = None,
    metavar: str | None = None,
    library: str | None = None,
    factory: Any = None,
) -> Any:
    """Declare one setting: a dataclass field with its :class:`Setting`.

    Parameters
    ----------
    default
        The default; leave it out for a required setting.
    help, minimum, exclusive_minimum, maximum, choices, metavar, library
        See :class:`Setting`.
    factory
        Makes the default of a mutable setting (a mapping).

    Returns
    -------
    field
        The dataclass field.

    """
    metadata = {
        "setting": Setting(
            help, minimum, exclusive_minimum, maximum, choices, metavar, library
        )
    }
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Declared:
    """One setting of a settings class, as :func:`declarations` reads it.

    Attributes
    ----------
    name
        Field name (the option is ``--`` + name with dashes).
    kind
        ``int``, ``float``, ``str`` or ``dict`` (a mapping of names to numbers).
    nullable
        Whether ``None`` is a value.
    default
        The default, or :data:`dataclasses.MISSING` for a required setting.
    setting
        The rest of the declaration.

    """

    name: str
    kind: type
    nullable: bool
    default: Any
    setting: Setting

    @property
    def required(self) -> bool:
        """Whether the setting has no default."""
        return self.default is dataclasses.MISSING


@functools.cache
def declarations(cls: type[Settings]) -> tuple[Declared, ...]:
    """Read the declaration of every setting of a settings class, in field order.

    Parameters
    ----------
    cls
        A :class:`Settings` subclass.

    Returns
    -------
    declared
        One per field.

    """
    hints = typing.get_type_hints(cls)
    declared = []
    for item in dataclasses.fields(cls):
        hint = hints[item.name]
        union = isinstance(hint, types.UnionType)
        kinds = typing.get_args(hint) if union else (hint,)
        nullable = type(None) in kinds
        (kind,) = [typing.get_origin(k) or k for k in kinds if k is not type(None)]
        default = (
            item.default_factory()
            if item.default_factory is not dataclasses.MISSING
            else item.default
        )
        declared.append(
            Declared(item.name, kind, nullable, default, item.metadata["setting"])
        )
    return tuple(declared)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _range_problem(name: str, value: float, spec: Setting) -> str | None:
    """Say how ``value`` leaves the declared range, or ``None``."""
    if spec.minimum is not None and value < spec.minimum:
        return f"{name} must be >= {spec.minimum}, got {value}"
    if spec.exclusive_minimum is not None and value <= spec.exclusive_minimum:
        bound = (
            "positive"
            if spec.exclusive_minimum == 0
            else (f"> {spec.exclusive_minimum}")
        )
        return f"{name} must be {bound}, got {value}"
    if spec.maximum is not None and value > spec.maximum:
        return f"{name} must be <= {spec.maximum}, got {value}"
    return None


def _problem(declared: Declared, value: object) -> str | None:
    """Say how ``value`` breaks its declaration, or ``None``."""
    name, spec = declared.name, declared.setting
    if value is None:
        return None if declared.nullable else f"{name} must be set, got None"
    if declared.kind is str:
        if spec.choices is not None and value not in spec.choices:
            return f"{name} must be one of {', '.join(spec.choices)}, got {value!r}"
        return None
    if declared.kind is dict:
        if not isinstance(value, dict) or not all(map(_is_number, value.values())):
            return f"{name} must map names to numbers, got {value!r}"
        problems = (_range_problem(f"{name}.{k}", v, spec) for k, v in value.items())
        return next((p for p in problems if p), None)
    integer = declared.kind is int
    if not _is_number(value) or (integer and not isinstance(value, int)):
        return (
            f"{name} must be {'an integer' if integer else 'a number'}, got {value!r}"
        )
    return _range_problem(name, value, spec)


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Base of every stage's settings: checks each field against its declaration.

    Building settings raises :class:`SettingError` for a value outside its
    declaration or for settings that contradict each other (:meth:`problems`).
    """

    def __post_init__(self) -> None:
        for declared in declarations(type(self)):
            message = _problem(declared, getattr(self, declared.name))
            if message is not None:
                raise SettingError(declared.name, message)
        for key, message in self.problems():
            raise SettingError(key, message)

    def problems(self) -> Iterator[tuple[str, str]]:
        """Yield the rules between fields that these settings break.

        Yields
        ------
        key, message
            The setting to change and what is wrong.

        """
        yield from ()


@dataclass(frozen=True, kw_only=True)
class RunSettings(Settings):
    """Where and how reproducibly any synthesis runs."""

    seed: int = setting(
        0,
        help="Seed of the random generators (initial noise...).",
        minimum=0,
        maximum=2**32 - 1,
    )
    device: str = setting(
        "auto",
        help="Where to compute: auto uses a CUDA GPU when there is one.",
        choices=("cpu", "cuda", "auto"),
    )
    dtype: str = setting(
        "float32", help="Floating point precision.", choices=("float32", "float64")
    )

    @property
    def torch_dtype(self) -> torch.dtype:
        """The torch dtype these settings name."""
        import torch

        return getattr(torch, self.dtype)


@dataclass(frozen=True, kw_only=True)
class OptimizationSettings(RunSettings):
    """Settings every optimized synthesis (metamer, MAD, geodesic) shares."""

    max_iter: int = setting(100, help="Maximum number of iterations.", minimum=1)
    store_progress: int = setting(
        10,
        help="Store the synthesized image every N iterations (0: only the final one).",
        minimum=0,
        library="a store keeps the history: the library keeps none unless asked",
    )
    lr: float = setting(0.01, help="Learning rate.", exclusive_minimum=0)
    optimizer: str = setting(
        "adam",
        help="Optimizer: adam (with amsgrad), sgd, or lbfgs (10 line-searched steps "
        "per iteration; use lr 1, it suits texture statistics).",
        choices=("adam", "sgd", "lbfgs"),
    )
    penalty_lambda: float = setting(
        0.1, help="Weight of the pixel-range penalty.", minimum=0
    )
    stop_criterion: float = setting(
        0.0,
        help="Stop when the loss changes less than this over stop_iters_to_check "
        "iterations (0: never stop early).",
        minimum=0,
        library="a stage runs max_iter iterations unless a stopping rule is asked "
        "for, so a larger max_iter always continues it",
    )
    stop_iters_to_check: int = setting(
        50, help="Window of the stopping rule, in iterations.", minimum=1
    )

    def setup_arguments(self, device: str) -> dict[str, Any]:
        """Arguments of ``setup()`` for the optimizer these settings name.

        Parameters
        ----------
        device
            Device of the synthesis.

        Returns
        -------
        arguments
            ``optimizer`` and ``optimizer_kwargs``.

        """
        # torch's optimizers without their torch._dynamo import (1.5 s a process)
        from ..synthesis import optimizers
        from ..synthesis.base import default_adam_kwargs

        if self.optimizer == "adam":
            kwargs = default_adam_kwargs(self.lr, device)
            return {"optimizer": optimizers.Adam, "optimizer_kwargs": kwargs}
        if self.optimizer == "lbfgs":
            kwargs = {"lr": self.lr, **LBFGS_KWARGS}
            return {"optimizer": optimizers.LBFGS, "optimizer_kwargs": kwargs}
        return {"optimizer": optimizers.SGD, "optimizer_kwargs": {"lr": self.lr}}


@dataclass(frozen=True, kw_only=True)
class MetamerSettings(OptimizationSettings):
    """Settings of a metamer synthesis: the shared ones plus loss, start and scales."""

    loss: str = setting(
        "mse",
        help="Distance between representations (portilla_simoncelli: L2 norm with "
        "per-statistic-group weights, for PortillaSimoncelli models).",
        choices=("mse", "l2_norm", "relative_sse", "portilla_simoncelli"),
    )
    loss_weights: dict[str, float] = setting(  # noqa: RUF009 (a field, with a factory)
        help="Weight of one statistic group in the portilla_simoncelli loss "
        "(unlisted groups weigh 1).",
        minimum=0,
        metavar="GROUP=WEIGHT",
        factory=dict,
    )
    initial_noise: float | None = setting(
        None,
        help="Start from each image's mean plus uniform noise of this width (none: "
        "from uniform noise in [0, 1]).",
        minimum=0,
    )
    coarse_to_fine: str | None = setting(
        None,
        help="Coarse-to-fine synthesis (needs a multiscale model such as "
        "PortillaSimoncelli): together adds finer scales one by one, separate "
        "optimizes one scale at a time.",
        choices=("together", "separate"),
        library="none picks the plain Metamer; MetamerCTF itself is coarse to fine",
    )
    change_scale_criterion: float | None = setting(
        0.01,
        help="Coarse-to-fine: next scale once the scale loss changes less than this "
        "over ctf_iters_to_check iterations (none: always after that many).",
        exclusive_minimum=0,
    )
    ctf_iters_to_check: int = setting(
        50,
        help="Coarse-to-fine: window of the scale-change rule, and the fewest "
        "iterations per scale.",
        minimum=1,
    )

    def problems(self) -> Iterator[tuple[str, str]]:
        """Yield the rules between fields that these settings break.

        Yields
        ------
        key, message
            The setting to change and what is wrong.

        """
        if self.loss_weights and self.loss != "portilla_simoncelli":
            yield (
                "loss_weights",
                "only the portilla_simoncelli loss has weights, but the loss is "
                f"{self.loss!r}",
            )
        criterion = self.change_scale_criterion
        if self.coarse_to_fine is not None and criterion is not None:
            if self.stop_criterion >= criterion:
                yield (
                    "stop_criterion",
                    f"stop_criterion ({self.stop_criterion}) must be below "
                    f"change_scale_criterion ({criterion})",
                )

    def check_batchable(self) -> None:
        """Refuse settings that metamers synthesized as one batch cannot share.

        Raises
        ------
        SettingError
            For coarse to fine, the Portilla-Simoncelli loss or a stopping rule.

        """
        if self.coarse_to_fine is not None or self.loss == "portilla_simoncelli":
            key = "loss" if self.coarse_to_fine is None else "coarse_to_fine"
            raise SettingError(
                key,
                "batched metamers are plain metamers: synthesize coarse-to-fine or "
                "texture metamers one by one",
            )
        if self.stop_criterion > 0:
            raise SettingError(
                "stop_criterion",
                "batched metamers need stop_criterion 0 (each would stop when the "
                "whole batch converged): run them one by one to use a stopping rule",
            )

    def synthesize_options(self) -> dict[str, Any]:
        """Coarse-to-fine arguments of ``synthesize`` (none for a plain metamer).

        Returns
        -------
        options
            ``change_scale_criterion`` and ``ctf_iters_to_check``, or nothing.

        """
        if self.coarse_to_fine is None:
            return {}
        return {
            "change_scale_criterion": self.change_scale_criterion,
            "ctf_iters_to_check": self.ctf_iters_to_check,
        }


@dataclass(frozen=True, kw_only=True)
class MADSettings(OptimizationSettings):
    """Settings of one MAD synthesis: the shared ones plus MAD's own."""

    minmax: str = setting(
        help="Minimize or maximize the optimized metric.", choices=("min", "max")
    )
    initial_noise: float = setting(
        0.1,
        help="Std of the Gaussian noise added to the image to start from (with the "
        "same seed, the four syntheses of a MAD set share this start).",
        minimum=0,
    )
    metric_tradeoff_lambda: float | None = setting(
        None,
        help="Weight of the reference-metric term (none: chosen so both terms start "
        "at the same magnitude).",
        exclusive_minimum=0,
    )


@dataclass(frozen=True, kw_only=True)
class GeodesicSettings(OptimizationSettings):
    """Settings of a geodesic: the shared ones plus the path's."""

    n_steps: int = setting(
        10, help="Transitions between the two anchor images.", minimum=2
    )
    initial_sequence: str = setting(
        "straight",
        help="Start from the pixel fade (straight) or a Brownian bridge.",
        choices=("straight", "bridge"),
    )


@dataclass(frozen=True, kw_only=True)
class EigendistortionSettings(RunSettings):
    """Settings of an eigendistortion synthesis."""

    method: str = setting(
        "power",
        help="Eigensolver: exact (images of at most 4096 pixels), power (top and "
        "bottom k) or randomized_svd (top k).",
        choices=("exact", "power", "randomized_svd"),
    )
    k: int = setting(
        1,
        help="Eigendistortions per end (power) or in all (randomized_svd).",
        minimum=1,
    )
    max_iter: int = setting(1000, help="Maximum power iterations per end.", minimum=1)
    p: int = setting(5, help="Oversampling of randomized SVD.", minimum=0)
    q: int = setting(2, help="Power iterations of randomized SVD.", minimum=0)
    stop_criterion: float = setting(
        1e-7,
        help="Stop the power method when the eigenvalue estimates change less than "
        "this.",
        minimum=0,
    )
