"""Metrics shared by training, evaluation and tests.

Model files keep their own copy of the SI-SNR loss so that a Hub folder loads with `trust_remote_code`
where zoo is not installed; everything else uses these.
"""

from __future__ import annotations

import torch


def si_snr(estimate: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None, eps: float = 1e-8) -> torch.Tensor:
    """Scale-invariant SNR in dB over the last axis, counting only samples where `mask` is 1.

    >>> import torch
    >>> x = torch.randn(8000)
    >>> round(float(si_snr(2 * x, x)), 1) > 80
    True
    """
    if mask is None:
        mask = torch.ones_like(target)
    mask = mask.to(target.dtype)
    lengths = mask.sum(-1, keepdim=True).clamp(min=1)
    estimate = (estimate - (estimate * mask).sum(-1, keepdim=True) / lengths) * mask
    target = (target - (target * mask).sum(-1, keepdim=True) / lengths) * mask
    scale = (estimate * target).sum(-1, keepdim=True) / (target.pow(2).sum(-1, keepdim=True) + eps)
    projection = scale * target
    return 10 * torch.log10((projection.pow(2).sum(-1) + eps) / ((estimate - projection).pow(2).sum(-1) + eps))
