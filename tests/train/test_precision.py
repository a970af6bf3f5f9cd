"""train.amp / train.channels_last: auto follows the hardware's native bf16, recorded per run."""

import torch

from contrastlens.train import precision as P
from contrastlens.train.config import TrainConfig

CPU = torch.device("cpu")


def test_auto_follows_native_bf16(monkeypatch):
    monkeypatch.setattr(P, "native_bf16", lambda device: True)
    assert P.resolve_precision(TrainConfig(), CPU, convolutional=True).as_dict() == {
        "amp": "bf16",
        "channels_last": True,
        "tf32": False,
    }
    assert not P.resolve_precision(TrainConfig(), CPU, convolutional=False).channels_last
    monkeypatch.setattr(P, "native_bf16", lambda device: False)
    assert P.resolve_precision(TrainConfig(), CPU, convolutional=True).as_dict() == {
        "amp": "off",
        "channels_last": False,
        "tf32": False,
    }
    forced = TrainConfig(amp="bf16", channels_last="on")
    assert P.resolve_precision(forced, CPU, convolutional=True).as_dict() == {
        "amp": "bf16",
        "channels_last": True,
        "tf32": False,
    }
    f64 = TrainConfig(amp="bf16", dtype="float64")  # float64 runs are never autocast
    assert P.resolve_precision(f64, CPU, convolutional=True).amp == "off"


def test_cpu_flag_detection_reads_cpuinfo():
    P.cpu_has_native_bf16.cache_clear()
    flags = open("/proc/cpuinfo").read()
    expected = "avx512_bf16" in flags or "amx_bf16" in flags
    assert P.cpu_has_native_bf16() == expected


def test_autocast_context_and_layout():
    prec = P.Precision("bf16", True)
    x = torch.randn(2, 3, 4, 4)
    assert prec.inputs(x).is_contiguous(memory_format=torch.channels_last)
    with prec.autocast(CPU):
        assert (torch.randn(2, 2) @ torch.randn(2, 2)).dtype == torch.bfloat16
    with P.Precision("off", False).autocast(CPU):
        assert (torch.randn(2, 2) @ torch.randn(2, 2)).dtype == torch.float32
