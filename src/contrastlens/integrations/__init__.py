"""Drop-ins for outside libraries, one module each, imported only on use.

    contrastlens.integrations.sentence_transformers  VRNLoss, CombinedLoss,
        CachedMultipleNegativesRankingVRNLoss, SimilarityLensEvaluator, minilm_path
    contrastlens.integrations.lightly                VRNRegularizer (beside NTXentLoss)
    contrastlens.integrations.pml                    VRNLoss (a BaseMetricLossFunction),
                                                     SelfSupervisedLoss accepting it
    contrastlens.integrations.open_clip              ClipVRNLoss, SigLipVRNLoss

Each module imports its host library at its top, so importing it without the library raises an
ImportError that names the extra to install (`pip install 'contrastlens[sentence-transformers]'`,
`[lightly]`, `[pml]`, `[open-clip]`). `import contrastlens` imports none of them. Each adapter
speaks its host's language (base class, argument names, return type) and adds nothing but the
translation: the math is `contrastlens.losses` and `contrastlens.similarity`.
"""

from __future__ import annotations

__all__ = ["VRN_CITATION", "missing_extra"]

# The paper whose Def 5.7 is VRN; the `citation` of every adapter that computes it.
VRN_CITATION = """
@inproceedings{lee2025similarities,
    title = {On the Similarities of Embeddings in Contrastive Learning},
    author = {Lee, Chungpa and Lim, Sehee and Lee, Kibok and Sohn, Jy-yong},
    booktitle = {Proceedings of the 42nd International Conference on Machine Learning (ICML)},
    year = {2025},
    eprint = {2506.09781},
    archivePrefix = {arXiv},
    url = {https://arxiv.org/abs/2506.09781},
}
"""


def missing_extra(module: str, library: str, extra: str, error: ImportError) -> str:
    """The message of the ImportError raised when an adapter's host library is missing."""
    return (
        f"contrastlens.integrations.{module} needs {library}, which could not be imported "
        f"({error}). Install it with: pip install 'contrastlens[{extra}]'"
    )
