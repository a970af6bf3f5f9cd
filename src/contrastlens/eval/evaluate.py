"""Evaluation of a trained encoder: probes on frozen features and similarity measurements.

    feats_NF = extract_features(encoder.backbone, images_NCHW, mean, std)   # no augmentation
    result = evaluate_encoder(encoder, train, test, cfg.eval, augment=cfg.data.augment,
                              norm=(mean, std), seed=cfg.train.seed)        # see runfolder.py

Functions take tensors and an `EvalConfig`; reading a run folder to evaluate it is
`contrastlens.experiments.evaluate_run`. Measurements (docs/theory.md, "Protocol"):
- linear probe (paper protocol, `LinearProbe`) and weighted kNN (`KNNProbe`, at eval.knn_k and
  at k = 10, the k of the raw-pixel floor) on the backbone features of the training split (fit;
  its labeled part when it holds unlabeled images, `data.splits.probe_fit_split`) and the probe
  split (score: the test split, or the validation split when data.val_size > 0), with which
  scored images each probe got right (paired differences over the same images). The probes run
  on the encoder's device (a GPU run fits them on the GPU);
- Table 1: variance of negative cosine similarities of PROJECTOR outputs over
  `eval.table1_pairs` augmented training pairs (one random subset, two augmented views each),
  with their second moment, the Welch floor (n, d) and the embedding diagnostics (alignment,
  uniformity, RankMe, GOR's moments) of the same pairs;
- `raw_pixel_floor`: the same probes on raw pixels, the floor to beat;
- exact full-dataset statistics (`SimilarityAccumulator`) of one augmented pair of every
  training image: mean/variance over all n(n-1) cross-view negatives and the excess over
  -1/(n-1), and the same negatives split by class ("by_label": same-class pairs, false
  negatives to the loss, and different-class pairs; exact, no n x n matrix).

Legend: N images, F backbone features, P projector dims.
"""

from __future__ import annotations

import contextlib
import time

import torch

from contrastlens import runfolder as rf
from contrastlens.data.augment import normalize, to_float
from contrastlens.data.views import step_generator
from contrastlens.eval.probes import KNNProbe, LinearProbe

Split = tuple[torch.Tensor, torch.Tensor]  # (uint8 images (N, C, H, W), labels (N,))


class _FP32:
    """The default `precision`: float32, contiguous layout. A precision object (the trainer's
    `train.precision.Precision`) has `autocast(device)` and `inputs(x)`; with bf16 autocast the
    kNN similarities are computed in bf16 too (a 2x faster matrix product, measured), on the
    same device the precision was resolved for (`train.amp=auto` picks bf16 only where that
    device computes it natively)."""

    amp = "off"

    def autocast(self, device):
        return contextlib.nullcontext()

    def inputs(self, x):
        return x


FP32 = _FP32()

# the k at which raw-pixel kNN is strongest on Fashion-MNIST (85.5%, results/fmnist-recipe)
FLOOR_K = 10


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
    precision=FP32,
) -> torch.Tensor:
    """`module` outputs (eval mode, no augmentation) of uint8 images: (N, F) float32 on CPU."""
    was_training = module.training
    module.eval()
    out = []
    for start in range(0, images_NCHW.shape[0], batch_size):
        x = to_float(images_NCHW[start : start + batch_size].to(device))
        x = precision.inputs(normalize(x, mean, std).to(dtype))
        with precision.autocast(torch.device(device)):
            out.append(module(x).float().cpu())
    module.train(was_training)
    return torch.cat(out)


@torch.no_grad()
def augmented_projections(
    encoder,
    images_NCHW,
    augment_cfg,
    mean,
    std,
    device,
    dtype,
    *,
    seed: int,
    batch_size: int = 1024,
    precision=FP32,
):
    """Projector outputs of two augmented views of every image (eval mode): 2 x (N, P)."""
    from contrastlens.data.augment import augment

    was_training = encoder.training
    encoder.eval()
    z1, z2 = [], []
    for i, start in enumerate(range(0, images_NCHW.shape[0], batch_size)):
        x = images_NCHW[start : start + batch_size].to(device)
        g = step_generator(seed, 10**6, i, 0)
        for views in (z1, z2):
            v = precision.inputs(normalize(augment(x, augment_cfg, g), mean, std).to(dtype))
            with precision.autocast(torch.device(device)):
                views.append(encoder(v)[1].double().cpu())
    encoder.train(was_training)
    return torch.cat(z1), torch.cat(z2)


def _knn(ev, ftr, ytr, precision=FP32, device="cpu") -> KNNProbe:
    """The kNN probe of eval.knn_k fitted on the training features, on `device` (bf16 under
    bf16 autocast: the precision was resolved for that device); ask it at (eval.knn_k, FLOOR_K)
    for one kNN search."""
    dtype = torch.bfloat16 if precision.amp == "bf16" else torch.float32
    return KNNProbe(ev.knn_k, ev.knn_temperature, compute_dtype=dtype).fit(ftr.to(device), ytr)


def _knn_top1(ev, ftr, ytr, fte, yte, precision=FP32, device="cpu") -> dict:
    """{k: top-1} at eval.knn_k and at FLOOR_K, from one kNN search."""
    return _knn(ev, ftr, ytr, precision, device).top1_at(fte, yte, ks=(ev.knn_k, FLOOR_K))


def raw_pixel_floor(train: Split, test: Split, ev, *, seed: int = 0) -> dict:
    """The same probes on raw pixels (flattened, in [0, 1]): the floor a learned representation
    has to beat. `ev` is an `EvalConfig`; seconds on a CPU for Fashion-MNIST (784-d)."""
    t0 = time.perf_counter()
    (xtr, ytr), (xte, yte) = train, test
    ftr, fte = (to_float(x).flatten(1) for x in (xtr, xte))
    knn_at = _knn_top1(ev, ftr, ytr, fte, yte)
    lin = LinearProbe(epochs=ev.linear_epochs, lr=ev.linear_lr, seed=seed).fit(ftr, ytr)
    return {
        "linear_top1": lin.scores(fte, yte)["top1"],
        "knn_top1": knn_at[ev.knn_k],
        f"knn_top1_k{FLOOR_K}": knn_at[FLOOR_K],
        "linear_epochs": ev.linear_epochs,
        "linear_lr": ev.linear_lr,
        "knn_k": ev.knn_k,
        "knn_temperature": ev.knn_temperature,
        "feature_dim": int(ftr.shape[1]),
        "n_train": int(ftr.shape[0]),
        "time_s": time.perf_counter() - t0,
    }


def _features(encoder, train: Split, test: Split, norm, device, dtype, precision):
    """Backbone features of both splits, float32 on `device` (where the probes run)."""
    mean, std = norm
    kw = dict(device=device, dtype=dtype, precision=precision)
    ftr = extract_features(encoder.backbone, train[0], mean, std, **kw)
    fte = extract_features(encoder.backbone, test[0], mean, std, **kw)
    return ftr.to(device), fte.to(device)


def probe_curve_point(
    encoder, train: Split, test: Split, ev, *, norm, device, dtype, precision=FP32
) -> dict:
    """Quick probes for the accuracy-vs-time curve (kNN + a short linear probe). `train`: the
    split the probes fit (labeled: `data.splits.probe_fit_split`)."""
    ftr, fte = _features(encoder, train, test, norm, device, dtype, precision)
    knn = _knn_top1(ev, ftr, train[1], fte, test[1], precision, device)[ev.knn_k]
    lin = (
        LinearProbe(epochs=ev.curve_linear_epochs, lr=ev.linear_lr)
        .fit(ftr, train[1])
        .scores(fte, test[1])
    )
    return {
        "knn_top1": knn,
        "linear_top1": lin["top1"],
        "linear_top5": lin["top5"],
        "linear_epochs": ev.curve_linear_epochs,
        "linear_lr": ev.linear_lr,
    }


def evaluate_encoder(
    encoder,
    train: Split,
    test: Split,
    ev,
    *,
    augment,
    norm: tuple[tuple, tuple],
    seed: int,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    precision=FP32,
    also: Split | None = None,
    fit: Split | None = None,
) -> dict:
    """All end-of-run measurements (see the module docstring); returns the eval dict.

    train, test: (uint8 images (N, C, H, W), labels (N,)) of the training split (the Table 1
    pairs and the full-dataset statistics; the probes' fit split too unless `fit` is given) and
    the probes' score split. fit: the probes' fit split when it is not `train` (STL-10's labeled
    "train" for a run trained on "train+unlabeled"; `data.splits.probe_fit_split`).
    ev: an `EvalConfig`. augment: the `AugmentConfig` of the Table 1 views. norm: (mean, std)
    per channel. seed: the run's seed (probe init, the Table 1 subset and its views).
    precision: how the encoder runs (the run's `train.amp` / `train.channels_last`; the linear
    probe itself is always float32). also: a second scored split (the validation split of a run
    whose final probes score test), scored by the same fitted probes into "also" (the same
    keys as the top level's accuracies, with its "correct" flags)."""
    from contrastlens.similarity import (
        SimilarityAccumulator,
        embedding_diagnostics,
        pair_stats,
        similarity_histograms,
    )
    from contrastlens.theory import welch_bound

    t0 = time.perf_counter()
    fit = train if fit is None else fit
    xtr, (_, ytr), (_, yte) = train[0], fit, test
    mean, std = norm
    ftr, fte = _features(encoder, fit, test, norm, device, dtype, precision)
    knn = _knn(ev, ftr, ytr, precision, device)
    knn_correct = knn.correct_at(fte, yte, ks=(ev.knn_k, FLOOR_K))
    knn_at = {k: c.float().mean().item() for k, c in knn_correct.items()}
    lin = LinearProbe(epochs=ev.linear_epochs, lr=ev.linear_lr, seed=seed)
    lin_scores = lin.fit(ftr, ytr).scores(fte, yte)
    lin_top1 = lin.decision_function(fte).topk(1, dim=1).indices[:, 0]
    lin_correct = lin_top1 == yte.long().to(lin_top1.device)
    scored_too = None
    if also is not None:  # the same fitted probes on a second split
        fal = extract_features(
            encoder.backbone, also[0], mean, std, device=device, dtype=dtype, precision=precision
        )
        scored_too = _scores(lin, knn, fal, also[1], ev)

    # Table 1: `table1_pairs` augmented training pairs (a fixed random subset).
    n = xtr.shape[0]
    g = torch.Generator().manual_seed(seed + 777)
    pick = torch.randperm(n, generator=g)[: min(ev.table1_pairs, n)]
    z1, z2 = augmented_projections(
        encoder, xtr[pick], augment, mean, std, device, dtype, seed=seed + 1, precision=precision
    )
    st = pair_stats(z1, z2, n=n)
    hist = similarity_histograms(z1, z2, bins=50).neg  # exact over the pairs' negatives
    table1 = {
        "pairs": int(pick.numel()),
        "pos_mean": st.pos_mean,
        "neg_mean": st.neg_mean,
        "neg_var": st.neg_var,
        "excess": st.excess,
        # the floor of var + mean^2 of the negatives for n unit vectors in R^d, n > d
        "neg_second_moment": st.neg_var + st.neg_mean**2,
        "welch_floor": welch_bound(n, z1.shape[1]),
        "diagnostics": embedding_diagnostics(z1, z2),  # alignment, uniformity, RankMe
        "neg_hist": {"edges": hist.edges.tolist(), "counts": hist.counts_H.tolist()},
    }

    # Exact full-dataset statistics: one augmented pair of every training image.
    z1, z2 = augmented_projections(
        encoder, xtr, augment, mean, std, device, dtype, seed=seed + 2, precision=precision
    )
    # split by class when every training image has one (STL-10's unlabeled images have -1)
    known = train[1] if bool((train[1] >= 0).all()) else None
    full = SimilarityAccumulator().update(z1, z2, labels=known).result().as_dict()
    return {
        "linear_top1": lin_scores["top1"],
        "linear_top5": lin_scores["top5"],
        "knn_top1": knn_at[ev.knn_k],
        f"knn_top1_k{FLOOR_K}": knn_at[FLOOR_K],
        "linear_epochs": ev.linear_epochs,
        "linear_lr": ev.linear_lr,
        "knn_k": ev.knn_k,
        "knn_temperature": ev.knn_temperature,
        "feature_dim": int(ftr.shape[1]),
        "table1": table1,
        "full": full,
        "eval_time_s": time.perf_counter() - t0,
        "precision": getattr(precision, "as_dict", lambda: {"amp": "off"})(),
        # per scored image: paired differences over the same test images (report.stats)
        "correct": {
            "linear": rf.encode_flags(lin_correct.tolist()),
            "knn": rf.encode_flags(knn_correct[ev.knn_k].tolist()),
        },
        **({"also": scored_too} if scored_too is not None else {}),
    }


def _scores(lin: LinearProbe, knn: KNNProbe, f_NF: torch.Tensor, y_N: torch.Tensor, ev) -> dict:
    """Fitted probes' accuracies on features `f_NF` with labels `y_N`, with per-image flags."""
    knn_correct = knn.correct_at(f_NF, y_N, ks=(ev.knn_k, FLOOR_K))
    lin_scores = lin.scores(f_NF, y_N)
    top1 = lin.decision_function(f_NF).topk(1, dim=1).indices[:, 0]
    return {
        "linear_top1": lin_scores["top1"],
        "linear_top5": lin_scores["top5"],
        "knn_top1": knn_correct[ev.knn_k].float().mean().item(),
        f"knn_top1_k{FLOOR_K}": knn_correct[FLOOR_K].float().mean().item(),
        "correct": {
            "linear": rf.encode_flags((top1 == y_N.long().to(top1.device)).tolist()),
            "knn": rf.encode_flags(knn_correct[ev.knn_k].tolist()),
        },
    }
