"""``pipeline synthesize <method>``: one subcommand per synthesis method.

Every setting's option is made from its declaration in
:mod:`pipeline.stages.settings`; a command only adds its inputs and outputs.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..stages.settings import (
    Declared,
    EigendistortionSettings,
    GeodesicSettings,
    MADSettings,
    MetamerSettings,
    declarations,
)
from .options import OPTIONAL_FLOAT, overwrite_option, parse_params, stage_command

if TYPE_CHECKING:
    from ..stages._checkpoint import CheckpointPolicy
    from ..stages.settings import Settings

__all__ = ["synthesize"]

# a batch shares one synthesis: plain metamers only (see MetamerSettings.check_batchable)
BATCH_EXCLUDED = (
    "loss_weights",
    "coarse_to_fine",
    "change_scale_criterion",
    "ctf_iters_to_check",
)


def settings_options(
    cls: type[Settings], exclude: tuple[str, ...] = ()
) -> Callable[[Callable], Callable]:
    """Return a decorator adding one option per setting of ``cls``, in field order.

    Each option's type, default, range, choices and help come from the setting's
    declaration (:mod:`pipeline.stages.settings`), so the command line cannot
    disagree with it.

    Parameters
    ----------
    cls
        A settings class.
    exclude
        Settings this command does not offer (they keep their defaults).

    Returns
    -------
    decorator
        Adds the options.

    """
    return with_options(
        [
            _option(declared)
            for declared in declarations(cls)
            if declared.name not in exclude
        ]
    )


def _none_word(ctx: click.Context, param: click.Parameter, value: object) -> object:
    return None if value == "none" else value


def _option(declared: Declared) -> Callable:
    """Make the click option of one declared setting."""
    spec = declared.setting
    flag = "--" + declared.name.replace("_", "-")
    kwargs: dict[str, object] = {"help": spec.help, "show_default": True}
    if declared.required:
        kwargs["required"] = True
    else:
        kwargs["default"] = declared.default
    if spec.choices is not None:
        words = [*spec.choices, *(["none"] if declared.nullable else [])]
        kwargs["type"] = click.Choice(words)
        if declared.nullable:
            kwargs.update(callback=_none_word, default=declared.default or "none")
    elif declared.kind is dict:
        kwargs.update(
            multiple=True, callback=parse_params, metavar=spec.metavar, default=()
        )
    elif declared.nullable:
        kwargs["type"] = OPTIONAL_FLOAT
        kwargs["default"] = "none" if declared.default is None else declared.default
    else:
        bounds = {
            "min": spec.minimum
            if spec.exclusive_minimum is None
            else spec.exclusive_minimum,
            "min_open": spec.exclusive_minimum is not None,
            "max": spec.maximum,
        }
        number = click.IntRange if declared.kind is int else click.FloatRange
        kwargs["type"] = number(**bounds)
    return click.option(flag, **kwargs)


checkpoint_options = [
    click.option(
        "--checkpoint-every",
        type=click.IntRange(min=1),
        default=200,
        show_default=True,
        envvar="PIPELINE_CHECKPOINT_EVERY",
        show_envvar=True,
        help="Write a checkpoint (to resume from if killed) every N iterations...",
    ),
    click.option(
        "--checkpoint-seconds",
        type=click.FloatRange(min=0, min_open=True),
        default=120.0,
        show_default=True,
        envvar="PIPELINE_CHECKPOINT_SECONDS",
        show_envvar=True,
        help="...or every this many seconds, whichever comes first.",
    ),
    click.option(
        "--restart",
        is_flag=True,
        help="Discard this output's checkpoints and start from the beginning.",
    ),
]


def with_options(options: list[Callable]) -> Callable[[Callable], Callable]:
    """Return a decorator adding ``options`` to a command, in order.

    Parameters
    ----------
    options
        Click option decorators.

    Returns
    -------
    decorator
        Applies them all.

    """

    def decorate(function: Callable) -> Callable:
        for option in reversed(options):
            function = option(function)
        return function

    return decorate


def checkpoint_policy(options: dict[str, object]) -> CheckpointPolicy:
    """Take the checkpoint options out of a command's options.

    Parameters
    ----------
    options
        The command's keyword arguments; the checkpoint ones are removed.

    Returns
    -------
    policy
        When to write checkpoints, and whether to discard old ones.

    """
    from ..stages._checkpoint import CheckpointPolicy

    return CheckpointPolicy(
        every_iterations=options.pop("checkpoint_every"),
        every_seconds=options.pop("checkpoint_seconds"),
        restart=options.pop("restart"),
    )


def synthesis_options(
    cls: type[Settings], exclude: tuple[str, ...] = ()
) -> Callable[[Callable], Callable]:
    """Return a decorator adding the settings of ``cls`` and the run options.

    Parameters
    ----------
    cls
        The settings class of the command's stage.
    exclude
        Settings this command does not offer.

    Returns
    -------
    decorator
        Adds the setting options, ``--quiet``, ``--overwrite`` and the checkpoint
        options.

    """
    return with_options(
        [
            settings_options(cls, exclude),
            click.option("--quiet", is_flag=True, help="No progress bar."),
            overwrite_option,
            *checkpoint_options,
        ]
    )


def run_stage(
    stage: Callable[..., object],
    cls: type[Settings],
    *inputs: object,
    quiet: bool,
    overwrite: bool,
    **settings: object,
) -> object:
    """Build the settings from the options and run a synthesis stage.

    Parameters
    ----------
    stage
        The stage function (inputs, outputs, settings, overwrite, progress,
        checkpoints).
    cls
        Its settings class.
    *inputs
        Its positional inputs and outputs.
    quiet, overwrite
        The run options.
    **settings
        The remaining options: the checkpoint options and the settings.

    Returns
    -------
    result
        What the stage returns.

    """
    import torch  # noqa: F401  every stage computes with it

    if not gc.isenabled():  # paused by `run` while the libraries were imported:
        gc.freeze()  # what they made lives on, untraversed; what the loop makes
        gc.enable()  # (a model's reference cycles included) is collected
    checkpoints = checkpoint_policy(settings)
    return stage(
        *inputs,
        cls(**settings),
        overwrite=overwrite,
        progress=not quiet,
        checkpoints=checkpoints,
    )


@click.group()
def synthesize() -> None:
    """Run a synthesis method and stream its history into a zarr store."""
    from ..heap import keep_freed_memory

    keep_freed_memory()  # the process is ours: no page faults every iteration


@synthesize.command("metamer")
@click.argument("image_store", type=click.Path(path_type=Path))
@click.argument("model", type=click.Path(path_type=Path))
@click.argument("out_store", type=click.Path(path_type=Path))
@synthesis_options(MetamerSettings)
@stage_command
def metamer(image_store: Path, model: Path, out_store: Path, **options: object) -> None:
    """Synthesize a metamer of IMAGE_STORE under MODEL into OUT_STORE."""
    from ..stages.metamer import synthesize_metamer

    run_stage(
        synthesize_metamer, MetamerSettings, image_store, model, out_store, **options
    )
    click.echo(f"wrote {out_store}")


@synthesize.command("metamer-batch")
@click.argument("model", type=click.Path(path_type=Path))
@click.option(
    "--run",
    "runs",
    nargs=2,
    multiple=True,
    required=True,
    type=click.Path(path_type=Path),
    metavar="IMAGE_STORE OUT_STORE",
    help="One metamer: its image store and the store to create (repeat).",
)
@synthesis_options(MetamerSettings, exclude=BATCH_EXCLUDED)
@stage_command
def metamer_batch(
    model: Path, runs: tuple[tuple[Path, Path], ...], **options: object
) -> None:
    """Synthesize metamers of several images under MODEL as one batch.

    Each --run writes the store one `synthesize metamer` would (to float precision).
    """
    from ..stages.metamer import synthesize_metamer_batch

    outs = run_stage(
        synthesize_metamer_batch,
        MetamerSettings,
        [image for image, _ in runs],
        model,
        [out for _, out in runs],
        **options,
    )
    click.echo(f"wrote {len(outs)} stores")


@synthesize.command("mad")
@click.argument("image_store", type=click.Path(path_type=Path))
@click.argument("out_store", type=click.Path(path_type=Path))
@click.option(
    "--optimized-metric",
    required=True,
    help="Metric to minimize or maximize: mse, ssim, ms_ssim, nlpd, or a model "
    "artifact (*.model).",
)
@click.option(
    "--reference-metric", required=True, help="Metric held constant (same choices)."
)
@synthesis_options(MADSettings)
@stage_command
def mad(
    image_store: Path,
    out_store: Path,
    optimized_metric: str,
    reference_metric: str,
    **options: object,
) -> None:
    """Synthesize one MAD competition image of IMAGE_STORE into OUT_STORE."""
    from ..stages.mad import synthesize_mad

    run_stage(
        synthesize_mad,
        MADSettings,
        image_store,
        out_store,
        optimized_metric,
        reference_metric,
        **options,
    )
    click.echo(f"wrote {out_store}")


@synthesize.command("eigendistortion")
@click.argument("image_store", type=click.Path(path_type=Path))
@click.argument("model", type=click.Path(path_type=Path))
@click.argument("out_store", type=click.Path(path_type=Path))
@synthesis_options(EigendistortionSettings)
@stage_command
def eigendistortion(
    image_store: Path, model: Path, out_store: Path, **options: object
) -> None:
    """Compute eigendistortions of IMAGE_STORE under MODEL into OUT_STORE."""
    from ..stages.eigendistortion import synthesize_eigendistortion

    run_stage(
        synthesize_eigendistortion,
        EigendistortionSettings,
        image_store,
        model,
        out_store,
        **options,
    )
    click.echo(f"wrote {out_store}")


@synthesize.command("geodesic")
@click.argument("image_a", type=click.Path(path_type=Path))
@click.argument("image_b", type=click.Path(path_type=Path))
@click.argument("model", type=click.Path(path_type=Path))
@click.argument("out_store", type=click.Path(path_type=Path))
@synthesis_options(GeodesicSettings)
@stage_command
def geodesic(
    image_a: Path, image_b: Path, model: Path, out_store: Path, **options: object
) -> None:
    """Synthesize a geodesic from IMAGE_A to IMAGE_B under MODEL into OUT_STORE."""
    from ..stages.geodesic import synthesize_geodesic

    run_stage(
        synthesize_geodesic,
        GeodesicSettings,
        image_a,
        image_b,
        model,
        out_store,
        **options,
    )
    click.echo(f"wrote {out_store}")
