"""Device, precision and GPU support, with the GPU's capability, arch list and count mocked."""

import pytest
import torch

from practical3.base.errors import ConfigError
from practical3.training import device as device_module
from practical3.training import loop as train_module
from practical3.training.device import Precision, check_supported, choose_precision, device_name

CUDA = torch.device("cuda")


@pytest.fixture
def gpu(monkeypatch):
    """A pretend GPU: set its capability and torch's arch list through the returned dict."""
    fake = {"capability": (7, 5), "arches": ["sm_75", "sm_80", "sm_90"], "name": "Tesla T4"}
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: fake["capability"])
    monkeypatch.setattr(torch.cuda, "get_arch_list", lambda: fake["arches"])
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: fake["name"])
    return fake


@pytest.mark.parametrize(("capability", "expected"), [((7, 5), "fp16"), ((6, 0), "fp16"),
                                                      ((8, 0), "bf16"), ((9, 0), "bf16")])
def test_auto_precision_follows_native_bf16_support(gpu, capability, expected):
    gpu["capability"] = capability
    assert choose_precision("auto", CUDA).name == expected


@pytest.mark.parametrize(("cpuinfo", "expected"), [
    ("flags : fpu sse avx512f avx512_bf16 avx512_vnni", "bf16"),
    ("flags : fpu sse avx512f amx_bf16 amx_tile", "bf16"),
    ("flags : fpu sse avx2 avx512f avx512bw", "fp32")])
def test_auto_on_a_cpu_picks_bf16_only_where_it_runs_natively(tmp_path, monkeypatch, cpuinfo,
                                                             expected):
    (tmp_path / "cpuinfo").write_text(f"processor : 0\n{cpuinfo}\n")
    monkeypatch.setattr(device_module, "CPUINFO", tmp_path / "cpuinfo")
    chosen = choose_precision("auto", torch.device("cpu"))
    assert chosen.name == expected
    assert ("runs bf16 natively" if expected == "bf16" else "no native bf16") in chosen.reason


def test_without_proc_cpuinfo_torch_is_asked(tmp_path, monkeypatch):
    monkeypatch.setattr(device_module, "CPUINFO", tmp_path / "absent")
    for native, expected in ((True, "bf16"), (False, "fp32")):
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda n=native: n)
        assert choose_precision("auto", torch.device("cpu")).name == expected


def test_an_explicit_choice_is_kept_whatever_the_cpu():
    cpu = torch.device("cpu")
    assert choose_precision("fp32", cpu) == Precision("fp32")
    assert choose_precision("bf16", cpu) == Precision("bf16")
    with pytest.raises(ConfigError, match="auto, bf16, fp16, fp32"):
        choose_precision("fp8", cpu)


def test_the_machine_is_named_by_its_gpu_or_its_cpu(gpu, monkeypatch):
    assert device_name(CUDA) == "Tesla T4"
    monkeypatch.setattr(device_module.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(device_module.os, "cpu_count", lambda: 2)
    assert device_name(torch.device("cpu")) == "x86_64 CPU, 2 cores"


def test_only_fp16_gets_a_gradient_scaler():
    cpu = torch.device("cpu")
    assert isinstance(Precision("fp16").scaler(cpu), torch.amp.GradScaler)
    assert Precision("bf16").scaler(cpu) is None and Precision("fp32").scaler(cpu) is None
    assert Precision("fp32").dtype is None and Precision("bf16").dtype == torch.bfloat16


def test_a_gpu_the_installed_torch_has_no_kernels_for_is_refused_with_the_fix(gpu):
    gpu.update(capability=(6, 0), name="Tesla P100-PCIE-16GB")
    with pytest.raises(ConfigError, match=r"P100.*6\.0.*sm_75, sm_80, sm_90.*platform's own torch"):
        check_supported(CUDA)


def test_a_supported_gpu_and_a_ptx_build_pass(gpu):
    check_supported(CUDA)  # sm_75 is in the list
    gpu.update(capability=(12, 0), arches=["sm_80", "compute_90"])
    check_supported(CUDA)  # PTX for 9.0 compiles for newer GPUs


def test_resolve_device_checks_the_gpu_up_front(gpu, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    gpu["capability"] = (6, 0)
    with pytest.raises(ConfigError, match="not supported by the installed torch"):
        device_module.resolve_device("auto")


def test_resume_restores_the_generators_of_the_gpus_that_exist(monkeypatch):
    restored = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda s, d: restored.append(d))
    saved = {"torch": torch.get_rng_state(), "cuda": [torch.zeros(16, dtype=torch.uint8)] * 2}
    # saved on Kaggle's two T4s, resumed on one GPU
    train_module._set_rng_state(saved, torch.device("cpu"))
    assert restored == [0]
