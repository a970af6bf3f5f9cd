"""Step time of the text study's arms on all-MiniLM-L6-v2, as ratios to MNRL's in the same run.

    .venv/bin/python benchmarks/text_arms.py                 # batch 8 and 16, 7 repeats
    .venv/bin/python benchmarks/text_arms.py --batches 8 --repeats 5 --steps 20
    .venv/bin/python benchmarks/text_arms.py --trainer --batches 8 16 --repeats 3 --steps 60

Default (the loss): for each batch size B it builds every arm's loss exactly as `contrastlens
train-text` does (`contrastlens.text.trainer.build_loss`: MNRL, MNRL + VRN, MNRL + GOR, the
global loss) on the packaged all-MiniLM-L6-v2 (offline) and times `--steps` steps on real
WordNet training pairs (the text study's 8,000), each the loss's forward (embedding both
columns) and backward under the trainer's precision (bf16 autocast on a CPU with native bf16),
gradients cleared between steps, no optimizer step. Results: benchmarks/results/text_arms.json.

--trainer (whole steps): the study's own SentenceTransformerTrainer
(`contrastlens.text.trainer.make_trainer`: its sampler, AdamW, schedule, logging, precision) on
a fresh model per arm and repeat, for every arm of the study (TRAINER_ARMS: also MNRL with
duplicate masking, and cached MNRL at an effective batch of 128 in mini-batches of B), over the
same number of training pairs, timed from the end of the warm-up steps to the end of the last
step (the trainer's setup left out); times are per B training pairs. Results:
benchmarks/results/text_arms_trainer.json.

Arms are interleaved within each repeat, so that load from other processes hits all of them
alike; the median over repeats is reported with its ratio to MNRL's in the same run. It
answers whether an arm's longer training time in a study comes from the arm or from the
conditions of the sitting (the machine's speed varies between sittings). The record holds the
machine, versions, threads and load average.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import time
from pathlib import Path

ARMS = ("mnrl", "mnrl-vrn", "mnrl-gor", "global")
RESULTS = Path(__file__).resolve().parent / "results"
OUT = RESULTS / "text_arms.json"
TRAINER_OUT = RESULTS / "text_arms_trainer.json"
# --trainer: every arm of the study at the physical batch B (cached: effective batch 128)
TRAINER_ARMS = {
    "mnrl": {},
    "mnrl-vrn": {"vrn_weight": 3.0},
    "mnrl-gor": {},
    "global": {},
    "mnrl + masking": {"arm": "mnrl", "mask_duplicates": True},
    "cached-mnrl (batch 128)": {"arm": "cached-mnrl", "batch_size": 128},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--steps", type=int, default=20, help="steps per arm and repeat")
    parser.add_argument("--trainer", action="store_true", help="time whole trainer steps")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.trainer:
        record = time_trainer(args)
        out = args.out or TRAINER_OUT
    else:
        record = time_losses(args)
        out = args.out or OUT
    import torch

    record.update(
        steps=args.steps,
        repeats=args.repeats,
        threads=torch.get_num_threads(),
        machine=platform.machine(),
        processor=platform.processor(),
        cpus=os.cpu_count(),
        loadavg=os.getloadavg(),
        torch=torch.__version__,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    tmp.replace(out)
    print(f"written: {out.name}")


def _report(results: dict, batch: int, times: dict, what: str, repeats: int) -> None:
    base = statistics.median(times["mnrl"])
    results[str(batch)] = {
        arm: {
            "median_ms": statistics.median(t),
            "all_ms": t,
            "vs_mnrl": statistics.median(t) / base,
        }
        for arm, t in times.items()
    }
    print(f"batch {batch}: ms ({what}), median of {repeats}")
    for arm, r in results[str(batch)].items():
        print(f"  {arm:24s} {r['median_ms']:8.1f}  {r['vs_mnrl']:.2f}x MNRL")


WARMUP_STEPS = 5  # --trainer: steps left out of the timing (the cached arm's: 1)


def _step_clock():
    from transformers import TrainerCallback

    class StepClock(TrainerCallback):
        """perf_counter() at the end of every optimizer step: the trainer's setup is left out."""

        def __init__(self) -> None:
            self.ends: list[float] = []

        def on_step_end(self, args, state, control, **kwargs):
            self.ends.append(time.perf_counter())

    return StepClock()


def time_trainer(args) -> dict:
    """Whole training steps of the study's trainer, per arm (TRAINER_ARMS), interleaved."""
    import dataclasses
    import tempfile

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from sentence_transformers import SentenceTransformer

    from contrastlens.data import wordnet
    from contrastlens.integrations.sentence_transformers import minilm_path
    from contrastlens.text.text_config import TextConfig
    from contrastlens.text.trainer import make_trainer
    from contrastlens.train.precision import cpu_has_native_bf16

    cfg0 = TextConfig()
    split = wordnet.split_synsets(wordnet.load_synsets())
    pairs = wordnet.training_pairs(split.train, cfg0.train_pairs, seed=cfg0.subset_seed)
    bf16 = cpu_has_native_bf16()
    results: dict = {}
    for batch in args.batches:
        times: dict[str, list[float]] = {arm: [] for arm in TRAINER_ARMS}
        for rep in range(args.repeats):
            for label, over in TRAINER_ARMS.items():
                over = {"arm": label, "batch_size": batch, **over, "seed": rep}
                if over["arm"] == "cached-mnrl":
                    over["mini_batch_size"] = batch
                cfg = dataclasses.replace(cfg0, **over)
                # the same training pairs for every arm, after warm-up steps left out
                warmup = 1 if cfg.batch_size > batch else WARMUP_STEPS
                timed = math.ceil(args.steps * batch / cfg.batch_size)
                torch.manual_seed(rep)
                model = SentenceTransformer(str(minilm_path()), local_files_only=True, device="cpu")
                model.max_seq_length = cfg.max_seq_length
                clock = _step_clock()
                with tempfile.TemporaryDirectory() as scratch:
                    trainer, _ = make_trainer(
                        cfg, model, pairs, Path(scratch), bf16=bf16, max_steps=warmup + timed
                    )
                    trainer.add_callback(clock)
                    trainer.train()
                seconds = clock.ends[-1] - clock.ends[warmup - 1]
                # per B training pairs, so that the cached arm's larger steps compare
                times[label].append(seconds / (timed * cfg.batch_size) * batch * 1000)
        _report(results, batch, times, f"trainer time per {batch} training pairs", args.repeats)
    return {"results": results, "mode": "trainer", "bf16": bf16}


def time_losses(args) -> dict:
    """The loss's forward + backward per arm (ARMS), interleaved, no optimizer step."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from sentence_transformers import SentenceTransformer

    from contrastlens.data import wordnet
    from contrastlens.integrations.sentence_transformers import minilm_path
    from contrastlens.text.text_config import TextConfig
    from contrastlens.text.trainer import build_loss
    from contrastlens.train.precision import cpu_has_native_bf16

    torch.manual_seed(0)
    cfg0 = TextConfig()
    split = wordnet.split_synsets(wordnet.load_synsets())
    pairs = wordnet.training_pairs(split.train, cfg0.train_pairs, seed=cfg0.subset_seed)
    model = SentenceTransformer(str(minilm_path()), local_files_only=True, device="cpu")
    model.max_seq_length = cfg0.max_seq_length
    model.train()
    bf16 = cpu_has_native_bf16()

    results = {}
    for batch in args.batches:
        losses = {
            arm: build_loss(TextConfig(arm=arm, batch_size=batch), model, len(pairs))
            for arm in ARMS
        }
        batches = []
        for k in range(args.steps):
            rows = pairs[k * batch : (k + 1) * batch]
            features = [model.tokenize([r[c] for r in rows]) for c in (0, 1)]
            batches.append((features, torch.arange(k * batch, (k + 1) * batch)))

        def step(loss, features, labels) -> None:
            model.zero_grad(set_to_none=True)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                out = loss(features, labels)
            total = sum(out.values()) if isinstance(out, dict) else out
            total.backward()

        for arm in ARMS:  # warm-up
            step(losses[arm], *batches[0])
        times: dict[str, list[float]] = {arm: [] for arm in ARMS}
        for _ in range(args.repeats):
            for arm in ARMS:
                t0 = time.perf_counter()
                for features, labels in batches:
                    step(losses[arm], features, labels)
                times[arm].append((time.perf_counter() - t0) / args.steps * 1000)
        _report(results, batch, times, "forward + backward per step", args.repeats)
    return {"results": results, "mode": "loss", "bf16": bf16}


if __name__ == "__main__":
    main()
