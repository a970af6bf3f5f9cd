import json, math, sys, time, torch, torch.nn.functional as F
from torch import nn
sys.path.insert(0, '/work/main/src')
from contrastlens.data.datasets import load_dataset
from contrastlens.data.augment import recipe, augment, normalize
from contrastlens.models.small_cnn import SmallCNN
from contrastlens.eval.probes import LinearProbe, KNNProbe
args = json.loads(sys.argv[1])
name = args.pop('name'); minutes = args.pop('minutes', 4)
B = args.get('B', 256); t = args.get('t', 0.2); lr = args.get('lr', 0.3) * B / 256; wd = args.get('wd', 5e-4)
aug = recipe('grayscale', **args.get('aug', {}))
torch.manual_seed(0); g = torch.Generator().manual_seed(0)
tr = load_dataset('fashion-mnist', 'train'); te = load_dataset('fashion-mnist', 'test')
m = SmallCNN(1, tuple(args.get("widths", (32, 64, 128))), args.get("depth", 1), args.get("pool", 2), mid_pool=args.get("mid_pool", 0))
hid = args.get('hid', 512)
head = nn.Sequential(nn.Linear(m.out_dim, hid), nn.BatchNorm1d(hid), nn.ReLU(), nn.Linear(hid, 128))
params = list(m.parameters()) + list(head.parameters())
opt = torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=wd)
N = 60000; spe = N // B; est_ips = args.get('ips', 600)
total = int(minutes * 60 * est_ips / B)  # planned steps; schedule is cosine over that
MEAN, STD = (0.2860,), (0.3530,)
t0 = time.time(); step = 0
while step < total:
    perm = torch.randperm(N, generator=g)
    for s in range(spe):
        if step >= total: break
        idx = perm[s*B:(s+1)*B]; x = tr.images[idx]
        v1 = normalize(augment(x, aug, g), MEAN, STD); v2 = normalize(augment(x, aug, g), MEAN, STD)
        cur = lr * min(1, (step+1)/max(1, total*0.05)) * 0.5 * (1 + math.cos(math.pi * step / total))
        for pg in opt.param_groups: pg['lr'] = cur
        z = F.normalize(head(m(torch.cat([v1, v2]))), dim=1)
        sim = z @ z.T / t; sim.fill_diagonal_(float('-inf'))
        tgt = torch.cat([torch.arange(B, 2*B), torch.arange(B)])
        loss = F.cross_entropy(sim, tgt)
        opt.zero_grad(); loss.backward(); opt.step(); step += 1
        if step % 50 == 0: print(name, step, total, f"{loss.item():.3f}", f"{step*B/(time.time()-t0):.0f} ips", flush=True)
train_s = time.time() - t0
m.eval()
def feats(imgs):
    with torch.no_grad():
        return torch.cat([m(normalize(imgs[i:i+1000].float()/255, MEAN, STD)) for i in range(0, len(imgs), 1000)])
Ftr, Fte = feats(tr.images), feats(te.images)
knn = KNNProbe().fit(Ftr, tr.labels).score(Fte, te.labels)
lin = LinearProbe(epochs=args.get('probe_epochs', 30)).fit(Ftr, tr.labels).score(Fte, te.labels)
res = dict(name=name, args=args, minutes=minutes, steps=step, epochs=step*B/N, train_s=train_s, ips=step*B/train_s, knn=knn, linear=lin, eval_s=time.time()-t0-train_s)
print(json.dumps(res), flush=True)
open('/work/main/results/fmnist-recipe/explore.jsonl', 'a').write(json.dumps(res) + '\n')
