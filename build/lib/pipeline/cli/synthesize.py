"""``pipeline synthesize <method>``: one subcommand per synthesis method."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .options import (
    OPTIONAL_FLOAT,
    device_option,
    overwrite_option,
    parse_params,
    seed_option,
    stage_command,
)

if TYPE_CHECKING:
    from ..stages._checkpoint import CheckpointPolicy

__all__ = ["synthesize"]


def optimization_options(function: Callable) -> Callable:
    """Add the options every optimized synthesis shares (one meaning each).

    Parameters
    ----------
    function
        The command.

    Returns
    -------
    command
        The command with the options.

    """
    options = [
        click.option(
            "--max-iter",
            type=click.IntRange(min=1),
            required=True,
            help="Maximum number of iterations.",
        ),
        click.option(
            "--store-progress",
            type=click.IntRange(min=0),
            default=10,
            show_default=True,
            help="Store the synthesized image every N iterations (0: only the "
            "final one).",
        ),
        seed_option,
        device_option,
        click.option(
            "--lr", type=float, default=0.01, show_default=True, help="Learning rate."
        ),
        click.option(
            "--optimizer",
            type=click.Choice(["adam", "sgd", "lbfgs"]),
            default="adam",
            show_default=True,
            help="Optimizer (adam uses amsgrad; lbfgs, with --lr 1, suits texture "
            "statistics).",
        ),
        click.option(
            "--penalty-lambda",
            type=float,
            default=0.1,
            show_default=True,
            help="Weight of the pixel-range penalty.",
        ),
        click.option(
            "--stop-criterion",
            type=float,
            default=0.0,
            show_default=True,
            help="Stop when the loss changes less than this over "
            "--stop-iters-to-check.",
        ),
        click.option(
            "--stop-iters-to-check",
            type=click.IntRange(min=1),
            default=50,
            show_default=True,
            help="Window of the stopping rule, in iterations.",
        ),
        click.option(
            "--dtype",
            type=click.Choice(["float32", "float64"]),
            default="float32",
            show_default=True,
            help="Floating point precision.",
        ),
        click.option("--quiet", is_flag=True, help="No progress bar."),
        overwrite_option,
        *checkpoint_options,
    ]
    return with_options(options)(function)


metamer_start_option = click.option(
    "--initial-noise",
    type=click.FloatRange(min=0),
    default=None,
    help="Start from each image's mean plus uniform noise of this width "
    "(default: uniform noise in [0, 1]).",
)

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


@click.group()
def synthesize() -> None:
    """Run a synthesis method and stream its history into a zarr store."""


@synthesize.command("metamer")
@click.argument("image_store", type=click.Path(path_type=Path))
@click.argument("model", type=click.Path(path_type=Path))
@click.argument("out_store", type=click.Path(path_type=Path))
@optimization_options
@click.option(
    "--loss",
    type=click.Choice(["mse", "l2_norm", "relative_sse", "portilla_simoncelli"]),
    default="mse",
    show_default=True,
    help="Distance between representations (portilla_simoncelli: L2 norm with "
    "per-statistic-group weights, for PortillaSimoncelli models).",
)
@click.option(
    "--loss-weights",
    multiple=True,
    metavar="GROUP=WEIGHT",
    callback=parse_params,
    help="Weight of one statistic group in the portilla_simoncelli loss (repeat).",
)
@metamer_start_option
@click.option(
    "--coarse-to-fine",
    type=click.Choice(["together", "separate", "none"]),
    default="none",
    show_default=True,
    callback=lambda ctx, param, value: None if value == "none" else value,
    help="Coarse-to-fine synthesis (needs a multiscale model such as "
    "PortillaSimoncelli).",
)
@click.option(
    "--change-scale-criterion",
    type=OPTIONAL_FLOAT,
    default="0.01",
    show_default=True,
    help="Coarse-to-fine: next scale once the scale loss changes less than this "
    "over --ctf-iters-to-check ('none': always after that many).",
)
@click.option(
    "--ctf-iters-to-check",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    help="Coarse-to-fine: window of the scale-change rule, in iterations.",
)
@stage_command
def metamer(
    image_store: Path,
    model: Path,
    out_store: Path,
    quiet: bool,
    overwrite: bool,
    **settings: object,
) -> None:
    """Synthesize a metamer of IMAGE_STORE under MODEL into OUT_STORE."""
    from ..stages.metamer import MetamerSettings, synthesize_metamer

    checkpoints = checkpoint_policy(settings)
    synthesize_metamer(
        image_store,
        model,
        out_store,
        MetamerSettings(**settings),
        overwrite=overwrite,
        progress=not quiet,
        checkpoints=checkpoints,
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
@optimization_options
@click.option(
    "--loss",
    type=click.Choice(["mse", "l2_norm", "relative_sse"]),
    default="mse",
    show_default=True,
    help="Distance between representations.",
)
@metamer_start_option
@stage_command
def metamer_batch(
    model: Path,
    runs: tuple[tuple[Path, Path], ...],
    quiet: bool,
    overwrite: bool,
    **settings: object,
) -> None:
    """Synthesize metamers of several images under MODEL as one batch.

    Each --run writes the store one `synthesize metamer` would (to float precision).
    """
    from ..stages.metamer import MetamerSettings, synthesize_metamer_batch

    checkpoints = checkpoint_policy(settings)
    outs = synthesize_metamer_batch(
        [image for image, _ in runs],
        model,
        [out for _, out in runs],
        MetamerSettings(**settings),
        overwrite=overwrite,
        progress=not quiet,
        checkpoints=checkpoints,
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
@click.option(
    "--minmax",
    type=click.Choice(["min", "max"]),
    required=True,
    help="Minimize or maximize the optimized metric.",
)
@click.option(
    "--initial-noise",
    type=click.FloatRange(min=0),
    default=0.1,
    show_default=True,
    help="Std of the Gaussian noise added to the image to start from.",
)
@click.option(
    "--metric-tradeoff-lambda",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Weight of the reference-metric term (default: chosen "
    "so both terms start at the same magnitude).",
)
@optimization_options
@stage_command
def mad(
    image_store: Path,
    out_store: Path,
    optimized_metric: str,
    reference_metric: str,
    quiet: bool,
    overwrite: bool,
    **settings: object,
) -> None:
    """Synthesize one MAD competition image of IMAGE_STORE into OUT_STORE."""
    from ..stages.mad import MADSettings, synthesize_mad

    checkpoints = checkpoint_policy(settings)
    synthesize_mad(
        image_store,
        out_store,
        optimized_metric,
        reference_metric,
        MADSettings(**settings),
        overwrite=overwrite,
        progress=not quiet,
        checkpoints=checkpoints,
    )
    click.echo(f"wrote {out_store}")


@synthesize.command("eigendistortion")
@click.argument("image_store", type=click.Path(path_type=Path))
@click.argument("model", type=click.Path(path_type=Path))
@click.argument("out_store", type=click.Path(path_type=Path))
@click.option(
    "--method",
    type=click.Choice(["exact", "power", "randomized_svd"]),
    default="power",
    show_default=True,
    help="Eigensolver.",
)
@click.option(
    "--k",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Eigendistortions per end (power) or in all (randomized_svd).",
)
@click.option(
    "--max-iter",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="Maximum power iterations per end.",
)
@click.option(
    "--p",
    type=click.IntRange(min=0),
    default=5,
    show_default=True,
    help="Oversampling of randomized SVD.",
)
@click.option(
    "--q",
    type=click.IntRange(min=0),
    default=2,
    show_default=True,
    help="Power iterations of randomized SVD.",
)
@click.option(
    "--stop-criterion",
    type=float,
    default=1e-7,
    show_default=True,
    help="Stop the power method when the eigenvalue estimates change less.",
)
@seed_option
@device_option
@click.option(
    "--dtype",
    type=click.Choice(["float32", "float64"]),
    default="float32",
    show_default=True,
    help="Floating point precision.",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@overwrite_option
@with_options(checkpoint_options)
@stage_command
def eigendistortion(
    image_store: Path,
    model: Path,
    out_store: Path,
    quiet: bool,
    overwrite: bool,
    **settings: object,
) -> None:
    """Compute eigendistortions of IMAGE_STORE under MODEL into OUT_STORE."""
    from ..stages.eigendistortion import (
        EigendistortionSettings,
        synthesize_eigendistortion,
    )

    checkpoints = checkpoint_policy(settings)
    synthesize_eigendistortion(
        image_store,
        model,
        out_store,
        EigendistortionSettings(**settings),
        overwrite=overwrite,
        progress=not quiet,
        checkpoints=checkpoints,
    )
    click.echo(f"wrote {out_store}")


@synthesize.command("geodesic")
@click.argument("image_a", type=click.Path(path_type=Path))
@click.argument("image_b", type=click.Path(path_type=Path))
@click.argument("model", type=click.Path(path_type=Path))
@click.argument("out_store", type=click.Path(path_type=Path))
@click.option(
    "--n-steps",
    type=click.IntRange(min=2),
    default=10,
    show_default=True,
    help="Transitions between the two anchor images.",
)
@click.option(
    "--initial-sequence",
    type=click.Choice(["straight", "bridge"]),
    default="straight",
    show_default=True,
    help="Start from the pixel fade or a Brownian bridge.",
)
@optimization_options
@stage_command
def geodesic(
    image_a: Path,
    image_b: Path,
    model: Path,
    out_store: Path,
    quiet: bool,
    overwrite: bool,
    **settings: object,
) -> None:
    """Synthesize a geodesic from IMAGE_A to IMAGE_B under MODEL into OUT_STORE."""
    from ..stages.geodesic import GeodesicSettings, synthesize_geodesic

    checkpoints = checkpoint_policy(settings)
    synthesize_geodesic(
        image_a,
        image_b,
        model,
        out_store,
        GeodesicSettings(**settings),
        overwrite=overwrite,
        progress=not quiet,
        checkpoints=checkpoints,
    )
    click.echo(f"wrote {out_store}")
