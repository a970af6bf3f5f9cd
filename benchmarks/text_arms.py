"""Step time of the text study's arms: the loss's forward + backward on all-MiniLM-L6-v2.

    .venv/bin/python benchmarks/text_arms.py                 # batch 8 and 16, 7 repeats
    .venv/bin/python benchmarks/text_arms.py --batches 8 --repeats 5 --steps 20

For each batch size B it builds every arm's loss exactly as `contrastlens train-text` does
(`contrastlens.text.trainer.build_loss`: MNRL, MNRL + VRN, MNRL + GOR, the global loss) on the
packaged all-MiniLM-L6-v2 (offline) and times `--steps` training steps on real WordNet training
pairs (the text study's 8,000), each step the loss's forward (embedding both columns) and
backward under the trainer's precision (bf16 autocast on a CPU with native bf16), with the
gradients cleared between steps. The optimizer step is left out: AdamW's cost is the same for
every arm. Arms are interleaved within each repeat, so that load from other processes hits all
of them alike; the median over repeats is reported with its ratio to MNRL's in the same run.

It answers whether an arm's longer training time in a study comes from its loss or from the
conditions of the sitting. Results: printed, and written to benchmarks/results/text_arms.json
with the machine, versions, threads and load average.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

ARMS = ("mnrl", "mnrl-vrn", "mnrl-gor", "global")
OUT = Path(__file__).resolve().parent / "results" / "text_arms.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--steps", type=int, default=20, help="steps per arm and repeat")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

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
        base = statistics.median(times["mnrl"])
        results[str(batch)] = {
            arm: {
                "median_ms": statistics.median(t),
                "all_ms": t,
                "vs_mnrl": statistics.median(t) / base,
            }
            for arm, t in times.items()
        }
        print(f"batch {batch}: ms per step (forward + backward), median of {args.repeats}")
        for arm, r in results[str(batch)].items():
            print(f"  {arm:10s} {r['median_ms']:8.1f}  {r['vs_mnrl']:.2f}x MNRL")

    record = {
        "results": results,
        "steps": args.steps,
        "repeats": args.repeats,
        "bf16": bf16,
        "threads": torch.get_num_threads(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpus": os.cpu_count(),
        "loadavg": os.getloadavg(),
        "torch": torch.__version__,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    tmp.replace(args.out)
    print(f"written: {args.out.name}")


if __name__ == "__main__":
    main()
