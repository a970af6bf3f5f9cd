"""Training: typed configs (`config`), the explicit loop (`loop.train`), optimizers and
schedules (`optim`), atomic checkpoints (`checkpoint`), and the run-folder format (`run_dir`)."""

from contrastlens.train.config import (
    Config,
    apply_overrides,
    config_from_dict,
    config_to_dict,
    validate,
)
from contrastlens.train.loop import TrainingDivergedError, train
from contrastlens.train.run_dir import read_run

__all__ = [
    "Config",
    "TrainingDivergedError",
    "apply_overrides",
    "config_from_dict",
    "config_to_dict",
    "read_run",
    "train",
    "validate",
]
