"""Jacobian products of a model, for eigendistortions of its Fisher information.

Under additive white Gaussian noise on the model's response ``y = f(x)``, the Fisher
information matrix at ``x`` is ``F = J^T J`` with ``J = dy/dx``. Eigendistortions
need ``F v`` for blocks of vectors; :func:`fisher_vector_product` computes ``J^T (J
v)`` with forward-mode AD for ``J v`` and a reverse-mode VJP for ``J^T u``, for a whole
block of vectors at once (``vmap``): no double backward and no loop over vectors.

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

    Uses the double-backward trick on an existing graph (kept for the documented API;
    :class:`FisherOperator` uses forward mode instead).

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

    The reverse-mode half (``J^T``) is traced once at construction and reused for
    every product; the forward-mode half (``J v``) runs per product, batched over the
    vectors of a block.

    Parameters
    ----------
    model
        Differentiable model, image -> representation.
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
        from torch.func import vjp

        self._model = model
        self._image = image.detach()
        self.representation, self._vjp = vjp(model, self._image)
        self.n = self._image.numel()

    def _single(self, v: Tensor) -> Tensor:
        from torch.func import jvp

        _, jv = jvp(self._model, (self._image,), (v.reshape(self._image.shape),))
        (jtjv,) = self._vjp(jv)
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
        from torch.func import vmap

        with torch.no_grad():
            return vmap(self._single)(vectors)
