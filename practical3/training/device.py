"""The device, its numeric precision and memory format, shared by training and evaluation.

Precision ``auto`` picks bf16 autocast on GPUs that run it natively (compute capability 8.0
and up), fp16 autocast with a gradient scaler on older GPUs (a T4 is 7.5: there PyTorch would
run bf16 convolutions on slow fallback kernels), and fp32 on the CPU. A GPU the installed torch
has no kernels for (a P100 under a torch built for 7.5 and up) is refused up front with the fix.
"""

from __future__ import annotations

import os
import platform
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import torch
from torch import Tensor

from practical3.base.errors import ConfigError

PRECISIONS = ("auto", "bf16", "fp16", "fp32")
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
NATIVE_BF16 = (8, 0)  # compute capability from which bf16 convolutions run on tensor cores


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present; asking for CUDA without one is a clear error. A CUDA
    device is checked against the kernels of the installed torch (``check_supported``)."""
    if name == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {name!r} asked for, but no CUDA GPU is visible: pass "
                              "--device cpu (slow at full size) or use --profile laptop or demo")
        check_supported(device)
    return device


def device_name(device: torch.device) -> str:
    """The machine a run, a comparison or a benchmark ran on, named one way for all of them:
    the GPU's name, or the CPU's architecture and core count."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.machine()} CPU, {os.cpu_count()} cores"


def check_supported(device: torch.device) -> None:
    """Raise ConfigError when the installed torch carries no kernel for ``device``'s GPU."""
    major, minor = torch.cuda.get_device_capability(device)
    arches = torch.cuda.get_arch_list()
    exact = f"sm_{major}{minor}"
    # A PTX entry (compute_XY) is compiled on the fly for any GPU of capability XY or newer.
    ptx = [a for a in arches if a.startswith("compute_") and int(a[8:]) <= major * 10 + minor]
    if exact in arches or ptx:
        return
    name = torch.cuda.get_device_name(device)
    raise ConfigError(
        f"{name} (compute capability {major}.{minor}) is not supported by the installed torch "
        f"{torch.__version__}, built for {', '.join(arches) or 'no GPU'}: on Kaggle or Colab use "
        "the platform's own torch (do not reinstall torch), or install a torch build that lists "
        f"{exact} (see pytorch.org/get-started/previous-versions); or pass --device cpu")


@dataclass(frozen=True)
class Precision:
    """Autocast dtype (None: fp32) and whether a gradient scaler guards fp16 gradients."""

    name: str

    @property
    def dtype(self) -> torch.dtype | None:
        return DTYPES.get(self.name)

    def autocast(self, device: torch.device) -> AbstractContextManager:
        """Mixed precision for a forward pass on ``device``; nothing at fp32."""
        if self.dtype is None:
            return nullcontext()
        return torch.autocast(device.type, dtype=self.dtype)

    def scaler(self, device: torch.device) -> torch.amp.GradScaler | None:
        """A gradient scaler for fp16 (whose small gradients underflow), else None."""
        return torch.amp.GradScaler(device.type) if self.name == "fp16" else None


FP32 = Precision("fp32")


def choose_precision(requested: str, device: torch.device) -> Precision:
    """``auto``: bf16 on GPUs of capability 8.0 and up, fp16 on older GPUs, fp32 on a CPU."""
    if requested not in PRECISIONS:
        raise ConfigError(f"unknown precision {requested!r}: choose one of {', '.join(PRECISIONS)}")
    if requested != "auto":
        return Precision(requested)
    if device.type != "cuda":
        return FP32
    native = torch.cuda.get_device_capability(device) >= NATIVE_BF16
    return Precision("bf16" if native else "fp16")


def to_device(x: Tensor, device: torch.device) -> Tensor:
    """Move a batch to ``device``, channels_last on CUDA."""
    x = x.to(device, non_blocking=True)
    if device.type == "cuda":
        return x.contiguous(memory_format=torch.channels_last)
    return x
