"""Jacobian products of a model, for eigendistortions of its Fisher information.

Under additive white Gaussian noise on the model's response ``y = f(x)``, the Fisher
information matrix at ``x`` is ``F = J^T J`` with ``J = dy/dx``. Eigendistortions
need ``F v`` for blocks of vectors; :class:`FisherOperator` computes ``J^T (J v)``
from graphs traced once per image (see there).

The graph-based helpers :func:`jacobian`, :func:`jacobian_vector_product` and
:func:`vector_jacobian_product` keep the signatures of the reference documentation.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

__all__ = [
    "FisherOperator",
    "jacobian",
    "jacobian_vector_product",
    "vector_jacobian_product",
]


def jacobian(y: Tensor, x: Tensor) -> Tensor:
    """Compute the full Jacobian matrix ``dy/dx`` explicitly (small inputs only).

    Parameters
    ----------
    y
        Model output with gradient attached.
    x
        Model input (requires grad).

    Returns
    -------
    J
        Shape ``(y.numel(), x.numel())``.

    Examples
    --------
    >>> import torch
    >>> x = torch.rand(3, requires_grad=True)
    >>> jacobian(2 * x, x)
    tensor([[2., 0., 0.],
            [0., 2., 0.],
            [0., 0., 2.]])

    """
    flat = y.reshape(-1)
    eye = torch.eye(flat.numel(), dtype=y.dtype, device=y.device)
    (rows,) = torch.autograd.grad(
        flat, x, eye, is_grads_batched=True, retain_graph=True
    )
    return rows.reshape(flat.numel(), -1)


def vector_jacobian_product(
    y: Tensor,
    x: Tensor,
    U: Tensor,
    retain_graph: bool = True,
    create_graph: bool = True,
    detach: bool = False,
) -> Tensor:
    r"""Compute :math:`u^T (\partial y / \partial x)` for each column of ``U``.

    Parameters
    ----------
    y
        Output with gradient attached, ``(m, 1)``.
    x
        Input with gradient attached, ``(n, 1)``.
    U
        Directions in output space, ``(m, k)``.
    retain_graph, create_graph
        As in :func:`torch.autograd.grad`.
    detach
        Detach the result from the graph.

    Returns
    -------
    vJ
        ``(n, k)``.

    """
    columns = [
        torch.autograd.grad(
            y,
            x,
            u.reshape(y.shape),
            retain_graph=retain_graph,
            create_graph=create_graph,
        )[0].reshape(-1)
        for u in U.T
    ]
    product = torch.stack(columns, dim=1)
    return product.detach() if detach else product


def jacobian_vector_product(
    y: Tensor, x: Tensor, V: Tensor, dummy_vec: Tensor | None = None
) -> Tensor:
    r"""Compute :math:`(\partial y / \partial x) v` for each column of ``V``.

    Uses the double-backward trick on an existing graph (the documented API;
    :class:`FisherOperator` keeps that graph for many products).

    Parameters
    ----------
    y
        Output with gradient attached, ``(m, 1)``.
    x
        Input with gradient attached, ``(n, 1)``.
    V
        Directions in input space, ``(n, k)``.
    dummy_vec
        Pre-allocated dummy output vector (requires grad); made if ``None``.

    Returns
    -------
    Jv
        ``(m, k)``.

    """
    if dummy_vec is None:
        dummy_vec = torch.ones_like(y, requires_grad=True)
    g = vector_jacobian_product(y, x, dummy_vec.reshape(-1, 1))
    return vector_jacobian_product(g, dummy_vec, V, create_graph=False, detach=True)


class FisherOperator:
    """The Fisher information matrix ``J^T J`` of a model at an image, as an operator.

    At construction the model runs once and ``g(u) = J^T u`` is traced with its own
    graph (``create_graph``), for a dummy output-space vector ``u``. As ``g`` is linear
    in ``u``, differentiating it with respect to ``u`` along ``v`` gives ``J v``; the
    traced model then gives ``J^T (J v)``. Each product is two backward passes over
    graphs that are kept, with no model call: several times faster than forward-mode
    AD (``torch.func.jvp``), which also imports ``torch._dynamo`` (about 1.5 s) for
    its decompositions.

    Parameters
    ----------
    model
        Differentiable model, image -> representation, whose backward pass is itself
        differentiable (true of models built from torch operations).
    image
        The point ``x``, shape (1, C, H, W).

    Examples
    --------
    >>> import torch
    >>> operator = FisherOperator(lambda x: 3 * x, torch.rand(1, 1, 2, 2))
    >>> operator.matmul(torch.ones(1, 4))
    tensor([[9., 9., 9., 9.]])

    """

    def __init__(self, model: Callable[[Tensor], Tensor], image: Tensor) -> None:
        self._image = image.detach().requires_grad_(True)
        with torch.enable_grad():
            self.representation = model(self._image)
            self._dummy = torch.zeros_like(self.representation, requires_grad=True)
            (self._transposed,) = torch.autograd.grad(
                _dot(self.representation, self._dummy), self._image, create_graph=True
            )
        self.n = self._image.numel()

    def _single(self, v: Tensor) -> Tensor:
        with torch.enable_grad():
            (jv,) = torch.autograd.grad(
                _dot(self._transposed, v.reshape(self._image.shape)),
                self._dummy,
                retain_graph=True,
            )
            (jtjv,) = torch.autograd.grad(
                _dot(self.representation, jv), self._image, retain_graph=True
            )
        return jtjv.reshape(-1)

    def matmul(self, vectors: Tensor) -> Tensor:
        """Return ``F v`` for each row ``v`` of ``vectors`` (k, n), as (k, n).

        Parameters
        ----------
        vectors
            Block of k flattened images.

        Returns
        -------
        products
            ``(F v_i)`` stacked as rows.

        """
        return torch.stack([self._single(v) for v in vectors])


def _dot(output: Tensor, direction: Tensor) -> Tensor:
    """Return ``<output, direction>``, a scalar to differentiate.

    Differentiating it equals passing ``direction`` as ``grad_outputs``, which makes
    torch import sympy (0.6 s) in every process that computes eigendistortions.
    """
    return (output * direction).sum()
