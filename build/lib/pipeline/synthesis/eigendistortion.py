"""Eigendistortions: the image distortions a model is most and least sensitive to.

They are the eigenvectors of the model's Fisher information matrix ``F = J^T J`` at an
image (Berardino et al., 2017). The top ones are the distortions the model sees most,
the bottom ones those it barely sees.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor

from ..errors import PipelineError
from ..validate import validate_input, validate_model
from .autodiff import FisherOperator, jacobian
from .base import SynthesisLoadError, _tensor_mismatch

__all__ = ["EXACT_MAX_PIXELS", "Eigendistortion", "PowerRecord"]

SAVE_FORMAT = "pipeline.eigendistortion/1"
PROGRESS_FORMAT = "pipeline.eigendistortion-progress/1"
# the exact method builds J (m x n) and F (n x n): refuse images larger than this
EXACT_MAX_PIXELS = 4096


@dataclass(frozen=True)
class PowerRecord:
    """One iteration of the block power method.

    Attributes
    ----------
    iteration
        Index within its phase.
    phase
        ``"top"`` or ``"bottom"``.
    eigenvalues
        Current estimates, shape (k,).
    change
        L2 norm of the change of the estimates since the last iteration.

    """

    iteration: int
    phase: str
    eigenvalues: Tensor
    change: Tensor


def _orthonormalize(vectors: Tensor) -> Tensor:
    """Orthonormal rows spanning the rows of ``vectors`` (k, n)."""
    q, _ = torch.linalg.qr(vectors.T)
    return q.T


class Eigendistortion:
    r"""Eigendistortions of a model's Fisher information matrix at an image.

    Parameters
    ----------
    image
        The image, (1, channel, height, width).
    model
        Differentiable model (see :func:`pipeline.validate.validate_model`).

    Examples
    --------
    >>> import pipeline as po
    >>> img = po.data.camera(size=16)
    >>> model = po.models.Gaussian(5).eval()
    >>> po.remove_grad(model)
    >>> eig = po.Eigendistortion(img, model)
    >>> eig.synthesize(method="exact", progress=False)
    >>> eig.eigendistortions.shape
    torch.Size([256, 1, 16, 16])

    """

    def __init__(self, image: Tensor, model: torch.nn.Module) -> None:
        validate_input(image, no_batch=True)
        validate_model(model, tuple(image.shape), image.dtype, image.device)
        self._image = image.detach()
        self._model = model
        self._eigendistortions = torch.tensor([])
        self._eigenvalues = torch.tensor([])
        self._eigenindex = torch.tensor([], dtype=torch.long)
        self._jacobian: Tensor | None = None
        self._history: list[PowerRecord] = []
        # where the power method is: phase, iteration, vectors... (see state_dict)
        self._progress: dict[str, Any] = {}
        self._n_iterations = 0

    # -- documented attributes ------------------------------------------------------
    @property
    def image(self) -> Tensor:
        """The image at which the Fisher information is computed."""
        return self._image

    @property
    def model(self) -> torch.nn.Module:
        """The model."""
        return self._model

    @property
    def eigendistortions(self) -> Tensor:
        """Eigenvectors of the Fisher matrix, (n_distortions, C, H, W), by eigenvalue."""
        return self._eigendistortions

    @property
    def eigenvalues(self) -> Tensor:
        """Eigenvalues of each eigendistortion, in decreasing order."""
        return self._eigenvalues

    @property
    def eigenindex(self) -> Tensor:
        """Rank of each eigendistortion among all ``n`` (0 is the largest eigenvalue)."""
        return self._eigenindex

    @property
    def jacobian(self) -> Tensor | None:
        """The Jacobian, only set by ``method="exact"``."""
        return self._jacobian

    @property
    def history(self) -> list[PowerRecord]:
        """Power-method iterations of the last synthesis (empty for other methods)."""
        return list(self._history)

    def compute_jacobian(self) -> Tensor:
        """Compute the Jacobian of the representation with respect to the image.

        Returns
        -------
        J
            Shape (representation size, image size).

        Raises
        ------
        PipelineError
            If the image has more than :data:`EXACT_MAX_PIXELS` elements.

        """
        n = self._image.numel()
        if n > EXACT_MAX_PIXELS:
            side = math.isqrt(EXACT_MAX_PIXELS)
            raise PipelineError(
                f"the exact method builds the {n} x {n} Fisher matrix: use an image of at "
                f"most {EXACT_MAX_PIXELS} pixels ({side}x{side}) or method power / "
                "randomized_svd"
            )
        x = self._image.clone().requires_grad_(True)
        return jacobian(self._model(x), x).detach()

    # -- synthesis ------------------------------------------------------------------
    def synthesize(
        self,
        method: Literal["exact", "power", "randomized_svd"] = "power",
        k: int = 1,
        max_iter: int = 1000,
        p: int = 5,
        q: int = 2,
        stop_criterion: float = 1e-7,
        *,
        on_iteration: Callable[[PowerRecord], None] | None = None,
        progress: bool = True,
    ) -> None:
        """Compute eigendistortions of the Fisher information matrix.

        Parameters
        ----------
        method
            ``"exact"``: full eigendecomposition (small images only); ``"power"``:
            block power iteration for the top ``k`` and bottom ``k``;
            ``"randomized_svd"``: the top ``k`` by randomized SVD.
        k
            How many eigendistortions (per end, for the power method).
        max_iter
            Maximum iterations per end of the power method.
        p
            Oversampling of randomized SVD (``k + p`` vectors are sampled).
        q
            Power iterations of randomized SVD.
        stop_criterion
            The power method stops when the L2 norm of the change of the eigenvalue
            estimates is below this.
        on_iteration
            Called with each :class:`PowerRecord` of the power method.
        progress
            Show a progress bar (power method).

        Raises
        ------
        ValueError
            For an unknown method or invalid ``k``, ``max_iter``, ``p``, ``q``.

        """
        n = self._image.numel()
        if method not in ("exact", "power", "randomized_svd"):
            raise ValueError(
                f"method must be exact, power or randomized_svd, got {method!r}"
            )
        if not 1 <= k <= n:
            raise ValueError(
                f"k must be between 1 and the number of pixels {n}, got {k}"
            )
        if max_iter < 1 or p < 0 or q < 0:
            raise ValueError("max_iter must be >= 1 and p, q >= 0")
        self._history = []
        if not self._progress:  # not resuming: count from the start
            self._n_iterations = 0
        if method == "exact":
            values, vectors, index = self._exact()
        elif method == "power":
            values, vectors, index = self._power(
                k, max_iter, stop_criterion, on_iteration, progress
            )
        else:
            values, vectors, index = self._randomized_svd(k, p, q)
        self._eigenvalues = values.detach()
        self._eigendistortions = vectors.detach().reshape(-1, *self._image.shape[1:])
        self._eigenindex = index

    def _exact(self) -> tuple[Tensor, Tensor, Tensor]:
        self._jacobian = self.compute_jacobian()
        fisher = self._jacobian.T @ self._jacobian
        values, vectors = torch.linalg.eigh(fisher)  # ascending
        order = torch.arange(values.numel() - 1, -1, -1)
        return values[order], vectors[:, order].T, torch.arange(values.numel())

    def _run_phase(
        self,
        operator: Callable[[Tensor], Tensor],
        phase: str,
        k: int,
        max_iter: int,
        stop_criterion: float,
        on_iteration: Callable[[PowerRecord], None] | None,
        progress: bool,
    ) -> Tensor:
        """Run (or finish) one block power-method phase; return its vectors (k, n).

        ``self._progress`` says where the phase is after every iteration, before
        ``on_iteration`` sees it, so a checkpoint taken there resumes exactly.
        """
        from tqdm.auto import tqdm

        state = self._progress
        if state.get("phase") == phase:  # resuming inside this phase
            if state["done"]:
                return state["vectors"]
            vectors, previous = state["vectors"], state["previous"]
            first = state["iteration"] + 1
        else:
            like = {"dtype": self._image.dtype, "device": self._image.device}
            vectors = _orthonormalize(torch.randn(k, self._image.numel(), **like))
            previous = torch.zeros(k, **like)
            first = 0
        with tqdm(
            total=max_iter, initial=first, disable=not progress, desc=phase, leave=False
        ) as bar:
            for iteration in range(first, max_iter):
                products = operator(vectors)
                estimates = (products * vectors).sum(dim=1)
                change = torch.linalg.vector_norm(estimates - previous)
                previous = estimates
                vectors = _orthonormalize(products)
                done = change.item() < stop_criterion or iteration == max_iter - 1
                self._progress = {
                    **self._progress,
                    "phase": phase,
                    "iteration": iteration,
                    "vectors": vectors,
                    "previous": previous,
                    "done": done,
                }
                self._n_iterations += 1
                record = PowerRecord(iteration, phase, estimates, change)
                self._history.append(record)
                if on_iteration is not None:
                    on_iteration(record)
                bar.update()
                if done:
                    break
        return vectors

    def _power(
        self,
        k: int,
        max_iter: int,
        stop_criterion: float,
        on_iteration: Callable[[PowerRecord], None] | None,
        progress: bool,
    ) -> tuple[Tensor, Tensor, Tensor]:
        fisher = FisherOperator(self._model, self._image)
        n = fisher.n
        options = (k, max_iter, stop_criterion, on_iteration, progress)

        def rayleigh(vectors: Tensor) -> Tensor:
            return (fisher.matmul(vectors) * vectors).sum(dim=1)

        if self._progress.get("phase") == "bottom":
            top = self._progress["top"]
        else:
            top = self._run_phase(fisher.matmul, "top", *options)
            self._progress["top"] = top
        top_values = rayleigh(top)
        shift = top_values.max()
        # the top of (lambda_max I - F) is the bottom of F
        bottom = self._run_phase(
            lambda v: shift * v - fisher.matmul(v), "bottom", *options
        )
        bottom_values = rayleigh(bottom)
        top_order = torch.argsort(top_values, descending=True)
        bottom_order = torch.argsort(bottom_values, descending=True)
        values = torch.cat([top_values[top_order], bottom_values[bottom_order]])
        vectors = torch.cat([top[top_order], bottom[bottom_order]])
        index = torch.cat([torch.arange(k), torch.arange(n - k, n)])
        self._progress = {}
        return values, vectors, index

    def _randomized_svd(self, k: int, p: int, q: int) -> tuple[Tensor, Tensor, Tensor]:
        """Halko, Martinsson & Tropp (2011), Algorithm 4.4 on the symmetric F."""
        fisher = FisherOperator(self._model, self._image)
        n = fisher.n
        samples = min(k + p, n)
        basis = _orthonormalize(
            fisher.matmul(
                torch.randn(
                    samples, n, dtype=self._image.dtype, device=self._image.device
                )
            )
        )
        for _ in range(q):
            basis = _orthonormalize(fisher.matmul(basis))
        small = basis @ fisher.matmul(basis).T  # (samples, samples) = Q^T F Q
        values, vectors = torch.linalg.eigh((small + small.T) / 2)
        order = torch.argsort(values, descending=True)[:k]
        return values[order], (vectors[:, order].T @ basis), torch.arange(k)

    # -- resuming the power method ------------------------------------------------
    @property
    def n_iterations(self) -> int:
        """Power-method iterations run so far, both phases together."""
        return self._n_iterations

    def state_dict(self) -> dict[str, Any]:
        """Return where the power method is, to resume it after a kill.

        Returns
        -------
        state
            Phase, iteration, current vectors and estimates (tensors and plain
            values only); restored by :meth:`load_state_dict`, after which
            ``synthesize(method="power", ...)`` with the same arguments continues
            from there.

        """
        return {
            "format": PROGRESS_FORMAT,
            "class": type(self).__name__,
            "image": self._image,
            "n_iterations": self._n_iterations,
            "progress": dict(self._progress),
        }

    def load_state_dict(
        self, payload: dict[str, Any], source: str = "the state"
    ) -> None:
        """Restore what :meth:`state_dict` returned, for this image.

        Parameters
        ----------
        payload
            The state.
        source
            Where it came from, for error messages.

        Raises
        ------
        SynthesisLoadError
            If it is not the state of an eigendistortion of this image.

        """
        if not isinstance(payload, dict) or payload.get("format") != PROGRESS_FORMAT:
            raise SynthesisLoadError(f"{source} is not an eigendistortion's progress")
        if _tensor_mismatch(payload["image"], self._image, 0, 0) is not None:
            raise SynthesisLoadError(f"{source} is the progress of another image")
        self._n_iterations = payload["n_iterations"]
        self._progress = dict(payload["progress"])

    # -- devices, saving, loading ------------------------------------------------------
    def to(self, *args: Any, **kwargs: Any) -> None:
        """Move and/or cast the image, the results and the model, in place.

        Parameters
        ----------
        *args, **kwargs
            As :meth:`torch.Tensor.to`.

        """
        self._model.to(*args, **kwargs)
        self._image = self._image.to(*args, **kwargs)
        self._eigendistortions = self._eigendistortions.to(*args, **kwargs)
        self._eigenvalues = self._eigenvalues.to(*args, **kwargs)
        if self._jacobian is not None:
            self._jacobian = self._jacobian.to(*args, **kwargs)

    def save(self, file_path: str | Path) -> None:
        """Save the results (not the model) to a ``.pt`` file of tensors only.

        Parameters
        ----------
        file_path
            Where to write.

        """
        torch.save(
            {
                "format": SAVE_FORMAT,
                "image": self._image,
                "representation": self._model(self._image).detach(),
                "eigendistortions": self._eigendistortions,
                "eigenvalues": self._eigenvalues,
                "eigenindex": self._eigenindex,
                "jacobian": self._jacobian,
            },
            file_path,
        )

    def load(
        self, file_path: str | Path, map_location: str | torch.device | None = None
    ) -> None:
        """Load saved results into this object, made with the same image and model.

        Parameters
        ----------
        file_path
            The file written by :meth:`save`.
        map_location
            Passed to :func:`torch.load`.

        Raises
        ------
        SynthesisLoadError
            If the file is unreadable or not a saved eigendistortion, or was made with
            another image or model.

        """
        try:
            payload = torch.load(
                file_path, map_location=map_location, weights_only=True
            )
        except Exception as error:  # torch raises many types for unreadable files
            raise SynthesisLoadError(
                f"cannot read saved eigendistortion {file_path}: {error}"
            ) from error
        if not isinstance(payload, dict) or payload.get("format") != SAVE_FORMAT:
            raise SynthesisLoadError(
                f"{file_path} is not a saved pipeline eigendistortion"
            )
        current = {
            "image": self._image,
            "representation": self._model(self._image).detach(),
        }
        for name, mine in current.items():
            problem = _tensor_mismatch(payload[name], mine, 1e-8, 1e-5)
            if problem is not None:
                raise SynthesisLoadError(
                    f"Saved and initialized attribute {name} have different {problem}"
                )
        self._eigendistortions = payload["eigendistortions"]
        self._eigenvalues = payload["eigenvalues"]
        self._eigenindex = payload["eigenindex"]
        self._jacobian = payload["jacobian"]
