"""The ranking loss with in-batch negatives (MNRL, one-direction InfoNCE), with false negatives
masked out of the softmax denominator.

    L = 1/R sum_i ( logsumexp_{j in C_i} s_ij - s_i,pos(i) ),   C_i = {pos(i)} + negatives of i

over the scores s_ij (scale * similarity) of R anchors against C candidates; every column is a
negative of row i except its positive pos(i) and the false negatives of row i (masked: they
leave C_i, so they receive no gradient). Without a mask this is van den Oord et al.'s InfoNCE
(arXiv:1807.03748) in one direction, i.e. Henderson et al.'s multiple negatives ranking loss
(arXiv:1705.00652) as sentence-transformers' MultipleNegativesRankingLoss computes it:
`F.cross_entropy(scores, positive)`. The masks come from `contrastlens.losses.masking`.

Shape legend: R rows (anchors), C columns (candidates: positives, then hard negatives).
"""

from __future__ import annotations

import torch

from contrastlens.losses.masking import _check_rows
from contrastlens.losses.precision import full_precision

__all__ = ["ranking_loss"]


@full_precision
def ranking_loss(
    scores_RC: torch.Tensor,
    positive_R: torch.Tensor,
    *,
    false_negatives_RC: torch.Tensor | None = None,
) -> torch.Tensor:
    """The ranking loss with in-batch negatives (MNRL), false negatives out of the softmax.

    The mean over rows of -log softmax(scores_RC[i])[positive_R[i]], the softmax taken over
    row i's positive and its negatives only:

        L = 1/R sum_i ( logsumexp_{j in C_i} s_ij - s_i,pos(i) ),   C_i = {pos(i)} + negatives

    Without a mask: van den Oord et al.'s InfoNCE in one direction, i.e. sentence-transformers'
    `MultipleNegativesRankingLoss` (Henderson et al.), `F.cross_entropy(scores, positive)`; in
    the terms of Lee et al. (ICML 2025, Def 3.1) one direction of InfoNCE.

    Args:
        scores_RC: (R, C) floating scores, e.g. scale * cos(anchor_i, candidate_j).
        positive_R: (R,) integer column of each row's positive.
        false_negatives_RC: (R, C) boolean, True where column j is a false negative of row i
            (`masking.false_negatives`); those scores are set to -inf (no gradient reaches
            them). The positive column is never masked, even where the mask says so.

    Returns:
        The loss, a 0-d tensor (0 for a row whose only candidate left is its positive).

    Examples:
        >>> import torch
        >>> from contrastlens.losses import ranking_loss
        >>> scores = torch.tensor([[2.0, 2.0, 0.0], [1.0, 3.0, 3.0]])
        >>> ranking_loss(scores, torch.tensor([0, 1]))
        tensor(0.7586)
        >>> masked = torch.tensor([[False, True, False], [False, False, True]])
        >>> ranking_loss(scores, torch.tensor([0, 1]), false_negatives_RC=masked)
        tensor(0.1269)

    References:
        - Henderson et al. Efficient Natural Language Response Suggestion for Smart Reply.
          2017, section 4.4. <https://arxiv.org/abs/1705.00652>
        - van den Oord, Li, Vinyals. Representation Learning with Contrastive Predictive
          Coding. 2018. <https://arxiv.org/abs/1807.03748>
    """
    if not isinstance(scores_RC, torch.Tensor) or scores_RC.dim() != 2:
        raise ValueError("scores_RC must be a (R, C) tensor of scores")
    if not scores_RC.is_floating_point():
        raise ValueError(f"scores_RC must be floating point, got dtype {scores_RC.dtype}")
    R = scores_RC.shape[0]
    rows_R = torch.arange(R, device=scores_RC.device)
    positive_R = positive_R.to(scores_RC.device)
    if false_negatives_RC is not None:
        if false_negatives_RC.shape != scores_RC.shape:
            raise ValueError(
                f"false_negatives_RC has shape {tuple(false_negatives_RC.shape)} but scores_RC "
                f"has {tuple(scores_RC.shape)}: one mask entry per score"
            )
        _check_rows(positive_R, false_negatives_RC, "false_negatives_RC")
        masked_RC = false_negatives_RC.to(scores_RC.device).clone()
        masked_RC[rows_R, positive_R] = False
        scores_RC = scores_RC.masked_fill(masked_RC, float("-inf"))
    pos_R = scores_RC[rows_R, positive_R]
    return (torch.logsumexp(scores_RC, dim=1) - pos_R).mean()
