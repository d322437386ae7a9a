"""Keep freed memory in the process, for steady-state synthesis loops.

By default glibc hands the top of its heap back to the system whenever enough of it
is free, and the next allocations fault it back in page by page (about 2 us a page).
A synthesis frees and allocates the same buffers every iteration, so a step can pay
thousands of page faults (a 256x256 MAD step with SSIM runs 2-3 times slower). The
synthesis stages, which own their process, call :func:`keep_freed_memory` first; the
library itself never changes process-wide settings.
"""

from __future__ import annotations

import ctypes

__all__ = ["keep_freed_memory"]

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (malloc.h)


def keep_freed_memory() -> bool:
    """Make glibc keep freed memory for reuse instead of returning it at once.

    The heap is trimmed only once more than 1 GiB of its top is free, and blocks up
    to 32 MiB come from the heap rather than fresh ``mmap`` calls. Peak memory is
    unchanged; memory freed after the peak is kept until the process ends.

    Returns
    -------
    applied
        False where the C library is not glibc (nothing changes there).

    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    return bool(mallopt(_M_TRIM_THRESHOLD, 2**30) and mallopt(_M_MMAP_THRESHOLD, 2**25))
