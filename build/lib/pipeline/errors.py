"""The errors a user can fix, each with a one-line message saying how.

The command-line interface prints these as one line and exits non-zero; anything
else is a bug and keeps its traceback.
"""

from __future__ import annotations

__all__ = ["PipelineError"]


class PipelineError(ValueError):
    """Bad input: a message that names what is wrong and how to fix it."""
