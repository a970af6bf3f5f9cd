"""Embedding diagnostics from the literature, each one function, plus one dict for logging.

    alignment(z1, z2, alpha=2)     Wang & Isola (ICML 2020), sec. 4.1: E_pos ||u - v||^alpha
    uniformity(z, t=2)             Wang & Isola (ICML 2020), sec. 4.1: log E e^{-t ||u_i - u_j||^2}
    rankme(z, center, eps)         Garrido et al. (ICML 2023): effective rank
    covariance_spectrum(z)         Jing et al. (ICLR 2022): eigenvalues of the embedding
                                   covariance, descending (dimensional collapse)
    gor_moments(z)                 M1, M2 of the within-column similarities (GOR's two terms:
                                   M1^2 and max(0, M2 - 1/D); see contrastlens.losses.gor)
    embedding_diagnostics(z1, z2)  all scalar diagnostics of a two-view batch as floats

alignment and uniformity are computed on unit vectors (rows normalized by
`contrastlens.losses.normalize`, as everywhere in contrastlens); rankme and the spectrum use the
embeddings as given (the papers use the raw representations; normalize first to study the
sphere). All functions keep autograd (alignment and uniformity are also losses) except
`embedding_diagnostics`, which returns detached float64 numbers.

Shape legend: N rows (instances), B rows of a two-view batch, D dimension, K = min(N, D).
"""

from __future__ import annotations

import math

import torch

from contrastlens.checks import check_embeddings, check_finite_scalar, check_views
from contrastlens.losses.gor import gor_loss, gor_moments
from contrastlens.losses.pairs import normalize

__all__ = [
    "alignment",
    "covariance_spectrum",
    "embedding_diagnostics",
    "gor_moments",
    "rankme",
    "uniformity",
]

# Rows of the (block, N) distance block of `uniformity`: bounds memory at block * N floats.
UNIFORMITY_BLOCK = 2048


def alignment(z1_BD: torch.Tensor, z2_BD: torch.Tensor, *, alpha: float = 2.0) -> torch.Tensor:
    """Wang & Isola's alignment: mean distance^alpha of the positive pairs.

    L_align = mean_i ||u_i - v_i||_2^alpha (Wang & Isola, 2020, sec. 4.1), rows normalized
    first. 0 = perfectly aligned; with alpha = 2 it is 2 - 2 E[s_pos], a function of the mean
    positive similarity alone (Lee et al., ICML 2025).

    Args:
        z1_BD: (B, D) view 1 (normalized here).
        z2_BD: (B, D) view 2; row i of z1_BD and of z2_BD are a positive pair.
        alpha: the power, > 0.

    Returns:
        A 0-d tensor, with autograd (it is also a loss).

    Examples:
        >>> import torch
        >>> from contrastlens.similarity import alignment
        >>> u = torch.eye(3)
        >>> alignment(u, u), alignment(u, -u)  # aligned: 0; opposite: ||2u||^2 = 4
        (tensor(0.), tensor(4.))

    References:
        - Wang, Isola. Understanding Contrastive Representation Learning through Alignment
          and Uniformity on the Hypersphere. ICML 2020. <https://arxiv.org/abs/2005.10242>
    """
    check_views(z1_BD, z2_BD)
    check_finite_scalar(alpha, "alpha")
    if alpha <= 0:
        raise ValueError(f"alpha must be > 0, got {alpha}")
    diff_BD = normalize(z1_BD) - normalize(z2_BD)
    if alpha == 2:  # no square root: a smooth gradient at u_i = v_i
        return diff_BD.pow(2).sum(dim=1).mean()
    return diff_BD.norm(dim=1).pow(alpha).mean()


def uniformity(z_ND: torch.Tensor, *, t: float = 2.0) -> torch.Tensor:
    """Wang & Isola's uniformity: log E exp(-t ||u_i - u_j||^2) over the pairs of rows.

    L_uniform = log mean_{i<j} exp(-t ||u_i - u_j||^2) (Wang & Isola, 2020, sec. 4.1), rows
    normalized first. Lower is more uniform: collapse gives 0, and by Jensen it is at least
    -2t (1 + 1/(N-1)) (the mean squared distance is 2 - 2 mean s_ij <= 2 + 2/(N-1)), reached
    by the regular simplex, Thm 5.1's optimum (Lee et al., ICML 2025). Computed as a
    log-sum-exp over blocks of `UNIFORMITY_BLOCK` rows against all N (ordered pairs i != j have
    the same mean as i < j), so memory is O(block * N), never a (N, N) matrix for large N.

    Args:
        z_ND: (N, D) embeddings, N >= 2 (normalized here).
        t: the scale, > 0 (Wang & Isola use 2).

    Returns:
        A 0-d tensor, with autograd (it is also a loss).

    Examples:
        >>> import torch
        >>> from contrastlens.similarity import uniformity
        >>> from contrastlens.theory import simplex_etf
        >>> uniformity(simplex_etf(5).float())  # the minimum, -2t (1 + 1/(N-1)) = -5
        tensor(-5.)
        >>> uniformity(torch.ones(5, 4))  # collapse
        tensor(0.)

    References:
        - Wang, Isola. Understanding Contrastive Representation Learning through Alignment
          and Uniformity on the Hypersphere. ICML 2020. <https://arxiv.org/abs/2005.10242>
    """
    check_embeddings(z_ND, "z")
    check_finite_scalar(t, "t")
    if t <= 0:
        raise ValueError(f"t must be > 0, got {t}")
    N = z_ND.shape[0]
    if N < 2:
        raise ValueError(f"uniformity needs N >= 2 rows (pairs), got N = {N}")
    u_ND = normalize(z_ND)
    sq_N = (u_ND * u_ND).sum(dim=1)
    lse_parts = []
    for start in range(0, N, UNIFORMITY_BLOCK):
        stop = min(start + UNIFORMITY_BLOCK, N)
        rows_R = torch.arange(start, stop, device=u_ND.device)
        # ||u_i - u_j||^2 = |u_i|^2 + |u_j|^2 - 2 u_i.u_j, clamped at 0 against rounding
        d2_RN = (sq_N[start:stop, None] + sq_N[None, :] - 2 * u_ND[start:stop] @ u_ND.T).clamp_min(
            0
        )
        self_RN = rows_R[:, None] == torch.arange(N, device=u_ND.device)[None, :]
        logits_RN = (-t * d2_RN).masked_fill(self_RN, float("-inf"))
        lse_parts.append(torch.logsumexp(logits_RN.reshape(-1), dim=0))
    return torch.logsumexp(torch.stack(lse_parts), dim=0) - math.log(N * (N - 1))


def rankme(z_ND: torch.Tensor, *, center: bool = False, eps: float = 1e-7) -> torch.Tensor:
    """RankMe, the effective rank of the embeddings: exp of the entropy of their spectrum.

    Garrido, Balestriero, Najman, LeCun (ICML 2023), Eq. 1:

        RankMe(Z) = exp(-sum_k p_k log p_k),   p_k = sigma_k(Z) / ||sigma(Z)||_1 + eps,

    over the K = min(N, D) singular values of z_ND (as given; float64 inside). eps (the paper's
    1e-7) makes the entropy defined at sigma_k = 0, and lets the value creep above the true
    rank by about K * eps * log(1/eps); the result is therefore capped at the largest possible
    rank, min(N, D), or min(N - 1, D) when centered (N <= D: at most N or N - 1, never D). An
    all-zero Z gives 0.

    Args:
        z_ND: (N, D) embeddings, as given (normalize first to study the sphere).
        center: subtract the column mean first (then the rank is at most min(N - 1, D)).
        eps: the paper's 1e-7, >= 0.

    Returns:
        A 0-d float64 tensor, detached (the SVD's gradient is not needed for a diagnostic and
        is unstable at repeated singular values).

    Examples:
        >>> import torch
        >>> from contrastlens.similarity import rankme
        >>> rankme(torch.eye(8))  # 8 equal singular values
        tensor(8., dtype=torch.float64)
        >>> rankme(torch.ones(8, 8))  # collapse: one direction
        tensor(1.0000, dtype=torch.float64)

    References:
        - Garrido, Balestriero, Najman, LeCun. RankMe: Assessing the Downstream Performance of
          Pretrained Self-Supervised Representations by Their Rank. ICML 2023.
          <https://arxiv.org/abs/2210.02885>
    """
    check_embeddings(z_ND, "z")
    check_finite_scalar(eps, "eps")
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    N, D = z_ND.shape
    x_ND = z_ND.detach().double()
    if center:
        x_ND = x_ND - x_ND.mean(dim=0, keepdim=True)
    sigma_K = torch.linalg.svdvals(x_ND)
    total = sigma_K.sum()
    cap = min(N - 1 if center else N, D)
    if cap == 0 or total <= 0:
        return torch.zeros((), dtype=torch.float64, device=z_ND.device)
    p_K = sigma_K / total + eps
    entropy = -(p_K * torch.log(p_K)).sum()
    return torch.exp(entropy).clamp_max(cap)


def covariance_spectrum(z_ND: torch.Tensor, *, normalize_rows: bool = False) -> torch.Tensor:
    """The eigenvalues of the embedding covariance, descending: dimensional collapse.

    The eigenvalues (= singular values) of C = 1/N sum_i (z_i - mean)(z_i - mean)^T, descending:
    Jing, Vincent, LeCun, Tian (ICLR 2022) plot their logarithm to show dimensional collapse
    (a tail of zeros = collapsed dimensions).

    Args:
        z_ND: (N, D) embeddings (float64 inside).
        normalize_rows: put the rows on the unit sphere first.

    Returns:
        (D,) float64, detached; at most min(N - 1, D) entries are nonzero (the trailing
        D - min(N, D) are exactly 0).

    Examples:
        >>> import torch
        >>> from contrastlens.similarity import covariance_spectrum
        >>> on_a_line = torch.tensor([[1.0, 0.0, 0.0], [2.0, 0.0, 0.0], [3.0, 0.0, 0.0]])
        >>> covariance_spectrum(on_a_line)  # one direction used of three
        tensor([0.6667, 0.0000, 0.0000], dtype=torch.float64)

    References:
        - Jing, Vincent, LeCun, Tian. Understanding Dimensional Collapse in Contrastive
          Self-supervised Learning. ICLR 2022. <https://arxiv.org/abs/2110.09348>
    """
    check_embeddings(z_ND, "z")
    N, D = z_ND.shape
    x_ND = z_ND.detach().double()
    if normalize_rows:
        x_ND = normalize(x_ND)
    x_ND = x_ND - x_ND.mean(dim=0, keepdim=True)
    # sigma_k(X_c)^2 / N are the nonzero eigenvalues of C = X_c^T X_c / N, already descending
    eig_K = torch.linalg.svdvals(x_ND).pow(2) / N
    return torch.cat([eig_K, eig_K.new_zeros(D - eig_K.shape[0])])


@torch.no_grad()
def embedding_diagnostics(
    z1_BD: torch.Tensor,
    z2_BD: torch.Tensor | None = None,
    *,
    alpha: float = 2.0,
    t: float = 2.0,
    center: bool = False,
    eps: float = 1e-7,
    uniformity_rows: int | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """Every scalar diagnostic of a two-view batch, as floats for a metrics log.

        alignment          `alignment(z1, z2, alpha=alpha)`
        uniformity         mean of `uniformity` over the two views (Wang & Isola's convention)
        rankme             mean of `rankme(z, center=center, eps=eps)` over the two views
        gor_m1, gor_m2     mean over the two views of the within-view similarity moments
        gor_mean           GOR's mean term, mean over the views of M1^2 (`gor_loss(z1, z2)`)
        gor_second_moment  GOR's second-moment term, mean over the views of max(0, M2 - 1/D)

    The positive/negative similarity statistics are `pair_stats` and `SimilarityAccumulator`.

    Args:
        z1_BD: (B, D) view 1, B >= 2.
        z2_BD: (B, D) view 2; row i of z1_BD and of z2_BD are a positive pair. None: one view
            (no pairs): the same diagnostics of z1_BD alone, without "alignment".
        uniformity_rows: uniformity costs O(B^2 D); above this many rows it is taken over a
            random subset of that many rows (the same rows in both views, drawn with `seed`),
            an estimate; None: all rows.
        seed: the seed of that subset.
        alpha: `alignment`'s power.
        t: `uniformity`'s scale.
        center: `rankme`'s centering.
        eps: `rankme`'s eps.

    Returns:
        {name: float}, detached float64 values.

    Examples:
        >>> from contrastlens.similarity import embedding_diagnostics
        >>> from contrastlens.theory import simplex_etf
        >>> etf = simplex_etf(5)  # aligned, uniform, full rank 4, M1 = -1/4, M2 = 1/16
        >>> {k: round(v, 4) for k, v in embedding_diagnostics(etf, etf).items()}
        {'alignment': 0.0, 'uniformity': -5.0, 'rankme': 4.0, 'gor_m1': -0.25, 'gor_m2': 0.0625,
         'gor_mean': 0.0625, 'gor_second_moment': 0.0}

    References:
        - Wang, Isola. Understanding Contrastive Representation Learning through Alignment
          and Uniformity on the Hypersphere. ICML 2020. <https://arxiv.org/abs/2005.10242>
        - Garrido, Balestriero, Najman, LeCun. RankMe. ICML 2023.
          <https://arxiv.org/abs/2210.02885>
        - Zhang, Yu, Kumar, Chang. Learning Spread-out Local Feature Descriptors (GOR).
          ICCV 2017. <https://arxiv.org/abs/1708.06320>
    """
    if z2_BD is None:
        check_embeddings(z1_BD, "z1_BD")
    else:
        check_views(z1_BD, z2_BD)
    if z1_BD.shape[0] < 2:
        raise ValueError(f"embedding_diagnostics needs B >= 2 pairs, got B = {z1_BD.shape[0]}")
    views = tuple(z.double() for z in (z1_BD, z2_BD) if z is not None)
    B = views[0].shape[0]
    rows_U = None
    if uniformity_rows is not None and B > uniformity_rows:
        if uniformity_rows < 2:
            raise ValueError(f"uniformity_rows must be >= 2 (pairs), got {uniformity_rows}")
        gen = torch.Generator().manual_seed(seed)
        rows_U = torch.randperm(B, generator=gen)[:uniformity_rows].to(views[0].device)
    moments = [gor_moments(z_BD) for z_BD in views]
    gor = gor_loss(*views)
    k = len(views)
    out = {} if z2_BD is None else {"alignment": float(alignment(*views, alpha=alpha))}
    return out | {
        "uniformity": sum(
            float(uniformity(z_BD if rows_U is None else z_BD[rows_U], t=t)) for z_BD in views
        )
        / k,
        "rankme": sum(float(rankme(z_BD, center=center, eps=eps)) for z_BD in views) / k,
        "gor_m1": sum(float(m1) for m1, _ in moments) / k,
        "gor_m2": sum(float(m2) for _, m2 in moments) / k,
        "gor_mean": float(gor["gor_mean"]),
        "gor_second_moment": float(gor["gor_second_moment"]),
    }
