"""Evaluation of a trained encoder: probes on frozen features and similarity measurements.

    feats_NF = extract_features(encoder.backbone, images_NCHW, mean, std)   # no augmentation
    result = evaluate_encoder(cfg, encoder, device, dtype)                 # dict, see run_dir.py
    result = evaluate_run("runs/x")                                        # + writes eval.json

Measurements (SPEC section 5):
- linear probe (paper protocol, `LinearProbe`) and weighted kNN (`KNNProbe`, at eval.knn_k and
  at k = 10, the k of the raw-pixel floor) on the backbone features of the training split (fit)
  and the test split (score; the validation split when data.val_size > 0);
- Table 1: variance of negative cosine similarities of PROJECTOR outputs over
  `eval.table1_pairs` augmented training pairs (one random subset, two augmented views each);
- `raw_pixel_floor`: the same probes on raw pixels, the floor to beat;
- exact full-dataset statistics (`SimilarityAccumulator`) of one augmented pair of every
  training image: mean/variance over all n(n-1) cross-view negatives and the excess over
  -1/(n-1).

Legend: N images, F backbone features, P projector dims.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from contrastlens.data.augment import normalize, to_float
from contrastlens.data.views import normalization, step_generator
from contrastlens.eval.probes import KNNProbe, LinearProbe

FLOOR_K = 10  # the k at which raw-pixel kNN is strongest on Fashion-MNIST (85.5%, issue 5)


@torch.no_grad()
def extract_features(
    module: torch.nn.Module,
    images_NCHW: torch.Tensor,
    mean: tuple,
    std: tuple,
    *,
    batch_size: int = 1024,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """`module` outputs (eval mode, no augmentation) of uint8 images: (N, F) float32 on CPU."""
    was_training = module.training
    module.eval()
    out = []
    for start in range(0, images_NCHW.shape[0], batch_size):
        x = to_float(images_NCHW[start : start + batch_size].to(device))
        out.append(module(normalize(x, mean, std).to(dtype)).float().cpu())
    module.train(was_training)
    return torch.cat(out)


@torch.no_grad()
def augmented_projections(cfg, encoder, images_NCHW, mean, std, device, dtype, *, seed: int,
                          batch_size: int = 1024):  # fmt: skip
    """Projector outputs of two augmented views of every image (eval mode): 2 x (N, P)."""
    from contrastlens.data.augment import augment

    was_training = encoder.training
    encoder.eval()
    z1, z2 = [], []
    for i, start in enumerate(range(0, images_NCHW.shape[0], batch_size)):
        x = images_NCHW[start : start + batch_size].to(device)
        g = step_generator(seed, 10**6, i, 0)
        for views in (z1, z2):
            v = normalize(augment(x, cfg.data.augment, g), mean, std).to(dtype)
            views.append(encoder(v)[1].double().cpu())
    encoder.train(was_training)
    return torch.cat(z1), torch.cat(z2)


def _knn_top1(cfg, ftr, ytr, fte, yte) -> dict:
    """{k: top-1} at eval.knn_k and at FLOOR_K, from one kNN search."""
    probe = KNNProbe(cfg.eval.knn_k, cfg.eval.knn_temperature).fit(ftr, ytr)
    return probe.top1_at(fte, yte, ks=(cfg.eval.knn_k, FLOOR_K))


def raw_pixel_floor(cfg) -> dict:
    """The same probes on raw pixels (flattened, in [0, 1]): the floor a learned representation
    has to beat. Uses the run's probe data (`probe_split`) and eval settings; seconds on a CPU
    for Fashion-MNIST (784-d)."""
    t0 = time.perf_counter()
    (xtr, ytr), (xte, yte) = _probe_data(cfg)
    ftr, fte = (to_float(x).flatten(1) for x in (xtr, xte))
    knn_at = _knn_top1(cfg, ftr, ytr, fte, yte)
    lin = LinearProbe(epochs=cfg.eval.linear_epochs, seed=cfg.train.seed).fit(ftr, ytr)
    return {
        "linear_top1": lin.scores(fte, yte)["top1"], "knn_top1": knn_at[cfg.eval.knn_k],
        f"knn_top1_k{FLOOR_K}": knn_at[FLOOR_K], "linear_epochs": cfg.eval.linear_epochs,
        "knn_k": cfg.eval.knn_k, "knn_temperature": cfg.eval.knn_temperature,
        "feature_dim": int(ftr.shape[1]), "n_train": int(ftr.shape[0]),
        "probe_split": probe_split(cfg), "time_s": time.perf_counter() - t0,
    }  # fmt: skip


def probe_split(cfg) -> str:
    """The split the probes score: the held-out validation split when data.val_size > 0."""
    return "val" if cfg.data.val_size else cfg.data.test_split


def _probe_data(cfg):
    from contrastlens.train.loop import load_images

    train = load_images(cfg, cfg.data.train_split)
    test = load_images(cfg, probe_split(cfg))
    if train is None or test is None:
        raise ValueError("evaluation of imagefolder runs is not supported yet (streamed data)")
    return train, test


def probe_curve_point(cfg, encoder, device, dtype) -> dict:
    """Quick probes for the accuracy-vs-time curve (kNN + a short linear probe)."""
    (xtr, ytr), (xte, yte) = _probe_data(cfg)
    mean, std = normalization(cfg.data.dataset, xtr.shape[1])
    ftr = extract_features(encoder.backbone, xtr, mean, std, device=device, dtype=dtype)
    fte = extract_features(encoder.backbone, xte, mean, std, device=device, dtype=dtype)
    knn = KNNProbe(cfg.eval.knn_k, cfg.eval.knn_temperature).fit(ftr, ytr).score(fte, yte)
    lin = LinearProbe(epochs=cfg.eval.curve_linear_epochs).fit(ftr, ytr).scores(fte, yte)
    return {"knn_top1": knn, "linear_top1": lin["top1"], "linear_top5": lin["top5"],
            "linear_epochs": cfg.eval.curve_linear_epochs}  # fmt: skip


def evaluate_encoder(cfg, encoder, device, dtype=torch.float32) -> dict:
    """All end-of-run measurements (see the module docstring); returns the "eval" dict."""
    from contrastlens.similarity import SimilarityAccumulator, pair_stats, similarity_histograms

    t0 = time.perf_counter()
    (xtr, ytr), (xte, yte) = _probe_data(cfg)
    mean, std = normalization(cfg.data.dataset, xtr.shape[1])
    ftr = extract_features(encoder.backbone, xtr, mean, std, device=device, dtype=dtype)
    fte = extract_features(encoder.backbone, xte, mean, std, device=device, dtype=dtype)
    knn_at = _knn_top1(cfg, ftr, ytr, fte, yte)
    lin = LinearProbe(epochs=cfg.eval.linear_epochs, seed=cfg.train.seed)
    lin_scores = lin.fit(ftr, ytr).scores(fte, yte)

    # Table 1: 5,000 augmented training pairs (a fixed random subset).
    n = xtr.shape[0]
    g = torch.Generator().manual_seed(cfg.train.seed + 777)
    pick = torch.randperm(n, generator=g)[: min(cfg.eval.table1_pairs, n)]
    z1, z2 = augmented_projections(cfg, encoder, xtr[pick], mean, std, device, dtype,
                                   seed=cfg.train.seed + 1)  # fmt: skip
    st = pair_stats(z1, z2, n=n)
    hist = similarity_histograms(z1, z2, bins=50).neg  # exact over the pairs' negatives
    table1 = {"pairs": int(pick.numel()), "pos_mean": st.pos_mean, "neg_mean": st.neg_mean,
              "neg_var": st.neg_var, "excess": st.excess,
              "neg_hist": {"edges": hist.edges.tolist(),
                           "counts": hist.counts_H.tolist()}}  # fmt: skip

    # Exact full-dataset statistics: one augmented pair of every training image.
    z1, z2 = augmented_projections(cfg, encoder, xtr, mean, std, device, dtype,
                                   seed=cfg.train.seed + 2)  # fmt: skip
    full = SimilarityAccumulator().update(z1, z2).result().as_dict()
    return {
        "linear_top1": lin_scores["top1"], "linear_top5": lin_scores["top5"],
        "knn_top1": knn_at[cfg.eval.knn_k], f"knn_top1_k{FLOOR_K}": knn_at[FLOOR_K],
        "linear_epochs": cfg.eval.linear_epochs, "knn_k": cfg.eval.knn_k,
        "knn_temperature": cfg.eval.knn_temperature, "feature_dim": int(ftr.shape[1]),
        "probe_split": probe_split(cfg), "table1": table1, "full": full,
        "eval_time_s": time.perf_counter() - t0,
    }  # fmt: skip


def evaluate_run(path: str, *, device: str = "auto", overrides: list[str] | None = None) -> dict:
    """Load a run folder's config and checkpoint, evaluate, write eval.json and update
    final.json's "eval"; returns the eval dict. `overrides` apply to the config's `eval.*`."""
    from contrastlens.models import build_encoder
    from contrastlens.train import run_dir as rd
    from contrastlens.train.config import apply_overrides, config_from_dict
    from contrastlens.train.loop import resolve_device

    folder = Path(path)
    if not (folder / rd.CONFIG).exists():
        raise FileNotFoundError(f"{folder} is not a run folder (no {rd.CONFIG})")
    if not (folder / rd.CHECKPOINT).exists():
        raise FileNotFoundError(f"{folder} has no {rd.CHECKPOINT} to evaluate")
    cfg = config_from_dict(rd.read_json(folder / rd.CONFIG))
    if overrides:
        cfg = apply_overrides(cfg, overrides)
    dev = resolve_device(device)
    dtype = torch.float64 if cfg.train.dtype == "float64" else torch.float32
    (xtr, _), _ = _probe_data(cfg)
    encoder = build_encoder(cfg.model, xtr.shape[1])
    ckpt = torch.load(folder / rd.CHECKPOINT, map_location=dev, weights_only=False)
    state = {k.replace("module.", "", 1): v for k, v in ckpt["encoder"].items()}
    encoder.load_state_dict(state)
    encoder.to(device=dev, dtype=dtype)
    result = evaluate_encoder(cfg, encoder, dev, dtype)
    result["checkpoint_step"] = ckpt["step"]
    rd.write_json(result, folder / rd.EVAL)
    final_path = folder / rd.FINAL
    if final_path.exists():
        final = rd.read_json(final_path)
        final["eval"] = result
        rd.write_json(final, final_path)
    return result
