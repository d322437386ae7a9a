"""What each store kind holds: its variables, their dimensions, its attributes.

Declared once, here, and read by everything that touches a store: the stages that
write them (which check what they wrote before it appears), :func:`open_store`
(which refuses a store that lacks what its kind declares), the plots, the
aggregate and the workflow's parse-time guard (:func:`stored_iterations`).

Every store is a zarr (format 3) group whose attributes name its kind
(``pipeline_store``) and :data:`SCHEMA_VERSION`, and mark it ``complete``. A
synthesis store holds its whole history over ``iteration`` (one entry per
iteration run, plus the final state for an optimized synthesis), the images stored
along the way over ``saved_iteration``, and attributes with its settings
(``parameters``), provenance, wall time and ``resumed_at``: the iterations at which
the synthesis continued from a checkpoint (after a kill, or a finished synthesis
extended to a larger ``max_iter``), in order; empty for one uninterrupted run.

Standard library only: the Snakefile reads stores' attributes at parse time.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "IMAGE_DIMS",
    "LAYOUTS",
    "SCHEMA_VERSION",
    "SYNTHESIS_KINDS",
    "Layout",
    "read_attributes",
    "stored_iterations",
]

#: version of the layouts below; a store of another version is refused
SCHEMA_VERSION = 2
#: dimensions of an image variable
IMAGE_DIMS = ("batch", "channel", "y", "x")
# where a zarr (format 3) group keeps its metadata, attributes included
_GROUP_METADATA = "zarr.json"


@dataclass(frozen=True)
class Layout:
    """The variables and attributes of one store kind.

    Attributes
    ----------
    kind
        The ``pipeline_store`` attribute of its stores.
    variables
        Variables every store of the kind has, with their dimensions.
    attributes
        Attributes every store of the kind has, with what they hold.
    optional_variables, optional_attributes
        What some stores of the kind have (e.g. a coarse-to-fine metamer's).
    synthesized
        Name of the synthesized image of an optimized synthesis (``"metamer"``...):
        the final one under that name, those stored along the way under
        ``saved_<name>``; ``None`` for other kinds.

    """

    kind: str
    variables: Mapping[str, tuple[str, ...]]
    attributes: Mapping[str, str]
    optional_variables: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    optional_attributes: Mapping[str, str] = field(default_factory=dict)
    synthesized: str | None = None

    def dims(self, name: str) -> tuple[str, ...]:
        """Return the dimensions of a declared variable.

        Parameters
        ----------
        name
            The variable.

        Returns
        -------
        dims
            Its dimension names.

        Raises
        ------
        KeyError
            If the kind declares no such variable.

        """
        if name in self.variables:
            return self.variables[name]
        if name in self.optional_variables:
            return self.optional_variables[name]
        raise KeyError(f"a {self.kind} store has no variable {name!r}")

    def history_dims(self) -> dict[str, tuple[str, ...]]:
        """Dimensions after ``iteration`` of the per-iteration values that have some.

        Returns
        -------
        dims
            Value name -> its dimensions but the first.

        """
        every = {**self.variables, **self.optional_variables}
        return {
            name: dims[1:]
            for name, dims in every.items()
            if len(dims) > 1 and dims[0] == "iteration"
        }

    def problems(
        self,
        variables: Mapping[str, Iterable[str]],
        attributes: Iterable[str],
        exact: bool = True,
    ) -> list[str]:
        """List how a store's contents differ from this layout.

        Parameters
        ----------
        variables
            The store's variables with their dimension names.
        attributes
            The store's attribute names.
        exact
            Also count what the layout does not declare (as a writer must); a
            reader needs only what is declared.

        Returns
        -------
        problems
            One phrase per missing, misshapen (or undeclared) variable or
            attribute; empty if the store matches.

        """
        found = {name: tuple(dims) for name, dims in variables.items()}
        names = set(attributes)
        problems = [
            f"no variable {name}" for name in self.variables if name not in found
        ]
        problems += [
            f"no attribute {name}" for name in self.attributes if name not in names
        ]
        for name, dims in found.items():
            try:
                declared = self.dims(name)
            except KeyError:
                problems += [f"undeclared variable {name}"] if exact else []
                continue
            if dims != declared:
                problems.append(f"{name} over {dims}, not {declared}")
        declared_attributes = {*self.attributes, *self.optional_attributes}
        problems += [
            f"undeclared attribute {n}" for n in sorted(names - declared_attributes)
        ]
        return problems


_STORE = {
    "pipeline_store": "the store kind",
    "schema_version": "version of the layout (SCHEMA_VERSION)",
    "complete": "true once the store is whole (it appears under its name only then)",
}
_SYNTHESIS = {
    **_STORE,
    "method": "the synthesis method",
    "image_name": "name of the image (for a geodesic: <a>-<b>)",
    "parameters": "every setting of the synthesis, by name",
    "n_iterations": "iterations run",
    "wall_time_s": "seconds of synthesis, over every run that built on this one",
    "resumed_at": "iterations at which synthesis continued from a checkpoint (a kill, "
    "or a larger max_iter), in order; empty for one uninterrupted run",
    "versions": "versions of python and of the packages that computed it",
    "device": "the torch device it ran on",
    "device_name": "the GPU's or CPU's name",
    "host": "the machine's name",
}
_MODEL = {
    "model_name": "name of the model (its artifact's stem)",
    "model_class": "the model's class, module:Class",
    "model_kwargs": "the model's constructor arguments, as JSON",
    "model_fingerprint": "fingerprint of the model's code",
}
_OPTIMIZED = {
    **_SYNTHESIS,
    "stop_reason": "max_iter, or converged (the stopping rule)",
    "dtype": "floating point precision",
}


def _optimized(
    kind: str,
    synthesized: str,
    values: Mapping[str, tuple[str, ...]],
    attributes: Mapping[str, str],
    *,
    image_dims: tuple[tuple[str, ...], tuple[str, ...]] = (IMAGE_DIMS, IMAGE_DIMS),
    **more: Any,
) -> Layout:
    """Layout of an optimized synthesis: the history every one keeps, and ``values``.

    ``image_dims`` are the dimensions of the target ``image`` and of the
    synthesized image.
    """
    target, image = image_dims
    variables = {
        "iteration": ("iteration",),
        **{
            name: ("iteration",)
            for name in ("loss", "penalty", "gradient_norm", "pixel_change_norm")
        },
        "saved_iteration": ("saved_iteration",),
        f"saved_{synthesized}": ("saved_iteration", *image),
        "image": target,
        "initial_image": image,
        synthesized: image,
        **values,
    }
    return Layout(
        kind, variables, {**_OPTIMIZED, **attributes}, synthesized=synthesized, **more
    )


#: every store kind's layout
LAYOUTS = {
    "image": Layout(
        "image",
        {"image": IMAGE_DIMS},
        _STORE,
        optional_attributes={
            "name": "the image's name",
            "source": "built-in image name or file it was read from",
            "size": "height and width",
            "as_gray": "whether it was converted to grayscale",
            "shift": "circular shift (down, right) applied, in pixels",
            "rotate": "rotation applied, in degrees",
        },
    ),
    "metamer": _optimized(
        "metamer",
        "metamer",
        {
            "target_representation": ("batch", "representation"),
            "metamer_representation": ("batch", "representation"),
        },
        {
            **_MODEL,
            "image_source": "source of the target image",
            "representation_shape": "shape of one representation (flattened in "
            "target_representation and metamer_representation)",
        },
        optional_variables={"scale_loss": ("iteration",), "scale": ("iteration",)},
        optional_attributes={
            "scales": "coarse to fine: the scales, which scale indexes",
            "representation_error_by_group": "relative error of each statistic group "
            "(models with convert_to_dict)",
        },
    ),
    "mad": _optimized(
        "mad",
        "mad_image",
        {
            "optimized_metric_loss": ("iteration",),
            "reference_metric_loss": ("iteration",),
        },
        {
            "image_source": "source of the reference image",
            "optimized_metric": "the metric minimized or maximized",
            "reference_metric": "the metric held constant",
            "minmax": "min or max",
            "metric_tradeoff_lambda": "weight of the reference-metric term used",
        },
    ),
    "geodesic": _optimized(
        "geodesic",
        "geodesic",
        {
            "step_energy": ("iteration", "transition"),
            "dev_from_line": ("iteration", "frame", "component"),
            "sequence": ("step", "channel", "y", "x"),
            "pixelfade": ("step", "channel", "y", "x"),
        },
        {
            **_MODEL,
            "image_a": "name of the first anchor",
            "image_b": "name of the second anchor",
            "path_length": "length of the geodesic in representation space",
            "pixelfade_path_length": "length of the pixel fade in representation space",
        },
        image_dims=(("anchor", "channel", "y", "x"), ("interior", "channel", "y", "x")),
    ),
    "eigendistortion": Layout(
        "eigendistortion",
        {
            "iteration": ("iteration",),
            "image": IMAGE_DIMS,
            "eigendistortions": ("eigenindex", "channel", "y", "x"),
            "eigenvalues": ("eigenindex",),
            "eigenindex": ("eigenindex",),
        },
        {**_SYNTHESIS, **_MODEL},
        optional_variables={
            "eigenvalue_estimates": ("iteration", "estimate"),
            "eigenvalue_change": ("iteration",),
            "phase": ("iteration",),
        },
    ),
}
#: kinds of the stores a synthesis writes (what summaries and loss plots read)
SYNTHESIS_KINDS = ("metamer", "mad", "eigendistortion", "geodesic")


def read_attributes(store: str | Path) -> dict[str, Any] | None:
    """Read a store's attributes from its metadata file, without zarr.

    Parameters
    ----------
    store
        The zarr group.

    Returns
    -------
    attributes
        Its attributes, or ``None`` where there is no readable store.

    """
    try:
        metadata = json.loads((Path(store) / _GROUP_METADATA).read_text("utf-8"))
        attributes = metadata["attributes"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return attributes if isinstance(attributes, dict) else None


def stored_iterations(store: str | Path) -> int | None:
    """Return the iterations a complete synthesis store holds, read without zarr.

    Parameters
    ----------
    store
        The store.

    Returns
    -------
    n_iterations
        Its ``n_iterations`` (for stores older than that attribute, the
        ``max_iter`` of its ``parameters``), or ``None`` for no store, an
        incomplete or unreadable one.

    """
    attributes = read_attributes(store)
    if attributes is None or attributes.get("complete") is not True:
        return None
    count = attributes.get("n_iterations")
    if count is None:
        parameters = attributes.get("parameters")
        count = parameters.get("max_iter") if isinstance(parameters, dict) else None
    is_count = isinstance(count, int) and not isinstance(count, bool)
    return count if is_count else None
