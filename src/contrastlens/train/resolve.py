"""Settings derived from the config, computed in one place and recorded in `meta.json`.

    r = resolve(cfg, n_train=50_000, world=1, steps_per_epoch=1562)
    r.vrn_weight       # the VRN weight in use (vrn.weight, or scaled by vrn.lr_ref / peak lr)
    r.as_dict()        # what the training loop writes to meta.json's "resolved"

The training loop builds its objective, optimizer and schedule from a `Resolved`, and writes it
to the run folder; the report and the README tables read `meta.json`'s "resolved", never the
config, for anything derived (a run trained with `vrn.lr_ref` reads `vrn.weight = 30` in its
config but used 60 at batch 32 and 15 at batch 128).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from contrastlens.errors import ConfigError
from contrastlens.losses.objective import default_within_view
from contrastlens.models import encoder_stem
from contrastlens.optimum import negative_optimum
from contrastlens.train.optim import peak_lr


@dataclass(frozen=True)
class Resolved:
    """Everything the config implies once the data and the processes are known."""

    world: int  # processes
    n_train: int  # training instances (SogCLR's state holds one entry per instance)
    process_batch: int  # train.batch_size / world: the rows each process holds
    micro_batch: int  # GradCache chunk (0 = the process's batch in one piece)
    peak_lr: float  # optim.base_lr x train.batch_size / 256
    vrn_weight: float  # lambda in use: vrn.weight, x vrn.lr_ref / peak_lr when lr_ref is set
    vrn_n: int | None  # the n of delta = -1/(n-1): vrn.n or the training-set size (None: delta)
    vrn_delta: float | None  # the delta VRN pulls towards (None when VRN is off)
    within_view: bool  # within-view negatives of the method term
    steps_per_epoch: int
    total_steps: int
    warmup_steps: int
    side: int  # the training images' side in pixels
    stem: str | None  # the ResNet stem in use (model.stem=auto picks it from `side`)
    workers: int | None  # an image folder's decoding workers (data.workers=-1: from the cores)

    def as_dict(self) -> dict:
        return asdict(self)


def vrn_weight_in_use(weight: float, lr_ref: float | None, peak: float) -> float:
    """lambda in use: `weight`, or `weight` x `lr_ref` / `peak` (lambda scaled by 1/lr, the
    coupling the first image study found: lambda x lr is what must stay fixed)."""
    return weight if lr_ref is None else weight * lr_ref / peak


def process_batch(cfg, world: int) -> int:
    """Each process's share of `train.batch_size`; ConfigError when the batch cannot be split
    over `world` processes, or the share into `train.micro_batch` chunks."""
    t = cfg.train
    if t.batch_size % world:
        raise ConfigError(
            f"train.batch_size={t.batch_size} must be divisible by the {world} processes; "
            "choose a multiple of the process count"
        )
    process_batch = t.batch_size // world
    if t.micro_batch and process_batch % t.micro_batch:
        raise ConfigError(
            f"train.micro_batch={t.micro_batch} must divide the per-process batch "
            f"{process_batch} (train.batch_size / {world} processes)"
        )
    return process_batch


def resolve(
    cfg,
    *,
    n_train: int,
    world: int,
    steps_per_epoch: int,
    side: int = 32,
    workers: int | None = None,
) -> Resolved:
    """The derived settings of `cfg` (a train.config.Config) for a training set of `n_train`
    images of `side` pixels on `world` processes, `steps_per_epoch` optimizer steps per epoch
    (`workers`: the decoding workers the data pipeline started, if any)."""
    t, v = cfg.train, cfg.vrn
    rows = process_batch(cfg, world)
    peak = peak_lr(cfg.optim.base_lr, t.batch_size)
    on = v.weight > 0
    vrn_n = (v.n or n_train) if v.delta is None else None
    delta = None
    if on:
        delta = v.delta if v.delta is not None else negative_optimum(vrn_n)
    within = cfg.method.within_view
    return Resolved(
        world=world,
        n_train=n_train,
        process_batch=rows,
        micro_batch=t.micro_batch if 0 < t.micro_batch < rows else 0,
        peak_lr=peak,
        vrn_weight=vrn_weight_in_use(v.weight, v.lr_ref, peak),
        vrn_n=vrn_n,
        vrn_delta=delta,
        within_view=default_within_view(cfg.method.name) if within is None else within,
        steps_per_epoch=steps_per_epoch,
        total_steps=t.epochs * steps_per_epoch,
        warmup_steps=round(cfg.optim.warmup_epochs * steps_per_epoch),
        side=side,
        stem=encoder_stem(cfg.model, side),
        workers=workers,
    )
