"""The training loop: one explicit `for` loop over epochs and steps, read top to bottom.

    final = train(cfg, run_dir="runs/x")                 # new run
    final = train(cfg, run_dir="runs/x", resume=True)    # continue from runs/x/checkpoint.pt

One step: two augmented views of the batch (on the device) -> encoder (backbone + projector)
on both views in one forward -> objective (method term + vrn.weight * VRN, named terms) ->
backward -> optimizer step. MoCo adds the momentum key encoder and the queue (models/moco.py).

Many processes (`torchrun --nproc_per_node=N -m contrastlens train ...`): each process takes
its B/N rows of every global batch (data/views.py); the objective all-gathers with gradient
(contrastlens.distributed) so its value is the one-process loss of the global batch and each
process's gradient is its exact share; DDP averages gradients over processes, so the loss is
multiplied by world_size before backward (see distributed.py). Rank 0 alone writes the run
folder. Batch norm becomes SyncBatchNorm (`train.sync_bn`) so statistics are global too.

Legend: B per-process batch, P projection dims, F backbone feature dims.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

import torch

from contrastlens import distributed
from contrastlens.data.views import (
    ImageFolderBatches,
    TwoViewBatches,
    normalization,
    synthetic_images,
)
from contrastlens.losses import Queue, build_objective
from contrastlens.models import build_encoder, make_key_encoder, momentum_update
from contrastlens.train import run_dir as rd
from contrastlens.train.checkpoint import rng_state, save_atomic, seed_everything, set_rng_state
from contrastlens.train.config import Config, config_to_dict, validate
from contrastlens.train.optim import build_optimizer, lr_at, named_trainable, peak_lr


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or Inf; the message names the step and the last good checkpoint."""


# --------------------------------------------------------------------------- setup helpers


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        return torch.device("cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return dev


def init_distributed(device: torch.device) -> None:
    """Join the torchrun process group when WORLD_SIZE > 1 (nccl on CUDA, gloo on CPU)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not distributed.is_distributed():
        import torch.distributed as dist

        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")


def load_images(cfg: Config, split: str):
    """(images uint8 (N, C, H, W), labels (N,)) of a split held in memory, or None for
    imagefolder (streamed). Applies `data.val_size` (split "val" = the held-out images) and
    `data.subset` to the training split."""
    d = cfg.data
    if d.dataset == "synthetic":
        side = d.image_size or 28
        seed = 0 if split == d.train_split else 1
        return synthetic_images(d.synthetic_n, 1, side, seed=seed)
    if d.dataset == "imagefolder":
        return None
    from contrastlens.data.datasets import load_dataset

    if split == "val" and not d.val_size:
        raise ValueError("split 'val' needs data.val_size > 0 (images held out from training)")
    ds = load_dataset(d.dataset, d.train_split if split == "val" else split, root=d.root)
    images, labels = ds.images, ds.labels
    if d.val_size and split in ("val", d.train_split):
        if not 0 < d.val_size < images.shape[0]:
            raise ValueError(f"data.val_size={d.val_size} must be in (0, {images.shape[0]})")
        # A fixed permutation (seed 0, not train.seed): every run holds out the same images.
        perm = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(0))
        keep = perm[: d.val_size] if split == "val" else perm[d.val_size :].sort().values
        images, labels = images[keep], labels[keep]
    if split == d.train_split and d.subset:
        images, labels = images[: d.subset], labels[: d.subset]
    return images, labels


def make_batches(cfg: Config, device, dtype, rank: int, world: int):
    """The two-view batcher of the training split and the training-set size."""
    d = cfg.data
    common = dict(batch_size=cfg.train.batch_size, augment=d.augment, seed=cfg.train.seed,
                  rank=rank, world_size=world, dtype=dtype)  # fmt: skip
    if d.dataset == "imagefolder":
        from contrastlens.data.datasets import open_imagefolder

        if not d.root:
            raise ValueError("data.root: the image folder path is required for imagefolder")
        ds = open_imagefolder(d.root, d.train_split, d.image_size or 224)
        mean, std = normalization("imagefolder", 3)
        b = ImageFolderBatches(ds, workers=d.workers, device=device, mean=mean, std=std, **common)
        return b, len(ds), 3
    images, _ = load_images(cfg, d.train_split)
    mean, std = normalization(d.dataset, images.shape[1])
    b = TwoViewBatches(images.to(device), mean=mean, std=std, **common)
    return b, images.shape[0], images.shape[1]


def amp_context(cfg: Config, device: torch.device):
    """bf16 autocast on CUDA (auto or bf16); off on the CPU (slower there) and in float64."""
    use = cfg.train.amp in ("auto", "bf16") and device.type == "cuda"
    use = use and cfg.train.dtype == "float32"
    if cfg.train.amp == "bf16" and device.type != "cuda" and cfg.train.dtype == "float32":
        use = True
    if use:
        return lambda: torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext


def new_run_dir(cfg: Config) -> Path:
    name = cfg.name or f"{cfg.preset or cfg.method.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    return Path(cfg.out_dir) / name


# --------------------------------------------------------------------------- the loop


def train(
    cfg: Config,
    run_dir: str | os.PathLike | None = None,
    *,
    resume: bool = False,
    eval_at_end: bool | None = None,
) -> dict:
    """Train `cfg` into `run_dir` (see run_dir.py for the folder format); returns final.json's
    dict. Raises TrainingDivergedError on a NaN/Inf loss (after writing final.json)."""
    validate(cfg)
    device = resolve_device(cfg.train.device)
    init_distributed(device)
    rank, world = distributed.rank(), distributed.world_size()
    is_main = rank == 0
    dtype = torch.float64 if cfg.train.dtype == "float64" else torch.float32
    run_dir = Path(run_dir) if run_dir is not None else new_run_dir(cfg)
    ckpt_path = run_dir / rd.CHECKPOINT
    if resume and not ckpt_path.exists():
        raise FileNotFoundError(f"--resume: no checkpoint at {ckpt_path}")
    if not resume and ckpt_path.exists():
        raise ValueError(f"{run_dir} already holds a run; pass --resume or choose another name")

    # ---- data, model, objective, optimizer (identical on every process: same seed)
    seed_everything(cfg.train.seed)
    batches, n_train, channels = make_batches(cfg, device, dtype, rank, world)
    steps_per_epoch = len(batches)
    total_steps = cfg.train.epochs * steps_per_epoch
    warmup_steps = round(cfg.optim.warmup_epochs * steps_per_epoch)
    lr_peak = peak_lr(cfg.optim.base_lr, cfg.train.batch_size)
    vrn_n = cfg.vrn.n if (cfg.vrn.n is not None or cfg.vrn.delta is not None) else n_train
    vrn_n = None if cfg.vrn.delta is not None else vrn_n

    encoder = build_encoder(cfg.model, channels)
    if world > 1 and cfg.train.sync_bn and cfg.model.norm == "bn":
        encoder = torch.nn.SyncBatchNorm.convert_sync_batchnorm(encoder)
    encoder = encoder.to(device=device, dtype=dtype)
    m = cfg.method
    objective = build_objective(
        m.name, temperature=m.temperature, within_view=m.within_view,
        vrn_weight=cfg.vrn.weight, vrn_n=vrn_n if cfg.vrn.weight > 0 else None,
        vrn_delta=cfg.vrn.delta if cfg.vrn.weight > 0 else None,
        vrn_within_view=cfg.vrn.within_view, siglip_t=m.siglip_t, siglip_b=m.siglip_b,
        gather=world > 1,
    ).to(device=device, dtype=dtype)  # fmt: skip
    is_moco = m.name == "moco"
    key_encoder = make_key_encoder(encoder) if is_moco else None
    queue = None
    if is_moco:
        gq = torch.Generator().manual_seed(cfg.train.seed + 12345)
        queue = Queue(m.moco_queue, cfg.model.proj_dim, dtype=dtype, generator=gq).to(device)
    optimizer = build_optimizer(named_trainable(encoder, objective), cfg.optim, lr_peak)
    model = encoder
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        ids = [device.index] if device.type == "cuda" else None
        model = DistributedDataParallel(encoder, device_ids=ids)

    # ---- run folder: new, or resume from the checkpoint
    start_epoch, global_step = 0, 0
    meta_path = run_dir / rd.META
    if resume:
        ckpt = torch.load(ckpt_path, map_location=device, weights_only=False)
        encoder.load_state_dict(ckpt["encoder"])
        objective.load_state_dict(ckpt["objective"])
        optimizer.load_state_dict(ckpt["optimizer"])
        if is_moco:
            key_encoder.load_state_dict(ckpt["key_encoder"])
            queue.load_state_dict(ckpt["queue"])
        set_rng_state(ckpt["rng"])
        start_epoch, global_step = ckpt["epoch"], ckpt["step"]
        if is_main:
            rd.truncate_jsonl(run_dir / rd.METRICS, global_step)
            meta = rd.read_json(meta_path)
            meta["resumed"].append(rd.utc_now())
            rd.write_json(meta, meta_path)
            (run_dir / rd.FINAL).unlink(missing_ok=True)
            for stale in run_dir.glob(".*.tmp"):  # a write cut short by a kill: never renamed
                stale.unlink()
        time_offset = ckpt.get("train_time_s", 0.0)
    else:
        time_offset = 0.0
        if is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
            rd.write_json(config_to_dict(cfg), run_dir / rd.CONFIG)
            meta = rd.base_meta(cfg.train.seed)
            meta.update(world_size=world, device=str(device), dtype=cfg.train.dtype,
                        amp=amp_context(cfg, device) is not contextlib.nullcontext,
                        train_size=n_train)  # fmt: skip
            meta["resolved"] = {
                "vrn_n": vrn_n, "vrn_delta": objective.vrn_delta, "peak_lr": lr_peak,
                "steps_per_epoch": steps_per_epoch, "total_steps": total_steps,
                "warmup_steps": warmup_steps, "within_view": objective.within_view,
            }  # fmt: skip
            rd.write_json(meta, meta_path)
            (run_dir / rd.METRICS).write_text("")

    writer = None
    if is_main and cfg.train.tensorboard:
        try:
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(str(run_dir / "tb"))
        except ImportError:
            print("train.tensorboard: tensorboard is not installed; logging to metrics.jsonl only")

    progress = None
    if is_main and cfg.train.progress:
        from tqdm import tqdm

        progress = tqdm(total=total_steps, initial=global_step, unit="step", dynamic_ncols=True,
                        desc=run_dir.name)  # fmt: skip

    def save_checkpoint(epoch_next: int, train_s: float) -> None:
        if not is_main:
            return
        state = {
            "encoder": encoder.state_dict(), "objective": objective.state_dict(),
            "optimizer": optimizer.state_dict(), "rng": rng_state(),
            "epoch": epoch_next, "step": global_step, "train_time_s": train_s,
            "config": config_to_dict(cfg),
        }  # fmt: skip
        if is_moco:
            state["key_encoder"] = key_encoder.state_dict()
            state["queue"] = queue.state_dict()
        save_atomic(state, ckpt_path)

    def finish(status: str, message: str, train_s: float, last_loss, eval_result=None) -> dict:
        done = global_step - start_step_global
        final = {
            "status": status, "message": message,
            "epochs_done": global_step / steps_per_epoch, "steps": global_step,
            "train_time_s": train_s,
            "img_per_s": done * cfg.train.batch_size / max(1e-9, train_s - time_offset),
            "last_loss": last_loss, "eval": eval_result,
        }  # fmt: skip
        if is_main:
            rd.write_json(final, run_dir / rd.FINAL)
        return final

    def elapsed_s() -> float:
        """Training seconds so far, as rank 0 measures them (processes must agree on the
        time-based lr and on when to stop, or they would diverge or deadlock)."""
        t = time_offset + time.perf_counter() - t_start
        if world == 1:
            return t
        mine = torch.tensor([t if is_main else 0.0], dtype=torch.float64, device=device)
        return float(distributed.all_reduce_sum(mine))

    # ---- the loop
    autocast = amp_context(cfg, device)
    encoder.train()
    start_step_global = global_step
    max_steps = cfg.train.max_steps or total_steps
    t_start = time.perf_counter()
    t_log, step_log = t_start, global_step
    last_loss = None
    log_rows = cfg.train.log_every
    stopped = time_up = False
    for epoch in range(start_epoch, cfg.train.epochs):
        start_in_epoch = global_step - epoch * steps_per_epoch
        for step_in_epoch, (x1_BCHW, x2_BCHW, ids_B) in enumerate(
            batches.epoch(epoch, start_step=start_in_epoch), start=start_in_epoch
        ):
            sched_step, sched_total = global_step, total_steps
            if cfg.train.max_minutes > 0:
                elapsed = elapsed_s()  # rank 0's clock on every process
            if cfg.train.time_schedule and global_step >= warmup_steps:  # see TrainConfig
                frac = min(1.0, elapsed / (cfg.train.max_minutes * 60))
                sched_step, sched_total = warmup_steps + round(frac * 10**6), warmup_steps + 10**6
            lr = lr_at(sched_step, peak=lr_peak, warmup_steps=warmup_steps,
                       total_steps=sched_total, min_ratio=cfg.optim.min_lr_ratio)  # fmt: skip
            for group in optimizer.param_groups:
                group["lr"] = lr
            log_now = (global_step + 1) % log_rows == 0 or step_in_epoch == steps_per_epoch - 1
            B = x1_BCHW.shape[0]
            with autocast():
                _, z_2BP = model(torch.cat([x1_BCHW, x2_BCHW]))  # both views in one forward
            z1_BP, z2_BP = z_2BP[:B].to(dtype), z_2BP[B:].to(dtype)
            if not is_moco:
                terms = objective(z1_BP, z2_BP, ids=ids_B, stats=log_now)
            else:
                momentum_update(key_encoder, encoder, m.moco_momentum)
                with torch.no_grad(), autocast():
                    _, k_2BP = key_encoder(torch.cat([x2_BCHW, x1_BCHW]))  # keys: k2, k1
                k2_BP, k1_BP = k_2BP[:B].to(dtype), k_2BP[B:].to(dtype)
                # VRN on the query encoder's own two views (see Objective.forward)
                terms = objective(z1_BP, k2_BP, ids=ids_B, queue=queue, stats=log_now,
                                  vrn_views=(z1_BP, z2_BP))  # fmt: skip
                if m.moco_symmetric:
                    t2 = objective(z2_BP, k1_BP, ids=ids_B, queue=queue, stats=log_now,
                                   vrn_views=(z2_BP, z1_BP))  # fmt: skip
                    terms = {k: (v + t2[k]) / 2 for k, v in terms.items()}
            loss = terms["loss"]
            if not torch.isfinite(loss).item():
                train_s = time_offset + time.perf_counter() - t_start
                where = "" if ckpt_path.exists() else " (none written yet)"
                msg = (
                    f"loss is {loss.item()} at step {global_step + 1} (epoch {epoch}); stopped. "
                    f"The last good checkpoint is {ckpt_path}{where}; lower optim.base_lr or "
                    "raise method.temperature, then --resume or restart."
                )
                finish("diverged", msg, train_s, None)
                if progress is not None:
                    progress.close()
                raise TrainingDivergedError(msg)
            optimizer.zero_grad(set_to_none=True)
            (loss * world if world > 1 else loss).backward()  # DDP averages; see docstring
            if world > 1:  # SigLIP's learnable t, b live outside DDP: average them the same way
                for p in objective.parameters():
                    if p.grad is not None:
                        p.grad.copy_(distributed.all_reduce_mean(p.grad))
            optimizer.step()
            if is_moco:
                queue.enqueue(torch.cat([k2_BP, k1_BP]) if m.moco_symmetric else k2_BP,
                              gather=world > 1)  # fmt: skip
            global_step += 1
            if log_now:
                last_loss = loss.item()
                now = time.perf_counter()
                row = {"step": global_step, "epoch": epoch}
                row.update({k: float(v.detach()) for k, v in terms.items()})
                if "neg_mean" in row:
                    row["excess"] = row["neg_mean"] + 1.0 / (n_train - 1)
                row["lr"] = lr
                row["img_per_s"] = (
                    (global_step - step_log) * cfg.train.batch_size / max(1e-9, now - t_log)
                )
                row["time_s"] = time_offset + now - t_start
                t_log, step_log = now, global_step
                if is_main:
                    rd.append_jsonl(row, run_dir / rd.METRICS)
                    if writer is not None:
                        for k, v in row.items():
                            if k not in ("step", "epoch"):
                                writer.add_scalar(f"train/{k}", v, global_step)
                if progress is not None:
                    post = {"loss": f"{row['loss']:.3f}", "img_s": f"{row['img_per_s']:.0f}"}
                    if cfg.train.max_minutes > 0:  # the step ETA is an upper bound then
                        post["left"] = f"{cfg.train.max_minutes - row['time_s'] / 60:.1f}min"
                    progress.set_postfix(post, refresh=False)
            if progress is not None:
                progress.update(1)
            if global_step >= max_steps:
                stopped = True
                break
            if cfg.train.max_minutes > 0 and elapsed >= cfg.train.max_minutes * 60:
                stopped = True  # the time budget; not bit-reproducible, unlike max_steps
                time_up = True
                break
        train_s = time_offset + time.perf_counter() - t_start
        epoch_done = global_step % steps_per_epoch == 0
        epoch_next = epoch + 1 if epoch_done else epoch
        last = stopped or epoch + 1 == cfg.train.epochs
        if epoch_done and ((epoch + 1) % cfg.train.checkpoint_every == 0 or last):
            save_checkpoint(epoch_next, train_s)
        if is_main and (epoch + 1) in cfg.eval.curve_epochs and epoch_done:
            t_probe = time.perf_counter()
            from contrastlens.eval.evaluate import probe_curve_point

            point = probe_curve_point(cfg, encoder, device, dtype)
            point.update(epoch=epoch + 1, step=global_step, train_s=train_s)
            rd.append_jsonl(point, run_dir / rd.CURVE)
            encoder.train()
            t_start += time.perf_counter() - t_probe  # probes are not training time
        if stopped:
            break
    train_s = time_offset + time.perf_counter() - t_start
    if progress is not None:
        progress.close()
    if writer is not None:
        writer.close()
    if stopped and global_step % steps_per_epoch:  # max_steps mid-epoch: checkpoint anyway
        save_checkpoint(global_step // steps_per_epoch, train_s)

    status = "stopped" if stopped and global_step < total_steps else "finished"
    if time_up and cfg.train.time_schedule:
        status = "finished"  # the time-based schedule ran to its end
    do_eval = cfg.eval.at_end if eval_at_end is None else eval_at_end
    eval_result = None
    if do_eval and is_main:
        from contrastlens.eval.evaluate import evaluate_encoder

        eval_result = evaluate_encoder(cfg, encoder, device, dtype)
        rd.write_json(eval_result, run_dir / rd.EVAL)
    final = finish(status, "", train_s, last_loss, eval_result)
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
    return final
