"""The CUDA-only settings, checked without a GPU: `torch.cuda` is replaced by a recorder that
answers like a machine with two GPUs (GPU 1 an Ampere-or-newer one). What a real GPU adds
(speed, memory, kernels) is checked by benchmarks/gpu_smoke.py on a lent machine."""

import contextlib
from types import SimpleNamespace

import pytest
import torch

from contrastlens import distributed
from contrastlens.train import precision as P
from contrastlens.train.config import TrainConfig

CUDA0, CUDA1, CPU = torch.device("cuda", 0), torch.device("cuda", 1), torch.device("cpu")


class TwoGPUs:
    """torch.cuda of a machine whose GPU 0 is a Volta (7.0, no native bf16, no TF32) and GPU 1
    an H100 (9.0); `current` is what torch.cuda's device-less calls ask."""

    def __init__(self, monkeypatch) -> None:
        self.current, self.set_device_calls = 0, []
        capability = {0: (7, 0), 1: (9, 0)}

        @contextlib.contextmanager
        def device(d):
            before, self.current = self.current, torch.device(d).index
            try:
                yield
            finally:
                self.current = before

        def props(d):
            major, minor = capability[torch.device(d).index]
            name = "Tesla V100" if major == 7 else "NVIDIA H100"
            return SimpleNamespace(name=name, major=major, minor=minor, total_memory=80 * 2**30)

        def set_device(d):
            self.set_device_calls.append(torch.device(d))
            self.current = torch.device(d).index

        fakes = {
            "is_available": lambda: True,
            "device_count": lambda: 2,
            "device": device,
            "set_device": set_device,
            "is_bf16_supported": lambda including_emulation=True: capability[self.current][0] >= 8,
            "get_device_capability": lambda d=None: capability[torch.device(d).index],
            "get_device_properties": props,
        }
        for name, fn in fakes.items():
            monkeypatch.setattr(torch.cuda, name, fn)


@pytest.fixture
def backend_flags():
    """The process-wide flags configure_cuda sets, restored afterwards."""
    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
    saved = cudnn.benchmark, cudnn.allow_tf32, matmul.allow_tf32
    yield
    cudnn.benchmark, cudnn.allow_tf32, matmul.allow_tf32 = saved


def test_one_process_on_cuda1_makes_it_the_current_device(monkeypatch):
    gpus = TwoGPUs(monkeypatch)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    distributed.init_distributed(CUDA1)  # before: set_device only under torchrun
    assert gpus.set_device_calls == [CUDA1] and gpus.current == 1
    distributed.init_distributed(CPU)
    assert gpus.set_device_calls == [CUDA1]


def test_native_bf16_asks_the_run_device_not_gpu0(monkeypatch):
    gpus = TwoGPUs(monkeypatch)
    assert gpus.current == 0  # no set_device yet: the question used to go to GPU 0
    assert P.native_bf16(CUDA1) and not P.native_bf16(CUDA0)
    assert gpus.current == 0  # asked without changing the current device
    assert P.resolve_precision(TrainConfig(), CUDA1, convolutional=True).amp == "bf16"
    assert P.resolve_precision(TrainConfig(), CUDA0, convolutional=True).amp == "off"


def test_tf32_only_when_asked_and_the_gpu_has_it(monkeypatch):
    TwoGPUs(monkeypatch)
    monkeypatch.setattr(P, "native_bf16", lambda device: True)

    def tf32(device, **train):
        return P.resolve_precision(TrainConfig(**train), device, convolutional=True).tf32

    assert not tf32(CUDA1, amp="off")  # off unless asked: amp=off means IEEE float32
    assert tf32(CUDA1, amp="off", tf32=True) and tf32(CUDA1, tf32=True)
    assert not tf32(CUDA0, tf32=True)  # a Volta has no TF32
    assert not tf32(CPU, tf32=True)
    assert not tf32(CUDA1, tf32=True, dtype="float64")
    prec = P.resolve_precision(TrainConfig(amp="off", tf32=True), CUDA1, convolutional=True)
    assert prec.as_dict() == {"amp": "off", "channels_last": True, "tf32": True}


def test_configure_cuda_sets_and_records_cudnn_and_tf32(monkeypatch, backend_flags):
    TwoGPUs(monkeypatch)
    torch.backends.cudnn.benchmark, torch.backends.cudnn.allow_tf32 = False, True  # torch's
    cfg = TrainConfig(amp="off")
    record = P.configure_cuda(cfg, CUDA1, P.resolve_precision(cfg, CUDA1, convolutional=True))
    gpu = {"name": "NVIDIA H100", "capability": [9, 0], "memory_gib": 80.0}
    assert record == {**gpu, "cudnn_benchmark": True}
    assert torch.backends.cudnn.benchmark and not torch.backends.cudnn.allow_tf32
    assert not torch.backends.cuda.matmul.allow_tf32  # the similarities: IEEE float32 always
    cfg = TrainConfig(amp="off", tf32=True, cudnn_benchmark=False)
    P.configure_cuda(cfg, CUDA1, P.resolve_precision(cfg, CUDA1, convolutional=True))
    assert not torch.backends.cudnn.benchmark and torch.backends.cudnn.allow_tf32
    assert not torch.backends.cuda.matmul.allow_tf32


def test_configure_cuda_leaves_a_cpu_run_alone(backend_flags):
    torch.backends.cudnn.benchmark = False
    assert P.configure_cuda(TrainConfig(), CPU, P.Precision("off", False)) is None
    assert not torch.backends.cudnn.benchmark
