"""One view of a synthesis for plotting: an in-memory object or a stored history.

Every plot in :mod:`pipeline.plot` draws from a :class:`SynthesisHistory`, built by
:func:`as_history` from either an in-memory :class:`pipeline.Metamer` or an
:class:`xarray.Dataset` opened from a metamer zarr store. Figures therefore never need
the synthesis to run again, and look the same whichever source they came from.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr

__all__ = ["SynthesisHistory", "as_history"]

# dimension order of the stored image variables
_IMAGE_DIMS = ("batch", "channel", "y", "x")
# store kind / method -> name of its synthesized image (``saved_<name>`` too)
SYNTHESIZED_NAMES = {"metamer": "metamer", "mad": "mad_image"}
_DISPLAY_NAMES = {"metamer": "Metamer", "mad": "MAD image"}
# per-iteration values plotted by name, beyond the common ones
_SERIES = ("optimized_metric_loss", "reference_metric_loss")
_LABELS = ("optimized_metric", "reference_metric", "minmax", "image_name", "model_name")


@dataclass(frozen=True, eq=False)
class SynthesisHistory:
    """Read-only record of a synthesis, as numpy arrays, for plotting.

    Build it with :func:`as_history` rather than by hand. The arrays are made
    read-only, so a history can be shared between plots safely.

    Parameters
    ----------
    method
        Name of the synthesis method, e.g. ``"metamer"``.
    losses
        Loss at the start of each iteration, the last entry being the loss of the
        current (final) image. Shape ``(n + 1,)`` for ``n`` iterations run.
    penalties
        Penalty at the start of each iteration, shape ``(n + 1,)``.
    gradient_norm
        L2 norm of the gradient at each iteration, shape ``(n + 1,)``, NaN at the last
        entry (no step was taken from the final image).
    pixel_change_norm
        L2 norm of the pixel change of each iteration, shape ``(n + 1,)``, NaN at the
        last entry.
    saved_images
        Synthesized images stored during synthesis, shape ``(k, B, C, H, W)``; the last
        one is always the final image.
    saved_iterations
        Iteration at which each of ``saved_images`` was stored, shape ``(k,)``,
        increasing, the last being ``n``.
    target_image
        Target image of the synthesis, shape ``(B, C, H, W)``.
    synthesized_image
        Current (final) synthesized image, shape ``(B, C, H, W)``.
    representation_iterations
        Saved iterations at which the representation error can be computed: all of
        them for an in-memory object with its model, only ``n`` for a store.
    model
        The model of an in-memory synthesis (used for its own
        ``plot_representation`` method when it has one), ``None`` for a store.
    representation_error_fn
        Function of an index into ``saved_images`` returning the representation
        error of that image with the batch dimension first, or ``None`` where it is
        not available. Use :meth:`representation_error` instead of calling it.
    series
        Method-specific values per iteration, shape ``(n + 1,)`` each (e.g.
        ``optimized_metric_loss`` and ``reference_metric_loss`` of MAD competition).
    labels
        Method-specific names for titles (MAD: ``optimized_metric``,
        ``reference_metric``, ``minmax``; image and model names of a store).

    """

    method: str
    losses: np.ndarray
    penalties: np.ndarray
    gradient_norm: np.ndarray
    pixel_change_norm: np.ndarray
    saved_images: np.ndarray
    saved_iterations: np.ndarray
    target_image: np.ndarray
    synthesized_image: np.ndarray
    representation_iterations: np.ndarray
    model: Any = field(default=None, repr=False)
    representation_error_fn: Callable[[int], np.ndarray | None] | None = field(
        default=None, repr=False
    )
    series: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    labels: dict[str, str] = field(default_factory=dict, repr=False)
    _error_cache: dict[int, np.ndarray | None] = field(
        default_factory=dict, repr=False, init=False
    )

    def __post_init__(self) -> None:
        for name in (
            "losses",
            "penalties",
            "gradient_norm",
            "pixel_change_norm",
            "saved_images",
            "saved_iterations",
            "target_image",
            "synthesized_image",
            "representation_iterations",
        ):
            array = np.array(getattr(self, name))
            array.setflags(write=False)
            object.__setattr__(self, name, array)
        n = self.n_iterations
        if n < 0:
            raise ValueError("The synthesis has no losses: has synthesis been run?")
        for name in ("penalties", "gradient_norm", "pixel_change_norm"):
            if getattr(self, name).shape != self.losses.shape:
                raise ValueError(
                    f"{name} has shape {getattr(self, name).shape}, expected "
                    f"{self.losses.shape} like losses"
                )
        if self.saved_images.ndim != 5:
            raise ValueError(
                "saved_images must have 5 dimensions (saved, batch, channel, y, x), "
                f"got shape {self.saved_images.shape}"
            )
        if len(self.saved_iterations) != len(self.saved_images):
            raise ValueError(
                f"{len(self.saved_images)} saved images but "
                f"{len(self.saved_iterations)} saved iterations"
            )
        if len(self.saved_iterations) == 0 or self.saved_iterations[-1] != n:
            raise ValueError(
                f"The last saved iteration must be the final iteration {n}, got "
                f"{self.saved_iterations.tolist()}"
            )
        if np.any(np.diff(self.saved_iterations) <= 0):
            raise ValueError("saved_iterations must be strictly increasing")

    @property
    def display_name(self) -> str:
        """Name of the synthesized image in titles, e.g. ``"Metamer"``."""
        return _DISPLAY_NAMES.get(self.method, self.method.capitalize())

    @property
    def n_iterations(self) -> int:
        """Number of synthesis iterations run (``len(losses) - 1``)."""
        return len(self.losses) - 1

    def resolve_iteration(self, iteration: int | None = None) -> int:
        """Turn an iteration argument into an iteration number in ``[0, n]``.

        Parameters
        ----------
        iteration
            ``None`` for the last (current) iteration; negative values count from the
            end, so ``-1`` is the last one and ``-2`` the one before.

        Returns
        -------
        iteration
            The iteration as a non-negative int.

        Raises
        ------
        IndexError
            If ``iteration`` is outside ``[-(n + 1), n]``.

        """
        n = self.n_iterations
        if iteration is None:
            return n
        iteration = int(iteration)
        resolved = iteration + n + 1 if iteration < 0 else iteration
        if not 0 <= resolved <= n:
            raise IndexError(
                f"iteration {iteration} is out of range: this synthesis has "
                f"iterations 0 to {n} (or -{n + 1} to -1)"
            )
        return resolved

    def closest_saved(
        self, iteration: int | None = None, warn: bool = True
    ) -> tuple[int, int]:
        """Find the saved image closest to an iteration.

        Ties go to the later saved iteration, as ``iteration_selection="round"`` of
        :meth:`pipeline.Metamer.get_progress` does.

        Parameters
        ----------
        iteration
            Iteration wanted, as for :meth:`resolve_iteration`.
        warn
            Whether to warn when the saved iteration differs from the one asked for.

        Returns
        -------
        index
            Index into :attr:`saved_images`.
        saved_iteration
            The iteration at which that image was stored.

        Warns
        -----
        UserWarning
            If ``warn`` and no image was stored at ``iteration``.

        """
        wanted = self.resolve_iteration(iteration)
        distance = np.abs(self.saved_iterations - wanted)
        # the last of the nearest ones: ties go up
        index = int(np.flatnonzero(distance == distance.min())[-1])
        saved_iteration = int(self.saved_iterations[index])
        if warn and saved_iteration != wanted:
            warnings.warn(
                f"No image was stored at iteration {wanted}; using the closest stored "
                f"iteration, {saved_iteration}, instead.",
                UserWarning,
                stacklevel=3,
            )
        return index, saved_iteration

    def image_at(
        self, iteration: int | None = None, warn: bool = True
    ) -> tuple[np.ndarray, int]:
        """Return the synthesized image stored closest to an iteration.

        Parameters
        ----------
        iteration
            Iteration wanted, as for :meth:`resolve_iteration`.
        warn
            Whether to warn when the saved iteration differs from the one asked for.

        Returns
        -------
        image
            The image, shape ``(B, C, H, W)``.
        saved_iteration
            The iteration at which it was stored.

        """
        index, saved_iteration = self.closest_saved(iteration, warn=warn)
        return self.saved_images[index], saved_iteration

    def has_representation_error(self, iteration: int | None = None) -> bool:
        """Whether the representation error is available near an iteration.

        Parameters
        ----------
        iteration
            Iteration wanted, as for :meth:`resolve_iteration`; the closest saved
            iteration is used.

        Returns
        -------
        available
            True if :meth:`representation_error` returns an array there.

        """
        if self.representation_error_fn is None:
            return False
        _, saved_iteration = self.closest_saved(iteration, warn=False)
        return bool(np.isin(saved_iteration, self.representation_iterations))

    def representation_error(
        self, iteration: int | None = None, warn: bool = True
    ) -> np.ndarray | None:
        """Return the model representation error of the image at an iteration.

        This is ``model(image) - target_representation`` for the image stored closest
        to ``iteration``, with the batch dimension first.

        Parameters
        ----------
        iteration
            Iteration wanted, as for :meth:`resolve_iteration`.
        warn
            Whether to warn when the saved iteration differs from the one asked for.

        Returns
        -------
        error
            The representation error, or ``None`` where it is not available (a store
            only holds it for the final iteration).

        """
        index, _ = self.closest_saved(iteration, warn=warn)
        if not self.has_representation_error(int(self.saved_iterations[index])):
            return None
        if index not in self._error_cache:
            assert self.representation_error_fn is not None
            error = self.representation_error_fn(index)
            if error is not None:
                error = np.array(error)
                error.setflags(write=False)
            self._error_cache[index] = error
        return self._error_cache[index]


def _to_numpy(value: Any) -> np.ndarray:
    """Convert a tensor (possibly on a GPU or requiring grad), list or array."""
    if hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    if isinstance(value, list | tuple):
        if len(value) == 0:
            return np.array([])
        return np.stack([_to_numpy(v) for v in value])
    return np.asarray(value)


def _pad_nan(values: np.ndarray, length: int, name: str) -> np.ndarray:
    """Pad a per-step quantity (one per iteration run) with NaN to ``length``."""
    values = np.asarray(values, dtype=np.float64 if values.size == 0 else None)
    if values.ndim != 1:
        values = values.reshape(-1)
    if len(values) == length:
        return values
    if len(values) != length - 1:
        raise ValueError(
            f"{name} has {len(values)} entries, expected {length - 1} (one per "
            f"iteration) or {length}"
        )
    dtype = np.result_type(values.dtype, np.float32)
    return np.concatenate([values.astype(dtype), np.full(1, np.nan, dtype=dtype)])


def _saved_iterations_of(store_progress: bool | int, n_iterations: int) -> np.ndarray:
    """List the iterations kept in ``saved_metamer`` for a ``store_progress``."""
    if store_progress:
        step = 1 if store_progress is True else int(store_progress)
        iterations = list(range(0, n_iterations, step))
    else:
        iterations = []
    iterations.append(n_iterations)
    return np.array(iterations, dtype=np.int64)


def _from_object(synthesis: Any) -> SynthesisHistory:
    """Build the history of an in-memory synthesis (Metamer, MADCompetition...)."""
    losses = _to_numpy(synthesis.losses).reshape(-1)
    if losses.size == 0:
        raise ValueError(
            f"This {type(synthesis).__name__} has no losses yet: call synthesize first"
        )
    n = len(losses) - 1
    name = getattr(synthesis, "_synthesized_name", "metamer")
    method = next((k for k, v in SYNTHESIZED_NAMES.items() if v == name), name)
    saved_tensor = getattr(synthesis, f"saved_{name}")
    saved_images = _to_numpy(saved_tensor)
    store_progress = getattr(synthesis, "store_progress", False)
    saved_iterations = _saved_iterations_of(store_progress, n)
    if len(saved_images) != len(saved_iterations):
        raise ValueError(
            f"saved_{name} holds {len(saved_images)} images, but store_progress="
            f"{store_progress!r} over {n} iterations stores {len(saved_iterations)} "
            f"(iterations {saved_iterations.tolist()}); was store_progress changed "
            "between calls to synthesize?"
        )
    penalties = getattr(synthesis, "penalties", None)
    penalties = (
        np.zeros_like(losses) if penalties is None else _to_numpy(penalties).reshape(-1)
    )

    model = getattr(synthesis, "model", None)
    target_representation = getattr(synthesis, "target_representation", None)
    error_fn = None
    representation_iterations = np.array([], dtype=np.int64)
    if model is not None and target_representation is not None:
        target_rep = target_representation.detach()
        saved_detached = saved_tensor.detach()

        def error_fn(index: int) -> np.ndarray:
            import torch

            image = saved_detached[index].to(
                device=target_rep.device, dtype=target_rep.dtype
            )
            with torch.no_grad():
                representation = model(image)
            return _to_numpy(representation - target_rep)

        representation_iterations = saved_iterations

    series = {
        key: _to_numpy(getattr(synthesis, key)).reshape(-1)
        for key in _SERIES
        if hasattr(synthesis, key)
    }
    labels = {}
    for key in ("optimized_metric", "reference_metric"):
        if hasattr(synthesis, key):
            labels[key] = getattr(getattr(synthesis, key), "__name__", key)
    if hasattr(synthesis, "minmax"):
        labels["minmax"] = synthesis.minmax
    return SynthesisHistory(
        method=method,
        losses=losses,
        penalties=penalties,
        gradient_norm=_pad_nan(
            _to_numpy(synthesis.gradient_norm), n + 1, "gradient_norm"
        ),
        pixel_change_norm=_pad_nan(
            _to_numpy(synthesis.pixel_change_norm), n + 1, "pixel_change_norm"
        ),
        saved_images=saved_images,
        saved_iterations=saved_iterations,
        target_image=_to_numpy(synthesis.image),
        synthesized_image=_to_numpy(getattr(synthesis, name)),
        representation_iterations=representation_iterations,
        model=model,
        representation_error_fn=error_fn,
        series=series,
        labels=labels,
    )


def _from_dataset(ds: xr.Dataset) -> SynthesisHistory:
    """Build the history of a synthesis store opened as an xarray Dataset."""
    kind = ds.attrs.get("pipeline_store", "metamer")
    if kind not in SYNTHESIZED_NAMES:
        raise ValueError(
            f"Cannot plot a {kind!r} store as a synthesis history (attribute "
            f"pipeline_store should be one of {sorted(SYNTHESIZED_NAMES)})"
        )
    name = SYNTHESIZED_NAMES[kind]
    missing = [
        variable
        for variable in ("loss", f"saved_{name}", "image", name)
        if variable not in ds.variables
    ]
    if missing:
        raise ValueError(f"The dataset is not a {kind} store: it lacks {missing}")

    def values(name: str) -> np.ndarray:
        return np.asarray(ds[name].values)

    losses = values("loss").reshape(-1)
    n_values = len(losses)
    saved_images = np.asarray(
        ds[f"saved_{name}"].transpose("saved_iteration", *_IMAGE_DIMS).values
    )
    if "saved_iteration" in ds.coords:
        saved_iterations = values("saved_iteration").astype(np.int64)
    else:
        saved_iterations = np.array([n_values - 1], dtype=np.int64)

    def optional(name: str, fill: float) -> np.ndarray:
        if name in ds.variables:
            return _pad_nan(values(name).reshape(-1), n_values, name)
        return np.full(n_values, fill, dtype=np.result_type(losses.dtype, np.float32))

    error_fn = None
    representation_iterations = np.array([], dtype=np.int64)
    if (
        "target_representation" in ds.variables
        and "metamer_representation" in ds.variables
    ):
        shape = ds.attrs.get("representation_shape")
        target = ds["target_representation"]
        final = ds["metamer_representation"]
        last_index = len(saved_iterations) - 1

        def error_fn(index: int) -> np.ndarray | None:
            if index != last_index:
                return None
            error = np.asarray((final - target).transpose("batch", ...).values)
            if shape is not None:
                error = error.reshape(error.shape[0], *[int(s) for s in shape])
            return error

        representation_iterations = saved_iterations[-1:]

    return SynthesisHistory(
        method=kind,
        losses=losses,
        penalties=optional("penalty", 0.0),
        gradient_norm=optional("gradient_norm", np.nan),
        pixel_change_norm=optional("pixel_change_norm", np.nan),
        saved_images=saved_images,
        saved_iterations=saved_iterations,
        target_image=np.asarray(ds["image"].transpose(*_IMAGE_DIMS).values),
        synthesized_image=np.asarray(ds[name].transpose(*_IMAGE_DIMS).values),
        representation_iterations=representation_iterations,
        model=None,
        representation_error_fn=error_fn,
        series={k: optional(k, np.nan) for k in _SERIES if k in ds.variables},
        labels={k: str(v) for k, v in ds.attrs.items() if k in _LABELS},
    )


def as_history(synthesis: Any) -> SynthesisHistory:
    """Read a synthesis into a :class:`SynthesisHistory` for plotting.

    Parameters
    ----------
    synthesis
        One of: an in-memory :class:`pipeline.Metamer` (after ``synthesize``); an
        :class:`xarray.Dataset` opened from a metamer zarr store; the path of such a
        store (opened with :func:`xarray.open_zarr`); or a :class:`SynthesisHistory`,
        returned unchanged.

    Returns
    -------
    history
        The synthesis history, as read-only numpy arrays.

    Raises
    ------
    ValueError
        If synthesis has not been run, or the store is not a metamer store.
    TypeError
        If ``synthesis`` is none of the accepted kinds.

    Examples
    --------
    >>> import numpy as np
    >>> import xarray as xr
    >>> from pipeline.plot import as_history
    >>> ds = xr.Dataset(
    ...     {
    ...         "loss": ("iteration", [1.0, 0.5, 0.25]),
    ...         "saved_metamer": (
    ...             ("saved_iteration", "batch", "channel", "y", "x"),
    ...             np.zeros((2, 1, 1, 4, 4)),
    ...         ),
    ...         "image": (("batch", "channel", "y", "x"), np.ones((1, 1, 4, 4))),
    ...         "metamer": (("batch", "channel", "y", "x"), np.zeros((1, 1, 4, 4))),
    ...     },
    ...     coords={"iteration": [0, 1, 2], "saved_iteration": [0, 2]},
    ... )
    >>> history = as_history(ds)
    >>> history.n_iterations
    2
    >>> history.closest_saved(1, warn=False)
    (1, 2)

    """
    if isinstance(synthesis, SynthesisHistory):
        return synthesis
    if isinstance(synthesis, str | os.PathLike):
        with warnings.catch_warnings():
            # a store without consolidated metadata opens fine, just say nothing
            warnings.filterwarnings(
                "ignore", message=".*consolidated metadata", category=RuntimeWarning
            )
            dataset = xr.open_zarr(synthesis)
        return _from_dataset(dataset)
    if isinstance(synthesis, xr.Dataset):
        return _from_dataset(synthesis)
    name = getattr(synthesis, "_synthesized_name", "metamer")
    if hasattr(synthesis, f"saved_{name}") and hasattr(synthesis, "losses"):
        return _from_object(synthesis)
    raise TypeError(
        "synthesis must be a Metamer, an xarray.Dataset of a metamer store (or its "
        f"path), or a SynthesisHistory; got {type(synthesis).__name__}"
    )
