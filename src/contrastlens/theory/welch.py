"""The Welch bound: how small the squared similarities of n unit vectors in R^d can be.

For unit vectors x_1..x_n in R^d with Gram matrix G = X X^T (n x n, trace n, rank <= d), the
eigenvalues of G sum to n over at most d nonzero values, so by Cauchy-Schwarz

    sum_{i,j} (x_i.x_j)^2 = ||G||_F^2 >= n^2 / d,

and removing the n diagonal terms (each 1) gives, for the mean over the n(n-1) ordered pairs
i != j (Welch, 1974):

    mean_{i!=j} (x_i.x_j)^2 >= (n - d) / (d (n - 1))      (about 1/d when n >> d).

Equality holds exactly for tight frames, X^T X = (n/d) I_d: e.g. two orthonormal bases (n = 2d),
or the regular simplex when n = d + 1 (its every similarity is -1/(n-1) = -1/d, and
1/d^2 = (n - d)/(d (n - 1))). When n <= d the right-hand side is <= 0 and the true minimum is 0,
reached by orthonormal vectors; `welch_bound` returns that 0.

What it means for negative pairs: the mean square of the negative similarities is
variance + mean^2, so with the mean at the full-batch optimum -1/(n-1) (Thm 5.1) the variance
is at least welch_bound(n, d) - 1/(n-1)^2, which is 0 exactly when d >= n - 1 (the simplex, the
paper's optimum) and about 1/d when n >> d (every real dataset). VRN (Def 5.7) penalizes
E[(s - delta)^2] = variance + (mean - delta)^2, so at d < n - 1 it cannot reach 0; GOR's
second-moment term max(0, M2 - 1/d) targets 1/d, just above this floor. The bound is for the
pairs within one set of vectors; cross-view pairs (u_i, v_j) obey it when the positives are
aligned (u_i = v_i), the paper's optimum.
"""

from __future__ import annotations

import operator

__all__ = ["welch_bound"]


def welch_bound(n: int, d: int) -> float:
    """The Welch bound: the smallest mean squared similarity of n unit vectors in R^d.

    For unit vectors x_1..x_n in R^d (Welch, 1974):

        mean_{i!=j} (x_i.x_j)^2 >= (n - d) / (d (n - 1))      (about 1/d when n >> d),

    over the n(n-1) ordered pairs, reached by tight frames (X^T X = (n/d) I); for n <= d the
    minimum is 0 (orthonormal vectors). Since the mean square of the negatives is
    Var[s_neg] + E[s_neg]^2, it is a floor on what VRN (Lee et al., ICML 2025, Def 5.7) can
    reach when d < n - 1, beyond the paper's Thm 5.1 (which assumes d >= n - 1).

    Args:
        n: the number of vectors, an integer >= 2.
        d: the dimension, an integer >= 1.

    Returns:
        (n - d) / (d (n - 1)) when n > d, else 0.0.

    Examples:
        >>> import torch
        >>> from contrastlens.theory import welch_bound
        >>> round(welch_bound(60_000, 128), 4)  # Fashion-MNIST at d = 128: about 1/d
        0.0078
        >>> welch_bound(8, 16)  # n <= d: orthonormal vectors
        0.0
        >>> hadamard = torch.tensor([[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]])
        >>> x = torch.cat([torch.eye(4), hadamard / 2])  # two orthonormal bases: a tight frame
        >>> gram = x @ x.T
        >>> round(float(((gram**2).sum() - 8) / (8 * 7)), 4), round(welch_bound(8, 4), 4)
        (0.1429, 0.1429)

    References:
        - L. Welch. Lower bounds on the maximum cross correlation of signals. IEEE
          Transactions on Information Theory, 1974.
        - Lee, Lim, Lee, Sohn. On the Similarities of Embeddings in Contrastive Learning.
          ICML 2025, Thm 5.1 and Def 5.7. <https://arxiv.org/abs/2506.09781>
    """
    for value, name, low in ((n, "n", 2), (d, "d", 1)):
        if isinstance(value, bool) or not hasattr(value, "__index__") or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    n, d = operator.index(n), operator.index(d)
    if n <= d:
        return 0.0
    return (n - d) / (d * (n - 1))
