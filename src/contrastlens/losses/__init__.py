"""Contrastive losses and the VRN term (Lee et al., ICML 2025, sections 3 and 5).

Pure functions of embeddings -> 0-d tensor, one family per file, thin modules around them:

    pairs.py      `view_pairs`: validation, THE normalization, all-gather, id mask (shared)
    infonce.py    Def 3.1: infonce_family, infonce_loss, simclr_loss, dcl_loss, dhel_loss
    additive.py   Def 3.2: additive_loss, sigmoid_loss (SigLIP), spectral_loss
    moco.py       moco_loss (the queue and key encoder: contrastlens.models.MoCo)
    vrn.py        Def 5.7: vrn_loss; similarity_stats (batch pos/neg mean, neg variance)
    global_contrastive.py   SogCLR (per-sample state): global_contrastive_loss
    gor.py        GOR (Zhang et al. 2017) as sentence-transformers computes it: gor_loss
    ranking.py    ranking_loss: MNRL / one-direction InfoNCE over candidates, false negatives
                  masked out of the denominator
    masking.py    false negatives (duplicates, groups): same_key, false_negatives,
                  negative_mask -> (rows, columns) boolean masks for ranking_loss and vrn_loss
    modules.py    InfoNCELoss, SimCLRLoss, DCLLoss, DHELLoss, SigLIPLoss, SpectralLoss,
                  MoCoLoss, VRN, GlobalContrastiveLoss (SogCLR, holds the state)
    objective.py  build_objective: {method term, "vrn", "loss"} for the training loop
    precision.py  full_precision: every public loss runs outside autocast, bf16/fp16 inputs upcast

Every loss takes `gather=False`; with True (and torch.distributed initialized) local rows are
scored against the all-gathered columns and the result equals one process holding the global
batch, in value and in every input's gradient (see `contrastlens.distributed`).
"""

from contrastlens.losses.additive import additive_loss, sigmoid_loss, spectral_loss
from contrastlens.losses.global_contrastive import global_contrastive_loss
from contrastlens.losses.gor import gor_loss
from contrastlens.losses.infonce import (
    dcl_loss,
    dhel_loss,
    infonce_family,
    infonce_loss,
    simclr_loss,
)
from contrastlens.losses.masking import false_negatives, negative_mask, same_key
from contrastlens.losses.moco import moco_loss
from contrastlens.losses.modules import (
    VRN,
    DCLLoss,
    DHELLoss,
    GlobalContrastiveLoss,
    InfoNCELoss,
    MoCoLoss,
    SigLIPLoss,
    SimCLRLoss,
    SpectralLoss,
)
from contrastlens.losses.objective import METHODS, Objective, build_objective
from contrastlens.losses.pairs import ViewPairs, normalize, view_pairs
from contrastlens.losses.ranking import ranking_loss
from contrastlens.losses.vrn import similarity_stats, vrn_loss

__all__ = [
    "DCLLoss",
    "DHELLoss",
    "GlobalContrastiveLoss",
    "InfoNCELoss",
    "METHODS",
    "MoCoLoss",
    "Objective",
    "SigLIPLoss",
    "SimCLRLoss",
    "SpectralLoss",
    "VRN",
    "ViewPairs",
    "additive_loss",
    "build_objective",
    "dcl_loss",
    "dhel_loss",
    "false_negatives",
    "global_contrastive_loss",
    "gor_loss",
    "infonce_family",
    "infonce_loss",
    "moco_loss",
    "negative_mask",
    "normalize",
    "ranking_loss",
    "same_key",
    "sigmoid_loss",
    "similarity_stats",
    "simclr_loss",
    "spectral_loss",
    "view_pairs",
    "vrn_loss",
]
