"""Training: typed configs (`config`), the explicit loop (`loop.train`), one step in chunks
(`gradcache`), precision (`precision`), optimizers and schedules (`optim`), checkpoints
(`checkpoint`) and the run folder as the loop writes it (`run`).

Importing this package loads only the config; `train` and `TrainingDivergedError` load the
trainer on first use."""

from contrastlens.train.config import (
    Config,
    apply_overrides,
    config_from_dict,
    config_to_dict,
    validate,
)

__all__ = [
    "Config",
    "TrainingDivergedError",
    "apply_overrides",
    "config_from_dict",
    "config_to_dict",
    "train",
    "validate",
]


def __getattr__(name: str):
    if name in ("train", "TrainingDivergedError"):
        from contrastlens.train import loop

        return getattr(loop, name)
    raise AttributeError(f"module 'contrastlens.train' has no attribute {name!r}")
