"""Activations of chosen layers of any PyTorch network, as one model output.

`DeepNetFeatures` turns a network (e.g. a torchvision or timm classifier) into a
model for synthesis: it runs the network on the (optionally transformed) input and
returns the activations of the named submodules, flattened and concatenated per
batch element.  Activations are read with forward hooks, so any
:class:`torch.nn.Module` works and nothing beyond torch is imported; the network
stops right after the last requested layer has run.  Pretrained networks come from
model zoos such as torchvision (``pip install pipeline[deepnet]``).
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import Tensor, nn

__all__ = ["DeepNetFeatures"]


class _AllFeaturesCaptured(Exception):
    """Raised by the last hook to stop the network early (never escapes)."""


class DeepNetFeatures(nn.Module):
    """Activations of named layers of a network, flattened into one tensor.

    Parameters
    ----------
    model
        The network.  Its parameters become this module's (so
        :func:`pipeline.remove_grad` and ``.to()`` apply to them).
    return_nodes
        The layers to return: names of submodules as in ``model.named_modules()``
        (e.g. ``"layer2"`` or ``"features.3"``), one name, a list, or a dict
        mapping each name to the key it gets in `convert_to_dict`.
    transform
        Applied to the input before the network, e.g. the ImageNet normalization
        of a pretrained classifier.

    Attributes
    ----------
    model : torch.nn.Module
    return_nodes : dict
        Layer name -> output key, in order.
    transform : callable or None

    Raises
    ------
    ValueError
        If a name in ``return_nodes`` is not a submodule of ``model``.

    Warns
    -----
    UserWarning
        If ``model`` is in training mode (batch norm, dropout...); call
        ``.eval()`` for synthesis.  A model in evaluation mode puts this module in
        evaluation mode too.

    Notes
    -----
    Unlike torchvision's graph-based feature extraction (which the reference
    library uses), only submodules can be named, not functional operations
    (such as an addition in a residual block); name the module that follows it.
    A submodule called more than once returns its first output.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 2, 3)).eval()
    >>> model = DeepNetFeatures(net, {"1": "relu", "2": "conv2"})
    >>> rep = model(torch.rand(2, 3, 8, 8))
    >>> rep.shape
    torch.Size([2, 176])
    >>> {k: tuple(v.shape) for k, v in model.convert_to_dict(rep).items()}
    {'relu': (2, 4, 6, 6), 'conv2': (2, 2, 4, 4)}

    """

    def __init__(
        self,
        model: nn.Module,
        return_nodes: str | Sequence[str] | Mapping[str, str],
        transform: Callable[[Tensor], Tensor] | None = None,
    ) -> None:
        super().__init__()
        if isinstance(return_nodes, str):
            return_nodes = [return_nodes]
        if isinstance(return_nodes, Mapping):
            nodes = {str(k): str(v) for k, v in return_nodes.items()}
        else:
            nodes = {str(name): str(name) for name in return_nodes}
        available = dict(model.named_modules())
        unknown = [name for name in nodes if name not in available]
        if not nodes or unknown:
            examples = ", ".join(repr(n) for n in list(available)[1:8])
            raise ValueError(
                f"return_nodes {unknown or '(none)'} must name submodules of the model "
                f"(model.named_modules(): {examples}, ...)"
            )
        self.model = model
        self.transform = transform
        self.return_nodes = nodes
        self._shapes: OrderedDict[str, torch.Size] | None = None
        if model.training:
            warnings.warn(
                "model is in training mode, you probably want to call eval() to "
                "switch to evaluation mode (batch norm and dropout change otherwise)",
                UserWarning,
                stacklevel=2,
            )
        else:
            self.eval()

    def features(self, x: Tensor) -> OrderedDict[str, Tensor]:
        """Run the network and return the requested activations.

        Parameters
        ----------
        x
            Input of the network (before ``transform``).

        Returns
        -------
        features
            Output key -> activation, in the order of `return_nodes`.

        Raises
        ------
        ValueError
            If a requested layer did not run or did not return a tensor.

        """
        if self.transform is not None:
            x = self.transform(x)
        modules = dict(self.model.named_modules())
        captured: dict[str, Tensor] = {}

        def recorder(name: str) -> Callable:
            def record(module: nn.Module, inputs: object, output: object) -> None:
                if name in captured:
                    return
                if not isinstance(output, Tensor):
                    raise ValueError(
                        f"layer {name!r} returned a {type(output).__name__}, not a "
                        "tensor: choose one of its submodules"
                    )
                captured[name] = output
                if len(captured) == len(self.return_nodes):
                    raise _AllFeaturesCaptured

            return record

        handles = [
            modules[name].register_forward_hook(recorder(name))
            for name in self.return_nodes
        ]
        try:
            self.model(x)
        except _AllFeaturesCaptured:
            pass
        finally:
            for handle in handles:
                handle.remove()
        missing = [name for name in self.return_nodes if name not in captured]
        if missing:
            raise ValueError(f"layers {missing} did not run in the model's forward")
        return OrderedDict(
            (key, captured[name]) for name, key in self.return_nodes.items()
        )

    def forward(self, x: Tensor) -> Tensor:
        """Activations of the requested layers, flattened per batch element.

        Parameters
        ----------
        x
            Input of the network, ``(batch, ...)``.

        Returns
        -------
        representation
            Shape ``(batch, n)``: every layer's activation flattened, in the order
            of `return_nodes`; `convert_to_dict` splits it back.

        """
        return self.convert_to_tensor(self.features(x))

    def convert_to_tensor(self, representation_dict: Mapping[str, Tensor]) -> Tensor:
        """Flatten and concatenate activations (and remember their shapes).

        Parameters
        ----------
        representation_dict
            Output key -> activation ``(batch, ...)``.

        Returns
        -------
        representation
            Shape ``(batch, n)``.

        """
        self._shapes = OrderedDict(
            (key, value.shape[1:]) for key, value in representation_dict.items()
        )
        return torch.cat([v.flatten(1) for v in representation_dict.values()], dim=1)

    def convert_to_dict(
        self, representation_tensor: Tensor
    ) -> OrderedDict[str, Tensor]:
        """Split a flattened representation back into the layers' activations.

        Parameters
        ----------
        representation_tensor
            Shape ``(batch, n)``, as returned by `forward`.

        Returns
        -------
        representation_dict
            Output key -> activation with its original shape.

        Raises
        ------
        ValueError
            If no representation was computed yet (the shapes are unknown), or the
            length does not match the last one computed.

        """
        if self._shapes is None:
            raise ValueError(
                "call forward or convert_to_tensor before convert_to_dict: the "
                "layers' shapes are not known yet"
            )
        sizes = [int(torch.Size(s).numel()) for s in self._shapes.values()]
        if representation_tensor.shape[-1] != sum(sizes):
            raise ValueError(
                f"representation has {representation_tensor.shape[-1]} values, the "
                f"layers {list(self._shapes)} have {sum(sizes)}"
            )
        pieces = torch.split(representation_tensor, sizes, dim=-1)
        lead = representation_tensor.shape[:-1]
        return OrderedDict(
            (key, piece.reshape(*lead, *shape))
            for (key, shape), piece in zip(self._shapes.items(), pieces, strict=True)
        )
