"""kNN at several k on a run's backbone features, to compare with the raw-pixel floor
(k = 10: 85.5%) at equal k. Writes knn_k.json next to this file (merged per run)."""

import json
import sys
from pathlib import Path

import torch

from contrastlens.data.views import normalization
from contrastlens.eval import KNNProbe, extract_features
from contrastlens.models import build_encoder
from contrastlens.train.config import config_from_dict
from contrastlens.train.loop import load_images

run = Path(sys.argv[1])
cfg = config_from_dict(json.loads((run / "config.json").read_text()))
enc = build_encoder(cfg.model, 1)
enc.load_state_dict(torch.load(run / "checkpoint.pt", weights_only=False)["encoder"])
(xtr, ytr), (xte, yte) = load_images(cfg, "train"), load_images(cfg, "test")
mean, std = normalization(cfg.data.dataset, 1)
ftr, fte = (extract_features(enc.backbone, x, mean, std) for x in (xtr, xte))
res = {f"k{k}": KNNProbe(k=k).fit(ftr, ytr).score(fte, yte) for k in (5, 10, 200)}
out = Path(__file__).parent / "knn_k.json"
allres = json.loads(out.read_text()) if out.exists() else {}
allres[run.name] = res
out.write_text(json.dumps(allres, indent=2) + "\n")
print(run.name, res)
