"""Checkpoints that let a killed synthesis resume and a finished one be extended.

Snakemake deletes a job's outputs before it runs and after it fails, so what a
synthesis resumes from lives beside its store, in a hidden directory
``.<store name>.resume`` that Snakemake does not own:

- ``state.pt``: the latest checkpoint: the synthesis state (image, optimizer and
  scheduler state...), the random generators, and which history files it builds on.
  It is replaced atomically, so it is always whole.
- ``segment-<first iteration>.pt``: the iteration records since the checkpoint
  before.
- ``base-<iterations>/``: a completed store (hard links: no copy) whose history the
  run continues, when a finished synthesis is extended.

A checkpoint is written every ``every_iterations`` iterations or ``every_seconds``
seconds, whichever comes first. Once the store is complete the segments are
dropped and the directory keeps only the store's hard links and its final state,
which a later run with a larger ``max_iter`` continues from. Files the current
``state.pt`` does not name (left by a kill half-way through a write) are removed on
the next start. Everything is read with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import shutil
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

from ..errors import PipelineError
from ..faults import fault_point
from ..store.atomic import atomic_output, remove_path

if TYPE_CHECKING:
    import torch

    from ..synthesis.base import IterationRecord

__all__ = [
    "Checkpoint",
    "CheckpointPolicy",
    "digest",
    "resume_directory",
    "run_identity",
]

CHECKPOINT_FORMAT = "pipeline.checkpoint/1"
STATE_FILE = "state.pt"
# held (flock) by the process running the synthesis: two runs never share checkpoints
LOCK_FILE = "lock"


class Resumable(Protocol):
    """What a synthesis offers to be checkpointed.

    Optimized syntheses (:class:`~pipeline.synthesis.base.OptimizedSynthesis`) and
    the eigendistortion power method offer it.
    """

    n_iterations: int

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, payload: dict[str, Any], *, source: str) -> None: ...


@dataclass(frozen=True)
class CheckpointPolicy:
    """When to write checkpoints; none of this changes what synthesis computes.

    Attributes
    ----------
    every_iterations
        Write a checkpoint after this many iterations...
    every_seconds
        ...or after this many seconds, whichever comes first.
    restart
        Discard any checkpoint and start from the beginning.
    buffer_bytes
        Also write one once the stored images kept since the last one reach this
        size, so memory stays bounded for large images stored often.

    """

    every_iterations: int = 200
    every_seconds: float = 120.0
    restart: bool = False
    buffer_bytes: int = 64 * 2**20

    def __post_init__(self) -> None:
        if self.every_iterations < 1 or self.every_seconds <= 0:
            raise PipelineError(
                "checkpoint intervals must be positive: got every "
                f"{self.every_iterations} iterations / {self.every_seconds} s"
            )


def resume_directory(out: str | Path) -> Path:
    """Return the hidden directory beside ``out`` that holds its checkpoints.

    Parameters
    ----------
    out
        The store a synthesis writes.

    Returns
    -------
    directory
        ``<parent>/.<name>.resume``.

    """
    out = Path(out)
    return out.with_name(f".{out.name}.resume")


def digest(path: str | Path) -> str:
    """Return a sha256 of a file's bytes, or of every file below a directory.

    Parameters
    ----------
    path
        A file or a directory (a store).

    Returns
    -------
    digest
        Hex digest; names inside a directory count, its location does not.

    """
    path = Path(path)
    hasher = hashlib.sha256()
    files = (
        sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    )
    for file in files:
        if file.name == ".snakemake_timestamp":  # written by Snakemake after a job
            continue
        hasher.update(str(file.relative_to(path) if path.is_dir() else "").encode())
        hasher.update(file.read_bytes())
    return hasher.hexdigest()


def run_identity(
    synthesis: object,
    settings: Any,
    device: str,
    inputs: Sequence[str | Path],
    code: str,
    extendable: bool = True,
) -> dict[str, Any]:
    """Return what makes two runs the same synthesis (a checkpoint of another isn't resumed).

    Parameters
    ----------
    synthesis
        The synthesis (its class counts).
    settings
        Its settings (a dataclass).
    device
        Where it runs.
    inputs
        Files and stores it reads (their contents count, not their paths).
    code
        Fingerprint of the stage's code.
    extendable
        Leave ``max_iter`` out, so a run with a larger one continues this one.

    Returns
    -------
    identity
        Plain values.

    """
    fields = dataclasses.asdict(settings)
    if extendable:
        fields.pop("max_iter")
    return {
        "kind": type(synthesis).__name__,
        "settings": fields,
        "device": device,
        "inputs": [digest(path) for path in inputs],
        "code": code,
    }


def _atomic_save(payload: dict[str, Any], path: Path, fault: str) -> None:
    """Write ``payload`` with torch.save; ``path`` is replaced only once it is whole."""
    import torch

    buffer = io.BytesIO()
    torch.save(payload, buffer)
    data = buffer.getvalue()
    try:
        with atomic_output(path, overwrite=True) as temporary:
            with open(temporary, "wb") as handle:
                handle.write(data[: len(data) // 2])
                handle.flush()
                fault_point(fault)
                handle.write(data[len(data) // 2 :])
                handle.flush()
                os.fsync(handle.fileno())
    except OSError as error:  # a full disk, a lost file system...
        raise PipelineError(
            f"cannot write checkpoint {path} ({error.strerror or error}): free space "
            "there; the previous checkpoint is kept"
        ) from error


def _load(path: Path) -> Any:
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise PipelineError(
            f"checkpoint file {path} is unreadable ({first}): delete "
            f"{path.parent} or pass --restart to start over"
        ) from error


def _rng_state() -> dict[str, Any]:
    import torch

    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else []
    return {"cpu": torch.get_rng_state(), "cuda": cuda}


def _set_rng_state(state: dict[str, Any]) -> None:
    import torch

    torch.set_rng_state(state["cpu"])
    if state["cuda"]:
        torch.cuda.set_rng_state_all(state["cuda"])


def _link_tree(source: Path, destination: Path) -> None:
    """Hard-link every file of ``source`` under ``destination`` (copy if impossible)."""
    for directory, _, files in os.walk(source):
        target = destination / Path(directory).relative_to(source)
        target.mkdir(parents=True, exist_ok=True)
        for name in files:
            try:
                os.link(Path(directory) / name, target / name)
            except OSError:  # another file system, or no hard links there
                shutil.copy2(Path(directory) / name, target / name)


class Checkpoint:
    """The checkpoints of one synthesis store: find, write, replay and retire them.

    Use it as a context manager: from :meth:`load` on it holds the store's lock, and
    leaving the ``with`` block releases it.

    Parameters
    ----------
    out
        The store the synthesis writes.
    identity
        What makes two runs the same synthesis except for their length: settings
        without ``max_iter``, device, input digests, code fingerprint. A checkpoint
        of another identity is discarded.
    policy
        When to write checkpoints.

    """

    def __init__(
        self,
        out: str | Path,
        identity: dict[str, Any],
        policy: CheckpointPolicy,
    ) -> None:
        self._out = Path(out)
        self.directory = resume_directory(out)
        # canonical JSON, so a checkpoint matches exactly when the identity does
        self.identity = json.loads(json.dumps(identity, sort_keys=True, default=str))
        self.policy = policy
        self.state: dict[str, Any] | None = None
        self._records: list[IterationRecord] = []
        self._buffered_bytes = 0
        self._synthesis: Resumable | None = None
        self._initial: torch.Tensor | None = None
        self._started = 0.0
        self._elapsed_before = 0.0
        self._last_write = 0.0
        self._value_names: list[str] = []
        self._lock: IO[str] | None = None

    def __enter__(self) -> Checkpoint:
        return self

    def __exit__(self, *exception: object) -> None:
        self.close()

    def close(self) -> None:
        """Release this store's lock (another run may then take it over)."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    # -- finding ----------------------------------------------------------------------
    def load(self) -> dict[str, Any] | None:
        """Return the checkpoint of this synthesis, if there is one to resume from.

        A checkpoint of another identity (other settings, inputs or code) is
        discarded, as is everything with ``restart``.

        Returns
        -------
        state
            The latest checkpoint, or ``None``.

        Raises
        ------
        PipelineError
            If the checkpoint exists but cannot be read.

        """
        self._acquire_lock()
        state_file = self.directory / STATE_FILE
        if self.policy.restart or not state_file.exists():
            self._clear()
            return None
        state = _load(state_file)
        if (
            not isinstance(state, dict)
            or state.get("format") != CHECKPOINT_FORMAT
            or state.get("identity") != self.identity
        ):
            self._clear()
            return None
        self._remove_unreferenced(state)
        self.state = state
        return state

    def discard(self) -> None:
        """Remove every checkpoint of this store (when nothing is left to resume)."""
        remove_path(self.directory)
        self.state = None

    def _acquire_lock(self) -> None:
        """Hold this store's lock for the life of the process, or refuse to run."""
        import fcntl

        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock = open(self.directory / LOCK_FILE, "a")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise PipelineError(
                f"another process is synthesizing {self._out} right now (it holds "
                "its checkpoints): wait for it, or stop it first"
            ) from None

    def _clear(self) -> None:
        """Remove the checkpoints but keep the lock (this process holds it)."""
        for path in self.directory.iterdir():
            if path.name != LOCK_FILE:
                remove_path(path)
        self.state = None

    def _remove_unreferenced(self, state: dict[str, Any]) -> None:
        keep = {STATE_FILE, LOCK_FILE, *state["segments"], state["base"]}
        for path in self.directory.iterdir():
            if path.name not in keep:
                remove_path(path)

    # -- writing ------------------------------------------------------------------------
    def begin(self, synthesis: Resumable, initial: torch.Tensor) -> None:
        """Record a new synthesis (already set up) from its first iteration on.

        Parameters
        ----------
        synthesis
            The synthesis, set up and not yet run.
        initial
            Where it starts (kept for the store).

        """
        self._synthesis = synthesis
        self._initial = initial.detach().cpu().clone()
        self._started = self._last_write = time.monotonic()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.state = {"base": None, "segments": [], "finished": False}

    def resume(self, synthesis: Resumable) -> None:
        """Restore the freshly built ``synthesis`` from the checkpoint :meth:`load` found.

        The caller then calls ``setup()`` with the optimizer class only, as after
        :meth:`~pipeline.synthesis.base.OptimizedSynthesis.load`.

        Parameters
        ----------
        synthesis
            The synthesis, built with the same inputs and settings, not set up.

        """
        assert self.state is not None
        self._synthesis = synthesis
        with warnings.catch_warnings():  # the caller calls setup() right after
            warnings.filterwarnings("ignore", message="call setup")
            synthesis.load_state_dict(
                self.state["synthesis"], source=str(self.directory)
            )
        _set_rng_state(self.state["rng"])
        self._initial = self.state["initial"]
        self._elapsed_before = self.state["elapsed"]
        self._value_names = list(self.state["value_names"])
        self._started = self._last_write = time.monotonic()

    def __call__(self, record: IterationRecord) -> None:
        """Keep one iteration's record; write a checkpoint when one is due.

        Parameters
        ----------
        record
            What the iteration produced.

        """
        self._records.append(record)
        if record.image is not None:
            self._buffered_bytes += record.image.nbytes
        fault_point("iteration")
        now = time.monotonic()
        if (
            len(self._records) >= self.policy.every_iterations
            or now - self._last_write >= self.policy.every_seconds
            or self._buffered_bytes >= self.policy.buffer_bytes
        ):
            self.write()

    def write(self, finished: bool = False, stop_reason: str | None = None) -> None:
        """Write the records since the last checkpoint, then the state naming them.

        Parameters
        ----------
        finished
            Whether synthesis has finished (the state then holds its final values).
        stop_reason
            Why it finished: ``"max_iter"`` or ``"converged"``.

        """
        import torch

        from ..synthesis.base import check_finite

        assert self._synthesis is not None and self.state is not None
        # a diverged synthesis is never checkpointed: the last good state stays
        watched = getattr(self._synthesis, "monitored_term", None)
        check_finite(
            [
                (r.iteration, value)
                for r in self._records
                for name, value in r.values.items()
                if watched is None or name == watched
            ]
        )
        segments = list(self.state["segments"])
        if self._records:
            first = self._records[0].iteration
            names = sorted(self._records[0].values)
            self._value_names = names
            stored = [r for r in self._records if r.image is not None]
            segment = {
                "first": first,
                "values": {
                    n: torch.stack([r.values[n] for r in self._records]).cpu()
                    for n in names
                },
                "images": torch.stack([r.image for r in stored]).cpu()
                if stored
                else torch.tensor([]),
                "image_iterations": [r.iteration for r in stored],
            }
            name = f"segment-{first:09d}.pt"
            _atomic_save(segment, self.directory / name, "checkpoint-segment")
            segments.append(name)
            self._records = []
            self._buffered_bytes = 0
        self._save_state(
            base=self.state["base"],
            segments=segments,
            finished=finished,
            stop_reason=stop_reason,
        )
        self._last_write = time.monotonic()

    def _save_state(self, **where: Any) -> None:
        assert self._synthesis is not None
        state = {
            "format": CHECKPOINT_FORMAT,
            "identity": self.identity,
            **where,
            "n_iterations": self._synthesis.n_iterations,
            "elapsed": self.elapsed,
            "value_names": self._value_names,
            "initial": self._initial.detach().cpu(),
            "synthesis": self._synthesis.state_dict(),
            "rng": _rng_state(),
        }
        _atomic_save(state, self.directory / STATE_FILE, "checkpoint-state")
        self.state = state

    @property
    def elapsed(self) -> float:
        """Seconds of synthesis so far, over every run that built on this one."""
        return self._elapsed_before + time.monotonic() - self._started

    @property
    def initial(self) -> torch.Tensor:
        """The synthesis's initial image."""
        assert self._initial is not None
        return self._initial

    # -- replaying --------------------------------------------------------------------
    def history(self, image_name: str) -> Iterator[IterationRecord]:
        """Yield every iteration's record: the base store's, then the segments'.

        Parameters
        ----------
        image_name
            Name of the stored image array, e.g. ``"saved_metamer"``.

        Yields
        ------
        record
            One per iteration, in order, with its stored image if any.

        """
        import torch

        from ..synthesis.base import IterationRecord

        assert self.state is not None
        if self.state["base"] is not None:
            yield from _store_history(
                self.directory / self.state["base"], image_name, self._value_names
            )
        for name in self.state["segments"]:
            segment = _load(self.directory / name)
            images = dict(
                zip(segment["image_iterations"], segment["images"], strict=True)
            )
            values = segment["values"]
            n = len(next(iter(values.values()))) if values else 0
            for row in range(n):
                iteration = segment["first"] + row
                yield IterationRecord(
                    iteration,
                    {k: torch.as_tensor(v[row]) for k, v in values.items()},
                    images.get(iteration),
                )

    def complete(self, store: str | Path) -> None:
        """Turn the checkpoint into the record that extends the finished ``store``.

        The store's files are hard-linked into the resume directory (no copy), the
        state then names them instead of the segments, and the segments go.

        Parameters
        ----------
        store
            The complete store, under its final name.

        """
        assert self._synthesis is not None and self.state is not None
        base = f"base-{self._synthesis.n_iterations:09d}"
        if base == self.state["base"]:  # re-assembled without new iterations
            return
        remove_path(self.directory / base)
        _link_tree(Path(store), self.directory / base)
        fault_point("continuation")
        self._save_state(
            base=base,
            segments=[],
            finished=True,
            stop_reason=self.state["stop_reason"],
        )
        self._remove_unreferenced(self.state)


def _store_history(
    store: Path, image_name: str, value_names: list[str]
) -> Iterator[IterationRecord]:
    """Yield the records of a complete store, without its final (current) entry."""
    import numpy as np
    import torch
    import zarr

    from ..synthesis.base import IterationRecord

    group = zarr.open_group(str(store), mode="r")
    values = {name: np.asarray(group[name][:]) for name in value_names}
    saved = np.asarray(group["saved_iteration"][:])[:-1]  # the last is the final one
    images = group[image_name]
    n = len(next(iter(values.values()))) - 1 if values else 0
    position = {int(iteration): index for index, iteration in enumerate(saved)}
    for iteration in range(n):
        index = position.get(iteration)
        yield IterationRecord(
            iteration,
            {k: torch.as_tensor(v[iteration]) for k, v in values.items()},
            None if index is None else torch.from_numpy(np.asarray(images[index])),
        )
