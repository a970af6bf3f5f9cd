"""The configuration of one text run, its presets, and `key=value` overrides.

Standard library only (the CLI's --help must not import torch). Keys are flat:
`contrastlens train-text --preset wordnet --set arm=mnrl-vrn --set vrn_weight=10`.

Arms (`ARMS`): `zero-shot` (no training: the pretrained model), `mnrl`
(MultipleNegativesRankingLoss), `mnrl-vrn` (MNRL + vrn_weight x VRN, one forward),
`mnrl-gor` (MNRL + GlobalOrthogonalRegularizationLoss with both its weights = gor_weight),
`cached-mnrl` (CachedMultipleNegativesRankingLoss: batch_size rows per step, embedded
mini_batch_size at a time, the GradCache way: the memory of the mini-batch, about one extra
forward of compute) and `global` (SogCLR's global loss in MNRL's shape,
`GlobalMultipleNegativesRankingLoss`, t = 1/scale, state weight gamma). Every arm with a
temperature takes it from `scale` (MNRL's; VRN and GOR have none).

`mask_duplicates` (mnrl, mnrl-vrn, cached-mnrl, global): batches from the default sampler,
in-batch duplicates masked by the loss (contrastlens.integrations.sentence_transformers),
instead of the NO_DUPLICATES sampler that keeps them out of a batch (the default, off).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from contrastlens.errors import ConfigError

ARMS = ("zero-shot", "mnrl", "mnrl-vrn", "mnrl-gor", "cached-mnrl", "global")
MASKABLE = ("mnrl", "mnrl-vrn", "cached-mnrl", "global")  # arms with a masked loss
EVAL_SPLITS = ("validation", "test")
AMP = ("auto", "bf16", "off")
MAX_SEQ_LENGTH = 512  # the model's position embeddings
MAX_BATCH = 2**16
MAX_EPOCHS = 1000


@dataclass
class TextConfig:
    arm: str = "mnrl"
    batch_size: int = 16  # rows (pairs) per optimizer step; cached-mnrl: the effective batch
    mini_batch_size: int = 0  # cached-mnrl: rows embedded at a time (0 = batch_size)
    train_pairs: int = 8000  # a fixed subset of the training split (0 = all)
    subset_seed: int = 0  # which subset (the same for every arm and seed)
    epochs: float = 1.0  # passes over the subset
    lr: float = 5e-5  # AdamW peak learning rate (sentence-transformers' default)
    warmup_ratio: float = 0.1  # linear warmup, then linear decay (the trainer's default shape)
    weight_decay: float = 0.01
    scale: float = 20.0  # MNRL's inverse temperature (the library's default)
    vrn_weight: float = 1.0  # mnrl-vrn: lambda; delta = -1/(train_pairs - 1)
    gor_weight: float = 1.0  # mnrl-gor: GOR's mean_weight = second_moment_weight
    gamma: float = 0.9  # global: the weight of the new batch estimate in SogCLR's state
    mask_duplicates: bool = False  # MASKABLE arms: mask duplicates, not the NO_DUPLICATES sampler
    seed: int = 0  # data order and dropout
    amp: str = "auto"  # auto: bf16 autocast on a CPU with native bf16 (train.precision)
    eval_split: str = "test"  # the study chooses hyperparameters on "validation"
    eval_synsets: int = 0  # evaluate on this many synsets of the split (0 = all; smoke: few)
    max_seq_length: int = 128
    log_every: int = 10  # optimizer steps between logged lines of metrics.jsonl
    out_dir: str = "runs"
    name: str = ""  # run folder name (default: from the arm, batch and seed)
    preset: str = ""

    def run_name(self) -> str:
        masked = "-masked" if self.mask_duplicates else ""
        return self.name or f"{self.arm}{masked}_bs{self.batch_size}_seed{self.seed}"

    def mini_batch(self) -> int:
        return self.mini_batch_size or self.batch_size


BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def _parse(name: str, kind: type, text: str) -> Any:
    if kind is bool:
        if text.lower() not in BOOLEANS:
            raise ConfigError(f"{name} must be true or false, got {text!r}")
        return BOOLEANS[text.lower()]
    try:
        if kind is int:
            return int(text)
        if kind is float:
            value = float(text)
            if not math.isfinite(value):
                raise ValueError
            return value
    except ValueError:
        raise ConfigError(f"{name} must be a finite {kind.__name__}, got {text!r}") from None
    return text


def _kinds(cfg: TextConfig) -> dict[str, type]:
    kinds = {"int": int, "float": float, "bool": bool}
    return {f.name: kinds.get(str(f.type), str) for f in fields(cfg)}


def apply_overrides(cfg: TextConfig, items: list[str]) -> TextConfig:
    """A new config: `cfg` with `key=value` strings applied, `validate`d (`cfg` is unchanged,
    as the image stack's `train.config.apply_overrides`)."""
    cfg = replace(cfg)
    kinds = _kinds(cfg)
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        if key not in kinds:
            raise ConfigError(f"unknown text setting {key!r}; known: {', '.join(kinds)}")
        setattr(cfg, key, _parse(key, kinds[key], value.strip()))
    return validate(cfg)


def validate(cfg: TextConfig) -> TextConfig:
    def need(ok: bool, message: str) -> None:
        if not ok:
            raise ConfigError(message)

    need(cfg.arm in ARMS, f"arm must be one of {', '.join(ARMS)}, got {cfg.arm!r}")
    need(
        cfg.eval_split in EVAL_SPLITS,
        f"eval_split must be validation or test, got {cfg.eval_split!r}",
    )
    need(cfg.amp in AMP, f"amp must be one of {', '.join(AMP)}, got {cfg.amp!r}")
    need(cfg.batch_size <= MAX_BATCH, f"batch_size must be <= {MAX_BATCH}, got {cfg.batch_size}")
    need(cfg.batch_size >= 2, f"batch_size must be >= 2 (in-batch negatives), got {cfg.batch_size}")
    need(
        0 <= cfg.mini_batch_size <= cfg.batch_size,
        f"mini_batch_size must be in [0, batch_size = {cfg.batch_size}], got {cfg.mini_batch_size}",
    )
    need(
        cfg.mini_batch_size == 0 or cfg.arm == "cached-mnrl",
        "mini_batch_size is cached-mnrl's setting; set arm=cached-mnrl or leave it 0",
    )
    need(
        cfg.train_pairs == 0 or cfg.train_pairs >= cfg.batch_size,
        f"train_pairs = {cfg.train_pairs} is less than one batch (batch_size = {cfg.batch_size})",
    )
    need(cfg.train_pairs >= 0, f"train_pairs must be >= 0 (0 = all), got {cfg.train_pairs}")
    need(cfg.epochs > 0, f"epochs must be > 0, got {cfg.epochs}")
    need(cfg.lr > 0, f"lr must be > 0, got {cfg.lr}")
    need(0 <= cfg.warmup_ratio < 1, f"warmup_ratio must be in [0, 1), got {cfg.warmup_ratio}")
    need(cfg.weight_decay >= 0, f"weight_decay must be >= 0, got {cfg.weight_decay}")
    need(cfg.scale > 0, f"scale must be > 0, got {cfg.scale}")
    need(cfg.vrn_weight >= 0, f"vrn_weight must be >= 0, got {cfg.vrn_weight}")
    need(cfg.gor_weight >= 0, f"gor_weight must be >= 0, got {cfg.gor_weight}")
    need(0 < cfg.gamma <= 1, f"gamma must be in (0, 1] (global's state weight), got {cfg.gamma}")
    need(
        not cfg.mask_duplicates or cfg.arm in MASKABLE,
        f"mask_duplicates applies to {', '.join(MASKABLE)} (GOR has no masked form and "
        f"zero-shot trains nothing), got arm={cfg.arm}",
    )
    need(
        cfg.eval_synsets == 0 or cfg.eval_synsets >= 2,
        f"eval_synsets must be 0 (all) or >= 2, got {cfg.eval_synsets}",
    )
    need(
        8 <= cfg.max_seq_length <= MAX_SEQ_LENGTH,
        f"max_seq_length must be in [8, {MAX_SEQ_LENGTH}] (all-MiniLM-L6-v2's positions), "
        f"got {cfg.max_seq_length}",
    )
    need(cfg.log_every >= 1, f"log_every must be >= 1, got {cfg.log_every}")
    need(cfg.epochs <= MAX_EPOCHS, f"epochs must be <= {MAX_EPOCHS}, got {cfg.epochs}")
    for key in ("seed", "subset_seed"):
        value = getattr(cfg, key)
        need(0 <= value < 2**32, f"{key} must be in [0, 2**32) (numpy's seeds), got {value}")
    need(
        "/" not in cfg.run_name() and cfg.run_name() not in ("", ".", ".."),
        f"name must be a plain folder name, got {cfg.run_name()!r}",
    )
    return cfg


def to_dict(cfg: TextConfig) -> dict:
    return asdict(cfg)


def merge(cfg: TextConfig, data: dict, where: str = "config") -> TextConfig:
    """A new config: `cfg` with the settings of a (partial) dict applied, type-checked and
    `validate`d (`cfg` is unchanged)."""
    cfg = replace(cfg)
    kinds = _kinds(cfg)
    for key, value in data.items():
        if key not in kinds:
            raise ConfigError(f"{where}: unknown text setting {key!r}; known: {', '.join(kinds)}")
        kind = kinds[key]
        ok = (
            isinstance(value, int) and not isinstance(value, bool)
            if kind is int
            else isinstance(value, (int, float)) and not isinstance(value, bool)
            if kind is float
            else isinstance(value, bool)
            if kind is bool
            else isinstance(value, str)
        )
        if not ok or (kind is float and not math.isfinite(value)):
            finite = "finite " if kind is float else ""
            raise ConfigError(f"{where}: {key} must be a {finite}{kind.__name__}, got {value!r}")
        setattr(cfg, key, float(value) if kind is float else value)
    return validate(cfg)


def from_dict(data: dict) -> TextConfig:
    return merge(TextConfig(), data)


def read(path: str | Path) -> dict:
    """A JSON text config file as a dict of settings (merge it onto a preset)."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ConfigError(f"{path}: not a readable JSON text config ({error})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a text config is a JSON object of settings")
    return data
