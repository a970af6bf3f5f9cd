"""The training loop: one explicit `for` loop over epochs and steps, read top to bottom.

    final = train(cfg, run_dir="runs/x")                 # new run
    final = train(cfg, run_dir="runs/x", resume=True)    # continue from runs/x/checkpoint.pt

One step (`train_step`): two augmented views of the batch (on the device) -> encoder (backbone +
projector) on both views in one forward -> objective (method term + vrn.weight * VRN, named
terms) -> backward -> optimizer step. MoCo adds its key encoder, queue and shuffle-BN
(`contrastlens.models.MoCo`). `train.micro_batch` computes the same step in chunks
(`train.gradcache`).

Many processes (`torchrun --nproc_per_node=N -m contrastlens train ...`): each process takes
its B/N rows of every global batch (data/views.py); the objective all-gathers with gradient
(contrastlens.distributed) so its value is the one-process loss of the global batch and each
process's gradient is its exact share; DDP averages gradients over processes, so the loss is
multiplied by world_size before backward (see distributed.py). Rank 0 alone writes the run
folder. Batch norm statistics are global too (`train.sync_bn`: `GlobalBatchNorm`, CPU or GPU),
except for MoCo, whose shuffle-BN needs per-process statistics.

Legend: B per-process batch, P projection dims, F backbone feature dims.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from contrastlens import distributed
from contrastlens import runfolder as rf
from contrastlens.data.splits import (
    image_side,
    load_split,
    probe_fit_split,
    probe_split,
    two_view_batches,
)
from contrastlens.data.views import normalization
from contrastlens.losses import build_objective
from contrastlens.memory import PeakMemory
from contrastlens.models import MoCo, build_encoder
from contrastlens.optimum import negative_optimum
from contrastlens.similarity import embedding_diagnostics
from contrastlens.train.checkpoint import rng_state, seed_everything, set_rng_state
from contrastlens.train.config import Config, config_to_dict, validate
from contrastlens.train.folder import RunFolder, base_meta, lock_run_folder, new_run_path
from contrastlens.train.gradcache import chunked_step
from contrastlens.train.optim import LRSchedule, build_optimizer, named_trainable
from contrastlens.train.precision import Precision, configure_cuda, resolve_precision
from contrastlens.train.resolve import Resolved, process_batch, resolve
from contrastlens.train.resume import resume_changes


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or Inf; the message names the step and the last good checkpoint."""


def new_run_dir(cfg: Config) -> Path:
    return new_run_path(cfg.out_dir, cfg.name, cfg.preset or cfg.method.name)


@dataclass
class Parts:
    """Everything a step needs, built once by `build`."""

    encoder: torch.nn.Module  # the query encoder (backbone + projector)
    model: torch.nn.Module  # the encoder, DDP-wrapped on several processes
    objective: torch.nn.Module
    moco: MoCo | None
    optimizer: torch.optim.Optimizer
    precision: Precision
    device: torch.device
    dtype: torch.dtype
    world: int
    cuda: dict | None = None  # the GPU and its settings (precision.configure_cuda); None on CPU


def build(cfg: Config, r: Resolved, device: torch.device, dtype: torch.dtype, channels: int):
    """Model, objective, MoCo and optimizer, identical on every process (same seed), from the
    config and its derived settings `r` (train.resolve; `r.side` sets the ResNet stem under
    model.stem=auto)."""
    precision = resolve_precision(cfg.train, device, convolutional=True)
    encoder = build_encoder(cfg.model, channels, r.side)
    has_bn = any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in encoder.modules())
    if r.world > 1 and cfg.train.sync_bn and has_bn and cfg.method.name != "moco":
        encoder = distributed.convert_sync_batchnorm(encoder)
    encoder = encoder.to(device=device, dtype=dtype)
    if precision.channels_last:
        encoder = encoder.to(memory_format=torch.channels_last)
    m = cfg.method
    objective = build_objective(
        m.name,
        temperature=m.temperature,
        within_view=r.within_view,
        vrn_weight=r.vrn_weight,
        vrn_delta=r.vrn_delta,
        vrn_within_view=cfg.vrn.within_view,
        siglip_t=m.siglip_t,
        siglip_b=m.siglip_b,
        gather=r.world > 1,
        gor_weight=cfg.gor.weight,
        check_values=False,  # train_step checks the loss: one sync per step, not three
        sogclr_n=r.n_train if m.name == "sogclr" else None,
        sogclr_gamma=m.sogclr_gamma,
    ).to(device=device, dtype=dtype)
    moco = None
    if m.name == "moco":
        moco = MoCo(
            encoder,
            queue_size=m.moco_queue,
            dim=cfg.model.proj_dim,
            momentum=m.moco_momentum,
            symmetric=m.moco_symmetric,
            bn_groups=m.moco_bn_groups,
            dtype=dtype,
            generator=torch.Generator().manual_seed(cfg.train.seed + 12345),
        ).to(device)
    optimizer = build_optimizer(named_trainable(encoder, objective), cfg.optim, r.peak_lr)
    model = distributed.wrap_ddp(encoder, device)
    cuda = configure_cuda(cfg.train, device, precision)
    parts = (encoder, model, objective, moco, optimizer, precision, device, dtype, r.world, cuda)
    return Parts(*parts)


def forward_terms(p: Parts, x1, x2, ids, *, stats: bool):
    """The objective's named terms of one batch, MoCo's keys (to enqueue after backward) or
    None, and the projections (z1_BP, z2_BP)."""
    x1, x2 = p.precision.inputs(x1), p.precision.inputs(x2)
    B = x1.shape[0]
    with p.precision.autocast(p.device):
        if p.moco is None:
            _, z_2BP = p.model(torch.cat([x1, x2]))  # both views in one forward
            z1_BP, z2_BP = z_2BP[:B], z_2BP[B:]
        else:
            z1_BP, z2_BP = p.moco.queries(p.model, x1, x2)
            keys = p.moco.keys(p.encoder, x1, x2)
    z1_BP, z2_BP = z1_BP.to(p.dtype), z2_BP.to(p.dtype)  # the loss outside autocast
    if p.moco is None:
        terms = p.objective(z1_BP, z2_BP, ids=ids, stats=stats)
    else:
        keys = tuple(k.to(p.dtype) for k in keys)
        terms = p.moco.terms(p.objective, z1_BP, z2_BP, *keys, ids, stats=stats)
    return terms, (keys if p.moco is not None else None), (z1_BP, z2_BP)


def train_step(p: Parts, x1, x2, ids, *, lr: float, stats: bool, micro_batch: int = 0) -> dict:
    """One optimizer step; returns the named terms (detached). Raises TrainingDivergedError's
    message-less cousin FloatingPointError on a non-finite loss, before any update."""
    for group in p.optimizer.param_groups:
        group["lr"] = lr
    p.optimizer.zero_grad(set_to_none=True)
    if micro_batch and micro_batch < x1.shape[0]:
        terms, keys, z = chunked_step(p, x1, x2, ids, micro_batch=micro_batch, stats=stats)
    else:
        terms, keys, z = forward_terms(p, x1, x2, ids, stats=stats)
        if not torch.isfinite(terms["loss"]).item():
            raise FloatingPointError(float(terms["loss"].detach()))
        (terms["loss"] * p.world if p.world > 1 else terms["loss"]).backward()
    if p.world > 1:  # SigLIP's learnable t, b live outside DDP: average them the same way
        for param in p.objective.parameters():
            if param.grad is not None:
                param.grad.copy_(distributed.all_reduce_mean(param.grad))
    p.optimizer.step()
    if p.moco is not None:
        p.moco.enqueue(*keys)
    terms = {k: v.detach() for k, v in terms.items()}
    if stats:  # alignment, uniformity, RankMe, GOR's moments of the global batch
        z1, z2 = (distributed.all_gather_no_grad(v) for v in z)
        diag = embedding_diagnostics(z1, z2)
        terms.update({k: torch.tensor(v) for k, v in diag.items()})
    return terms


def train(
    cfg: Config,
    run_dir: str | os.PathLike | None = None,
    *,
    resume: bool = False,
    eval_at_end: bool | None = None,
) -> dict:
    """Train `cfg` into `run_dir` (see contrastlens.runfolder for the folder format); returns
    final.json's dict. Raises TrainingDivergedError on a NaN/Inf loss (after final.json).

    resume: continue the run in `run_dir` from its checkpoint. `cfg` may differ from the run's
    config.json only in the settings `train.resume.RESUME_SETTABLE` allows (ConfigError naming
    the first other one); those changes are recorded in meta.json's "amended". Either way the
    run folder is locked while training: a second trainer on it refuses (ValueError)."""
    validate(cfg)
    device = distributed.resolve_device(cfg.train.device)
    distributed.init_distributed(device)
    process_batch(cfg, distributed.world_size())  # checked before any data is loaded
    path = Path(run_dir if run_dir is not None else new_run_dir(cfg))
    with _claimed(path, is_main=distributed.rank() == 0) as folder:
        changes = _resume_changes(folder, cfg) if resume else None
        if not resume:
            folder.check_new()
        return _train(cfg, folder, device, changes, eval_at_end)


@contextlib.contextmanager
def _claimed(path: Path, *, is_main: bool):
    """The run folder, locked by rank 0 for the duration (`lock_run_folder`); a folder this
    call created and left empty (it failed before writing anything) is removed."""
    created = not path.exists()
    lock = lock_run_folder(path) if is_main else None  # fails here when not writable
    try:
        yield RunFolder(path, is_main=is_main)
    finally:
        if lock is not None:
            os.close(lock)
            if created and path.is_dir() and not any(path.iterdir()):
                path.rmdir()


def _resume_changes(folder: RunFolder, cfg: Config) -> dict:
    """The settings `cfg` changes against the run's config.json (resume rules), after checking
    that the folder holds a run with a checkpoint."""
    stored = folder.path / rf.CONFIG
    if not stored.is_file():
        raise FileNotFoundError(
            f"resume: {folder.path} is not a run folder (no {rf.CONFIG}); give the folder of a "
            "run started by `contrastlens train`"
        )
    if not folder.checkpoint_path.is_file():
        raise FileNotFoundError(
            f"resume: {folder.path} has no {rf.CHECKPOINT} (it was stopped before its first "
            "checkpoint); start it again without resuming, under a new name"
        )
    return resume_changes(rf.read_json(stored), cfg)


def _train(cfg: Config, folder: RunFolder, device, changes: dict | None, eval_at_end) -> dict:
    """The run itself: data and parts, a new or restored state, the loop, the evaluation."""
    rank, world = distributed.rank(), distributed.world_size()
    dtype = torch.float64 if cfg.train.dtype == "float64" else torch.float32

    # ---- data, parts, schedule
    seed_everything(cfg.train.seed)
    train_split = load_split(cfg.data, cfg.data.train_split)  # None for a streamed folder
    batches, n_train, channels = two_view_batches(
        cfg.data,
        batch_size=cfg.train.batch_size,
        seed=cfg.train.seed,
        device=device,
        dtype=dtype,
        rank=rank,
        world_size=world,
        images=train_split,
    )
    r = resolve(
        cfg,
        n_train=n_train,
        world=world,
        steps_per_epoch=len(batches),
        side=image_side(cfg.data, train_split),
        workers=getattr(batches, "workers", None),
    )
    p = build(cfg, r, device, dtype, channels)
    steps_per_epoch, total_steps = r.steps_per_epoch, r.total_steps
    schedule = LRSchedule.from_config(cfg, r)

    # ---- run folder: new, or resume from the checkpoint
    if changes is None:
        meta = base_meta(cfg.train.seed)
        meta.update(
            world_size=world,
            device=str(device),
            dtype=cfg.train.dtype,
            precision=p.precision.as_dict(),
            train_size=n_train,
            resolved=r.as_dict(),
        )
        meta["cuda"] = p.cuda
        folder.create(config_to_dict(cfg), meta)
        start_epoch, step, time_offset, memory_before = 0, 0, 0.0, None
    else:
        start_epoch, step, time_offset, memory_before = _restore(p, folder, device)
        folder.amend(config_to_dict(cfg), changes)  # after the checkpoint loaded
    folder.open_logs(
        tensorboard=cfg.train.tensorboard,
        progress=cfg.train.progress,
        total=total_steps,
        initial=step,
    )

    def checkpoint(epoch_next: int, train_s: float) -> None:
        state = {
            "encoder": p.encoder.state_dict(),
            "objective": p.objective.state_dict(),
            "optimizer": p.optimizer.state_dict(),
            "rng": rng_state(),
            "epoch": epoch_next,
            "step": step,
            "train_time_s": train_s,
            "config": config_to_dict(cfg),
            "memory": memory.state(),
        }
        if p.moco is not None:
            state["moco"] = p.moco.state_dict()
        folder.save_checkpoint(state)

    def curve_point(epoch_done: int, **extra) -> None:
        train_s = clock.train_s()  # read before the probe: its own time is not training
        with clock.paused(), memory.paused():  # probes are not training
            if folder.is_main:
                point = probe_data.curve_point(p)
                folder.log_curve(
                    {**point, "epoch": epoch_done, "step": step, "train_s": train_s, **extra}
                )
            distributed.wait_for_rank0()
        p.encoder.train()

    # ---- the loop
    probe_data = ProbeData(cfg, train_split)
    clock = Clock(time_offset, device)
    memory = PeakMemory(device, resumed=memory_before)  # training's peak, probes left out
    max_steps = cfg.train.max_steps or total_steps
    max_s = cfg.train.max_minutes * 60
    last_loss, stop = None, None  # stop: why the loop ended early ("max_steps" | "max_minutes")
    p.encoder.train()
    start_step, t_log, step_log = step, clock.now(), step
    for epoch in range(start_epoch, cfg.train.epochs):
        first = step - epoch * steps_per_epoch
        for i, (x1_BCHW, x2_BCHW, ids_B) in enumerate(batches.epoch(epoch, first), first):
            elapsed = clock.elapsed() if max_s > 0 else 0.0  # rank 0's clock on every process
            lr = schedule.lr(step, elapsed)
            log_now = (step + 1) % cfg.train.log_every == 0 or i == steps_per_epoch - 1
            try:
                terms = train_step(
                    p,
                    x1_BCHW,
                    x2_BCHW,
                    ids_B,
                    lr=lr,
                    stats=log_now,
                    micro_batch=cfg.train.micro_batch,
                )
            except FloatingPointError as err:
                raise _diverged(folder, clock, step, epoch, err, steps_per_epoch) from None
            step += 1
            folder.tick()
            if log_now:
                last_loss = float(terms["loss"])
                now = clock.now()
                row = {"step": step, "epoch": epoch, **{k: float(v) for k, v in terms.items()}}
                if "neg_mean" in row:
                    row["excess"] = row["neg_mean"] - negative_optimum(n_train)
                row.update(
                    lr=lr,
                    time_s=clock.train_s(),
                    img_per_s=(step - step_log) * cfg.train.batch_size / max(1e-9, now - t_log),
                )
                t_log, step_log = now, step
                left = cfg.train.max_minutes - row["time_s"] / 60 if max_s > 0 else None
                folder.log(row, minutes_left=left)
            if step >= max_steps:
                stop = "max_steps"
            elif max_s > 0 and elapsed >= max_s:
                stop = "max_minutes"  # the time budget; not bit-reproducible, unlike max_steps
            if stop:
                break
        epoch_done = step % steps_per_epoch == 0
        if epoch_done and (
            (epoch + 1) % cfg.train.checkpoint_every == 0 or stop or epoch + 1 == cfg.train.epochs
        ):
            checkpoint(epoch + 1, clock.train_s())
        if (epoch + 1) in cfg.eval.curve_epochs and epoch_done:
            curve_point(epoch + 1)
        if stop:
            break
    train_s, train_memory = clock.train_s(), memory.state()
    if stop and step % steps_per_epoch:  # stopped mid-epoch: checkpoint anyway
        checkpoint(step // steps_per_epoch, train_s)

    # ---- the end: the curve's last point, the evaluation, final.json
    status = "stopped" if stop and step < total_steps else "finished"
    if stop == "max_minutes" and cfg.train.time_schedule:
        status = "finished"  # the time-based schedule ran to its end
    epochs_done = step / steps_per_epoch
    curve_at_end = cfg.eval.curve_epochs and epochs_done not in cfg.eval.curve_epochs
    if curve_at_end and _curve_lacks_step(folder, step, device):
        curve_point(epochs_done, end=True)  # the same probe and split as the curve, at the end
    eval_result = None
    if (cfg.eval.at_end if eval_at_end is None else eval_at_end) and folder.is_main:
        eval_result = probe_data.evaluate(p, cfg)
        folder.write_eval(eval_result)
    final = folder.finish(
        {
            "status": status,
            "message": "",
            "epochs_done": epochs_done,
            "steps": step,
            "train_time_s": train_s,
            "img_per_s": (step - start_step)
            * cfg.train.batch_size
            / max(1e-9, train_s - time_offset),
            "last_loss": last_loss,
            "memory": train_memory,
            "eval": eval_result,
        }
    )
    distributed.wait_for_rank0()  # the other processes wait for rank 0's evaluation
    return final


def _restore(p: Parts, folder: RunFolder, device) -> tuple[int, int, float, dict | None]:
    """Load the checkpoint into the parts; returns (epoch, step, training seconds, memory) to
    continue from."""
    ckpt = folder.resume(map_location=device)
    p.encoder.load_state_dict(ckpt["encoder"])
    p.objective.load_state_dict(ckpt["objective"])
    p.optimizer.load_state_dict(ckpt["optimizer"])
    if p.moco is not None:
        p.moco.load_state_dict(ckpt["moco"])
    set_rng_state(ckpt["rng"])
    # the parts hold what they need: no second copy of the weights stays while training
    return ckpt["epoch"], ckpt["step"], ckpt["train_time_s"], ckpt.get("memory")


def _curve_lacks_step(folder: RunFolder, step: int, device) -> bool:
    """Whether curve.jsonl has no point at `step` yet (it has one when a run that had ended is
    resumed): rank 0 reads the file, every process gets its answer."""
    path = folder.path / rf.CURVE
    lacks = not (path.is_file() and any(p.get("step") == step for p in rf.read_jsonl(path)))
    if distributed.world_size() == 1:
        return lacks
    mine = torch.tensor([float(lacks and folder.is_main)], device=device)
    return bool(distributed.all_reduce_sum(mine).item())


def _diverged(folder, clock, step, epoch, err, steps_per_epoch) -> TrainingDivergedError:
    where = "" if folder.checkpoint_path.exists() else " (none written yet)"
    msg = (
        f"loss is {err.args[0]} at step {step + 1} (epoch {epoch}); stopped. The last good "
        f"checkpoint is {folder.checkpoint_path}{where}; lower optim.base_lr or raise "
        "method.temperature, then --resume or restart."
    )
    folder.finish(
        {
            "status": "diverged",
            "message": msg,
            "epochs_done": step / steps_per_epoch,
            "steps": step,
            "train_time_s": clock.train_s(),
            "img_per_s": None,
            "last_loss": None,
            "eval": None,
        }
    )
    return TrainingDivergedError(msg)


class Clock:
    """Training seconds (probes excluded), and rank 0's elapsed time shared with every process
    (processes must agree on the time-based lr and on when to stop, or they would diverge or
    deadlock)."""

    def __init__(self, offset: float, device: torch.device) -> None:
        self.offset, self.device = offset, device
        self.start = time.perf_counter()

    def now(self) -> float:
        return time.perf_counter()

    def train_s(self) -> float:
        return self.offset + time.perf_counter() - self.start

    def elapsed(self) -> float:
        t = self.train_s()
        if distributed.world_size() == 1:
            return t
        mine = torch.tensor(
            [t if distributed.rank() == 0 else 0.0], dtype=torch.float64, device=self.device
        )
        return float(distributed.all_reduce_sum(mine))

    @contextlib.contextmanager
    def paused(self):
        """Time spent inside does not count as training time."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.start += time.perf_counter() - t0


class ProbeData:
    """The probe's splits, loaded once and shared by the curve points and the final
    evaluation: the training split the loop already holds, and the scored split (test, or the
    validation split when data.val_size > 0; `eval.final_split` = "test" scores the end of the
    run on test), each loaded on first use."""

    def __init__(self, cfg: Config, train_split) -> None:
        self.cfg, self.train = cfg, train_split
        self._scored: dict[str, tuple] = {}

    def splits(self, final: bool = False):
        """(fit, scored): the probes' fit split (the training split, or its labeled part:
        `probe_fit_split`) and the scored split."""
        if self.train is None:
            raise ValueError("evaluation of imagefolder runs is not supported yet (streamed)")
        name = probe_split(self.cfg.data, self.cfg.eval.final_split if final else "auto")
        if name not in self._scored:
            self._scored[name] = load_split(self.cfg.data, name)
        fit = probe_fit_split(self.cfg.data)
        if fit == self.cfg.data.train_split:
            return self.train, self._scored[name]
        if fit not in self._scored:
            self._scored[fit] = load_split(self.cfg.data, fit)
        return self._scored[fit], self._scored[name]

    def norm(self):
        return normalization(self.cfg.data.dataset, self.train[0].shape[1])

    def curve_point(self, p: Parts) -> dict:
        from contrastlens.eval.evaluate import probe_curve_point

        train, val = self.splits()  # validate() makes curves need data.val_size > 0
        point = probe_curve_point(
            p.encoder,
            train,
            val,
            self.cfg.eval,
            norm=self.norm(),
            device=p.device,
            dtype=p.dtype,
            precision=p.precision,
        )
        return {**point, "split": probe_split(self.cfg.data, "auto")}

    def evaluate(self, p: Parts, cfg: Config) -> dict:
        """The end-of-run evaluation on the final split; a run that scores test and holds a
        validation split out also scores validation with the same probes ("also"), so that
        the curve's lead and the end compare on one split."""
        from contrastlens.eval.evaluate import evaluate_encoder

        fit, test = self.splits(final=True)
        final_split = probe_split(cfg.data, cfg.eval.final_split)
        val = None
        if cfg.data.val_size and final_split != "val":
            val = self.splits()[1]
        result = evaluate_encoder(
            p.encoder,
            self.train,
            test,
            cfg.eval,
            augment=cfg.data.augment,
            norm=self.norm(),
            seed=cfg.train.seed,
            device=p.device,
            dtype=p.dtype,
            precision=p.precision,
            fit=fit,
            also=val,
        )
        if val is not None:
            result["also"]["split"] = "val"
        return {**result, "probe_split": final_split, "probe_fit_split": probe_fit_split(cfg.data)}
