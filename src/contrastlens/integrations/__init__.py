"""Drop-ins for outside libraries, one module each, imported only on use.

    contrastlens.integrations.sentence_transformers  VRNLoss, CombinedLoss,
        CachedMultipleNegativesRankingVRNLoss, SimilarityLensEvaluator, minilm_path,
        GlobalMultipleNegativesRankingLoss (SogCLR's global loss), GlobalStateCallback
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

__all__ = ["SOGCLR_CITATION", "VRN_CITATION", "missing_extra"]

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

# SogCLR's global contrastive loss (`contrastlens.losses.global_contrastive`).
SOGCLR_CITATION = """
@inproceedings{yuan2022provable,
    title = {Provable Stochastic Optimization for Global Contrastive Learning: Small Batch Does
             Not Harm Performance},
    author = {Yuan, Zhuoning and Wu, Yuexin and Qiu, Zi-Hao and Du, Xianzhi and Zhang, Lijun
              and Zhou, Denny and Yang, Tianbao},
    booktitle = {Proceedings of the 39th International Conference on Machine Learning (ICML)},
    year = {2022},
    eprint = {2202.12387},
    archivePrefix = {arXiv},
    url = {https://arxiv.org/abs/2202.12387},
}
"""


def missing_extra(module: str, library: str, extra: str, error: ImportError) -> str:
    """The message of the ImportError raised when an adapter's host library is missing."""
    return (
        f"contrastlens.integrations.{module} needs {library}, which could not be imported "
        f"({error}). Install it with: pip install 'contrastlens[{extra}]'"
    )
