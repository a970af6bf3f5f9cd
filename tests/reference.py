"""Slow, obviously correct references for the losses: one Python loop per anchor or per pair,
written straight from the formulas of docs/theory.md (Lee et al., ICML 2025, Defs 3.1, 3.2, 5.7) and
MoCo v2. No masking tricks, no logsumexp, no shared code with the library.

Shape legend: B rows, D dimension, K queue length. u_i = z1_i / ||z1_i||, v_i = z2_i / ||z2_i||.
"""

from __future__ import annotations

import torch


def unit(z_BD: torch.Tensor) -> torch.Tensor:
    return z_BD / z_BD.pow(2).sum(dim=1, keepdim=True).sqrt()


def _negatives(ids, i: int, B: int, false_negatives=None) -> list[int]:
    """Indices j that are negatives of anchor i: j != i, ids differ when ids are given, and
    false_negatives[i][j] is False when a mask is given."""
    return [
        j
        for j in range(B)
        if j != i
        and (ids is None or ids[i] != ids[j])
        and (false_negatives is None or not bool(false_negatives[i][j]))
    ]


def infonce_family(
    z1, z2, *, temperature, cross_view=True, within_view=False, decoupled=False, ids=None
):
    """Def 3.1: L = 1/2 L(U, V) + 1/2 L(V, U), per anchor u_i:
    psi( c1 sum_{j neg} exp((u_i.v_j - u_i.v_i)/t) + c2 sum_{j neg} exp((u_i.u_j - u_i.v_i)/t) ),
    psi = log(1 + x), or log(x) when decoupled."""
    U, V = unit(z1), unit(z2)
    B = U.shape[0]
    t = temperature

    def one_direction(A, C):  # anchors A_i, positives C_i, cross columns C, within columns A
        total = 0.0
        for i in range(B):
            neg = _negatives(ids, i, B)
            pos = A[i] @ C[i]
            x = 0.0
            if cross_view:
                x = x + torch.exp((C[neg] @ A[i] - pos) / t).sum()
            if within_view:
                x = x + torch.exp((A[neg] @ A[i] - pos) / t).sum()
            total = total + (torch.log(x) if decoupled else torch.log(1 + x))
        return total / B

    return 0.5 * one_direction(U, V) + 0.5 * one_direction(V, U)


def additive(z1, z2, *, phi, psi, c1, c2, ids=None):
    """Def 3.2: -1/m sum_i phi(u_i.v_i) + c1 mean_{neg (i,j)} psi(u_i.v_j)
    + c2/2 [mean psi(u_i.u_j) + mean psi(v_i.v_j)], means over ordered pairs with ids differing."""
    U, V = unit(z1), unit(z2)
    B = U.shape[0]
    loss = 0.0
    cross, within, count = 0.0, 0.0, 0
    for i in range(B):
        neg = _negatives(ids, i, B)
        loss = loss - phi(U[i] @ V[i]) / B
        count += len(neg)
        cross = cross + psi(V[neg] @ U[i]).sum()
        within = within + psi(U[neg] @ U[i]).sum() + psi(V[neg] @ V[i]).sum()
    return loss + c1 * cross / count + c2 * within / (2 * count)


def sigmoid(z1, z2, *, t, b, cross_view=True, within_view=False, ids=None):
    """SigLIP in the paper's convention: phi(x) = -log(1 + e^{-tx+b}),
    psi(x) = (m-1) log(1 + e^{tx-b})."""
    m = z1.shape[0]
    return additive(
        z1,
        z2,
        phi=lambda x: -torch.log(1 + torch.exp(-t * x + b)),
        psi=lambda x: (m - 1) * torch.log(1 + torch.exp(t * x - b)),
        c1=float(cross_view),
        c2=float(within_view),
        ids=ids,
    )


def spectral(z1, z2, *, cross_view=True, within_view=False, ids=None):
    return additive(
        z1,
        z2,
        phi=lambda x: x,
        psi=lambda x: x**2,
        c1=float(cross_view),
        c2=float(within_view),
        ids=ids,
    )


def moco(q, k, queue, *, temperature):
    """MoCo v2: per query, -log( e^{q.k/t} / (e^{q.k/t} + sum_r e^{q.queue_r/t}) )."""
    Q, Kb, Qu = unit(q), unit(k), unit(queue.detach())
    t = temperature
    total = 0.0
    for i in range(Q.shape[0]):
        pos = torch.exp(Q[i] @ Kb[i] / t)
        total = total - torch.log(pos / (pos + torch.exp(Qu @ Q[i] / t).sum()))
    return total / Q.shape[0]


def vrn(
    z1,
    z2,
    *,
    n=None,
    delta=None,
    p=2,
    ids=None,
    within_view=False,
    queue=None,
    false_negatives=None,
):
    """Def 5.7: mean over negative pairs of (s - delta)^p, delta = -1/(n-1); pairs (u_i, v_j)
    with ids differing and not marked in false_negatives, plus (u_i, u_j), (v_i, v_j) when
    within_view, plus (u_i, queue_r). No pair left: 0."""
    if delta is None:
        delta = -1.0 / (n - 1)
    U, V = unit(z1), unit(z2)
    B = U.shape[0]
    values = []
    for i in range(B):
        neg = _negatives(ids, i, B, false_negatives)
        values.append(V[neg] @ U[i])
        if within_view:
            values.append(U[neg] @ U[i])
            values.append(V[neg] @ V[i])
        if queue is not None:
            values.append(unit(queue.detach()) @ U[i])
    s = torch.cat(values)
    if len(s) == 0:
        return (U * 0.0).sum() + (V * 0.0).sum()
    return ((s - delta).abs() ** p).sum() / len(s)


def ranking(scores, positive, false_negatives=None):
    """MNRL / one-direction InfoNCE, one Python loop per anchor: -log( e^{s_i,pos} /
    (e^{s_i,pos} + sum over the other columns j, unless false_negatives[i][j], of e^{s_ij}) )."""
    R, C = scores.shape
    total = 0.0
    for i in range(R):
        pos = int(positive[i])
        others = [
            j
            for j in range(C)
            if j != pos and (false_negatives is None or not bool(false_negatives[i][j]))
        ]
        denominator = torch.exp(scores[i, pos]) + torch.exp(scores[i, others]).sum()
        total = total - torch.log(torch.exp(scores[i, pos]) / denominator)
    return total / R


def simplex_etf(n: int, d: int, dtype=torch.float64) -> torch.Tensor:
    """n unit vectors in R^d (d >= n - 1) with pairwise inner products exactly -1/(n-1)."""
    E = torch.eye(n, dtype=dtype) - 1.0 / n  # centered basis vectors: a simplex in R^n
    E = E / E.norm(dim=1, keepdim=True)
    basis = torch.linalg.svd(E, full_matrices=False)[2][: n - 1]  # (n-1, n), spans the simplex
    g = torch.Generator().manual_seed(0)
    Q, _ = torch.linalg.qr(torch.randn(d, d, dtype=dtype, generator=g))  # a random rotation
    return (E @ basis.T) @ Q[: n - 1]  # (n, d), inner products preserved


def _mean_var(xs: list[float]) -> tuple[float, float]:
    """Population mean and variance of a list of floats (nan, nan when empty)."""
    import math

    if not xs:
        return float("nan"), float("nan")
    mean = math.fsum(xs) / len(xs)
    return mean, math.fsum((x - mean) ** 2 for x in xs) / len(xs)


def _quantile(xs: list[float], q: float) -> float:
    """Linear interpolation between the order statistics at position q (n - 1)."""
    import math

    if not xs:
        return float("nan")
    s = sorted(xs)
    pos = q * (len(s) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (pos - lo) * (s[hi] - s[lo])


def pair_statistics(z1, z2, *, ids=None, normalize=True, levels=(0.05, 0.25, 0.5, 0.75, 0.95)):
    """Similarity statistics of one two-view batch by explicit loops over the pairs, float64:
    positives u_i.v_i; cross-view negatives u_i.v_j and within-view negatives u_i.u_j, v_i.v_j
    over the ordered pairs i != j whose ids differ; population means and variances; quantiles;
    Wang & Isola's alignment E||u_i - v_i||^2 and uniformity log E exp(-2 ||x - y||^2) over the
    within-view negatives of each view, averaged over the two views."""
    import math

    U, V = z1.detach().double(), z2.detach().double()
    if normalize:
        U, V = unit(U), unit(V)
    B = U.shape[0]
    cross, uu, vv = (U @ V.T).tolist(), (U @ U.T).tolist(), (V @ V.T).tolist()
    dist_u = ((U[:, None, :] - U[None, :, :]) ** 2).sum(-1).tolist()  # ||u_i - u_j||^2
    dist_v = ((V[:, None, :] - V[None, :, :]) ** 2).sum(-1).tolist()
    ids = None if ids is None else ids.tolist()
    pos = [cross[i][i] for i in range(B)]
    neg, within, gauss_u, gauss_v = [], [], [], []
    for i in range(B):
        for j in _negatives(ids, i, B):
            neg.append(cross[i][j])
            within += [uu[i][j], vv[i][j]]
            gauss_u.append(math.exp(-2.0 * dist_u[i][j]))
            gauss_v.append(math.exp(-2.0 * dist_v[i][j]))
    out = {"batch_size": B, "neg_count": len(neg), "within_count": len(within) // 2}
    for name, xs in (("pos", pos), ("neg", neg), ("within", within)):
        out[f"{name}_mean"], out[f"{name}_var"] = _mean_var(xs)
        out[f"{name}_quantiles"] = tuple(_quantile(xs, q) for q in levels)
    align = [
        math.fsum((a - b) ** 2 for a, b in zip(U[i].tolist(), V[i].tolist())) for i in range(B)
    ]
    out["alignment"] = math.fsum(align) / B
    if neg and normalize:  # uniformity is defined on the unit sphere
        out["uniformity"] = 0.5 * (
            math.log(math.fsum(gauss_u) / len(gauss_u))
            + math.log(math.fsum(gauss_v) / len(gauss_v))
        )
    else:
        out["uniformity"] = float("nan")
    return out


def histogram_counts(values, bins: int, lo: float = -1.0, hi: float = 1.0) -> list[int]:
    """Counts of values in the bins [lo + k w, lo + (k + 1) w), w = (hi - lo) / bins, the last
    bin closed; values below lo go to the first bin and above hi to the last."""
    width = (hi - lo) / bins
    counts = [0] * bins
    for x in values:
        k = min(max(int((x - lo) // width), 0), bins - 1)  # a first guess, then the definition:
        while k > 0 and x < lo + k * width:
            k -= 1
        while k < bins - 1 and x >= lo + (k + 1) * width:
            k += 1
        counts[k] += 1
    return counts


def global_contrastive(
    z1, z2, ids, u, *, n, temperature, gamma, within_view=True, symmetric=True, false_negatives=None
):
    """SogCLR (Yuan et al., 2022), one step, from the formulas. u: dict dataset id -> u_i (a
    sample not in it was never visited). Per anchor a of sample i (u_i, then v_i; u_i only when
    not symmetric): g_a = mean of exp(a.c/t) over its negatives c (the other samples' two views,
    or only the other view when not within_view; without the samples j of
    false_negatives[i][j]); u_a = g_a on a first visit, else (1 - gamma) u_i + gamma g_a.
    Value: mean over anchors of [-u_i.v_i/t + log(K_n u_a)], K_n = 2(n-1) (n-1 cross-view
    only); gradient: the mean of [-grad(u_i.v_i)/t + grad(g_a) / u_a].
    Returns (loss, the new dict: u_i = the mean of its anchors' u_a for the batch's samples)."""
    U, V = unit(z1), unit(z2)
    B, t = U.shape[0], temperature
    K_n = 2 * (n - 1) if within_view else n - 1
    views = ((U, V), (V, U)) if symmetric else ((U, V),)
    total, new_u = 0.0, dict(u)
    for i in range(B):
        key = int(ids[i])
        pos = U[i] @ V[i]
        u_views = []
        for same, other in views:
            anchor = same[i]
            negatives = [
                j
                for j in range(B)
                if j != i and (false_negatives is None or not bool(false_negatives[i][j]))
            ]
            terms = [torch.exp(anchor @ other[j] / t) for j in negatives]
            if within_view:
                terms += [torch.exp(anchor @ same[j] / t) for j in negatives]
            g = sum(terms) / len(terms)
            u_a = g.detach() if key not in u else (1 - gamma) * u[key] + gamma * g.detach()
            # value log(K_n u_a); gradient grad(g) / u_a
            total = total - pos / t + torch.log(K_n * u_a) + g / u_a - (g / u_a).detach()
            u_views.append(u_a)
        new_u[key] = sum(u_views) / len(u_views)
    return total / (len(views) * B), new_u


# --------------------------------------------------------------------------- the lens


def batch_variance_by_enumeration(s_NN: torch.Tensor, B: int) -> float:
    """The mean over EVERY batch S of B distinct instances (all C(n, B) of them) of the
    population variance of the in-batch negatives s_ij, i != j both in S: the definition of
    `expected_batch_variance`, by brute force (tiny n only)."""
    import itertools
    import math

    n = s_NN.shape[0]
    s = s_NN.tolist()
    total, batches = 0.0, 0
    for S in itertools.combinations(range(n), B):
        _, var = _mean_var([s[i][j] for i in S for j in S if i != j])
        total += var
        batches += 1
    assert batches == math.comb(n, B)
    return total / batches


def false_negatives_by_enumeration(keys: list[list[int]], B: int) -> dict[str, float]:
    """Over every batch S of B instances: the share of in-batch ordered negatives (i, j) that
    share a key, the mean over anchors in S of their false negatives in S, and the share of
    anchors in S with at least one; each averaged over all batches."""
    import itertools

    n = len(keys[0])

    def partner(i: int, j: int) -> bool:
        return any(key[i] == key[j] for key in keys)

    share = per_anchor = with_any = 0.0
    batches = 0
    for S in itertools.combinations(range(n), B):
        counts = [sum(partner(i, j) for j in S if j != i) for i in S]
        share += sum(counts) / (B * (B - 1))
        per_anchor += sum(counts) / B
        with_any += sum(c > 0 for c in counts) / B
        batches += 1
    return {
        "share": share / batches,
        "per_anchor": per_anchor / batches,
        "anchors_with_any": with_any / batches,
    }


def first_relevant_rank(scores: list[list[float]], relevant: list[list[bool]]) -> list[int]:
    """Rank (1-based) of the first relevant document of each query: documents sorted by score,
    highest first, ties by lower index (Python's stable sort); 0 when none is relevant."""
    ranks = []
    for row, rel in zip(scores, relevant):
        order = sorted(range(len(row)), key=lambda j: -row[j])  # stable: ties keep index order
        ranks.append(next((r + 1 for r, j in enumerate(order) if rel[j]), 0))
    return ranks
