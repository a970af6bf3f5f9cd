"""Collect the recipe run folder into results/fmnist-recipe/results.json (config + numbers).

    .venv/bin/python results/fmnist-recipe/summarize.py results/fmnist-recipe/runs/final
"""

import json
import sys
from pathlib import Path

from contrastlens.train.run_dir import read_run

run = read_run(sys.argv[1])
final, meta = run["final"] or {}, run["meta"] or {}
ev = final.get("eval") or {}
metrics = run["metrics"]
out = {
    "command": " ".join(meta.get("command", [])),
    "git": meta.get("git"),
    "versions": meta.get("versions"),
    "status": final.get("status"),
    "train_minutes": final.get("train_time_s", 0) / 60,
    "epochs_done": final.get("epochs_done"),
    "img_per_s": final.get("img_per_s"),
    "linear_top1": ev.get("linear_top1"),
    "linear_top5": ev.get("linear_top5"),
    "knn_top1": ev.get("knn_top1"),
    "linear_epochs": ev.get("linear_epochs"),
    "table1_neg_var": (ev.get("table1") or {}).get("neg_var"),
    "full_dataset": ev.get("full"),
    "curve": [
        {"train_minutes": p["train_s"] / 60, **{k: p[k] for k in p if k != "train_s"}}
        for p in run["curve"]
    ],
    "last_metrics": metrics[-1] if metrics else None,
    "config": run["config"],
}
path = Path(__file__).parent / f"results-{Path(sys.argv[1]).name}.json"
path.write_text(json.dumps(out, indent=2) + "\n")
print(json.dumps({k: out[k] for k in ("status", "train_minutes", "epochs_done", "img_per_s",
                                       "linear_top1", "knn_top1", "curve")}, indent=1))
