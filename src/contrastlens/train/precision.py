"""Precision and memory layout of the training and feature-extraction forwards.

`train.amp`: "auto" picks bf16 autocast where the hardware computes bf16 natively (a CUDA
device that supports it, or a CPU with AVX512-BF16 or AMX; detected from the CPU's flags, not
guessed from its name) and float32 elsewhere; "bf16" forces autocast; "off" is float32.
`train.channels_last`: "auto" uses channels-last for convolutional backbones on those same
devices (measured 2.3x with bf16 on an AVX512-BF16 CPU for the small CNN); "on" / "off" force it.
Losses and similarity statistics always run outside autocast, in float32 or float64: the loop
casts the projections back before the objective.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass

import torch


@functools.lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """True when the CPU advertises AVX512-BF16 or AMX (Linux /proc/cpuinfo flags, or torch's
    own capability probe where it has one)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool({"avx512_bf16", "amx_bf16"} & flags)
    except OSError:
        pass
    probe = getattr(torch.backends.mkldnn, "is_bf16_supported", None)
    try:
        return bool(probe()) if probe is not None else False
    except Exception:  # a probe that fails means: not known to be supported
        return False


def native_bf16(device: torch.device) -> bool:
    if device.type == "cuda":  # native only: older GPUs emulate bf16, slowly
        try:
            return torch.cuda.is_bf16_supported(including_emulation=False)
        except TypeError:  # a torch without the argument
            return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return cpu_has_native_bf16()
    return False


@dataclass(frozen=True)
class Precision:
    """The resolved choice, recorded in meta.json as {"amp": ..., "channels_last": ...}."""

    amp: str  # "bf16" or "off"
    channels_last: bool

    def autocast(self, device: torch.device):
        if self.amp == "bf16":
            return torch.autocast(device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        """Images in the memory layout the model was put in."""
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def as_dict(self) -> dict:
        return {"amp": self.amp, "channels_last": self.channels_last}


def resolve_precision(train_cfg, device: torch.device, *, convolutional: bool) -> Precision:
    """`train.amp` and `train.channels_last` resolved for `device` (float64 runs: neither)."""
    if train_cfg.dtype != "float32":
        return Precision("off", False)
    fast = native_bf16(device)
    amp = {"auto": "bf16" if fast else "off", "bf16": "bf16", "off": "off"}[train_cfg.amp]
    layout = {"auto": fast and convolutional, "on": True, "off": False}[train_cfg.channels_last]
    return Precision(amp, bool(layout))
