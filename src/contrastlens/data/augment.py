"""Batched, on-device image augmentation with per-sample randomness (no per-image PIL).

Two recipes:

- `"simclr"` (docs/theory.md, "Protocol"; RGB): random resized crop (scale 0.08-1, ratio
  3/4-4/3), horizontal flip 0.5, color jitter with p 0.8 (brightness/contrast/saturation 0.4,
  hue 0.1), grayscale 0.2, Gaussian blur 0.5 (sigma 0.1-2, kernel ~10% of the side).
- `"grayscale"` (Fashion-MNIST): crop + flip + brightness/contrast only; hue, saturation and
  grayscale are meaningless on one channel, and blur at 28 x 28 erases the texture that separates
  shirts from pullovers.

Why thin batched ops instead of kornia or torchvision.transforms.v2 (measured on this machine,
1 thread of a shared 2-core CPU, a batch of 256 RGB 32 x 32 uint8 images, the full SimCLR
recipe; `benchmarks/results/training.json`, "augment_only_rgb_b256"): ours 37 ms per batch,
kornia.augmentation 110 ms (2.9x), torchvision v2 with per-sample randomness 940 ms (25x). v2
draws ONE set of parameters per call on a batched tensor (63 ms, but every image gets the same
crop), so per-sample randomness needs a Python loop over images, a per-image cost like PIL's.
kornia is batched and per-sample, but its generic machinery (3x3 homographies, validation, one
warp per op) costs more at these small sizes. Here crop and flip fold into one affine grid and
one `grid_sample`, the jitter is a few broadcast ops, the blur one grouped separable
convolution: the same math at the lowest cost, on CPU or GPU alike, with no extra dependency in
the hot path.

Randomness: all parameters are drawn on the CPU from a `torch.Generator` (so a run draws the
same augmentations whatever the device, and resumes bit for bit on the CPU; on CUDA the
kernels themselves are not bit-reproducible, see train/checkpoint.py), then moved to the
images' device.
Documented differences from torchvision: the jitter order is fixed (brightness, contrast,
saturation, hue) instead of random; hue is a rotation of the chroma plane in YIQ space (a cheap,
smooth stand-in for the HSV shift); a crop box that does not fit is clipped to the image instead
of torchvision's 10 retries then center crop.

Legend: B batch, C channels, H, W height and width, K blur kernel taps.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

RECIPES = ("simclr", "grayscale", "none")


@dataclass
class AugmentConfig:
    """Augmentation parameters; `recipe` picks defaults, the other fields override them.

    crop: "resized" (random resized crop with `crop_scale`/`crop_ratio`) or "pad" (translate by
    up to `pad` pixels with zero fill, the CIFAR pad-and-crop) or "none".
    """

    recipe: str = "simclr"
    crop: str = "resized"
    crop_scale: tuple[float, float] = (0.08, 1.0)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    pad: int = 4
    flip_p: float = 0.5
    jitter_p: float = 0.8
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.4
    hue: float = 0.1
    grayscale_p: float = 0.2
    blur_p: float = 0.5
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    erase_p: float = 0.0
    erase_scale: tuple[float, float] = (0.02, 0.2)


def recipe(name: str, **overrides) -> AugmentConfig:
    """The named recipe's `AugmentConfig` (`simclr`, `grayscale`, `none`), with overrides."""
    if name == "simclr":
        cfg = AugmentConfig(recipe="simclr")
    elif name == "grayscale":
        cfg = AugmentConfig(
            recipe="grayscale",
            crop_scale=(0.35, 1.0),
            jitter_p=0.8,
            brightness=0.4,
            contrast=0.4,
            saturation=0.0,
            hue=0.0,
            grayscale_p=0.0,
            blur_p=0.0,
        )
    elif name == "none":
        cfg = AugmentConfig(recipe="none", crop="none", flip_p=0.0, jitter_p=0.0, grayscale_p=0.0)
        cfg.blur_p = 0.0
    else:
        raise ValueError(f"unknown augmentation recipe {name!r}; choose one of {RECIPES}")
    for key, value in overrides.items():
        setattr(cfg, key, value)
    return cfg


def _uniform(n: int, lo: float, hi: float, g: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=g, dtype=torch.float32) * (hi - lo) + lo


def crop_flip(x_BCHW: torch.Tensor, cfg: AugmentConfig, g: torch.Generator) -> torch.Tensor:
    """Random resized crop (or pad-translate) and horizontal flip as ONE affine `grid_sample`."""
    B, C, H, W = x_BCHW.shape
    if cfg.crop == "resized":
        area_B = _uniform(B, *cfg.crop_scale, g)
        logr_B = _uniform(B, math.log(cfg.crop_ratio[0]), math.log(cfg.crop_ratio[1]), g)
        w_B = torch.sqrt(area_B * torch.exp(logr_B)).clamp(max=1.0)  # box width / image width
        h_B = torch.sqrt(area_B / torch.exp(logr_B)).clamp(max=1.0)
        cx_B = (torch.rand(B, generator=g) * 2 - 1) * (1 - w_B)  # box center in [-1, 1] coords
        cy_B = (torch.rand(B, generator=g) * 2 - 1) * (1 - h_B)
    elif cfg.crop == "pad":
        w_B = h_B = torch.ones(B)
        shift_B2 = torch.randint(-cfg.pad, cfg.pad + 1, (B, 2), generator=g).float()
        cx_B, cy_B = shift_B2[:, 0] * 2 / W, shift_B2[:, 1] * 2 / H
    elif cfg.crop == "none":
        w_B = h_B = torch.ones(B)
        cx_B = cy_B = torch.zeros(B)
    else:
        raise ValueError(f"unknown crop {cfg.crop!r}; choose resized, pad or none")
    flip_B = torch.where(torch.rand(B, generator=g) < cfg.flip_p, -1.0, 1.0)
    if cfg.crop == "none" and cfg.flip_p == 0:
        return x_BCHW
    theta_B23 = torch.zeros(B, 2, 3)
    theta_B23[:, 0, 0] = w_B * flip_B
    theta_B23[:, 0, 2] = cx_B
    theta_B23[:, 1, 1] = h_B
    theta_B23[:, 1, 2] = cy_B
    theta_B23 = theta_B23.to(device=x_BCHW.device, dtype=x_BCHW.dtype)
    grid_BHW2 = F.affine_grid(theta_B23, [B, C, H, W], align_corners=False)
    return F.grid_sample(
        x_BCHW, grid_BHW2, mode="bilinear", padding_mode="zeros", align_corners=False
    )


_RGB_TO_YIQ = ((0.299, 0.587, 0.114), (0.596, -0.274, -0.322), (0.211, -0.523, 0.312))


@functools.lru_cache(maxsize=4)
def _yiq(dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """RGB -> YIQ and its inverse, (3, 3) on the CPU, computed once per dtype: inverting it on
    a GPU for every view made the host wait for the device (linalg.inv checks its result)."""
    to_yiq_33 = torch.tensor(_RGB_TO_YIQ, dtype=dtype)
    return to_yiq_33, torch.linalg.inv(to_yiq_33)


def _gray(x_BCHW: torch.Tensor) -> torch.Tensor:
    """ITU-R 601 luma, (B, 1, H, W); identity for one channel."""
    if x_BCHW.shape[1] == 1:
        return x_BCHW
    r, g, b = x_BCHW[:, 0:1], x_BCHW[:, 1:2], x_BCHW[:, 2:3]
    return 0.299 * r + 0.587 * g + 0.114 * b


def color(x_BCHW: torch.Tensor, cfg: AugmentConfig, g: torch.Generator) -> torch.Tensor:
    """Color jitter (with prob `jitter_p`, per sample), then random grayscale; x in [0, 1]."""
    B, C = x_BCHW.shape[:2]
    dev, dt = x_BCHW.device, x_BCHW.dtype

    def factor(strength: float) -> torch.Tensor:  # (B, 1, 1, 1), 1 where jitter is off
        f_B = _uniform(B, max(0.0, 1 - strength), 1 + strength, g)
        f_B = torch.where(on_B, f_B, torch.ones(B))
        return f_B.to(device=dev, dtype=dt).view(B, 1, 1, 1)

    on_B = torch.rand(B, generator=g) < cfg.jitter_p
    if cfg.jitter_p > 0 and cfg.brightness > 0:
        x_BCHW = (x_BCHW * factor(cfg.brightness)).clamp_(0, 1)
    if cfg.jitter_p > 0 and cfg.contrast > 0:
        m_B111 = _gray(x_BCHW).mean(dim=(1, 2, 3), keepdim=True)
        x_BCHW = ((x_BCHW - m_B111) * factor(cfg.contrast) + m_B111).clamp_(0, 1)
    if C == 3 and cfg.jitter_p > 0 and cfg.saturation > 0:
        gray_B1HW = _gray(x_BCHW)
        x_BCHW = ((x_BCHW - gray_B1HW) * factor(cfg.saturation) + gray_B1HW).clamp_(0, 1)
    if C == 3 and cfg.jitter_p > 0 and cfg.hue > 0:
        # the (B, 3, 3) colour matrices are built on the CPU, like every random parameter
        # here, and reach the images' device in one copy
        angle_B = _uniform(B, -cfg.hue, cfg.hue, g) * 2 * math.pi
        angle_B = torch.where(on_B, angle_B, torch.zeros(B)).to(dtype=dt)
        to_yiq_33, from_yiq_33 = _yiq(dt)
        cos_B, sin_B = torch.cos(angle_B), torch.sin(angle_B)
        rot_B33 = torch.zeros(B, 3, 3, dtype=dt)
        rot_B33[:, 0, 0] = 1
        rot_B33[:, 1, 1], rot_B33[:, 1, 2] = cos_B, -sin_B
        rot_B33[:, 2, 1], rot_B33[:, 2, 2] = sin_B, cos_B
        m_B33 = (from_yiq_33 @ rot_B33 @ to_yiq_33).to(dev)  # RGB -> YIQ, rotate IQ, back
        x_BCHW = torch.einsum("bij,bjhw->bihw", m_B33, x_BCHW).clamp_(0, 1)
    if C == 3 and cfg.grayscale_p > 0:
        gray_B_ = (torch.rand(B, generator=g) < cfg.grayscale_p).to(dev).view(B, 1, 1, 1)
        x_BCHW = torch.where(gray_B_, _gray(x_BCHW).expand_as(x_BCHW), x_BCHW)
    return x_BCHW


def blur(x_BCHW: torch.Tensor, cfg: AugmentConfig, g: torch.Generator) -> torch.Tensor:
    """Gaussian blur with prob `blur_p`, per-sample sigma; one grouped separable convolution."""
    B, C, H, W = x_BCHW.shape
    if cfg.blur_p <= 0:
        return x_BCHW
    K = max(3, int(0.1 * min(H, W)) // 2 * 2 + 1)  # odd, ~10% of the side (SimCLR)
    sigma_B = _uniform(B, *cfg.blur_sigma, g)
    on_B = torch.rand(B, generator=g) < cfg.blur_p
    t_K = torch.arange(K, dtype=torch.float32) - K // 2
    k_BK = torch.exp(-(t_K**2) / (2 * sigma_B[:, None] ** 2))
    k_BK = k_BK / k_BK.sum(dim=1, keepdim=True)
    delta_K = (t_K == 0).float()
    k_BK = torch.where(on_B[:, None], k_BK, delta_K)
    k_G1K = k_BK.repeat_interleave(C, dim=0).to(device=x_BCHW.device, dtype=x_BCHW.dtype)[:, None]
    x_1GHW = F.pad(x_BCHW.reshape(1, B * C, H, W), (K // 2,) * 4, mode="reflect")
    x_1GHW = F.conv2d(x_1GHW, k_G1K[:, :, None, :], groups=B * C)  # horizontal
    x_1GHW = F.conv2d(x_1GHW, k_G1K[:, :, :, None], groups=B * C)  # vertical
    return x_1GHW.reshape(B, C, H, W)


def erase(x_BCHW: torch.Tensor, cfg: AugmentConfig, g: torch.Generator) -> torch.Tensor:
    """Random erasing (a zeroed rectangle) with prob `erase_p`, per sample."""
    B, C, H, W = x_BCHW.shape
    if cfg.erase_p <= 0:
        return x_BCHW
    area_B = _uniform(B, *cfg.erase_scale, g)
    logr_B = _uniform(B, math.log(0.3), math.log(3.3), g)
    h_B = torch.sqrt(area_B / torch.exp(logr_B)).clamp(max=1.0) * H
    w_B = torch.sqrt(area_B * torch.exp(logr_B)).clamp(max=1.0) * W
    y0_B = torch.rand(B, generator=g) * (H - h_B)
    x0_B = torch.rand(B, generator=g) * (W - w_B)
    on_B = torch.rand(B, generator=g) < cfg.erase_p
    ys_H, xs_W = torch.arange(H).float(), torch.arange(W).float()
    in_BH = (ys_H >= y0_B[:, None]) & (ys_H < (y0_B + h_B)[:, None])
    in_BW = (xs_W >= x0_B[:, None]) & (xs_W < (x0_B + w_B)[:, None])
    mask_B1HW = (in_BH[:, :, None] & in_BW[:, None, :] & on_B[:, None, None])[:, None]
    return x_BCHW.masked_fill(mask_B1HW.to(x_BCHW.device), 0.0)


def normalize(x_BCHW: torch.Tensor, mean: tuple, std: tuple) -> torch.Tensor:
    """Per-channel standardization; `mean`/`std` have one entry per channel."""
    m = torch.tensor(mean, device=x_BCHW.device, dtype=x_BCHW.dtype).view(1, -1, 1, 1)
    s = torch.tensor(std, device=x_BCHW.device, dtype=x_BCHW.dtype).view(1, -1, 1, 1)
    return (x_BCHW - m) / s


def to_float(x_BCHW: torch.Tensor) -> torch.Tensor:
    """uint8 in [0, 255] -> float32 in [0, 1] (keeps the device)."""
    return x_BCHW.float().div_(255.0)


def augment(x_BCHW: torch.Tensor, cfg: AugmentConfig, g: torch.Generator) -> torch.Tensor:
    """One augmented view of a uint8 (or [0, 1] float) batch; returns float32 in [0, 1]."""
    x = to_float(x_BCHW) if x_BCHW.dtype == torch.uint8 else x_BCHW
    x = crop_flip(x, cfg, g)
    x = color(x, cfg, g)
    x = blur(x, cfg, g)
    x = erase(x, cfg, g)
    return x
