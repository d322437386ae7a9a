"""The optimization machinery every image-optimizing synthesis method shares.

A method (metamer, MAD competition, coarse-to-fine metamer, geodesic...) subclasses
:class:`OptimizedSynthesis` and supplies only what differs: the tensor being optimized
and an objective that returns named terms. The loop, stopping rule, history, progress
observation, saving and loading live here once.

Every iteration produces an :class:`IterationRecord`. A caller can pass
``on_iteration`` to :meth:`OptimizedSynthesis.synthesize` to stream the records
somewhere (a zarr store, say) and ``keep_history=False`` so nothing accumulates in
memory however long synthesis runs.
"""

from __future__ import annotations

import abc
import collections
import math
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor

from ..errors import PipelineError
from .common import Synthesis, SynthesisLoadError
from .optimizers import fused_adam_step, is_plain_fused_adam, zero_grad_is_torchs

__all__ = [
    "FINITE_CHECK_EVERY",
    "IterationRecord",
    "OptimizedSynthesis",
    "SynthesisDivergedError",
    "SynthesisLoadError",
    "check_finite",
    "check_start",
    "default_adam_kwargs",
]


class SynthesisDivergedError(PipelineError):
    """The objective became NaN or infinite during synthesis."""


@dataclass(frozen=True)
class IterationRecord:
    """What one iteration of synthesis produced.

    Attributes
    ----------
    iteration
        Index of the iteration (0 for the first ever, continuing across calls).
    values
        Named values of this iteration, detached, on the synthesis device: the
        objective's terms (``loss``, ``penalty``, method-specific ones) evaluated on
        the image at the start of the iteration, plus ``gradient_norm`` and
        ``pixel_change_norm`` of the step taken.
    image
        The optimized tensor at the start of this iteration (detached clone) if this
        iteration is one that ``store_progress`` keeps, else ``None``.

    """

    iteration: int
    values: dict[str, Tensor]
    image: Tensor | None


def default_adam_kwargs(lr: float, device: torch.device | str) -> dict[str, Any]:
    """Keyword arguments of the default optimizer, Adam with amsgrad.

    Parameters
    ----------
    lr
        Learning rate.
    device
        Device of the optimized tensor: on CPU and CUDA the fused implementation
        (the same update rule in one kernel per step) is used.

    Returns
    -------
    kwargs
        For :class:`torch.optim.Adam`.

    """
    fused = torch.device(device).type in ("cpu", "cuda")
    return {"lr": lr, "amsgrad": True, "fused": fused}


def _class_path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _normalize_store_progress(store_progress: bool | int) -> int:
    if isinstance(store_progress, bool):
        return int(store_progress)
    if not isinstance(store_progress, int) or store_progress < 0:
        raise ValueError(
            f"store_progress must be a bool or a non-negative int, got {store_progress!r}"
        )
    return store_progress


#: iterations whose losses may stay unchecked on the device (see ``_iterate``)
FINITE_CHECK_EVERY = 32

# leading keys of get_progress, in the reference's order; other terms follow
_PROGRESS_ORDER = (
    "losses",
    "iteration",
    "penalties",
    "pixel_change_norm",
    "gradient_norm",
    "reference_metric_loss",
    "optimized_metric_loss",
)


def _progress_rank(key: str) -> int:
    return (
        _PROGRESS_ORDER.index(key) if key in _PROGRESS_ORDER else len(_PROGRESS_ORDER)
    )


def check_finite(values: list[tuple[int, Tensor]]) -> None:
    """Raise at the first iteration with a NaN or infinite value.

    Parameters
    ----------
    values
        (iteration, value) pairs, in order; the values may live on a device (one
        transfer for all of them) and have any shape.

    Raises
    ------
    SynthesisDivergedError
        Naming the first bad iteration and the bad value.

    """
    if not values:
        return
    flat = [value.detach().reshape(-1) for _, value in values]
    finite = torch.isfinite(torch.cat(flat))
    if bool(finite.all()):
        return
    bad = int(torch.nonzero(~finite)[0, 0])
    ends = torch.tensor([f.numel() for f in flat]).cumsum(0)
    entry = int(torch.searchsorted(ends, bad, right=True))
    iteration = values[entry][0]
    value = torch.cat(flat)[bad].item()
    found = "a NaN" if math.isnan(value) else f"an infinite value ({value})"
    raise SynthesisDivergedError(
        f"Found {found} in loss during optimization, at iteration {iteration}: lower "
        "the learning rate or check the model and image"
    )


def check_start(initial: Any, name: str) -> None:
    """Check that a given starting image is a floating point tensor.

    Its values may lie anywhere (a noisy start often leaves [0, 1]) and its shape is
    for the method to judge.

    Parameters
    ----------
    initial
        The starting image.
    name
        Its argument name, for the message.

    Raises
    ------
    TypeError
        If it is not a floating point tensor.

    """
    if not isinstance(initial, Tensor) or not initial.is_floating_point():
        kind = initial.dtype if isinstance(initial, Tensor) else type(initial)
        raise TypeError(f"{name} must be a floating point torch.Tensor, got {kind}")


class OptimizedSynthesis(Synthesis):
    """Base class of syntheses that optimize an image with a torch optimizer.

    Subclasses implement :meth:`_objective_terms`, :meth:`_initial_tensor`, the
    hooks of :class:`~pipeline.synthesis.common.Synthesis` that describe what load
    checks (:meth:`_checked_attributes`, :meth:`_checked_callables`) and the
    constructor; they may override the hooks :meth:`_after_step` (e.g. to switch
    scales), :meth:`_may_converge`, :meth:`_progress_postfix`, :meth:`_extra_state`
    and :meth:`_load_extra_state`, and set :attr:`_minimized_term`.

    Parameters
    ----------
    penalty_function
        Callable applied to the optimized image that returns a scalar penalty.
    penalty_lambda
        Non-negative weight of the penalty in the objective.

    """

    #: name of the "optimized image" in attributes (``saved_<name>``) and stores
    _synthesized_name = "image"
    #: learning rate of the default optimizer
    _default_lr = 0.01
    #: objective term the optimizer minimizes (the others are only recorded)
    _minimized_term = "loss"
    #: scalar term the stopping rule and the divergence check watch
    _monitored_term = "loss"
    #: recorded terms that :meth:`get_progress` leaves out
    _unreported_terms: tuple[str, ...] = ()
    #: dimensions of the gradient and pixel-change norms (None: the whole tensor;
    #: (1, 2, 3): one norm per image of a batch)
    _norm_dims: tuple[int, ...] | None = None

    def __init__(
        self,
        penalty_function: Callable[[Tensor], Tensor],
        penalty_lambda: float,
    ) -> None:
        if penalty_lambda < 0:
            raise ValueError(
                f"penalty_lambda must be non-negative, got {penalty_lambda}"
            )
        self._penalty_function = penalty_function
        self._penalty_lambda = penalty_lambda
        self._optimized = torch.tensor([])
        self._optimizer: torch.optim.Optimizer | None = None
        self._scheduler: Any = None
        self._optimizer_spec: tuple[str, dict] | None = None
        self._scheduler_spec: tuple[str, dict] | None = None
        self._pending_optimizer_state: dict | None = None
        self._pending_scheduler_state: dict | None = None
        self._loaded = False
        self._store_progress = 0
        self._history: dict[str, list[Tensor]] = collections.defaultdict(list)
        self._saved: list[Tensor] = []
        self._n_iterations = 0
        self._recent_losses: collections.deque[float] = collections.deque()
        self._current_values: dict[str, Tensor] | None = None
        # whether _current_values must be evaluated when next read (after synthesize)
        self._current_stale = False
        self._previous = torch.tensor([])  # see _before_step

    # -- what subclasses provide -------------------------------------------------
    @abc.abstractmethod
    def _objective_terms(self, x: Tensor) -> dict[str, Tensor]:
        """Return the objective's named terms at ``x``; ``"loss"`` is minimized."""

    @abc.abstractmethod
    def _initial_tensor(self, initial: Tensor | None) -> Tensor:
        """Return the starting value of the optimized tensor (not yet a leaf)."""

    def _after_step(self, record: IterationRecord) -> str | None:
        """Run after each iteration; return a reason string to stop synthesis."""
        return None

    def _may_converge(self) -> bool:
        """Whether the stopping rule may end synthesis now (always, by default)."""
        return True

    def _progress_postfix(self) -> dict[str, str]:
        """Return extra fields the progress bar shows beside the loss."""
        return {}

    def _extra_state(self) -> dict[str, Any]:
        """Return method-specific state to save (tensors and plain values only)."""
        return {}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`_extra_state` returned (nothing by default)."""

    def _is_fresh(self) -> bool:
        return self._optimized.numel() == 0 and self._n_iterations == 0

    def _penalty_check(self, image: Tensor) -> tuple[Callable, tuple[Tensor]]:
        """Return the penalty and its check input (``image`` stretched past [0, 1])."""
        return self._penalty_function, (image * 1.5 - 0.25,)

    # -- public attributes ---------------------------------------------------------
    @property
    def penalty_function(self) -> Callable[[Tensor], Tensor]:
        """Callable which penalizes additional properties of the synthesized image."""
        return self._penalty_function

    @property
    def penalty_lambda(self) -> float:
        """Magnitude of the regularization weight."""
        return self._penalty_lambda

    @property
    def optimizer(self) -> torch.optim.Optimizer | None:
        """Torch optimizer object which updates the synthesis target."""
        return self._optimizer

    @property
    def scheduler(self) -> Any:
        """Learning rate scheduler which adjusts optimizer learning rate."""
        return self._scheduler

    @property
    def store_progress(self) -> bool | int:
        """How often the optimized image is cached (False: never, True/1: always)."""
        return self._store_progress

    @property
    def monitored_term(self) -> str:
        """Objective term the stopping rule and the divergence check watch."""
        return self._monitored_term

    @property
    def synthesized_name(self) -> str:
        """Name of the optimized image (``"metamer"``, ``"mad_image"``...)."""
        return self._synthesized_name

    @property
    def synthesized_image(self) -> Tensor:
        """The image being optimized (also under its method's own name)."""
        return self._optimized

    @property
    def n_iterations(self) -> int:
        """Number of iterations run so far, across all calls to ``synthesize``."""
        return self._n_iterations

    def _current(self) -> dict[str, Tensor] | None:
        """Return the terms of the current image, evaluated when first read.

        That is after setup and after each call to :meth:`synthesize` (whose caller
        may never read them: a stage calling it in chunks, say).
        """
        if (
            self._current_values is None
            and (self._n_iterations == 0 or self._current_stale)
            and self._optimized.numel() > 0
        ):
            self.refresh_current_values()
        return self._current_values

    def _stacked(self, name: str) -> Tensor:
        values = self._history.get(name, [])
        current = self._current()
        tail = [current[name]] if current is not None and name in current else []
        if not values and not tail:
            return torch.tensor([])
        return torch.stack([v.cpu() for v in (*values, *tail)])

    @property
    def losses(self) -> Tensor:
        """Optimization loss over iterations (length iterations + 1; on the CPU).

        Entry ``t`` is the loss of the image at the start of iteration ``t``, the last
        entry that of the current image; after :meth:`setup`, only the latter.
        """
        return self._stacked("loss")

    @property
    def penalties(self) -> Tensor:
        """Penalty function output over iterations (length iterations + 1; CPU)."""
        return self._stacked("penalty")

    @property
    def gradient_norm(self) -> Tensor:
        """Optimization gradient's L2 norm over iterations (on the CPU)."""
        return self._stacked("gradient_norm")

    @property
    def pixel_change_norm(self) -> Tensor:
        """L2 norm change in pixel values over iterations (on the CPU)."""
        return self._stacked("pixel_change_norm")

    @property
    def current_values(self) -> dict[str, Tensor]:
        """Objective terms of the current image (``loss``, ``penalty``...).

        Empty before :meth:`setup` and while :meth:`synthesize` runs.
        """
        return dict(self._current() or {})

    def _saved_images(self) -> Tensor:
        """Return the stored images then the current one (CPU), or an empty tensor."""
        if self._optimized.numel() == 0:
            return torch.tensor([])
        current = self._optimized.detach().cpu()
        return torch.stack([*self._saved, current])

    def saved_iterations(self) -> list[int]:
        """Return the iterations at which the saved images were taken.

        Returns
        -------
        iterations
            One entry per saved image; the last is the current iteration.

        """
        if self._optimized.numel() == 0:
            return []
        step = self._store_progress
        stored = range(0, self._n_iterations, step) if step and self._saved else []
        return [*stored, self._n_iterations]

    # -- setup -----------------------------------------------------------------------
    def setup(
        self,
        initial_image: Tensor | None = None,
        optimizer: type[torch.optim.Optimizer] | None = None,
        optimizer_kwargs: dict | None = None,
        scheduler: type | None = None,
        scheduler_kwargs: dict | None = None,
    ) -> None:
        """Initialize the synthesized image, the optimizer and the scheduler.

        Can only be called once, before :meth:`synthesize`. After :meth:`load`, pass
        only the optimizer and scheduler classes: their arguments, state and the image
        come from the saved file.

        Parameters
        ----------
        initial_image
            Starting point of the optimization. ``None`` uses the method's default.
        optimizer
            Un-initialized optimizer class; ``None`` uses :class:`torch.optim.Adam`.
        optimizer_kwargs
            Keyword arguments of the optimizer. ``None`` uses ``{"lr": 0.01}`` (the
            method's default learning rate) and, with the default optimizer,
            ``{"amsgrad": True}``; given ones without ``lr`` get that default too.
        scheduler
            Un-initialized learning rate scheduler class, or ``None`` for none.
        scheduler_kwargs
            Keyword arguments of the scheduler.

        After setup, ``losses`` and ``penalties`` hold the objective at the initial
        image (length 1; evaluated when first read).

        Raises
        ------
        ValueError
            If setup already ran or synthesis started, or if an image or keyword
            arguments are given after :meth:`load`, or if the optimizer or scheduler
            class differs from the loaded one, or if the loaded synthesis used a
            non-default optimizer and its class is not given.
        TypeError
            If the loaded synthesis used a scheduler and its class is not given.

        """
        if self._optimizer is not None or (self._n_iterations > 0 and not self._loaded):
            raise ValueError("setup() can only be called once and before synthesize()")
        if self._loaded:
            self._setup_after_load(
                initial_image, optimizer, optimizer_kwargs, scheduler, scheduler_kwargs
            )
            return
        start = self._initial_tensor(initial_image)
        self._optimized = start.detach().clone().requires_grad_(True)
        if optimizer_kwargs is None:
            optimizer_kwargs = (
                default_adam_kwargs(self._default_lr, start.device)
                if optimizer is None
                else {"lr": self._default_lr}
            )
        else:
            optimizer_kwargs = {"lr": self._default_lr, **optimizer_kwargs}
        optimizer = optimizer or torch.optim.Adam
        self._optimizer_spec = (_class_path(optimizer), dict(optimizer_kwargs))
        self._optimizer = optimizer([self._optimized], **optimizer_kwargs)
        if scheduler is not None:
            scheduler_kwargs = dict(scheduler_kwargs or {})
            self._scheduler_spec = (_class_path(scheduler), scheduler_kwargs)
            self._scheduler = scheduler(self._optimizer, **scheduler_kwargs)

    def _setup_after_load(
        self,
        initial_image: Tensor | None,
        optimizer: type | None,
        optimizer_kwargs: dict | None,
        scheduler: type | None,
        scheduler_kwargs: dict | None,
    ) -> None:
        if initial_image is not None:
            raise ValueError("Cannot set initial_image after calling load()")
        for name, kwargs in (
            ("optimizer", optimizer_kwargs),
            ("scheduler", scheduler_kwargs),
        ):
            if kwargs is not None:
                raise ValueError(
                    f"When initializing {name} after load, {name}_kwargs must be "
                    f"None: the saved {name}'s arguments and state are used"
                )
        assert self._optimizer_spec is not None
        saved_path, kwargs = self._optimizer_spec
        if optimizer is None:
            if saved_path != _class_path(torch.optim.Adam):
                raise ValueError(
                    f"Don't know how to initialize saved optimizer {saved_path}: pass "
                    "its class to setup(optimizer=...), whose state is then restored"
                )
            optimizer = torch.optim.Adam
        elif _class_path(optimizer) != saved_path:
            raise ValueError(
                "User-specified optimizer must have same type as the saved one: "
                f"saved {saved_path}, got {_class_path(optimizer)}"
            )
        self._optimizer = optimizer([self._optimized], **kwargs)
        if self._pending_optimizer_state is not None:
            self._optimizer.load_state_dict(self._pending_optimizer_state)
        if self._scheduler_spec is not None:
            saved_path, kwargs = self._scheduler_spec
            if scheduler is None:
                raise TypeError(
                    f"Don't know how to initialize saved scheduler {saved_path}: pass "
                    "its class to setup(scheduler=...), whose state is then restored"
                )
            if _class_path(scheduler) != saved_path:
                raise ValueError(
                    "User-specified scheduler must have same type as the saved one: "
                    f"saved {saved_path}, got {_class_path(scheduler)}"
                )
            self._scheduler = scheduler(self._optimizer, **kwargs)
            if self._pending_scheduler_state is not None:
                self._scheduler.load_state_dict(self._pending_scheduler_state)
        elif scheduler is not None:
            raise ValueError(
                "User-specified scheduler must have same type as the saved one: the "
                f"saved synthesis used none, got {_class_path(scheduler)}"
            )
        self._pending_optimizer_state = self._pending_scheduler_state = None
        self._loaded = False

    # -- the loop --------------------------------------------------------------------
    def objective_function(self, x: Tensor | None = None) -> Tensor:
        """Total objective (loss plus weighted penalty) at ``x``.

        Parameters
        ----------
        x
            Image to evaluate; ``None`` uses the current synthesized image.

        Returns
        -------
        loss
            Scalar tensor; an empty tensor before setup when ``x`` is ``None``.

        """
        if x is None:
            if self._optimized.numel() == 0:
                return torch.tensor([])
            x = self._optimized
        return self._objective_terms(x)["loss"]

    def _before_step(self, x: Tensor) -> Tensor:
        """Return a copy of ``x``, in a buffer that every step reuses.

        A fresh image-sized tensor per step would be new memory each time, whose
        page faults cost more than the copy itself.
        """
        buffer = self._previous
        if (
            buffer.shape != x.shape
            or buffer.dtype != x.dtype
            or buffer.device != x.device
        ):
            buffer = self._previous = torch.empty_like(x, requires_grad=False)
        return buffer.copy_(x.detach())

    def _step(self) -> dict[str, Tensor]:
        x = self._optimized
        previous = self._before_step(x)
        terms: dict[str, Tensor] = {}
        # while x is the optimizer's one parameter (unless a user added a group),
        # clearing its gradient directly saves torch's per-call profiling scope and
        # dynamo guard (tens of microseconds)
        optimizer = self._optimizer
        plain_adam = is_plain_fused_adam(optimizer)  # then x is its one parameter
        clear_itself = plain_adam or (
            zero_grad_is_torchs(optimizer)
            and sum(len(group["params"]) for group in optimizer.param_groups) == 1
        )

        def closure() -> Tensor:
            if clear_itself:
                x.grad = None
            else:  # an optimizer's own zero_grad may do more
                optimizer.zero_grad(set_to_none=True)
            values = self._objective_terms(x)
            values[self._minimized_term].backward(inputs=[x])
            if not terms:  # keep the terms of the image at the start of the step
                # a term that is a view (of a whole image-sized buffer, say) is
                # copied, so that a streamed history does not keep the buffer alive
                terms.update(
                    {
                        k: v.detach() if v._base is None else v.detach().clone()
                        for k, v in values.items()
                    }
                )
            return values[self._minimized_term]

        if plain_adam:  # torch's step, without its Python
            with torch.enable_grad():  # as torch's step runs a closure
                closure()
            fused_adam_step(optimizer)
        else:
            optimizer.step(closure)
        with torch.no_grad():
            dims = self._norm_dims
            terms["gradient_norm"] = torch.linalg.vector_norm(x.grad, dim=dims)
            # previous - x: the change's negative, of the same norm, in place
            terms["pixel_change_norm"] = torch.linalg.vector_norm(
                previous.sub_(x), dim=dims
            )
        return terms

    def synthesize(
        self,
        max_iter: int = 100,
        store_progress: bool | int = False,
        stop_criterion: float = 1e-4,
        stop_iters_to_check: int = 50,
        *,
        on_iteration: Callable[[IterationRecord], None] | None = None,
        keep_history: bool = True,
        progress: bool = True,
    ) -> None:
        """Run synthesis for up to ``max_iter`` more iterations.

        Synthesis continues where the last call stopped. It stops early, once more
        than ``stop_iters_to_check`` iterations have run, when the losses of the last
        ``stop_iters_to_check`` iterations span less than ``stop_criterion``: the
        first and the last of them differ by less than that.

        Parameters
        ----------
        max_iter
            Maximum number of iterations to run in this call.
        store_progress
            Keep the image every ``store_progress`` iterations (True: every one,
            False or 0: never). Must stay the same across calls that continue.
        stop_criterion
            Threshold on the loss change across the last ``stop_iters_to_check``
            iterations (``<= 0``: never stop early).
        stop_iters_to_check
            How many iterations' losses the stopping rule looks at.
        on_iteration
            Called with each :class:`IterationRecord` (e.g. to stream it to disk).
        keep_history
            Keep per-iteration values and stored images in memory (the attributes
            ``losses``, ``saved_...``). With ``False`` only ``on_iteration`` sees them.
        progress
            Show a tqdm progress bar with the loss.

        Raises
        ------
        ValueError
            If ``max_iter`` is not positive, ``store_progress`` changed since the last
            call, or the loss becomes NaN or infinite.

        """
        if not isinstance(max_iter, int) or max_iter <= 0:
            raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}")
        if stop_iters_to_check < 1:
            raise ValueError("stop_iters_to_check must be at least 1")
        step = _normalize_store_progress(store_progress)
        if self._n_iterations > 0 and step != self._store_progress:
            raise ValueError(
                "store_progress must stay the same when synthesis continues: was "
                f"{self._store_progress}, got {step}"
            )
        if self._optimizer is None:
            self.setup()
        self._store_progress = step
        self._current_values = None
        self._current_stale = False
        for record, reason in self._iterate(
            max_iter, stop_criterion, stop_iters_to_check, progress
        ):
            if keep_history:
                for name, value in record.values.items():
                    self._history[name].append(value)
                if record.image is not None:
                    self._saved.append(record.image.cpu())
            if on_iteration is not None:
                on_iteration(record)
            if reason is not None:
                warnings.warn(reason, UserWarning, stacklevel=2)
        self._current_stale = True

    def refresh_current_values(self) -> None:
        """Evaluate the objective's terms at the current image (``current_values``).

        Reading them after :meth:`synthesize` does this once, by itself.
        """
        with torch.no_grad():
            self._current_values = {
                k: v.detach() for k, v in self._objective_terms(self._optimized).items()
            }
        self._current_stale = False

    def _iterate(
        self,
        max_iter: int,
        stop_criterion: float,
        stop_iters_to_check: int,
        progress: bool,
    ) -> Iterator[tuple[IterationRecord, str | None]]:
        """Run the iterations; read values back from the device only when needed.

        The loss is copied to the host every iteration only when the stopping rule
        reads it (``stop_criterion > 0``); otherwise losses stay on the device and
        are checked for NaN/Inf every :data:`FINITE_CHECK_EVERY` iterations, at the
        end, and by whoever stores the records (a divergence is still reported at
        the first bad iteration). The progress bar reads the loss about once a
        second.
        """
        from tqdm.auto import tqdm

        recent = self._recent_losses
        watch = stop_criterion > 0
        unchecked: list[tuple[int, Tensor]] = []
        shown = -math.inf
        bar = tqdm(range(max_iter), disable=not progress, mininterval=1.0, leave=False)
        for _ in bar:
            t = self._n_iterations
            image = None
            if self._store_progress and t % self._store_progress == 0:
                image = self._optimized.detach().clone()
            values = self._step()
            monitored = values[self._monitored_term]
            unchecked.append((t, monitored))
            if watch:  # the stopping rule reads the loss anyway: one read, both uses
                loss = monitored.item()
                if not math.isfinite(loss):
                    check_finite(unchecked)  # raises, naming the iteration
                unchecked.clear()
            elif len(unchecked) >= FINITE_CHECK_EVERY:
                check_finite(unchecked)
                unchecked.clear()
            if self._scheduler is not None:
                if isinstance(
                    self._scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau
                ):
                    self._scheduler.step(monitored)
                else:
                    self._scheduler.step()
            self._n_iterations = t + 1
            record = IterationRecord(t, values, image)
            reason = self._after_step(record)
            if watch:
                recent.append(loss)
                while len(recent) > stop_iters_to_check:
                    recent.popleft()
                if (
                    reason is None
                    and t + 1 > stop_iters_to_check
                    and len(recent) == stop_iters_to_check
                    and self._may_converge()
                    and abs(recent[0] - recent[-1]) < stop_criterion
                ):
                    reason = "Loss has converged, stopping synthesis"
            if progress and time.monotonic() - shown >= 1.0:
                shown = time.monotonic()
                bar.set_postfix(
                    loss=f"{monitored.item():.4g}",
                    **self._progress_postfix(),
                    refresh=False,
                )
            yield record, reason
            if reason is not None:
                break
        check_finite(unchecked)
        bar.close()

    # -- progress --------------------------------------------------------------------
    def get_progress(
        self,
        iteration: int | None,
        iteration_selection: Literal["floor", "ceiling", "round"] = "round",
    ) -> dict[str, Any]:
        """Return a dictionary summarizing synthesis progress at ``iteration``.

        Parameters
        ----------
        iteration
            Iteration to summarize; ``None`` or ``-1`` is the current one. Negative
            values count from the end.
        iteration_selection
            Which stored image to return when ``iteration`` was not stored:
            ``"floor"``, ``"ceiling"`` or ``"round"`` (closest, ties go up).

        Returns
        -------
        progress_info
            In this order: ``losses``, ``iteration``, ``penalties``,
            ``pixel_change_norm``, ``gradient_norm`` (the last two ``None`` for the
            current iteration), the method's own per-iteration values, and when
            images were stored, ``saved_<name>`` with ``store_progress_iteration``.

        Raises
        ------
        IndexError
            If ``iteration`` is out of range.

        """
        n = self._n_iterations
        requested = iteration
        if iteration is None:
            iteration = n
        if iteration < 0:
            iteration = n + 1 + iteration
        if not 0 <= iteration <= n:
            raise IndexError(
                f"iteration {requested} is out of bounds with {n} iterations of "
                f"synthesis run: use -{n + 1} to {n}"
            )
        plural = {"loss": "losses", "penalty": "penalties"}
        names = list(self._history) or list(self._current() or {})
        info: dict[str, Any] = {}
        for name in names:
            if name in self._unreported_terms:
                continue
            series = self._stacked(name)
            key = plural.get(name, name)
            info[key] = series[iteration] if iteration < len(series) else None
        info["iteration"] = iteration
        # in the order the reference prints them (sorted is stable: others keep theirs)
        info = {key: info[key] for key in sorted(info, key=_progress_rank)}
        if self._store_progress and self._saved:
            saved = self.saved_iterations()
            index = _select_saved(saved, iteration, iteration_selection)
            if saved[index] != iteration:
                name = f"saved_{self._synthesized_name}"
                warnings.warn(
                    f"iteration {iteration} was not stored, so {name} is the one of "
                    f"iteration {saved[index]}: the loss iteration and iteration for "
                    f"{name} are not the same",
                    UserWarning,
                    stacklevel=2,
                )
            info[f"saved_{self._synthesized_name}"] = self._saved_images()[index]
            info["store_progress_iteration"] = saved[index]
        return info

    # -- devices, saving, loading ----------------------------------------------------
    def _tensor_attributes(self) -> list[str]:
        """Names of attributes holding tensors that move with :meth:`to`."""
        return []

    def to(self, *args: Any, **kwargs: Any) -> None:
        """Move and/or cast every tensor of the synthesis, in place.

        Takes the arguments of :meth:`torch.Tensor.to` (device, dtype, tensor).

        Parameters
        ----------
        *args, **kwargs
            Passed to :meth:`torch.Tensor.to`.

        """
        for name in self._tensor_attributes():
            setattr(self, name, getattr(self, name).to(*args, **kwargs))
        if self._optimized.numel():
            self._optimized.data = self._optimized.data.to(*args, **kwargs)
            if self._optimized.grad is not None:
                self._optimized.grad = None
        if self._optimizer is not None:
            for state in self._optimizer.state.values():
                for key, value in state.items():
                    if isinstance(value, Tensor) and value.is_floating_point():
                        state[key] = value.to(*args, **kwargs)
        self._saved = [s.to(*args, **kwargs).cpu() for s in self._saved]

    def _method_state(self) -> dict[str, Any]:
        return {
            "n_iterations": self._n_iterations,
            "store_progress": self._store_progress,
            "optimized": self._optimized.detach(),
            "history": {k: torch.stack(v) for k, v in self._history.items() if v},
            "saved": torch.stack(self._saved) if self._saved else torch.tensor([]),
            "recent_losses": list(self._recent_losses),
            "current_values": self._current()
            if self._current_stale
            else self._current_values,
            "optimizer_spec": self._optimizer_spec,
            "scheduler_spec": self._scheduler_spec,
            "optimizer_state": self._optimizer.state_dict()
            if self._optimizer
            else None,
            "scheduler_state": self._scheduler.state_dict()
            if self._scheduler
            else None,
            "extra": self._extra_state(),
        }

    def state_dict(self) -> dict[str, Any]:
        """Return the synthesis state (not the model) as tensors and plain values.

        What :meth:`save` writes and :meth:`load_state_dict` restores: the image,
        optimizer and scheduler state, history and the checks of :meth:`load`.

        Returns
        -------
        state
            Nested dicts and lists of tensors, numbers and strings only.

        """
        return self._payload()

    def load_state_dict(
        self,
        payload: dict[str, Any],
        raise_on_checks: bool = True,
        tensor_equality_atol: float = 1e-8,
        tensor_equality_rtol: float = 1e-5,
        source: str = "the state",
    ) -> None:
        """Restore what :meth:`state_dict` returned, after the checks of :meth:`load`.

        Parameters
        ----------
        payload
            The state.
        raise_on_checks, tensor_equality_atol, tensor_equality_rtol
            As :meth:`load`.
        source
            Where the state came from, for error messages.

        Raises
        ------
        SynthesisLoadError
            If the state is not that of this class, or a check fails.

        """
        self._apply_payload(
            payload,
            source=source,
            raise_on_checks=raise_on_checks,
            atol=tensor_equality_atol,
            rtol=tensor_equality_rtol,
        )

    def _restore_method_state(self, state: dict[str, Any]) -> None:
        self._n_iterations = state["n_iterations"]
        self._store_progress = state["store_progress"]
        self._optimized = state["optimized"].clone().requires_grad_(True)
        self._history = collections.defaultdict(
            list, {k: list(v.unbind(0)) for k, v in state["history"].items()}
        )
        saved = state["saved"]
        self._saved = list(saved.unbind(0)) if saved.numel() else []
        self._recent_losses = collections.deque(state["recent_losses"])
        self._current_values = state["current_values"]
        self._current_stale = False
        self._optimizer_spec = state["optimizer_spec"]
        self._scheduler_spec = state["scheduler_spec"]
        self._pending_optimizer_state = state["optimizer_state"]
        self._pending_scheduler_state = state["scheduler_state"]
        self._load_extra_state(state["extra"])
        self._loaded = True
        needed = []
        if self._optimizer_spec[0] != _class_path(torch.optim.Adam):
            needed.append(f"optimizer={self._optimizer_spec[0]}")
        if self._scheduler_spec:
            needed.append(f"scheduler={self._scheduler_spec[0]}")
        if needed:
            warnings.warn(
                f"You will need to call setup({', '.join(needed)}) (the classes) "
                "before synthesize(): the saved state is restored into them",
                UserWarning,
                stacklevel=4,
            )


def _select_saved(saved: list[int], iteration: int, selection: str) -> int:
    """Index into ``saved`` (sorted iterations) of the entry to use for ``iteration``."""
    import bisect

    position = bisect.bisect_left(saved, iteration)
    if position < len(saved) and saved[position] == iteration:
        return position
    floor = max(position - 1, 0)
    ceiling = min(position, len(saved) - 1)
    if selection == "floor":
        return floor
    if selection == "ceiling":
        return ceiling
    if selection != "round":
        raise ValueError(
            f"iteration_selection must be floor, ceiling or round, got {selection!r}"
        )
    return ceiling if saved[ceiling] - iteration <= iteration - saved[floor] else floor
