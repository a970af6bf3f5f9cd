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

from contrastlens.checks import resolve_delta
from contrastlens.integrations import missing_extra
from contrastlens.losses import infonce_loss, sigmoid_loss, vrn_loss

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

        contrastive_loss = (CE(image -> text) + CE(text -> image)) / 2
                         = infonce_loss(image, text, temperature=1/logit_scale)
        vrn_loss         = weight * mean_{i!=j} (image_i.text_j + 1/(n-1))^2

    CLIP's loss is InfoNCE (Lee et al., ICML 2025, Def 3.1 with c1 = 1, c2 = 0); VRN is Def
    5.7 on the cross-modal negatives (image i, text j != i), n the training-set size.

    Args:
        n: training-set size (delta = -1/(n-1)); or delta; exactly one.
        delta: the target similarity of the negatives, instead of n.
        weight: VRN's weight (lambda).
        local_loss: ClipLoss's argument, without effect on one process.
        gather_with_grad: ClipLoss's argument, without effect on one process.
        cache_labels: ClipLoss's argument, without effect on one process.
        rank: ClipLoss's argument, without effect on one process.
        world_size: must be 1.
        use_horovod: must be False.

    Examples:
        >>> import torch
        >>> import torch.nn.functional as F
        >>> from contrastlens.integrations.open_clip import ClipVRNLoss
        >>> from open_clip.loss import ClipLoss
        >>> _ = torch.manual_seed(0)
        >>> image = F.normalize(torch.randn(8, 16), dim=1)  # (B, D), as open_clip's models give
        >>> text = F.normalize(torch.randn(8, 16), dim=1)
        >>> logit_scale = torch.tensor(10.0)  # model.logit_scale.exp()
        >>> ClipVRNLoss(n=50_000)(image, text, logit_scale, output_dict=True)
        {'contrastive_loss': tensor(3.2028), 'vrn_loss': tensor(0.0586)}
        >>> ClipLoss()(image, text, logit_scale)  # the same contrastive term
        tensor(3.2028)

    References:
        - Radford et al. Learning Transferable Visual Models From Natural Language
          Supervision (CLIP). ICML 2021. <https://arxiv.org/abs/2103.00020>
        - Lee, Lim, Lee, Sohn. On the Similarities of Embeddings in Contrastive Learning.
          ICML 2025, Def 5.7. <https://arxiv.org/abs/2506.09781>
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
        """The loss of one batch, as open_clip's `ClipLoss` takes it.

        Args:
            image_features: (B, D) image embeddings (normalized inside).
            text_features: (B, D) text embeddings; row i of each is a pair.
            logit_scale: exp of the model's logit_scale (1/t).
            logit_bias: ignored (a shift of every logit cancels in the softmax).
            output_dict: return the two terms by name instead of their sum.

        Returns:
            contrastive_loss + vrn_loss (0-d), or {"contrastive_loss", "vrn_loss"}.
        """
        contrastive = infonce_loss(image_features, text_features, temperature=1.0 / logit_scale)
        return self._terms(contrastive, image_features, text_features, output_dict)


class SigLipVRNLoss(_VRNTerm):
    """open_clip's `SigLipLoss` plus VRN on the image-text negatives.

        contrastive_loss = -sum log sigmoid(label * logit) / B
                         = sigmoid_loss(image, text, t=logit_scale, b=-logit_bias)
        vrn_loss         = weight * mean_{i!=j} (image_i.text_j + 1/(n-1))^2

    SigLIP's loss is Def 3.2 (Lee et al., ICML 2025) with cross-view negatives only, the case
    that can separate negatives excessively (Example 5.4); VRN is Def 5.7 on the cross-modal
    negatives, n the training-set size.

    Args:
        n: training-set size (delta = -1/(n-1)); or delta; exactly one.
        delta: the target similarity of the negatives, instead of n.
        weight: VRN's weight (lambda).
        cache_labels: SigLipLoss's argument, without effect on one process.
        rank: SigLipLoss's argument, without effect on one process.
        world_size: must be 1.
        dist_impl: SigLipLoss's argument, without effect on one process.

    Examples:
        >>> import torch
        >>> import torch.nn.functional as F
        >>> from contrastlens.integrations.open_clip import SigLipVRNLoss
        >>> from open_clip.loss import SigLipLoss
        >>> _ = torch.manual_seed(0)
        >>> image = F.normalize(torch.randn(8, 16), dim=1)
        >>> text = F.normalize(torch.randn(8, 16), dim=1)
        >>> scale, bias = torch.tensor(10.0), torch.tensor(-10.0)  # open_clip's init
        >>> SigLipVRNLoss(n=50_000)(image, text, scale, bias, output_dict=True)
        {'contrastive_loss': tensor(8.9859), 'vrn_loss': tensor(0.0586)}
        >>> SigLipLoss()(image, text, scale, bias)  # the same contrastive term
        tensor(8.9859)

    References:
        - Zhai, Mustafa, Kolesnikov, Beyer. Sigmoid Loss for Language Image Pre-Training.
          ICCV 2023. <https://arxiv.org/abs/2303.15343>
        - Lee, Lim, Lee, Sohn. On the Similarities of Embeddings in Contrastive Learning.
          ICML 2025, Def 3.2, Example 5.4 and Def 5.7. <https://arxiv.org/abs/2506.09781>
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
        """The loss of one batch, as open_clip's `SigLipLoss` takes it.

        Args:
            image_features: (B, D) image embeddings (normalized inside).
            text_features: (B, D) text embeddings; row i of each is a pair.
            logit_scale: exp of the model's logit_scale (t).
            logit_bias: the model's logit_bias (b = -logit_bias in our convention).
            output_dict: return the two terms by name instead of their sum.

        Returns:
            contrastive_loss + vrn_loss (0-d), or {"contrastive_loss", "vrn_loss"}.
        """
        contrastive = sigmoid_loss(image_features, text_features, t=logit_scale, b=-logit_bias)
        return self._terms(contrastive, image_features, text_features, output_dict)
