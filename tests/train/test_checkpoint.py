"""RNG states in checkpoints: kept on the CPU, one CUDA device's state, old formats still read.

No GPU is needed: `torch.cuda` is replaced by a recorder where a test simulates one."""

import random

import numpy as np
import pytest
import torch

from contrastlens.train import checkpoint as C


class OnGPU:
    """What `torch.load(..., map_location="cuda")` makes of a saved CPU byte tensor: a tensor
    that torch's RNG setters refuse until it is brought back with `.to("cpu")`."""

    def __init__(self, t: torch.Tensor) -> None:
        self.t = t

    def to(self, device=None, dtype=None):
        assert torch.device(device).type == "cpu", device
        return self.t.to(dtype=dtype)


def _draws():
    return torch.rand(3), np.random.rand(3), [random.random() for _ in range(3)]


def _same(a, b) -> bool:
    return torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]


def test_rng_state_round_trip_on_cpu():
    C.seed_everything(3)
    state = C.rng_state()
    first = _draws()
    C.set_rng_state(state)
    assert _same(_draws(), first)


def test_states_loaded_onto_a_gpu_are_brought_back_to_the_cpu():
    C.seed_everything(4)
    state = C.rng_state()
    first = _draws()
    C.seed_everything(5)
    C.set_rng_state({**state, "torch": OnGPU(state["torch"])})  # a TypeError before the fix
    assert _same(_draws(), first)


class FakeCuda:
    """torch.cuda on a machine with `n` GPUs, this process on `current`."""

    def __init__(self, monkeypatch, n: int = 2, current: int = 1) -> None:
        self.n, self.current, self.set_calls = n, current, []

        def state(i: int) -> torch.Tensor:
            return torch.full((8,), i, dtype=torch.uint8)

        fakes = {
            "is_available": lambda: True,
            "is_initialized": lambda: True,
            "device_count": lambda: self.n,
            "current_device": lambda: self.current,
            "get_rng_state": lambda device="cuda": state(self.current),
            "get_rng_state_all": lambda: [state(i) for i in range(self.n)],
            "set_rng_state": lambda s, device="cuda": self.set_calls.append(s),
        }
        for name, fn in fakes.items():
            monkeypatch.setattr(torch.cuda, name, fn)


def test_only_the_current_device_state_is_saved_and_restored(monkeypatch):
    cuda = FakeCuda(monkeypatch, n=4, current=1)
    state = C.rng_state()
    assert isinstance(state["cuda"], torch.Tensor) and state["cuda"][0] == 1
    cuda.n, cuda.current = 1, 0  # resumed with a single GPU visible
    C.set_rng_state({**state, "cuda": OnGPU(state["cuda"])})
    (restored,) = cuda.set_calls
    assert restored.device.type == "cpu" and restored.dtype == torch.uint8 and restored[0] == 1


@pytest.mark.parametrize("current,expected", [(1, 1), (3, None)])
def test_old_checkpoints_with_every_gpu_state(monkeypatch, current, expected):
    cuda = FakeCuda(monkeypatch, n=4, current=current)
    state = C.rng_state()
    state["cuda"] = [torch.full((8,), i, dtype=torch.uint8) for i in range(2)]  # saved on 2 GPUs
    C.set_rng_state(state)
    if expected is None:  # this device had no saved state: left as it is, no IndexError
        assert cuda.set_calls == []
    else:
        assert [int(s[0]) for s in cuda.set_calls] == [expected]


def test_a_cpu_only_resume_ignores_a_saved_cuda_state(monkeypatch):
    state = {**C.rng_state(), "cuda": torch.zeros(8, dtype=torch.uint8)}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    C.set_rng_state(state)  # nothing to restore it to, and no error
