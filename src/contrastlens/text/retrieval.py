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
"""

from __future__ import annotations

import time

from contrastlens import runfolder as rf
from contrastlens.data import wordnet
from contrastlens.integrations.sentence_transformers import SimilarityLensEvaluator
from contrastlens.similarity import SimilarityAccumulator

RETRIEVAL = {"mrr@10": "cosine_mrr@10", "recall@1": "cosine_recall@1",
             "recall@10": "cosine_recall@10"}  # fmt: skip
LENS = ("pos_mean", "neg_mean", "neg_var", "neg_second_moment", "welch_floor", "vrn",
        "alignment", "uniformity", "rankme")  # fmt: skip


def _first_relevant(hits: list[dict], relevant: set[str]) -> int:
    """The 1-based rank of the first relevant document among `hits` (sorted as the library's
    evaluator sorts them: score descending, then corpus id), 0 when none is in the top
    RANK_K (runfolder.scores_from_ranks turns ranks into per-query scores)."""
    top = sorted(hits, key=lambda x: (-x["score"], x["corpus_id"]))[: rf.RANK_K]
    return next((i + 1 for i, hit in enumerate(top) if hit["corpus_id"] in relevant), 0)


def evaluate_model(model, synsets, *, n_train: int, batch_size: int = 64) -> dict:
    """{"mrr@10", "recall@1", "recall@10", "ranks", "queries", "documents", "lens": {...,
    "by_label": {"label", "labels", "same": {"count", "mean", "var", "share"}, "different":
    {...}}}, "eval_time_s"} of `model` on `synsets` (fractions in [0, 1]). "ranks": each query's
    rank of its relevant document, 1..10, 0 when lower (`runfolder.scores_from_ranks`)."""
    import torch
    from sentence_transformers.sentence_transformer.evaluation import (
        InformationRetrievalEvaluator,
    )

    class RankedIR(InformationRetrievalEvaluator):
        """The library's evaluator, keeping each query's rank of its relevant document (within
        the top 10; 0 = not there), from the same sorted hits its metrics use."""

        def compute_metrics(self, queries_result_list):
            self.ranks = [
                _first_relevant(hits, self.relevant_docs[qid])
                for qid, hits in zip(self.queries_ids, queries_result_list)
            ]
            return super().compute_metrics(queries_result_list)

    t0 = time.perf_counter()
    task = wordnet.retrieval_task(synsets)
    ir = RankedIR(
        task.queries, task.corpus, task.relevant, mrr_at_k=[10], ndcg_at_k=[10],
        accuracy_at_k=[1, 10], precision_recall_at_k=[1, 10], map_at_k=[10],
        batch_size=batch_size, write_csv=False,
    )  # fmt: skip
    found = ir(model)
    out = {name: float(found[key]) for name, key in RETRIEVAL.items()}
    out["ranks"] = ir.ranks  # per query, in the task's order: paired intervals over queries
    examples, definitions = wordnet.lens_pairs(synsets)
    lens = SimilarityLensEvaluator(examples, definitions, n=n_train, batch_size=batch_size,
                                   write_csv=False)  # fmt: skip
    anchors = lens.embed_inputs(model, examples).double().cpu()
    positives = lens.embed_inputs(model, definitions).double().cpu()
    metrics = lens.compute_metrics(anchors, positives)
    out["lens"] = {k: float(metrics[k]) for k in LENS if k in metrics}
    lex_B = torch.tensor([s.lex_filenum for s in wordnet.lens_synsets(synsets)])
    split = SimilarityAccumulator().update(anchors, positives, labels=lex_B).result().by_label
    out["lens"]["by_label"] = {"label": "lexicographer file", **split.as_dict()}
    out.update(queries=len(task.queries), documents=len(task.corpus),
               lens_pairs=len(examples), eval_time_s=time.perf_counter() - t0)  # fmt: skip
    return out
