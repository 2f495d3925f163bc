"""Device choice and the per-device speed settings shared by training and evaluation."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import torch
from torch import Tensor


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present; asking for CUDA without one is a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but no CUDA GPU is visible: pass "
                         "--device cpu (slow at full size) or use --profile laptop or demo")
    return device


def autocast(device: torch.device, fast: bool = True) -> AbstractContextManager:
    """bf16 autocast on CUDA; plain fp32 elsewhere, or everywhere when ``fast`` is off."""
    if fast and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


def to_device(x: Tensor, device: torch.device, fast: bool = True) -> Tensor:
    """Move a batch to ``device``, channels_last on CUDA unless ``fast`` is off."""
    x = x.to(device, non_blocking=True)
    if fast and device.type == "cuda":
        return x.contiguous(memory_format=torch.channels_last)
    return x
