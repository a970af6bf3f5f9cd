"""Precision and memory layout of the training and feature-extraction forwards.

`train.amp`: "auto" picks bf16 autocast where the hardware computes bf16 natively (a CUDA
device that supports it, or a CPU with AVX512-BF16 or AMX; detected from the CPU's flags, not
guessed from its name) and float32 elsewhere; "bf16" forces autocast; "off" is float32.
`train.channels_last`: "auto" uses channels-last for convolutional backbones on those same
devices (measured 2.3x with bf16 on an AVX512-BF16 CPU for the small CNN); "on" / "off" force it.
Losses and similarity statistics always run outside autocast, in float32 or float64: the loop
casts the projections back before the objective.

On CUDA (`configure_cuda`, process-wide): `train.cudnn_benchmark` lets cuDNN time its
convolution algorithms once per input shape (the training shapes are fixed); `train.tf32`
allows TF32 convolutions on Ampere or newer GPUs (10-bit mantissa). torch allows them by
default; here they are off unless asked, so "amp": "off" in meta.json means IEEE float32, and
meta.json's precision.tf32 says when they ran. Matrix products stay IEEE float32 either way:
the losses' and the statistics' cosine similarities are measured to ~1e-3.
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
        with torch.cuda.device(device):  # torch asks the current device: make it `device`
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
    tf32: bool = False  # TF32 convolutions in float32 code (CUDA, Ampere or newer)

    def autocast(self, device: torch.device):
        if self.amp == "bf16":
            return torch.autocast(device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        """Images in the memory layout the model was put in."""
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def as_dict(self) -> dict:
        return {"amp": self.amp, "channels_last": self.channels_last, "tf32": self.tf32}


def resolve_precision(train_cfg, device: torch.device, *, convolutional: bool) -> Precision:
    """`train.amp`, `train.channels_last` and `train.tf32` resolved for `device` (float64 runs:
    none of them; tf32 only where the device has TF32, CUDA compute capability >= 8)."""
    if train_cfg.dtype != "float32":
        return Precision("off", False)
    fast = native_bf16(device)
    amp = {"auto": "bf16" if fast else "off", "bf16": "bf16", "off": "off"}[train_cfg.amp]
    layout = {"auto": fast and convolutional, "on": True, "off": False}[train_cfg.channels_last]
    tf32 = bool(train_cfg.tf32) and device.type == "cuda" and has_tf32(device)
    return Precision(amp, bool(layout), tf32)


def has_tf32(device: torch.device) -> bool:
    """A CUDA device with TF32 tensor cores (Ampere or newer, compute capability >= 8.0)."""
    return torch.cuda.get_device_capability(device)[0] >= 8


def set_tf32(on: bool) -> None:
    """TF32 for cuDNN convolutions on or off, matrix products IEEE float32 (process-wide).
    Through the `allow_tf32` flags every torch >= 2.4 has: torch 2.9 added per-operator
    `fp32_precision` flags, but once those say "ieee" reading the `allow_tf32` flags raises
    (torch 2.14), which would break any code that still reads them; setting `allow_tf32`
    resets the new flags to follow it."""
    if hasattr(torch.backends.cudnn, "allow_tf32"):
        torch.backends.cudnn.allow_tf32 = on
        torch.backends.cuda.matmul.allow_tf32 = False
    else:  # a torch without the legacy flags
        torch.backends.cudnn.conv.fp32_precision = "tf32" if on else "ieee"
        torch.backends.cuda.matmul.fp32_precision = "ieee"


def configure_cuda(train_cfg, device: torch.device, precision: Precision) -> dict | None:
    """Apply the run's process-wide CUDA settings (cuDNN autotuning, TF32) and return what
    meta.json records as "cuda": {"name", "capability", "memory_gib", "cudnn_benchmark"}; None
    (and nothing changed) off CUDA."""
    if device.type != "cuda":
        return None
    torch.backends.cudnn.benchmark = bool(train_cfg.cudnn_benchmark)
    set_tf32(precision.tf32)
    props = torch.cuda.get_device_properties(device)
    return {
        "name": props.name,
        "capability": [props.major, props.minor],
        "memory_gib": round(props.total_memory / 2**30, 1),
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
    }
