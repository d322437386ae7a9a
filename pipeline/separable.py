"""Direct separable correlation: banded-matrix products or depthwise convolutions.

A filter that is the outer product of a vertical and a horizontal 1-D kernel is
applied by two 1-D correlations.  Computed as sums of products (no FFT), it keeps
non-negative inputs and kernels non-negative in floating point, which the contrast
normalization of the front-end models and the local statistics of SSIM rely on.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["MATRIX_MAX_WORK", "correlate_separable"]

# How `correlate_separable` computes its sums (measured on CPU, forward+backward):
# the dense banded matrices cost one multiply-add per input row or column per output
# pixel, so they are used while ``output channels * the input's larger side`` is at
# most MATRIX_MAX_WORK, and depthwise convolutions beyond it.  Where the two cross
# depends on the CPU: its vector width sets the speed of the matrix products, and how
# many channels torch's (oneDNN) convolutions pad each block to.
# - 1300 was measured on a CPU that was not recorded (x86-64, 2 cores), where the
#   convolutions were slow for few channels (two at 256²: 13-20 ms, whatever the
#   kernel length) and the products took a quarter to a half of that (one channel up
#   to about 1024², two up to 512², SSIM's five statistics at 256²).  It is kept for
#   every CPU but those whose widest instructions torch uses are AVX2.
# - 600 on an AMD EPYC with AVX2: there five channels at 256² take a quarter of the
#   products' time as convolutions (SSIM forward+backward 7.6 against 15 ms), while
#   two channels at 286² with 31 taps (OnOff's normalization at 256²) are still
#   faster as products.
# The bound is read when each call runs, so it can be set by hand, and it is fixed
# for a machine, so a resumed synthesis takes the same path as the first run.
MATRIX_MAX_WORK = 600 if torch.backends.cpu.get_cpu_capability() == "AVX2" else 1300


def _banded_matrices(taps: Tensor, n_out: int) -> Tensor:
    """Matrices of a valid 1-D correlation with each row of ``taps``.

    ``(J, k)`` taps give ``(J, n_out, n_out + k - 1)`` matrices ``T`` with
    ``T[j, i, i + t] = taps[j, t]`` and zeros elsewhere, so that ``T[j] @ v`` is
    the correlation of ``v`` with ``taps[j]``.  Built by differentiable reshapes
    (the taps followed by ``n_out`` zeros, repeated, read with rows one shorter
    than that period), so gradients reach the taps.
    """
    n_kernels, k = taps.shape
    period = F.pad(taps, (0, n_out))
    flat = period.repeat(1, n_out)[:, : n_out * (n_out + k - 1)]
    return flat.reshape(n_kernels, n_out, n_out + k - 1)


def correlate_separable(x: Tensor, gv: Tensor, gh: Tensor) -> Tensor:
    """Correlate each channel of ``x`` with separable kernels, without padding.

    Only sums of products (no FFT), so non-negative inputs and kernels give
    non-negative outputs in floating point.  Computed as products with banded
    matrices, or as depthwise convolutions when those are faster (see
    ``MATRIX_MAX_WORK``); gradients flow to ``x`` and to the kernels.

    Parameters
    ----------
    x
        Input of shape ``(batch, c, height, width)``.
    gv, gh
        Vertical ``(J, kh)`` and horizontal ``(J, kw)`` 1-D kernels, with
        ``J == c`` (kernel ``j`` filters channel ``j``), ``c == 1`` (every kernel
        filters the one channel) or ``J == 1`` (the kernel filters every channel).

    Returns
    -------
    y
        ``(batch, max(c, J), height - kh + 1, width - kw + 1)``.

    """
    n_kernels, kh = gv.shape
    kw = gh.shape[-1]
    channels = max(x.shape[1], n_kernels)
    height, width = x.shape[-2:]
    gv, gh = gv.to(x.dtype), gh.to(x.dtype)
    if channels * max(height, width) <= MATRIX_MAX_WORK:
        # (J, h, H) @ (batch, c, H, W) @ (J, W, w), broadcast over J and c
        vertical = _banded_matrices(gv, height - kh + 1)
        horizontal = _banded_matrices(gh, width - kw + 1).transpose(-1, -2)
        return torch.matmul(torch.matmul(vertical, x), horizontal)
    # vertical pass first: it runs on the input's width (padded by the callers, so
    # not a power of two), which avoids cache-aliasing slowdowns of column access
    vertical = gv.expand(channels, kh).reshape(channels, 1, kh, 1)
    y = F.conv2d(x, vertical, groups=x.shape[1])
    horizontal = gh.expand(channels, kw).reshape(channels, 1, 1, kw)
    return F.conv2d(y, horizontal, groups=channels)
