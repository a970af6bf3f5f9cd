"""SogCLR's global contrastive loss (Yuan et al., ICML 2022, "Provable Stochastic Optimization for
Global Contrastive Learning: Small Batch Does Not Harm Performance", arXiv:2202.12387).

In the terms of Lee et al. (docs/theory.md) the global contrastive objective is DCL (Def 3.1,
psi = log, c1 = c2 = 1) whose inner sum runs over ALL n samples of the training set, not over
the batch. With anchors a in {u_i, v_i} (2n of them) and N(a) the 2(n - 1) embeddings of the
other samples, both views:

    L = 1/(2n) sum_a [ -u_i.v_i/t + log sum_{c in N(a)} e^{a.c/t} ]
      = 1/(2n) sum_a [ -u_i.v_i/t + log K_n + log g_a ],   K_n = 2(n - 1),
    g_a = 1/K_n sum_{c in N(a)} e^{a.c/t}   (the MEAN exp-similarity of the anchor's negatives)

SogCLR (Algorithm 1 of the paper) keeps one number per training sample, u_i, a moving average
of the mini-batch estimates g_a(B) (the same mean over the anchor's 2(G - 1) in-batch
negatives):

    u_i <- (1 - gamma) u_i + gamma g_a(B)        (the sample's first visit: u_i <- g_a(B))

and steps along the gradient of L with g_a replaced by u_i: per anchor
-grad(u_i.v_i)/t + grad(g_a(B)) / u_i. With gamma = 1 and a batch that is the whole data set
this is exactly DCL (value and gradient). `within_view=False` is the InfoNCE-shaped variant:
cross-view negatives only (c2 = 0), K_n = n - 1, 2(G - 1) -> G - 1. `symmetric=False` keeps
the first view's anchors only (MNRL's one direction, anchor -> positives): B anchors, and u_i
is that direction's estimate. `false_negatives` removes given (row, sample) pairs from the
negatives: g_a is then the mean over the K_a negatives left to the anchor.

The state. `log_u_N` holds log u_i for the n training samples, -inf for a sample not seen yet
(u = 0, LibAUC's initial value), in log space so that no e^{1/t} can overflow. Each view's anchor
uses its own updated value u_a = (1 - gamma) u_old + gamma g_a(B) (u_old for a first visit: 0,
weight 1 on g_a), and the stored state is the mean of the two views' values, (u_a + u_b) / 2:
exactly what LibAUC's `GCLoss_v1` does. The functions here are pure: they return the rows to
write (`GlobalContrastiveStep.ids_G`, `.log_u_G`) and leave `log_u_N` unchanged;
`GlobalContrastiveLoss` (modules.py) writes them.

The value. The returned loss is the global objective's estimate on this batch's anchors,
1/(2G) sum_a [-u_i.v_i/t + log(K_n u_a)], whose gradient is SogCLR's (the term
(g_a/u_a) log g_a(B), with the ratio g_a/u_a held constant, carries the gradient; its value
is replaced by log(K_n u_a)). So with gamma = 1 and the whole data set as one batch the value
is DCL's to rounding, and across batch sizes it stays on the full-data scale (DCL's value at
batch G is about log((n - 1)/(G - 1)) lower).

Relation to LibAUC 2.0.1's `GCLoss_v1(N=n, tau=t, gamma=gamma, gamma_schedule="constant")`:
the same gamma (weight of the NEW estimate), the same u (ours is exp(log_u_N)), and
grad(LibAUC) = 2 t grad(ours): LibAUC's per-anchor loss is t times ours and it sums the two
views where we average them. One difference, on purpose: LibAUC gives the batch gamma = 1 only
when EVERY sample in it is new (`u[index].sum() == 0`), else gamma to all, so a new sample in a
batch of revisits gets u = gamma g (it averages with LibAUC's 0); here each sample's first visit
sets u = g. With one permutation per epoch (data/views.py) every batch of the first epoch is new
and the two agree, except for the samples of epoch 0's dropped partial batch, first seen later
among revisits (where LibAUC's `adjust_gamma(epoch >= 1)` would give gamma g as well).

Across processes (`gather=True`) every process scores its local anchors against the gathered
columns, gathers the ids and the new state rows, and so holds the same state, equal to one
process holding the global batch (tests/test_distributed.py).

Shape legend: B local rows, G global rows (= B on one process), D dimension, N = n training
samples, A = 2B anchors (view 1 then view 2), K columns of one anchor's logits (2G, or G),
V views that anchor (2, or 1 with symmetric=False).
"""

# ruff: noqa: N815  (the NamedTuple fields carry shape suffixes, the house style)
from __future__ import annotations

import functools
import math
from typing import NamedTuple

import torch

from contrastlens import distributed
from contrastlens.checks import check_positive, check_sample_id_values, check_sample_ids
from contrastlens.losses._fused import negative_logsumexp, self_negative_logsumexp
from contrastlens.losses.pairs import ViewPairs, view_pairs
from contrastlens.losses.precision import full_precision

__all__ = [
    "GlobalContrastiveStep",
    "check_gamma",
    "global_contrastive_from_pairs",
    "global_contrastive_loss",
    "new_state",
    "state_diagnostics",
]


class GlobalContrastiveStep(NamedTuple):
    """What one step of the global contrastive loss returns: the loss and the state rows to
    write, `log_u_N[ids_G] = log_u_G` (the module does it in training mode).

    Attributes:
        loss: the 0-d loss.
        ids_G: (G,) int64 dataset indices of the global batch.
        log_u_G: (G,) their new log u, detached, in the state's dtype.
    """

    loss: torch.Tensor  # 0-d
    ids_G: torch.Tensor  # (G,) int64 dataset indices of the global batch
    log_u_G: torch.Tensor  # (G,) their new log u, detached, in the state's dtype


def new_state(
    n: int, dtype: torch.dtype | None = None, device: torch.device | str | None = None
) -> torch.Tensor:
    """SogCLR's state before any visit: log u = -inf (LibAUC's initial u = 0) per sample.

    Args:
        n: the training-set size.
        dtype: the state's dtype (default: torch's default float dtype).
        device: the state's device.

    Returns:
        (n,) tensor filled with -inf.
    """
    return torch.full((n,), float("-inf"), dtype=dtype, device=device)


def check_gamma(gamma: object) -> float:
    """gamma must be a number in (0, 1]; returns it as a float."""
    check_positive(gamma, "gamma")
    value = float(gamma)
    if value > 1:
        raise ValueError(f"gamma must be in (0, 1] (the weight of the new estimate), got {value}")
    return value


@functools.lru_cache(maxsize=16)
def _self_and_positive(B: int, offset: int, device: torch.device, square: bool) -> tuple:
    """(rows, cols) excluded for the 2B anchors [u_B; v_B] (anchor a is sample a mod B): the
    anchor itself and its positive. square: in the (2B, 2B) matrix of one process, the pairs
    (a, a) and (a, (a + B) mod 2B); else in each (2B, G) block of columns [u_G; v_G], the
    column offset + a mod B. Cached: a run has one or two batch shapes."""
    rows_A = torch.arange(2 * B, device=device)
    if square:
        return rows_A.repeat(2), torch.cat([rows_A, rows_A.add(B).remainder_(2 * B)])
    return rows_A, rows_A.remainder(B).add_(offset)


def global_contrastive_from_pairs(
    P: ViewPairs,
    ids: torch.Tensor | None,
    log_u_N: torch.Tensor,
    *,
    temperature: float | torch.Tensor,
    gamma: float,
    within_view: bool = True,
    symmetric: bool = True,
    false_negatives: torch.Tensor | None = None,
) -> GlobalContrastiveStep:
    """The global contrastive loss on a prepared batch (see `global_contrastive_loss`).
    The id mask of `P` is not used: ids must be distinct, so only (i, i) pairs are excluded,
    and the pairs of `false_negatives`."""
    check_positive(temperature, "temperature")
    if isinstance(temperature, torch.Tensor) and temperature.requires_grad:
        raise ValueError("temperature: SogCLR's t is a fixed number here (not learned)")
    gamma = check_gamma(gamma)
    if not isinstance(log_u_N, torch.Tensor) or log_u_N.dim() != 1:
        raise ValueError("log_u_N must be the (n,) state tensor (see `new_state`)")
    n = log_u_N.shape[0]
    ids_B = check_sample_ids(ids, P.B).to(log_u_N.device)
    ids_G = distributed.all_gather_no_grad(ids_B) if P.gathered else ids_B
    check_sample_id_values(ids_G, n)  # on every process the same ids: the same error

    inv_t = 1.0 / float(temperature)
    B, G, dev = P.B, P.G, P.u_BD.device
    views, blocks = (2 if symmetric else 1), (2 if within_view else 1)
    false_BG = _check_false_negatives(false_negatives, P)
    if within_view and symmetric and false_BG is None:
        # All 2B anchors [u_B; v_B] see the same columns [u_G; v_G]: one fused call. On one
        # process the anchors are the columns (a symmetric matrix: one matmul fewer).
        anchors_AD = torch.cat([P.u_BD, P.v_BD])
        if P.gathered:
            cols_KD = torch.cat([P.u_GD, P.v_GD])
            excluded = _self_and_positive(B, P.offset, dev, square=False)
            lse_A = negative_logsumexp(anchors_AD * inv_t, cols_KD, excluded, 2, G)
        else:
            excluded = _self_and_positive(B, 0, dev, square=True)
            lse_A = self_negative_logsumexp(anchors_AD, inv_t, excluded)
    else:
        # each view's anchors against the other view (u_i against v_G, v_i against u_G) and,
        # within_view, their own view; the pairs (i, offset + i) and the false negatives are
        # excluded in every block of columns
        excluded = P.excluded() if false_BG is None else P.excluded_mask() | false_BG
        lse = []
        for a_BD, other_GD, same_GD in ((P.u_BD, P.v_GD, P.u_GD), (P.v_BD, P.u_GD, P.v_GD))[:views]:
            cols_KD = torch.cat([other_GD, same_GD]) if within_view else other_GD
            lse.append(negative_logsumexp(a_BD * inv_t, cols_KD, excluded, blocks, G))
        lse_A = torch.cat(lse) if views == 2 else lse[0]
    negatives_G, negatives_n = blocks * (G - 1), blocks * (n - 1)

    with torch.no_grad():
        lse_VB = lse_A.detach().view(views, B)  # log(K_a g_a), K_a = the anchor's negatives
        log_old_B = log_u_N[ids_B].to(lse_VB.dtype)
        # log K_a: one number, or one per row when false negatives are masked
        log_K = math.log(negatives_G) if false_BG is None else _log_negatives(excluded, blocks, P)
        # w, the new estimate's weight: gamma, or 1 at a sample's first visit (u_old = 0)
        log_w_B = torch.where(torch.isneginf(log_old_B), log_old_B.new_zeros(()), math.log(gamma))
        # log(u_a / g_a) = log((1 - gamma) u_old / g_a + w)
        decay = math.log1p(-gamma) + log_K if gamma < 1 else -math.inf
        log_ug_VB = torch.logaddexp((log_old_B + decay) - lse_VB, log_w_B)
        ratio_VB = log_ug_VB.neg().exp_()  # g_a / u_a
        log_Ku_VB = lse_VB + log_ug_VB  # log(K_a u_a)
        # the new state, the mean of the views' u_a: log((u_a + u_b) / 2), or log u_a
        if views == 2 and false_BG is None:
            state_B = torch.logaddexp(log_Ku_VB[0], log_Ku_VB[1]).sub_(math.log(2 * negatives_G))
        else:
            state_B = torch.logsumexp(log_Ku_VB - log_K, dim=0).sub_(math.log(views))
        log_u_G = distributed.all_gather_no_grad(state_B) if P.gathered else state_B
        # the global objective counts K_n negatives per anchor where the batch had K_a
        if false_BG is None:
            to_n = views * B * math.log(negatives_n / negatives_G)
        else:
            to_n = views * (math.log(negatives_n) * B - log_K.sum())

    # sum_a ratio_a * lse_a has SogCLR's gradient, sum_a grad(g_a(B)) / u_a; its value is
    # replaced by sum_a log(K_n u_a), the global objective's estimate
    weighted = torch.dot(ratio_VB.view(-1), lse_A)
    value = log_Ku_VB.sum() - weighted.detach() + to_n
    pos = (P.u_BD * P.v_BD).sum() * (views * inv_t)  # sum over the anchors of s_ii / t
    loss = P.global_sum((weighted + value - pos) / (views * G))
    return GlobalContrastiveStep(loss, ids_G, log_u_G.to(log_u_N.dtype))


def _check_false_negatives(false_negatives: object, P: ViewPairs) -> torch.Tensor | None:
    """None, or a boolean (B, G) mask on the device of the batch."""
    if false_negatives is None:
        return None
    if (
        not isinstance(false_negatives, torch.Tensor)
        or false_negatives.dtype != torch.bool
        or false_negatives.shape != (P.B, P.G)
    ):
        got = (
            f"{tuple(false_negatives.shape)} {false_negatives.dtype}"
            if isinstance(false_negatives, torch.Tensor)
            else type(false_negatives).__name__
        )
        raise ValueError(
            f"false_negatives must be a boolean ({P.B}, {P.G}) mask (local rows x global "
            f"samples), got {got}"
        )
    return false_negatives.to(P.u_BD.device)


def _log_negatives(excluded_BG: torch.Tensor, blocks: int, P: ViewPairs) -> torch.Tensor:
    """(B,) log K_a, the negatives left to each local row; a row without any is an error (on
    every process alike)."""
    kept_B = (~excluded_BG).sum(dim=1)
    empty = (kept_B == 0).sum()
    if P.gathered:
        empty = distributed.all_reduce_sum(empty)
    if int(empty):
        raise ValueError(
            f"false_negatives: {int(empty)} anchor(s) have no negative left (every other sample "
            "of the batch is masked); use a larger batch or mask fewer pairs"
        )
    return (kept_B * blocks).to(P.u_BD.dtype).log()


@full_precision
def global_contrastive_loss(
    z1: torch.Tensor,
    z2: torch.Tensor,
    ids: torch.Tensor,
    log_u_N: torch.Tensor,
    *,
    temperature: float | torch.Tensor = 0.1,
    gamma: float = 0.9,
    within_view: bool = True,
    symmetric: bool = True,
    false_negatives: torch.Tensor | None = None,
    gather: bool = False,
) -> GlobalContrastiveStep:
    """SogCLR's global contrastive loss (Yuan et al., ICML 2022, arXiv:2202.12387), one step.

    Per anchor a_i (u_i, then v_i), with u_a the anchor's updated moving average:

        u_a = (1 - gamma) u_i + gamma g_a(B)       (first visit of sample i: u_a = g_a(B))
        g_a(B) = 1/(2(G-1)) sum_{j != i} [e^{a_i.u_j/t} + e^{a_i.v_j/t}]
        loss  = 1/(2G) sum_a [ -u_i.v_i/t + log(2(n-1) u_a) ]
        grad  = 1/(2G) sum_a [ -grad(u_i.v_i)/t + grad(g_a(B)) / u_a ]

    the paper's global objective (Sec. 3; DCL over all n samples, Lee et al. Def 3.1 with
    psi = log, c1 = c2 = 1) and its SogCLR update (Algorithm 1). The new state of sample i is
    log((u_a + u_b) / 2). `within_view=False`: cross-view negatives only (c2 = 0), with G - 1
    and n - 1 in place of 2(G - 1) and 2(n - 1).

    LibAUC 2.0.1: `GCLoss_v1(N=n, tau=t, gamma=gamma, gamma_schedule="constant")` moves its
    `u` as exp(log_u_N) moves here (same gamma convention: the weight of the new estimate) and
    its gradient is 2 t times ours (it scales by t and sums the two views). It differs for a
    first visit inside a batch of revisits: LibAUC gives it gamma g, we give g (module
    docstring). Equality is tested in tests/losses/test_global_contrastive.py.

    Args:
        z1: (B, D) view 1 of B samples, any scale (normalized inside, see
            `pairs.normalize`); float16/bfloat16 are computed in float32.
        z2: (B, D) view 2 of the same B samples.
        ids: (B,) integer dataset indices in [0, n), distinct across the (global) batch;
            they index the state. Checked (one device-to-host read).
        log_u_N: (n,) the state, log u per training sample, -inf if not visited yet
            (`new_state(n)`); read, not written.
        temperature: t > 0.
        gamma: in (0, 1], the weight of the new estimate (1: no memory).
        within_view: within-view negatives too (c2 = 1, the default, SogCLR's choice).
        symmetric: both views are anchors (the default). False: only z1's rows are anchors,
            u_i against the other samples' v (and, within_view, u) columns, MNRL's one
            direction; the state is then that direction's u_a, not a mean of two views; the
            loss averages over the B anchors (value 1/B sum_i [-u_i.v_i/t + log(K_n u_i)]).
        false_negatives: (B, G) boolean, True where global sample j is not a negative of
            local sample i (a duplicate, the same group; `contrastlens.losses.masking`): the
            pair leaves every block of i's columns, g_a becomes the mean over the K_a
            negatives left (a row needs one), and the value keeps K_n = (n - 1) per block.
        gather: score local rows against all processes' columns and gather the state rows;
            value, gradients and state equal one process holding the global batch.

    Returns:
        `GlobalContrastiveStep(loss, ids_G, log_u_G)`, the 0-d loss and the (G,) rows of the
        new state to write with `log_u_N[ids_G] = log_u_G`.

    Examples:
        >>> import torch
        >>> from contrastlens.losses.global_contrastive import global_contrastive_loss, new_state
        >>> log_u_N = new_state(100)                      # 100 training samples
        >>> z1, z2 = torch.randn(8, 16), torch.randn(8, 16)
        >>> ids = torch.arange(8)                         # their dataset indices
        >>> step = global_contrastive_loss(z1, z2, ids, log_u_N, temperature=0.1)
        >>> log_u_N[step.ids_G] = step.log_u_G            # the state moves
        >>> bool(torch.isfinite(log_u_N[:8]).all()), bool(torch.isinf(log_u_N[8:]).all())
        (True, True)

        With gamma = 1 and the whole data set in one batch it is DCL, value and gradient:

        >>> from contrastlens.losses import dcl_loss
        >>> _ = torch.manual_seed(0)
        >>> z1, z2 = torch.randn(8, 16), torch.randn(8, 16)
        >>> step = global_contrastive_loss(z1, z2, torch.arange(8), new_state(8), gamma=1.0)
        >>> step.loss, dcl_loss(z1, z2, temperature=0.1)
        (tensor(3.5940), tensor(3.5940))

    References:
        - Yuan, Wu, Qiu, Du, Zhang, Zhou, Yang. Provable Stochastic Optimization for Global
          Contrastive Learning: Small Batch Does Not Harm Performance (SogCLR). ICML 2022.
          <https://arxiv.org/abs/2202.12387>
        - Yeh et al. Decoupled Contrastive Learning. ECCV 2022.
          <https://arxiv.org/abs/2110.06848>
    """
    P = view_pairs(z1, z2, gather=gather)
    return global_contrastive_from_pairs(
        P,
        ids,
        log_u_N,
        temperature=temperature,
        gamma=gamma,
        within_view=within_view,
        symmetric=symmetric,
        false_negatives=false_negatives,
    )


@torch.no_grad()
def state_diagnostics(log_u_N: torch.Tensor) -> dict[str, torch.Tensor]:
    """Detached float64 summaries of the state for logging: "sogclr_log_u_mean", the mean of
    log u over the visited samples (NaN before any visit), and "sogclr_visited", the share of
    the n samples visited at least once."""
    visited_N = ~torch.isneginf(log_u_N)
    count = visited_N.sum().double()
    total = torch.where(visited_N, log_u_N, 0.0).double().sum()
    return {"sogclr_log_u_mean": total / count, "sogclr_visited": count / log_u_N.shape[0]}
