"""The excessive-separation check (Thm 5.2 / 5.3): negatives pushed below -1/(n-1) while the
positives are not aligned. Pure arithmetic on the means; the trainer logs its message.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from contrastlens.optimum import negative_optimum


@dataclass(frozen=True)
class SeparationCheck:
    """Outcome of `check_excessive_separation`; `str(check)` is the human message.

    Attributes:
        excessive: negatives over-separated and positives not aligned.
        n: the dataset size.
        pos_mean: E[s_pos] as given.
        neg_mean: E[s_neg] as given.
        optimum: -1/(n-1), Thm 5.1.
        excess: neg_mean - optimum (< 0: over-separated).
        max_pos_mean: Thm 5.2's ceiling min(1, 1 + E[s_neg] + 1/(n-1)).
        tol: the tolerance below the optimum.
        align_tol: the tolerance below 1 of the positives.
        message: the human message.
    """

    excessive: bool
    n: int
    pos_mean: float
    neg_mean: float
    optimum: float  # -1/(n-1), Thm 5.1
    excess: float  # neg_mean - optimum
    max_pos_mean: float  # Thm 5.2: E[s_pos] <= 1 + E[s_neg] + 1/(n-1)
    tol: float
    align_tol: float
    message: str

    def __str__(self) -> str:
        return self.message

    def as_dict(self) -> dict:
        """Every field, for a JSON log."""
        return asdict(self)


def check_excessive_separation(
    pos_mean: float,
    neg_mean: float,
    n: int,
    *,
    tol: float = 1e-3,
    align_tol: float = 1e-3,
) -> SeparationCheck:
    """Flags excessive separation: E[s_neg] < -1/(n-1) - tol while E[s_pos] < 1 - align_tol.

    Thm 5.2 (Lee et al., ICML 2025): E[s_pos] <= 1 + E[s_neg] + 1/(n-1) for every encoder, so
    once the negatives average below Thm 5.1's optimum -1/(n-1) the positives cannot be
    aligned; Thm 5.3 / Example 5.4 give losses (SigLIP with cross-view negatives only) that do
    this. The message reports the ceiling on the positives too.

    Args:
        pos_mean: mean positive similarity E[s_pos] over the data.
        neg_mean: mean cross-view negative similarity E[s_neg] over the data.
        n: the dataset size (the optimum of Thm 5.1 is -1/(n-1)).
        tol: how far below -1/(n-1) the negatives must be to count.
        align_tol: how far below 1 the positives must be to count as not aligned.

    Returns:
        The verdict, the numbers and the message.

    Examples:
        >>> from contrastlens.similarity import check_excessive_separation
        >>> check = check_excessive_separation(-0.3798, -0.7342, n=8)  # Example 5.4's optimum
        >>> check.excessive, round(check.max_pos_mean, 4)
        (True, 0.4087)
        >>> check_excessive_separation(1.0, -1 / 7, n=8).excessive  # the simplex ETF
        False

    References:
        - Lee, Lim, Lee, Sohn. On the Similarities of Embeddings in Contrastive Learning.
          ICML 2025, Thm 5.2 and 5.3. <https://arxiv.org/abs/2506.09781>
    """
    if n < 2:
        raise ValueError(f"dataset size n must be >= 2, got n = {n}")
    optimum = negative_optimum(n)
    excess = neg_mean - optimum
    ceiling = min(1.0, 1.0 + neg_mean - optimum)
    over = neg_mean < optimum - tol
    misaligned = pos_mean < 1.0 - align_tol
    excessive = over and misaligned
    head = (
        f"mean negative similarity {neg_mean:.4f} vs optimum -1/(n-1) = {optimum:.4f} "
        f"(n = {n}, excess {excess:+.4f}); mean positive similarity {pos_mean:.4f}"
    )
    if excessive:
        message = (
            f"EXCESSIVE SEPARATION: {head}. Negatives are pushed below -1/(n-1) by more than "
            f"{tol:g}, so positives cannot align: Thm 5.2 caps the mean positive at "
            f"1 + E[s_neg] + 1/(n-1) = {ceiling:.4f}."
        )
    elif over:
        message = f"negatives below -1/(n-1) but positives aligned (within {align_tol:g}): {head}."
    else:
        message = f"no excessive separation: {head}."
    return SeparationCheck(
        excessive=excessive,
        n=n,
        pos_mean=pos_mean,
        neg_mean=neg_mean,
        optimum=optimum,
        excess=excess,
        max_pos_mean=ceiling,
        tol=tol,
        align_tol=align_tol,
        message=message,
    )
