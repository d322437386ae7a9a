"""The figures a benchmark reports, printed so that `run_all.py` can record them.

A benchmark prints whatever helps a reader, and, for each figure worth keeping, one
line ``FIGURE<TAB>what<TAB>value`` through :func:`figure`. ``run_all.py`` collects those
lines into ``benchmarks/RECORD.md`` and the README's table.
"""

from __future__ import annotations

PREFIX = "FIGURE\t"


def figure(what: str, value: str) -> None:
    """Report one figure: ``what`` was measured (a short phrase), ``value`` as printed.

    Parameters
    ----------
    what
        What the figure is, e.g. ``"PS forward+backward 256², ours / plenoptic"``.
    value
        The figure, formatted, e.g. ``"0.38"`` or ``"+0.4 ms"``.

    """
    if "\t" in what or "\n" in what or "|" in what:
        raise ValueError(f"a figure's name cannot hold tabs, newlines or '|': {what!r}")
    print(f"{PREFIX}{what}\t{value}", flush=True)


def parse_figures(output: str) -> list[tuple[str, str]]:
    """The ``(what, value)`` figures in a benchmark's printed output, in order.

    Parameters
    ----------
    output
        Everything the benchmark printed.

    Returns
    -------
    figures
        One pair per ``FIGURE`` line.

    """
    return [
        tuple(line[len(PREFIX) :].split("\t", 1))
        for line in output.splitlines()
        if line.startswith(PREFIX)
    ]
