"""`first_relevant_rank` against sorting every query's documents (tests/reference.py), with many
ties (+-1 vectors, as binary embeddings score), several relevant documents and excluded selves.

Legend: Q queries, N documents, D dimension.
"""

import pytest
import torch
from reference import first_relevant_rank as reference_rank

from contrastlens.similarity import first_relevant_rank, retrieval_scores


@pytest.mark.parametrize("kind", ["float", "signs"])
@pytest.mark.parametrize("block", [1, 7, 256])
def test_ranks_match_sorting(kind, block):
    g = torch.Generator().manual_seed(3)
    Q, N, D = 23, 41, 6
    q_QD, c_ND = torch.randn(Q, D, generator=g), torch.randn(N, D, generator=g)
    if kind == "signs":  # few distinct scores: ties everywhere
        q_QD, c_ND = q_QD.sign(), c_ND.sign()
    qk_Q = torch.randint(0, 12, (Q,), generator=g)
    ck_N = torch.randint(0, 12, (N,), generator=g)
    exclude_Q = torch.where(torch.arange(Q) % 3 == 0, torch.arange(Q), -1)
    got = first_relevant_rank(q_QD, c_ND, qk_Q, ck_N, exclude_Q=exclude_Q, block=block)
    scores = (q_QD @ c_ND.T).tolist()
    relevant = (qk_Q[:, None] == ck_N[None, :]).tolist()
    for i, j in enumerate(exclude_Q.tolist()):
        if j >= 0:  # an excluded document is not a document at all
            scores[i][j] = float("-inf")
            relevant[i][j] = False
    assert got.tolist() == reference_rank(scores, relevant)


def test_scores_from_ranks():
    ranks = torch.tensor([1, 2, 0, 10, 11])
    out = retrieval_scores(ranks)
    assert out["recall@1"] == pytest.approx(1 / 5)
    assert out["recall@10"] == pytest.approx(3 / 5)
    assert out["mrr@10"] == pytest.approx((1 + 1 / 2 + 1 / 10) / 5)
    with pytest.raises(ValueError, match="at least one"):
        retrieval_scores(torch.zeros(0, dtype=torch.long))
