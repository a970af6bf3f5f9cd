"""What a text run is scored on: retrieval of definitions and the similarity lens.

    scores = evaluate_model(model, synsets, n_train=8000)

Retrieval (`wordnet.retrieval_task`): every example sentence of the split's synsets is a query
and every distinct definition of the split a document; sentence-transformers'
`InformationRetrievalEvaluator` (cosine) gives MRR@10, Recall@1 and Recall@10 (one relevant
document per query, so Recall@k is the hit rate at k). The lens
(`SimilarityLensEvaluator`): one (example, definition) pair per distinct definition, the
cross pairs as negatives, with n = the training-set size for the Welch floor and VRN's delta;
"lens"."by_label" splits those negatives exactly into pairs of the same WordNet lexicographer
file (`Synset.lexname`: noun.animal, verb.motion, ...; 45 coarse classes, a synset's own label
would give no same-label pairs, one row per definition) and pairs of different files
(`similarity.LabelSplit`).
Embeddings are computed in float32 whatever the training precision (the zero-shot baseline and
every arm are measured the same way).

Quantized retrieval ("int8", "binary"): the same query and document embeddings (unit vectors),
quantized with sentence-transformers' `quantize_embeddings` and scored as its exact indexes
score them, without rescoring by the float query: int8 codes (per-dimension ranges from
calibration embeddings, 256 buckets, shifted to [-128, 127]) by their inner product (usearch's
"ip" over i8), sign bits ("ubinary", packed) by minus their Hamming distance (faiss'
IndexBinaryFlat, usearch's b1 "hamming"). The int8 ranges come from `calibration` texts
embedded by the same model (the library's advice: a representative set, not the queries); the
text runs pass training pairs, the same for every arm; without them the evaluated queries and
documents calibrate. Ranks, MRR@10, R@1 and R@10 follow the float32 path's rule: score
descending, ties broken by ascending document id (Hamming distances tie often).
"""

from __future__ import annotations

import time

from contrastlens import runfolder as rf
from contrastlens.data import wordnet
from contrastlens.integrations.sentence_transformers import SimilarityLensEvaluator
from contrastlens.similarity import SimilarityAccumulator

RETRIEVAL = {
    "mrr@10": "cosine_mrr@10",
    "recall@1": "cosine_recall@1",
    "recall@10": "cosine_recall@10",
}
LENS = (
    "pos_mean",
    "neg_mean",
    "neg_var",
    "neg_second_moment",
    "welch_floor",
    "vrn",
    "alignment",
    "uniformity",
    "rankme",
)


def _first_relevant(hits: list[dict], relevant: set[str]) -> int:
    """The 1-based rank of the first relevant document among `hits` (sorted as the library's
    evaluator sorts them: score descending, then corpus id), 0 when none is in the top
    RANK_K (runfolder.scores_from_ranks turns ranks into per-query scores)."""
    top = sorted(hits, key=lambda x: (-x["score"], x["corpus_id"]))[: rf.RANK_K]
    return next((i + 1 for i, hit in enumerate(top) if hit["corpus_id"] in relevant), 0)


PRECISIONS = ("int8", "binary")  # quantized retrieval, beside the float32 scores


def ranks_from_scores(scores_QC, relevant_Q, id_order_C) -> list[int]:
    """Each query's rank of its one relevant document (1..RANK_K, 0 when lower) under the
    float32 path's order: score descending, then document id ascending. scores_QC: (Q, C)
    scores; relevant_Q: (Q,) column of each query's relevant document; id_order_C: (C,) each
    document's position in the ascending order of the ids."""
    import torch

    rows_Q = torch.arange(scores_QC.shape[0])
    target_Q1 = scores_QC[rows_Q, relevant_Q][:, None]
    before_QC = (scores_QC > target_Q1) | (
        (scores_QC == target_Q1) & (id_order_C[None, :] < id_order_C[relevant_Q][:, None])
    )
    ranks = before_QC.sum(dim=1).add_(1)
    return [int(r) if r <= rf.RANK_K else 0 for r in ranks.tolist()]


def quantized_codes(x_ND, precision: str, calibration_KD):
    """(N, D) float64 codes of embeddings quantized by sentence-transformers'
    `quantize_embeddings`: "int8", the int8 values (per-dimension ranges from calibration_KD,
    a (K, D) array); "binary", the sign bits ("ubinary", unpacked to 0/1)."""
    import numpy as np
    import torch
    from sentence_transformers.util import quantize_embeddings

    x_ND = x_ND.detach().float().cpu().numpy()
    if precision == "int8":
        cal_KD = np.asarray(calibration_KD, dtype=np.float32)
        codes = quantize_embeddings(x_ND, "int8", calibration_embeddings=cal_KD)
    elif precision == "binary":
        codes = np.unpackbits(quantize_embeddings(x_ND, "ubinary"), axis=1)[:, : x_ND.shape[1]]
    else:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return torch.from_numpy(codes.astype(np.float64))


def quantized_scores(q_QD, d_CD, precision: str):
    """(Q, C) scores of `quantized_codes` as the library's exact indexes rank them: "int8", the
    inner product; "binary", minus the Hamming distance (|a| + |b| - 2 a.b for 0/1 bits).
    Exact: integers well below 2^53 in float64."""
    if precision == "int8":
        return q_QD @ d_CD.T
    return 2 * (q_QD @ d_CD.T) - q_QD.sum(1)[:, None] - d_CD.sum(1)[None, :]


def _retrieval(ranks: list[int]) -> dict:
    """MRR@10, Recall@1, Recall@10 and the ranks themselves, from per-query ranks."""
    per_query = rf.scores_from_ranks(ranks)
    n = len(ranks)
    return {
        "mrr@10": sum(per_query["mrr@10"]) / n,
        "recall@1": sum(per_query["recall@1"]) / n,
        "recall@10": sum(r > 0 for r in ranks) / n,
        "ranks": ranks,
    }


def _quantized_retrieval(ir, model, calibration: list[str] | None, batch_size: int) -> dict:
    """{"int8": {...}, "binary": {...}} (`_retrieval` and, for int8, "calibration") of the
    embeddings the float32 evaluator `ir` scored, unit-normalized (the cosine geometry)."""
    import torch

    def unit(x_ND):
        return torch.nn.functional.normalize(x_ND.float().cpu(), dim=1)

    queries_QD = unit(torch.cat(ir.embedded["query"]))
    docs_CD = unit(torch.cat(ir.embedded["document"]))
    column = {cid: c for c, cid in enumerate(ir.corpus_ids)}
    relevant_Q = torch.tensor([column[next(iter(ir.relevant_docs[q]))] for q in ir.queries_ids])
    if calibration:
        encoded = model.encode(calibration, batch_size=batch_size, convert_to_tensor=True)
        calibration_KD, source = unit(encoded), f"{len(calibration)} calibration texts"
    else:
        calibration_KD, source = torch.cat([queries_QD, docs_CD]), "the evaluated texts"
    out = {}
    for precision in PRECISIONS:
        q_QD, d_CD = (quantized_codes(x, precision, calibration_KD) for x in (queries_QD, docs_CD))
        ranks: list[int] = []
        for begin in range(0, len(q_QD), 1024):  # (1024, C) scores at a time
            scores_QC = quantized_scores(q_QD[begin : begin + 1024], d_CD, precision)
            relevant = relevant_Q[begin : begin + 1024]
            ranks += ranks_from_scores(scores_QC, relevant, ir.get_corpus_id_ranks())
        out[precision] = _retrieval(ranks)
    out["int8"]["calibration"] = source
    return out


def evaluate_model(
    model, synsets, *, n_train: int, batch_size: int = 64, calibration: list[str] | None = None
) -> dict:
    """{"mrr@10", "recall@1", "recall@10", "ranks", "int8": {"mrr@10", "recall@1",
    "recall@10", "ranks", "calibration"}, "binary": {...}, "queries", "documents", "lens":
    {..., "by_label": {"label", "labels", "same": {"count", "mean", "var", "share"},
    "different": {...}}}, "eval_time_s"} of `model` on `synsets` (fractions in [0, 1]).
    "ranks": each query's rank of its relevant document, 1..10, 0 when lower
    (`runfolder.scores_from_ranks`). calibration: texts whose embeddings set the int8 ranges
    (None: the evaluated queries and documents)."""
    import torch
    from sentence_transformers.sentence_transformer.evaluation import (
        InformationRetrievalEvaluator,
    )

    class RankedIR(InformationRetrievalEvaluator):
        """The library's evaluator, keeping each query's rank of its relevant document (within
        the top 10; 0 = not there), from the same sorted hits its metrics use, and the
        embeddings it scored (for the quantized retrieval)."""

        embedded: dict

        def embed_inputs(self, model, sentences, encode_fn_name=None, **kwargs):
            out = super().embed_inputs(model, sentences, encode_fn_name, **kwargs)
            self.embedded.setdefault(encode_fn_name, []).append(out)
            return out

        def compute_metrics(self, queries_result_list):
            self.ranks = [
                _first_relevant(hits, self.relevant_docs[qid])
                for qid, hits in zip(self.queries_ids, queries_result_list)
            ]
            return super().compute_metrics(queries_result_list)

    t0 = time.perf_counter()
    task = wordnet.retrieval_task(synsets)
    ir = RankedIR(
        task.queries,
        task.corpus,
        task.relevant,
        mrr_at_k=[10],
        ndcg_at_k=[10],
        accuracy_at_k=[1, 10],
        precision_recall_at_k=[1, 10],
        map_at_k=[10],
        batch_size=batch_size,
        write_csv=False,
    )
    ir.embedded = {}
    found = ir(model)
    out = {name: float(found[key]) for name, key in RETRIEVAL.items()}
    out["ranks"] = ir.ranks  # per query, in the task's order: paired intervals over queries
    out.update(_quantized_retrieval(ir, model, calibration, batch_size))
    examples, definitions = wordnet.lens_pairs(synsets)
    lens = SimilarityLensEvaluator(
        examples, definitions, n=n_train, batch_size=batch_size, write_csv=False
    )
    anchors = lens.embed_inputs(model, examples).double().cpu()
    positives = lens.embed_inputs(model, definitions).double().cpu()
    metrics = lens.compute_metrics(anchors, positives)
    out["lens"] = {k: float(metrics[k]) for k in LENS if k in metrics}
    lex_B = torch.tensor([s.lex_filenum for s in wordnet.lens_synsets(synsets)])
    split = SimilarityAccumulator().update(anchors, positives, labels=lex_B).result().by_label
    out["lens"]["by_label"] = {"label": "lexicographer file", **split.as_dict()}
    out.update(
        queries=len(task.queries),
        documents=len(task.corpus),
        lens_pairs=len(examples),
        eval_time_s=time.perf_counter() - t0,
    )
    return out
