"""Evaluate a run folder: load its config and checkpoint, run the end-of-run measurements,
write eval.json and update final.json's "eval" (format: contrastlens.runfolder).

    result = evaluate_run("runs/x", overrides=["eval.linear_epochs=200"])
"""

from __future__ import annotations

from pathlib import Path

import torch

from contrastlens import distributed
from contrastlens import runfolder as rf
from contrastlens.data.splits import load_split, probe_fit_split, probe_split
from contrastlens.data.views import normalization
from contrastlens.eval.evaluate import evaluate_encoder
from contrastlens.models import build_encoder
from contrastlens.train.checkpoint import load_checkpoint
from contrastlens.train.config import apply_overrides, config_from_dict, with_predating
from contrastlens.train.precision import configure_cuda, resolve_precision


def evaluate_run(path: str, *, device: str = "auto", overrides: list[str] | None = None) -> dict:
    """Evaluate the checkpoint of the run folder `path`; returns the eval dict. `overrides`
    apply to the config's `eval.*` keys."""
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
    test = load_split(cfg.data, probe_split(cfg.data, cfg.eval.final_split))
    fit_name = probe_fit_split(cfg.data)  # STL-10 train+unlabeled: its labeled "train"
    fit = train if fit_name == cfg.data.train_split else load_split(cfg.data, fit_name)
    encoder = build_encoder(cfg.model, train[0].shape[1], train[0].shape[-1])
    ckpt = load_checkpoint(folder / rf.CHECKPOINT, map_location=dev)
    encoder.load_state_dict(ckpt["encoder"])
    encoder.to(device=dev, dtype=dtype)
    precision = resolve_precision(cfg.train, dev, convolutional=True)
    configure_cuda(cfg.train, dev, precision)  # the run's cuDNN and TF32 settings
    if precision.channels_last:
        encoder = encoder.to(memory_format=torch.channels_last)
    result = evaluate_encoder(
        encoder,
        train,
        test,
        cfg.eval,
        augment=cfg.data.augment,
        norm=normalization(cfg.data.dataset, train[0].shape[1]),
        seed=cfg.train.seed,
        device=dev,
        dtype=dtype,
        precision=precision,
        fit=fit,
    )
    result.update(
        probe_split=probe_split(cfg.data, cfg.eval.final_split),
        probe_fit_split=fit_name,
        checkpoint_step=ckpt["step"],
        evaluated={"at": rf.utc_now(), "git": rf.git_revision()},  # the code that scored it
    )
    rf.write_json(result, folder / rf.EVAL)
    if (folder / rf.FINAL).is_file():
        final = rf.read_json(folder / rf.FINAL)
        final["eval"] = result
        rf.write_json(final, folder / rf.FINAL)
    return result
