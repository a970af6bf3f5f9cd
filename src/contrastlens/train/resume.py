"""What a resumed run may change: the rules `train(cfg, run_dir, resume=True)` applies.

    changes = resume_changes(stored_config_dict, cfg)   # {key: [old, new]} or ConfigError

A checkpoint is only valid for the run that wrote it. On resume, the config may differ from the
run's `config.json` only in the settings of `RESUME_SETTABLE` (the optimizer, the stopping
limits, logging, evaluation, the device and precision): what the checkpoint learned stays valid
under them. The changes are written to config.json and recorded in meta.json's "amended".
Anything else (the model, data, method, batch size, seed, schedule length) would make the
checkpoint a different run: start a new one instead.
"""

from __future__ import annotations

from contrastlens.errors import ConfigError
from contrastlens.train.config import Config, config_to_dict, with_predating

# Settings a resume may change (prefixes end in "."): the learned state stays valid under them.
RESUME_SETTABLE = (
    "optim.",
    "eval.",
    "train.max_steps",
    "train.max_minutes",
    "train.progress",
    "train.tensorboard",
    "train.log_every",
    "train.checkpoint_every",
    "train.device",
    "train.amp",
    "train.channels_last",
    "train.cudnn_benchmark",
    "train.tf32",
    "data.workers",
)
IGNORED_ON_RESUME = ("out_dir", "name", "preset")  # the run folder is resume's argument


def flat(d: dict, prefix: str = "") -> dict:
    """{"a": {"b": 1}} -> {"a.b": 1}."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def resume_changes(stored: dict, cfg: Config) -> dict:
    """{key: [stored value, new value]} of the settings `cfg` changes against the run's stored
    config.json; ConfigError naming the first one that is not in RESUME_SETTABLE."""
    old, new = flat(with_predating(stored)), flat(config_to_dict(cfg))  # older runs: as they ran
    changes = {
        k: [old.get(k), v] for k, v in new.items() if old.get(k) != v and k not in IGNORED_ON_RESUME
    }
    fixed = [k for k in changes if not k.startswith(RESUME_SETTABLE)]
    if fixed:
        k = fixed[0]
        settable = ", ".join(s + "*" if s.endswith(".") else s for s in RESUME_SETTABLE)
        raise ConfigError(
            f"resume cannot change {k} ({changes[k][0]!r} -> {changes[k][1]!r}): the "
            f"checkpoint was trained with the first value. On resume only {settable} may "
            "change. To change it, start a new run (--preset/--config with --name)"
        )
    return changes
