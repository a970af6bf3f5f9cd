import torch, time, json, sys
torch.set_num_threads(1)
import torch.nn as nn
from contrastlens.data.datasets import load_dataset
from contrastlens.data.augment import normalize
from contrastlens.models import build_encoder
from contrastlens.train.config import config_from_dict
from contrastlens.eval.probes import LinearProbe, KNNProbe
run = sys.argv[1]
cfg = config_from_dict(json.load(open(run + '/config.json')))
ck = torch.load(run + '/checkpoint.pt', weights_only=False)
enc = build_encoder(cfg.model, 1); enc.load_state_dict(ck['encoder']); enc.eval()
print('ckpt step', ck['step'], flush=True)
tr = load_dataset('fashion-mnist', 'train'); te = load_dataset('fashion-mnist', 'test')
bb = enc.backbone
def maps(imgs):
    h2s, h3s = [], []
    with torch.no_grad():
        for i in range(0, len(imgs), 2000):
            x = normalize(imgs[i:i+2000].float() / 255, (0.2860,), (0.3530,))
            h2 = bb.stage2(x); h3 = bb.stage3(h2)
            h2s.append(h2); h3s.append(h3)
    return torch.cat(h2s), torch.cat(h3s)
tr2, tr3 = maps(tr.images); te2, te3 = maps(te.images)
P = lambda h, k: nn.functional.adaptive_avg_pool2d(h, k).flatten(1)
variants = {
  'last2+mid4 (current)': lambda a, b: torch.cat([P(b, 2), P(a, 4)], 1),
  'last2': lambda a, b: P(b, 2),
  'last1 (global)': lambda a, b: P(b, 1),
  'last3+mid7': lambda a, b: torch.cat([P(b, 3), P(a, 7)], 1),
  'last7 (full map)': lambda a, b: P(b, 7),
}
for name, f in variants.items():
    Ftr, Fte = f(tr2, tr3), f(te2, te3)
    t = time.time()
    knn = KNNProbe().fit(Ftr, tr.labels).score(Fte, te.labels)
    lin = LinearProbe(epochs=30).fit(Ftr, tr.labels).score(Fte, te.labels)
    print(f'{name:24s} dim {Ftr.shape[1]:5d} knn {knn:.4f} linear30 {lin:.4f} ({time.time()-t:.0f}s)', flush=True)
