"""Named points where a test can kill the process, to prove that work survives.

Set ``PIPELINE_KILL_AT=<point>:<n>`` and the process sends itself SIGKILL the
``n``-th time it reaches ``<point>`` (counting from 1): a real, unannounced death,
as a cluster's time limit or a node failure would cause. Without the variable every
point costs one dictionary lookup.

Points: ``iteration`` (after each synthesis iteration is recorded),
``checkpoint-segment`` and ``checkpoint-state`` (half-way through writing those
checkpoint files), ``store`` (while the final store is being written), ``rename``
(just before the store appears under its final name) and ``continuation`` (after the
store appeared, while the checkpoint is turned into the record that later runs
extend).
"""

from __future__ import annotations

import os
import signal

__all__ = ["fault_point"]

_ENVIRONMENT_VARIABLE = "PIPELINE_KILL_AT"
_hits: dict[str, int] = {}


def fault_point(name: str) -> None:
    """Kill this process here if ``PIPELINE_KILL_AT`` names this point and count.

    Parameters
    ----------
    name
        The point's name.

    """
    spec = os.environ.get(_ENVIRONMENT_VARIABLE)
    if not spec:
        return
    point, _, count = spec.partition(":")
    if point != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] == int(count or 1):
        os.kill(os.getpid(), signal.SIGKILL)
