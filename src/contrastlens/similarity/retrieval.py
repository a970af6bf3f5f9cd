"""Retrieval of each query's relevant documents by inner product: the rank of the first relevant
one, MRR@10 and Recall@1, in blocks of queries (no Q x N matrix held at once).

    ranks_Q = first_relevant_rank(queries_QD, corpus_ND, query_keys_Q, corpus_keys_N)
    retrieval_scores(ranks_Q)        # {"mrr@10": ..., "recall@1": ..., "recall@10": ...}

Shape legend:
    Q  queries
    N  documents (the corpus)
    D  dimension (of the vectors as scored: floats, int8 codes, +-1 bits)
    R  queries in one block

Document j is relevant to query q when their keys are equal (row i's positive, texts that are
the same, or the same label). The score is the inner product of the vectors as given: cosine
similarity for unit rows, the inner product of int8 codes, or for +-1 bit vectors
d - 2 hamming (so the order is the hamming order). Documents are ranked by score, ties by
index (the lower index first, as sentence-transformers' InformationRetrievalEvaluator breaks
ties by corpus id), and the rank of the first relevant document is

    1 + #{j : s_j > s*} + #{j : s_j = s*, j < j*}

with (s*, j*) the best relevant document (highest score, then lowest index): exact, with no
sort and no top-k. A query may exclude one document (itself, when the corpus is the query set).
"""

from __future__ import annotations

import torch

__all__ = ["PRECISION_BYTES", "first_relevant_rank", "retrieval_scores"]

# Bytes per dimension of the precisions an embedding is commonly stored at (sentence-transformers'
# quantize_embeddings: float32, int8 codes, binary = 1 bit per dimension, packed).
PRECISION_BYTES = {"float32": 4.0, "int8": 1.0, "binary": 0.125}


@torch.no_grad()
def first_relevant_rank(
    queries_QD: torch.Tensor,
    corpus_ND: torch.Tensor,
    query_keys_Q: torch.Tensor,
    corpus_keys_N: torch.Tensor,
    *,
    exclude_Q: torch.Tensor | None = None,
    block: int = 256,
) -> torch.Tensor:
    """(Q,) int64: the 1-based rank of each query's first relevant document (module docstring),
    0 when it has none.

    queries_QD, corpus_ND: floating (Q, D) and (N, D), scored by inner product as given.
    query_keys_Q, corpus_keys_N: integer keys; document j is relevant to query q when
    corpus_keys_N[j] == query_keys_Q[q]. exclude_Q: (Q,) a corpus index each query must not
    retrieve (e.g. itself), or -1 for none. block: queries per block (memory O(block N)).

    Example (the relevant document, key 7, scores below the other one):
        >>> q = torch.tensor([[1.0, 0.0]])
        >>> corpus = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
        >>> first_relevant_rank(q, corpus, torch.tensor([7]), torch.tensor([7, 3]))
        tensor([2])
    """
    if queries_QD.dim() != 2 or corpus_ND.dim() != 2 or queries_QD.shape[1] != corpus_ND.shape[1]:
        raise ValueError(
            f"queries and corpus must be (Q, D) and (N, D) with one D, got "
            f"{tuple(queries_QD.shape)} and {tuple(corpus_ND.shape)}"
        )
    Q, N = queries_QD.shape[0], corpus_ND.shape[0]
    if query_keys_Q.shape != (Q,) or corpus_keys_N.shape != (N,):
        raise ValueError(f"keys must be ({Q},) for the queries and ({N},) for the corpus")
    if exclude_Q is not None and exclude_Q.shape != (Q,):
        raise ValueError(f"exclude_Q must be ({Q},), one corpus index (or -1) per query")
    device = corpus_ND.device
    index_N = torch.arange(N, device=device)
    ranks = []
    for start in range(0, Q, block):
        stop = min(start + block, Q)
        s_RN = queries_QD[start:stop].to(corpus_ND.dtype) @ corpus_ND.T
        rel_RN = query_keys_Q[start:stop, None].to(device) == corpus_keys_N[None, :].to(device)
        if exclude_Q is not None:
            self_RN = index_N[None, :] == exclude_Q[start:stop, None].to(device)
            s_RN.masked_fill_(self_RN, float("-inf"))
            rel_RN &= ~self_RN
        best_R = torch.where(rel_RN, s_RN, float("-inf")).amax(dim=1)
        # the first relevant document at the best score: argmax returns the first maximum
        first_R = (rel_RN & (s_RN == best_R[:, None])).to(torch.uint8).argmax(dim=1)
        rank_R = 1 + (s_RN > best_R[:, None]).sum(dim=1)
        tied_R = (s_RN == best_R[:, None]).sum(dim=1) > 1  # rows where ties can come first
        if bool(tied_R.any()):
            t = tied_R.nonzero()[:, 0]
            before_TN = (s_RN[t] == best_R[t, None]) & (index_N[None, :] < first_R[t, None])
            rank_R[t] += before_TN.sum(dim=1)
        ranks.append(torch.where(rel_RN.any(dim=1), rank_R, 0).cpu())
    return torch.cat(ranks) if ranks else torch.zeros(0, dtype=torch.int64)


def retrieval_scores(ranks_Q: torch.Tensor, k: int = 10) -> dict[str, float]:
    """{"mrr@k", "recall@1", "recall@k"} from the ranks of `first_relevant_rank` (0 = none):
    mean of 1/rank over queries with rank <= k (0 otherwise), and the shares of queries whose
    first relevant document is at rank 1 / within k (one relevant document per query, as in
    sentence-transformers' evaluator, makes Recall@k the hit rate)."""
    if ranks_Q.numel() == 0:
        raise ValueError("retrieval_scores needs at least one query")
    r_Q = ranks_Q.double()
    hit_Q = (r_Q >= 1) & (r_Q <= k)
    return {
        f"mrr@{k}": float(torch.where(hit_Q, 1.0 / r_Q.clamp_min(1), 0.0).mean()),
        "recall@1": float((r_Q == 1).double().mean()),
        f"recall@{k}": float(hit_Q.double().mean()),
    }
