"""The device, its numeric precision and memory format, shared by training and evaluation.

Precision ``auto`` picks bf16 autocast on GPUs that run it natively (compute capability 8.0
and up), fp16 autocast with a gradient scaler on older GPUs (a T4 is 7.5: there PyTorch would
run bf16 convolutions on slow fallback kernels), bf16 autocast on CPUs with native bf16
instructions (AVX-512 BF16 or AMX: about twice the fp32 speed, ``benchmarks/bench_precision.py``)
and fp32 on other CPUs, where bf16 is emulated and can be slower. A GPU the installed torch has
no kernels for (a P100 under a torch built for 7.5 and up) is refused up front with the fix.
"""

from __future__ import annotations

import os
import platform
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from practical3.base.errors import ConfigError

PRECISIONS = ("auto", "bf16", "fp16", "fp32")
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
NATIVE_BF16 = (8, 0)  # compute capability from which bf16 convolutions run on tensor cores
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo flags of native bf16 arithmetic
CPUINFO = Path("/proc/cpuinfo")


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


def cpu_bf16_flag() -> str | None:
    """The CPU's native bf16 instruction set (a flag of ``CPU_BF16_FLAGS``), or None.

    Read from ``/proc/cpuinfo`` on Linux; elsewhere from torch's own AVX-512 BF16 probe
    (``torch.backends.cpu.get_cpu_capability()`` says only "AVX512", which many CPUs without
    bf16 also say)."""
    try:
        flags = set(CPUINFO.read_text(encoding="utf-8", errors="replace").split())
    except OSError:
        probe = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
        return "avx512_bf16" if probe is not None and probe() else None
    return next((flag for flag in CPU_BF16_FLAGS if flag in flags), None)


@dataclass(frozen=True)
class Precision:
    """Autocast dtype (None: fp32) and whether a gradient scaler guards fp16 gradients;
    ``reason`` says why it was chosen (printed at the start of a run, not part of equality)."""

    name: str
    reason: str = field(default="asked for", compare=False)

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
    """``auto``: bf16 on GPUs of capability 8.0 and up, fp16 on older GPUs; bf16 on CPUs with
    native bf16 (``cpu_bf16_flag``), fp32 on other CPUs. Any other value is kept as asked."""
    if requested not in PRECISIONS:
        raise ConfigError(f"unknown precision {requested!r}: choose one of {', '.join(PRECISIONS)}")
    if requested != "auto":
        return Precision(requested, f"--precision {requested} asked for")
    if device.type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        if (major, minor) >= NATIVE_BF16:
            return Precision("bf16", f"auto: the GPU (compute capability {major}.{minor}) runs "
                                     "bf16 natively")
        return Precision("fp16", f"auto: the GPU (compute capability {major}.{minor}) has no "
                                 "fast bf16, so fp16 with a gradient scaler")
    flag = cpu_bf16_flag()
    if flag is not None:
        return Precision("bf16", f"auto: the CPU runs bf16 natively ({flag})")
    return Precision("fp32", "auto: the CPU has no native bf16 (neither "
                             f"{' nor '.join(CPU_BF16_FLAGS)}), where bf16 is emulated and slower")


def to_device(x: Tensor, device: torch.device) -> Tensor:
    """Move a batch to ``device`` in channels_last, the memory format the model trains in: its
    convolutions run faster so on a GPU and on a CPU alike (on 2 CPU cores 1.26x at fp32 and
    1.40x at bf16, ``benchmarks/bench_precision.py``)."""
    return x.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
