"""CLIP and SigLIP losses with the VRN term, in open_clip's loss conventions.

    from contrastlens.integrations.open_clip import ClipVRNLoss, SigLipVRNLoss

    loss = ClipVRNLoss(n=len(dataset), weight=1.0)     # in place of open_clip.ClipLoss()
    loss = SigLipVRNLoss(n=len(dataset), weight=1.0)   # in place of open_clip.SigLipLoss()
    losses = loss(**model_out, output_dict=True)      # {"contrastive_loss": ..., "vrn_loss": ...}
    total_loss = sum(losses.values())                 # what open_clip_train's loop does

`forward(image_features, text_features, logit_scale, logit_bias=None, output_dict=False)` takes
the model's output as open_clip's losses do: L2-normalized features and the EXPONENTIATED scale
(`model.logit_scale.exp()`), plus the bias for SigLIP. Without output_dict it returns the sum of
the two terms. The math is contrastlens.losses:

    ClipVRNLoss     contrastive_loss = infonce_loss(image, text, temperature=1/logit_scale),
                    open_clip's ClipLoss: (CE(image -> text) + CE(text -> image)) / 2
    SigLipVRNLoss   contrastive_loss = sigmoid_loss(image, text, t=logit_scale, b=-logit_bias),
                    open_clip's SigLipLoss: -sum log sigmoid(label * logit) / B (our paper's sign
                    convention for b is the negative of open_clip's logit_bias)
    both            vrn_loss = weight * vrn_loss(image, text, n=n): the cross-modal negatives
                    (image i, text j != i) pulled towards -1/(n-1) (Lee et al., ICML 2025,
                    Def 5.7), n the size of the training set

Features are normalized inside (the identity for open_clip models, which normalize already).
ClipLoss adds an optional logit_bias to every logit, which cancels in its softmax; ClipVRNLoss
accepts and ignores it. One process only: world_size > 1 and Horovod raise a ValueError.

Shape legend: B image-text pairs, D embedding dimension.
"""

from __future__ import annotations

from torch import Tensor, nn

from contrastlens.integrations import missing_extra
from contrastlens.losses import infonce_loss, sigmoid_loss, vrn_loss
from contrastlens.losses._checks import resolve_delta

try:
    import open_clip  # noqa: F401  (the host library: these losses replace its ClipLoss/SigLipLoss)
except ImportError as error:
    raise ImportError(missing_extra("open_clip", "open_clip_torch", "open-clip", error)) from error

__all__ = ["ClipVRNLoss", "SigLipVRNLoss"]


def _one_process(cls: str, world_size: int, use_horovod: bool = False) -> None:
    if world_size != 1 or use_horovod:
        raise ValueError(
            f"{cls} runs on one process: world_size={world_size}, use_horovod={use_horovod} "
            "are not supported (use open_clip's own loss for distributed training)"
        )


class _VRNTerm(nn.Module):
    def __init__(self, n: int | None, delta: float | None, weight: float) -> None:
        super().__init__()
        resolve_delta(n, delta)  # fail at construction, not at the first step
        self.n = n
        self.delta = delta
        self.weight = weight

    def _terms(self, contrastive: Tensor, image: Tensor, text: Tensor, output_dict: bool):
        vrn = self.weight * vrn_loss(image, text, n=self.n, delta=self.delta)
        if output_dict:
            return {"contrastive_loss": contrastive, "vrn_loss": vrn}
        return contrastive + vrn


class ClipVRNLoss(_VRNTerm):
    """open_clip's `ClipLoss` plus VRN on the image-text negatives.

    n: training-set size (delta = -1/(n-1)); or delta; exactly one. weight: VRN's weight.
    local_loss, gather_with_grad, cache_labels, rank: ClipLoss's arguments, without effect on
    one process; world_size must be 1 and use_horovod False.
    """

    def __init__(
        self,
        n: int | None = None,
        delta: float | None = None,
        weight: float = 1.0,
        *,
        local_loss: bool = False,
        gather_with_grad: bool = False,
        cache_labels: bool = False,
        rank: int = 0,
        world_size: int = 1,
        use_horovod: bool = False,
    ) -> None:
        _one_process("ClipVRNLoss", world_size, use_horovod)
        super().__init__(n, delta, weight)

    def forward(
        self,
        image_features: Tensor,
        text_features: Tensor,
        logit_scale: Tensor | float,
        logit_bias: Tensor | float | None = None,
        output_dict: bool = False,
    ) -> Tensor | dict[str, Tensor]:
        """image_features, text_features: (B, D); logit_scale: exp of the model's logit_scale;
        logit_bias: ignored (a shift of every logit cancels in the softmax)."""
        contrastive = infonce_loss(image_features, text_features, temperature=1.0 / logit_scale)
        return self._terms(contrastive, image_features, text_features, output_dict)


class SigLipVRNLoss(_VRNTerm):
    """open_clip's `SigLipLoss` plus VRN on the image-text negatives.

    n: training-set size (delta = -1/(n-1)); or delta; exactly one. weight: VRN's weight.
    cache_labels, rank, dist_impl: SigLipLoss's arguments, without effect on one process;
    world_size must be 1.
    """

    def __init__(
        self,
        n: int | None = None,
        delta: float | None = None,
        weight: float = 1.0,
        *,
        cache_labels: bool = False,
        rank: int = 0,
        world_size: int = 1,
        dist_impl: str | None = None,
    ) -> None:
        _one_process("SigLipVRNLoss", world_size)
        super().__init__(n, delta, weight)

    def forward(
        self,
        image_features: Tensor,
        text_features: Tensor,
        logit_scale: Tensor | float,
        logit_bias: Tensor | float,
        output_dict: bool = False,
    ) -> Tensor | dict[str, Tensor]:
        """image_features, text_features: (B, D); logit_scale: exp of the model's logit_scale
        (t); logit_bias: the model's logit_bias (b = -logit_bias in our convention)."""
        contrastive = sigmoid_loss(image_features, text_features, t=logit_scale, b=-logit_bias)
        return self._terms(contrastive, image_features, text_features, output_dict)
