"""Typed training configuration: nested dataclasses, JSON round trip, `a.b=value` overrides.

    cfg = presets.get("fmnist-simclr")                  # a function returning a Config
    cfg = apply_overrides(cfg, ["train.batch_size=32", "vrn.weight=30"])
    cfg = config_from_dict(json.load(f))                # unknown key / wrong type: ConfigError
    cfg = config_from_dict(with_predating(stored))      # a run folder's config.json
    config_to_dict(cfg)                                 # what run folders store as config.json

Schema (defaults in the dataclasses below; every leaf is settable with `--set`):

    data     dataset, root, train_split, test_split, image_size, subset, val_size, synthetic_n,
             synthetic_channels, workers (-1 = auto, from the CPU cores),
             augment.{recipe, crop, crop_scale, crop_ratio, pad, flip_p, jitter_p, brightness,
             contrast, saturation, hue, grayscale_p, blur_p, blur_sigma, erase_p, erase_scale}
    model    backbone, widths, depth, pool, mid_pool, norm, proj_hidden, proj_dim,
             stem (ResNets: auto | cifar | imagenet; auto = imagenet from 128 px up; the
             stem in use is meta.json's resolved.stem)
    method   name, temperature, within_view, siglip_t, siglip_b, moco_momentum, moco_queue,
             moco_symmetric, moco_bn_groups, sogclr_gamma
    vrn      weight (lambda, 0 = off), n (None = training-set size), delta, within_view, lr_ref
    gor      weight (0 = off): GOR of the two views (sentence-transformers' form)
    optim    name (sgd | lars), base_lr (lr = base_lr * batch / 256), momentum, weight_decay,
             warmup_epochs, min_lr_ratio
    train    epochs, batch_size (global), seed, device, amp, channels_last, dtype, micro_batch,
             log_every, checkpoint_every, max_steps, max_minutes, time_schedule, progress,
             tensorboard, sync_bn, cudnn_benchmark, tf32 (CUDA only; recorded in meta.json's
             "cuda" and "precision")
    eval     at_end, linear_epochs, linear_lr, knn_k, knn_temperature, table1_pairs,
             curve_epochs, curve_linear_epochs, final_split
    out_dir, name, preset
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from contrastlens.data.augment import AugmentConfig
from contrastlens.data.splits import DATASETS
from contrastlens.errors import ConfigError
from contrastlens.losses.objective import METHODS
from contrastlens.models import BACKBONES, STEMS


@dataclass
class DataConfig:
    dataset: str = "fashion-mnist"
    root: str | None = None  # dataset folder; None = search the usual places
    train_split: str = "train"
    test_split: str = "test"
    image_size: int = 0  # imagefolder / synthetic side; 0 = the dataset's own
    subset: int = 0  # train on the first `subset` training images (0 = all)
    # Hold out `val_size` training images (a fixed permutation, the same for every seed) as a
    # validation split: training never sees them and the probes score on them instead of the
    # test split. Used to choose hyperparameters without touching the test set.
    val_size: int = 0
    synthetic_n: int = 64  # size of the "synthetic" dataset (dry runs, tests)
    synthetic_channels: int = 1  # its channels (3 with image_size=32: CIFAR-shaped)
    # DataLoader workers decoding an image folder (imagefolder only); -1 = this process's share
    # of the CPU cores less one, 1 to 16 (data/views.py auto_workers; meta.json resolved.workers)
    workers: int = -1
    augment: AugmentConfig = field(default_factory=AugmentConfig)


@dataclass
class ModelConfig:
    backbone: str = "small_cnn"
    widths: tuple[int, ...] = (32, 64, 128)  # small_cnn only
    depth: int = 1  # small_cnn: convs per stage after the first
    pool: int = 2  # small_cnn: feature map pooled to pool x pool cells
    mid_pool: int = 0  # small_cnn: also the 14 x 14 stage pooled to mid_pool^2 cells (0 = off)
    norm: str = "bn"  # small_cnn: "bn" or "none" (no batch norm anywhere, also in the head)
    proj_hidden: int = 512
    proj_dim: int = 128
    # ResNets' first layers: "cifar" (3x3 stride-1 conv, no max-pool: 32 px stays 32 px),
    # "imagenet" (7x7 stride-2 conv + max-pool, the standard ResNet at 224 px; the CIFAR stem
    # there costs ~15x the FLOPs), "auto" = imagenet from 128 px up (models/resnet.py).
    stem: str = "auto"


@dataclass
class MethodConfig:
    name: str = "simclr"
    temperature: float = 0.2
    within_view: bool | None = None  # None = the method's own (see losses.build_objective)
    siglip_t: float | None = None  # None = learnable
    siglip_b: float | None = None
    moco_momentum: float = 0.99
    moco_queue: int = 4096
    moco_symmetric: bool = True  # loss on (q1, k2) and (q2, k1), averaged (MoCo v3 style)
    # shuffle-BN on one process: BN groups per step; no key is normalized with its query's
    # group (models/momentum.py). 1 = queries and keys share statistics (no shuffle-BN).
    moco_bn_groups: int = 2
    # SogCLR (name "sogclr"): weight of the new batch estimate in each sample's moving average,
    # in (0, 1]; 1 = no memory. 0.9 is the SogCLR paper's and LibAUC's default.
    sogclr_gamma: float = 0.9


@dataclass
class VRNConfig:
    weight: float = 0.0  # lambda; 0 = off (the paper uses 30)
    n: int | None = None  # None = the training-set size (delta = -1/(n-1))
    delta: float | None = None  # give n or delta, not both
    within_view: bool = False
    # lambda scaled by 1/lr: the weight in use is weight * lr_ref / peak lr (None = weight as
    # given). The first study found lambda x lr, not lambda, is what must stay fixed.
    lr_ref: float | None = None


@dataclass
class GORConfig:
    # Global Orthogonal Regularization (losses/gor.py), sentence-transformers' form, on the two
    # views' projections: the regularizer users compare VRN with. 0 = off.
    weight: float = 0.0


@dataclass
class OptimConfig:
    name: str = "sgd"  # sgd | lars
    base_lr: float = 0.3  # lr = base_lr * batch_size / 256
    momentum: float = 0.9
    weight_decay: float = 1e-4
    warmup_epochs: float = 10.0
    min_lr_ratio: float = 0.0  # cosine floor as a fraction of the peak lr


@dataclass
class TrainConfig:
    epochs: int = 200
    batch_size: int = 256  # global (summed over processes)
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    # auto: bf16 autocast where the device computes bf16 natively (CUDA, AVX512-BF16/AMX CPUs),
    # else float32 | bf16 | off (train/precision.py)
    amp: str = "auto"
    channels_last: str = "auto"  # auto (with native bf16, conv backbones) | on | off
    dtype: str = "float32"  # float32 | float64 (tests)
    # > 0: the whole batch's loss with activations for micro_batch images at a time
    # (GradCache, train/gradcache.py); must divide the per-process batch. 0 = off.
    micro_batch: int = 0
    log_every: int = 10  # steps between metrics lines
    checkpoint_every: int = 1  # epochs between checkpoints (always at the end)
    max_steps: int = 0  # stop after this many steps (0 = the whole schedule); dry runs
    max_minutes: float = 0.0  # stop (checkpoint, evaluate) after this much training time; 0 = off
    # time_schedule: the cosine follows elapsed / max_minutes instead of step / total steps, so
    # a fixed-time recipe anneals fully however fast a shared CPU runs (not bit-reproducible).
    time_schedule: bool = False
    progress: bool = True
    tensorboard: bool = False
    sync_bn: bool = True  # global batch-norm statistics when world size > 1 (not MoCo)
    # CUDA only: cuDNN times its convolution algorithms once per input shape and keeps the
    # fastest (the training batches all have one shape); false = cuDNN's heuristics.
    cudnn_benchmark: bool = True
    # CUDA, Ampere or newer: TF32 convolutions in float32 code (train.amp=off, and what bf16
    # autocast leaves in float32). Off: amp=off is IEEE float32 (torch's own default is on).
    tf32: bool = False


@dataclass
class EvalConfig:
    at_end: bool = True  # run the probes and the similarity measurements after training
    linear_epochs: int = 100
    # the linear probe's peak SGD lr (cosine-decayed); 0.1 is the paper's protocol. A preset may
    # set another value only when it was chosen on a validation split (say where, in its comment).
    linear_lr: float = 0.1
    knn_k: int = 200
    knn_temperature: float = 0.1
    table1_pairs: int = 5000  # augmented training pairs for the Table 1 variance
    # also probe at these epochs and at the end (curve.jsonl), on the validation split only
    # (needs data.val_size > 0): choices are made on validation, the test split is scored once
    curve_epochs: tuple[int, ...] = ()
    curve_linear_epochs: int = 30
    # The end-of-run probes' split: "auto" = validation when data.val_size > 0, else test;
    # "test" = the test split always (curves still score the validation split).
    final_split: str = "auto"


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    vrn: VRNConfig = field(default_factory=VRNConfig)
    gor: GORConfig = field(default_factory=GORConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    out_dir: str = "runs"
    name: str | None = None  # run folder name; None = <preset or method>-<timestamp>
    preset: str | None = None  # the preset this config started from (informational)


def config_to_dict(cfg: Any) -> dict:
    """Plain JSON-able dict (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """`value` checked against the annotation `tp` (JSON types in, Python types out)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError:
                pass
        raise ConfigError(f"{key}: expected {_type_name(tp)}, got {value!r}")
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping of {tp.__name__} fields, got {value!r}")
        return _from_dict(tp, value, key)
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{key}: expected {len(args)} values, got {value!r}")
        return tuple(_coerce(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        import math

        try:
            value = float(value)
        except OverflowError:  # an integer beyond float range
            raise ConfigError(f"{key}: expected a finite number, got {value!r}") from None
        if not math.isfinite(value):  # JSON's NaN / Infinity: never a setting
            raise ConfigError(f"{key}: expected a finite number, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{key}: unsupported type {tp!r}")  # pragma: no cover


def _from_dict(cls: type, d: dict, prefix: str = "") -> Any:
    hints = _hints(cls)
    unknown = sorted(set(d) - set(hints))
    if unknown:
        where = f"{prefix}." if prefix else ""
        raise ConfigError(
            f"unknown config key {where}{unknown[0]}; valid keys"
            f"{' in ' + prefix if prefix else ''}: {', '.join(hints)}"
        )
    kwargs = {
        name: _coerce(value, hints[name], f"{prefix}.{name}" if prefix else name)
        for name, value in d.items()
    }
    return cls(**kwargs)


def config_from_dict(d: dict, base: Config | None = None) -> Config:
    """A Config from a (possibly partial) nested dict, on top of `base` (default: defaults)."""
    if not isinstance(d, dict):
        raise ConfigError(f"a config must be a JSON object, got {type(d).__name__}")
    merged = _merge(config_to_dict(base or Config()), d, "")
    return _from_dict(Config, merged)


# Keys added after run folders were first written, with the value that reproduces what a run
# stored without them did: a run resumed or evaluated later keeps its behaviour (and --resume
# sees no change to refuse). A missing key in a user's partial config still means the default.
PREDATING = {
    ("model", "stem"): "cifar",  # ResNets had the CIFAR stem at every image size
    ("data", "synthetic_channels"): 1,
    ("train", "cudnn_benchmark"): False,  # never set
    ("train", "tf32"): True,  # torch's default: TF32 convolutions on Ampere or newer
}


def with_predating(stored: dict) -> dict:
    """A run's stored config.json with the `PREDATING` keys it lacks filled in (anything but
    a JSON object is returned as it is, for config_from_dict to refuse)."""
    if not isinstance(stored, dict):
        return stored
    out = json.loads(json.dumps(stored))
    for (section, key), value in PREDATING.items():
        if isinstance(out.get(section), dict) and key not in out[section]:
            out[section][key] = value
    return out


def _merge(base: dict, new: dict, prefix: str) -> dict:
    out = dict(base)
    for k, v in new.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            out[k] = _merge(base[k], v, f"{prefix}{k}.")
        else:
            out[k] = v
    return out


def _parse_value(text: str, tp: Any, key: str) -> Any:
    """`--set` values: JSON first (numbers, true/false, null, [lists]); else a bare string."""
    low = text.strip().lower()
    if low in ("none", "null"):
        return None
    if low in ("true", "false"):
        return low == "true"
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        if "," in text and typing.get_origin(tp) is tuple:  # 0.2,1.0: each part alone
            return [_parse_value(part, Any, key) for part in text.split(",")]
        return text.strip() if typing.get_origin(tp) is tuple else text


def apply_overrides(cfg: Config, overrides: list[str]) -> Config:
    """Apply `a.b.c=value` strings; returns a new Config. Unknown key or bad value: ConfigError."""
    d = config_to_dict(cfg)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        key, text = item.split("=", 1)
        key = key.strip()
        parts = key.split(".")
        cls: Any = Config
        node = d
        for i, part in enumerate(parts):
            hints = _hints(cls)
            if part not in hints:
                where = ".".join(parts[:i]) or "the top level"
                raise ConfigError(
                    f"unknown config key {key!r}; valid keys at {where}: {', '.join(hints)}"
                )
            tp = hints[part]
            if i < len(parts) - 1:
                if not dataclasses.is_dataclass(tp):
                    raise ConfigError(f"{'.'.join(parts[: i + 1])} is a value, not a section")
                cls, node = tp, node[part]
            else:
                if dataclasses.is_dataclass(tp):
                    raise ConfigError(
                        f"{key} is a section; set one of its keys: {', '.join(_hints(tp))}"
                    )
                value = _parse_value(text, tp, key)
                node[part] = _coerce(value, tp, key)
                if isinstance(node[part], tuple):
                    node[part] = list(node[part])
    return _from_dict(Config, d)


def validate(cfg: Config) -> None:
    """Value checks that the types cannot express; raises ConfigError naming the key and the
    allowed values. Everything a value could break later (a negative size, a probability above
    1, a device that is not there) is caught here, before any data is loaded or model built."""
    _check_choices(cfg)
    _check_sizes(cfg)
    _check_method(cfg)
    _check_batch(cfg)
    _check_device(cfg.train)
    _check_augment(cfg.data.augment)
    _check_curves(cfg)


# Sizes and counts beyond 2^31 cannot be held by any tensor or loop here: a typo.
_HUGE = 2**31


def _choice(key: str, value: str, options: tuple) -> None:
    if value not in options:
        raise ConfigError(f"{key}={value!r}; choose one of {', '.join(options)}")


def _at_least(key: str, value: float, lo: float) -> None:
    if value < lo:
        raise ConfigError(f"{key} must be >= {lo:g}, got {value}")


def _within(key: str, value: float, lo: float, hi: float, *, open_hi: bool = False) -> None:
    if not (lo <= value < hi if open_hi else lo <= value <= hi):
        top = ")" if open_hi else "]"
        raise ConfigError(f"{key} must be in [{lo:g}, {hi:g}{top}, got {value}")


def _interval(key: str, pair: tuple, lo: float, hi: float | None) -> None:
    a, b = pair
    if not (lo < a <= b and (hi is None or b <= hi)):
        top = f" <= {hi:g}" if hi is not None else ""
        raise ConfigError(f"{key} must satisfy {lo:g} < lo <= hi{top}, got {[a, b]}")


def _check_choices(cfg: Config) -> None:
    """Every setting that names one of a fixed set of things."""
    from contrastlens.data.datasets import PROBE_FIT, SPLITS

    d, m, a, t = cfg.data, cfg.model, cfg.data.augment, cfg.train
    _choice("data.dataset", d.dataset, DATASETS)
    _choice("model.backbone", m.backbone, BACKBONES)
    _choice("model.norm", m.norm, ("bn", "none"))
    _choice("model.stem", m.stem, STEMS)
    _choice("method.name", cfg.method.name, METHODS)
    _choice("optim.name", cfg.optim.name, ("sgd", "lars"))
    _choice("train.amp", t.amp, ("auto", "bf16", "off"))
    _choice("train.channels_last", t.channels_last, ("auto", "on", "off"))
    _choice("train.dtype", t.dtype, ("float32", "float64"))
    _choice("data.augment.recipe", a.recipe, ("simclr", "grayscale", "none"))
    _choice("eval.final_split", cfg.eval.final_split, ("auto", "test"))
    _choice("data.augment.crop", a.crop, ("resized", "pad", "none"))
    if d.dataset in SPLITS:  # synthetic ignores split names; an image folder has its own
        _choice("data.train_split", d.train_split, SPLITS[d.dataset])
        _choice("data.test_split", d.test_split, SPLITS[d.dataset])
    if d.val_size and (d.dataset, d.train_split) in PROBE_FIT:
        raise ConfigError(
            f"data.val_size={d.val_size} with data.train_split={d.train_split!r}: the held-out "
            "images would include unlabeled ones, which no probe can score; use "
            "data.train_split=train or data.val_size=0"
        )


def _check_sizes(cfg: Config) -> None:
    """Counts, sizes and rates: positive, non-negative, and below what a tensor can hold."""
    d, m, a, t, e = cfg.data, cfg.model, cfg.data.augment, cfg.train, cfg.eval
    positive = {
        "train.batch_size": t.batch_size,
        "train.epochs": t.epochs,
        "train.log_every": t.log_every,
        "method.temperature": cfg.method.temperature,
        "optim.base_lr": cfg.optim.base_lr,
        "model.proj_dim": m.proj_dim,
        "method.moco_queue": cfg.method.moco_queue,
        "method.moco_bn_groups": cfg.method.moco_bn_groups,
        "model.proj_hidden": m.proj_hidden,
        "model.depth": m.depth,
        "model.pool": m.pool,
        "train.checkpoint_every": t.checkpoint_every,
        "eval.knn_k": e.knn_k,
        "eval.knn_temperature": e.knn_temperature,
        "eval.linear_epochs": e.linear_epochs,
        "eval.curve_linear_epochs": e.curve_linear_epochs,
        "eval.linear_lr": e.linear_lr,
        "eval.table1_pairs": e.table1_pairs,
        "data.synthetic_channels": d.synthetic_channels,
    }
    for key, value in positive.items():
        if value <= 0:
            raise ConfigError(f"{key} must be > 0, got {value}")
    non_negative = {
        "data.image_size": d.image_size,
        "data.subset": d.subset,
        "data.val_size": d.val_size,
        "data.augment.pad": a.pad,
        "data.augment.brightness": a.brightness,
        "data.augment.contrast": a.contrast,
        "data.augment.saturation": a.saturation,
        "model.mid_pool": m.mid_pool,
        "optim.weight_decay": cfg.optim.weight_decay,
        "optim.warmup_epochs": cfg.optim.warmup_epochs,
        "train.max_steps": t.max_steps,
        "train.max_minutes": t.max_minutes,
        "train.seed": t.seed,
        "gor.weight": cfg.gor.weight,
    }
    for key, value in non_negative.items():
        _at_least(key, value, 0)
    sizes = {k: v for k, v in {**positive, **non_negative}.items() if isinstance(v, int)}
    _at_least("data.workers", d.workers, -1)  # -1: auto
    sizes.update({"data.synthetic_n": d.synthetic_n, "model.widths": max(m.widths, default=0)})
    sizes["data.workers"] = d.workers
    for key, value in sizes.items():
        limit = 2**63 if key == "train.seed" else _HUGE
        if value >= limit:
            raise ConfigError(f"{key}={value} is too large (the limit is {limit:,})")
    if t.batch_size < 2:
        raise ConfigError("train.batch_size must be >= 2 (a batch needs negatives)")
    _at_least("data.synthetic_n", d.synthetic_n, 2)
    if 0 < d.image_size < 8:  # two 2x2 max-pools (small_cnn), the ResNet stages
        raise ConfigError(
            f"data.image_size must be 0 (the dataset's own) or >= 8, got {d.image_size}"
        )


def _check_method(cfg: Config) -> None:
    """The method's, VRN's and the model's own ranges and combinations."""
    v, meth, m = cfg.vrn, cfg.method, cfg.model
    if v.weight < 0:
        raise ConfigError(f"vrn.weight must be >= 0, got {v.weight}")
    if v.n is not None and v.delta is not None:
        raise ConfigError("give vrn.n or vrn.delta, not both")
    if v.n is not None and v.n < 2:
        raise ConfigError(f"vrn.n must be >= 2, got {v.n}")
    if v.delta is not None:
        _within("vrn.delta", v.delta, -1, 1)
    if not 0 <= meth.moco_momentum < 1:
        raise ConfigError(f"method.moco_momentum must be in [0, 1), got {meth.moco_momentum}")
    if not 0 < meth.sogclr_gamma <= 1:
        raise ConfigError(f"method.sogclr_gamma must be in (0, 1], got {meth.sogclr_gamma}")
    if meth.siglip_t is not None and meth.siglip_t <= 0:
        raise ConfigError(f"method.siglip_t must be > 0 or null (learnable), got {meth.siglip_t}")
    if m.backbone == "small_cnn" and len(m.widths) != 3:
        raise ConfigError(f"model.widths must have 3 entries, got {list(m.widths)}")
    if any(w < 1 for w in m.widths):
        raise ConfigError(f"model.widths must be >= 1 each, got {list(m.widths)}")
    if v.lr_ref is not None and v.lr_ref <= 0:
        raise ConfigError(f"vrn.lr_ref must be > 0 (a learning rate) or null, got {v.lr_ref}")
    _within("optim.momentum", cfg.optim.momentum, 0, 1, open_hi=True)
    _within("optim.min_lr_ratio", cfg.optim.min_lr_ratio, 0, 1)


def _check_batch(cfg: Config) -> None:
    """The micro-batch, MoCo's BN groups and the time budget."""
    t, mb = cfg.train, cfg.train.micro_batch
    if mb < 0 or (mb and t.batch_size % mb):
        raise ConfigError(
            f"train.micro_batch={mb} must be 0 (off) or divide train.batch_size={t.batch_size}"
        )
    if cfg.method.name == "moco":  # BN groups: micro-batches when cached, else moco_bn_groups
        groups = cfg.method.moco_bn_groups
        rows = mb if 0 < mb < t.batch_size else t.batch_size // groups if groups > 1 else 2
        if rows < 2:  # models/momentum.py: one-sample groups lose shuffle-BN's guarantee
            raise ConfigError(
                f"method.moco_bn_groups={groups} with train.batch_size={t.batch_size}, "
                f"train.micro_batch={mb} makes BN groups of one sample, so keys would share "
                "their queries' statistics; use groups of >= 2 samples (e.g. "
                "method.moco_bn_groups=2), or method.moco_bn_groups=1 for no shuffle-BN"
            )
    if t.time_schedule and t.max_minutes <= 0:
        raise ConfigError("train.time_schedule needs train.max_minutes > 0")


def _check_device(t: TrainConfig) -> None:
    """The device exists on this machine."""
    import re

    import torch

    if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", t.device):
        raise ConfigError(f"train.device={t.device!r}; choose auto, cpu, cuda, cuda:N or mps")
    if t.device.startswith("cuda"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(t.device.partition(":")[2] or 0)
        if index >= count:
            raise ConfigError(
                f"train.device={t.device!r} but this machine has {count} CUDA device(s); use "
                "train.device=auto or cpu"
            )
    if t.device == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("train.device='mps' is not available here; use auto or cpu")


def _check_augment(a) -> None:
    """Probabilities in [0, 1] and (lo, hi) ranges of the augmentation."""
    for key in ("flip_p", "jitter_p", "grayscale_p", "blur_p", "erase_p"):
        _within(f"data.augment.{key}", getattr(a, key), 0, 1)
    _within("data.augment.hue", a.hue, 0, 0.5)
    _interval("data.augment.crop_scale", a.crop_scale, 0, 1)
    _interval("data.augment.crop_ratio", a.crop_ratio, 0, None)
    _interval("data.augment.blur_sigma", a.blur_sigma, 0, None)
    _interval("data.augment.erase_scale", a.erase_scale, 0, 1)


def _check_curves(cfg: Config) -> None:
    """Curve probes: epoch numbers, and a validation split to score (never the test split)."""
    curve = cfg.eval.curve_epochs
    if any(c < 1 or c >= _HUGE for c in curve):  # epochs past the end never probe
        raise ConfigError(f"eval.curve_epochs are epoch numbers >= 1, got {list(curve)}")
    if curve and not cfg.data.val_size:  # the test split is scored once, at the end
        raise ConfigError(
            f"eval.curve_epochs={list(curve)} probes during training, which score the "
            "validation split: hold one out with data.val_size > 0 (e.g. 10000), or set "
            "eval.curve_epochs=[]"
        )
