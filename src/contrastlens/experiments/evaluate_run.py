"""Evaluate a run folder: load its config and checkpoint, run the end-of-run measurements,
write eval.json and update final.json's "eval" (format: contrastlens.runfolder).

    result = evaluate_run("runs/x", overrides=["eval.linear_epochs=200"])
    run = load_run_encoder("runs/x")   # the trained encoder, as evaluate_run loads it
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from contrastlens import distributed
from contrastlens import runfolder as rf
from contrastlens.data.splits import load_split, probe_fit_split, probe_split
from contrastlens.data.views import normalization
from contrastlens.eval.evaluate import evaluate_encoder
from contrastlens.models import build_encoder
from contrastlens.train.checkpoint import load_checkpoint
from contrastlens.train.config import Config, apply_overrides, config_from_dict, with_predating
from contrastlens.train.precision import configure_cuda, resolve_precision


@dataclass
class RunEncoder:
    """A run folder's trained encoder, ready to embed (`load_run_encoder`)."""

    cfg: Config
    encoder: torch.nn.Module  # on `device`, in `dtype`, eval() left to the caller
    step: int  # the checkpoint's step
    device: torch.device
    dtype: torch.dtype
    precision: Any  # train.precision.Precision: the run's autocast and memory format
    train: tuple[torch.Tensor, torch.Tensor]  # the training split (uint8 images, labels)


def load_run_encoder(
    path: str | Path, *, device: str = "auto", overrides: list[str] | None = None
) -> RunEncoder:
    """The config, training split and checkpointed encoder of the run folder `path`;
    FileNotFoundError naming the missing file, ValueError for a streamed (imagefolder) run."""
    folder = Path(path)
    if not (folder / rf.CONFIG).is_file():
        raise FileNotFoundError(f"{folder} is not a run folder (no {rf.CONFIG})")
    if not (folder / rf.CHECKPOINT).is_file():
        raise FileNotFoundError(f"{folder} has no {rf.CHECKPOINT} to evaluate")
    cfg = config_from_dict(with_predating(rf.read_json(folder / rf.CONFIG)))
    if overrides:
        cfg = apply_overrides(cfg, overrides)
    dev = distributed.resolve_device(device)
    dtype = torch.float64 if cfg.train.dtype == "float64" else torch.float32
    train = load_split(cfg.data, cfg.data.train_split)
    if train is None:
        raise ValueError("evaluation of imagefolder runs is not supported yet (streamed data)")
    encoder = build_encoder(cfg.model, train[0].shape[1], train[0].shape[-1])
    ckpt = load_checkpoint(folder / rf.CHECKPOINT, map_location=dev)
    encoder.load_state_dict(ckpt["encoder"])
    encoder.to(device=dev, dtype=dtype)
    precision = resolve_precision(cfg.train, dev, convolutional=True)
    configure_cuda(cfg.train, dev, precision)  # the run's cuDNN and TF32 settings
    if precision.channels_last:
        encoder = encoder.to(memory_format=torch.channels_last)
    return RunEncoder(cfg, encoder, ckpt["step"], dev, dtype, precision, train)


def evaluate_run(path: str, *, device: str = "auto", overrides: list[str] | None = None) -> dict:
    """Evaluate the checkpoint of the run folder `path`; returns the eval dict. `overrides`
    apply to the config's `eval.*` keys."""
    folder = Path(path)
    run = load_run_encoder(folder, device=device, overrides=overrides)
    cfg, train = run.cfg, run.train
    test = load_split(cfg.data, probe_split(cfg.data, cfg.eval.final_split))
    fit_name = probe_fit_split(cfg.data)  # STL-10 train+unlabeled: its labeled "train"
    fit = train if fit_name == cfg.data.train_split else load_split(cfg.data, fit_name)
    result = evaluate_encoder(
        run.encoder,
        train,
        test,
        cfg.eval,
        augment=cfg.data.augment,
        norm=normalization(cfg.data.dataset, train[0].shape[1]),
        seed=cfg.train.seed,
        device=run.device,
        dtype=run.dtype,
        precision=run.precision,
        fit=fit,
    )
    result.update(
        probe_split=probe_split(cfg.data, cfg.eval.final_split),
        probe_fit_split=fit_name,
        checkpoint_step=run.step,
        evaluated={"at": rf.utc_now(), "git": rf.git_revision()},  # the code that scored it
    )
    rf.write_json(result, folder / rf.EVAL)
    if (folder / rf.FINAL).is_file():
        final = rf.read_json(folder / rf.FINAL)
        final["eval"] = result
        rf.write_json(final, folder / rf.FINAL)
    return result
