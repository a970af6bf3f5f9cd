"""contrastlens.integrations.open_clip against the real open_clip: the contrastive term equals
open_clip's ClipLoss and SigLipLoss (value and gradients, scale and bias included), and a real step
of a tiny open_clip CLIP / SigLIP model with the trainer's `loss(**model_out, output_dict=True)`.

Shape legend: B image-text pairs, D embedding dimension.
"""

from __future__ import annotations

import math

import pytest
import torch

pytest.importorskip("open_clip")

from open_clip.loss import ClipLoss, SigLipLoss  # noqa: E402
from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg  # noqa: E402

from contrastlens.integrations.open_clip import ClipVRNLoss, SigLipVRNLoss  # noqa: E402
from contrastlens.losses import vrn_loss  # noqa: E402


def _features(B=6, D=8, seed=0):
    """Unnormalized (B, D) image and text features; _value_and_grads normalizes them as an
    open_clip model does (encode_image(normalize=True))."""
    g = torch.Generator().manual_seed(seed)
    image = torch.randn(B, D, generator=g, dtype=torch.float64)
    return image, image + 0.8 * torch.randn(B, D, generator=g, dtype=torch.float64)


def _value_and_grads(loss_fn, image, text, *scale_bias):
    """The loss of the normalized features, and its gradient with respect to the features BEFORE
    the model's normalization (what reaches the parameters), the scale and the bias."""
    leaves = [x.clone().requires_grad_() for x in (image, text, *scale_bias)]
    unit = [torch.nn.functional.normalize(x, dim=1) for x in leaves[:2]]
    value = loss_fn(*unit, *leaves[2:])
    return value.detach(), torch.autograd.grad(value, leaves)


@pytest.mark.parametrize("scale", [1.0, 14.3, 100.0])
def test_clip_term_equals_open_clip_clip_loss(scale):
    image, text = _features(seed=int(scale))
    logit_scale = torch.tensor(scale, dtype=torch.float64)
    ours = ClipVRNLoss(n=1000)
    got, got_grads = _value_and_grads(
        lambda i, t, s: ours(i, t, s, output_dict=True)["contrastive_loss"],
        image,
        text,
        logit_scale,
    )
    want, want_grads = _value_and_grads(ClipLoss(), image, text, logit_scale)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    for g, w in zip(got_grads, want_grads):
        torch.testing.assert_close(g, w, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("scale, bias", [(10.0, -10.0), (3.0, 2.0), (50.0, -5.0)])
def test_siglip_term_equals_open_clip_siglip_loss(scale, bias):
    image, text = _features(seed=int(scale))
    logit_scale = torch.tensor(scale, dtype=torch.float64)
    logit_bias = torch.tensor(bias, dtype=torch.float64)
    ours = SigLipVRNLoss(n=1000)
    got, got_grads = _value_and_grads(
        lambda *a: ours(*a, output_dict=True)["contrastive_loss"],
        image,
        text,
        logit_scale,
        logit_bias,
    )
    want, want_grads = _value_and_grads(SigLipLoss(), image, text, logit_scale, logit_bias)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    for g, w in zip(got_grads, want_grads):  # features, scale and bias
        torch.testing.assert_close(g, w, rtol=1e-7, atol=1e-9)


def test_terms_and_sum():
    image, text = (torch.nn.functional.normalize(x, dim=1) for x in _features())
    scale, bias = torch.tensor(10.0), torch.tensor(-10.0)
    clip = ClipVRNLoss(n=1000, weight=3.0)
    terms = clip(image, text, scale, output_dict=True)
    assert list(terms) == ["contrastive_loss", "vrn_loss"]
    torch.testing.assert_close(terms["vrn_loss"], 3.0 * vrn_loss(image, text, n=1000))
    torch.testing.assert_close(clip(image, text, scale), sum(terms.values()))
    # ClipLoss's optional logit_bias shifts every logit: no change
    torch.testing.assert_close(clip(image, text, scale, bias), clip(image, text, scale))
    siglip = SigLipVRNLoss(delta=0.0, weight=2.0)
    terms = siglip(image, text, scale, bias, output_dict=True)
    torch.testing.assert_close(terms["vrn_loss"], 2.0 * vrn_loss(image, text, delta=0.0))
    torch.testing.assert_close(siglip(image, text, scale, bias), sum(terms.values()))


def test_distributed_options_are_refused():
    with pytest.raises(ValueError, match="world_size=2"):
        ClipVRNLoss(n=10, world_size=2, rank=1)
    with pytest.raises(ValueError, match="use_horovod=True"):
        ClipVRNLoss(n=10, use_horovod=True)
    with pytest.raises(ValueError, match="world_size=4"):
        SigLipVRNLoss(n=10, world_size=4, dist_impl="bidir")
    with pytest.raises(ValueError, match="n, delta"):
        SigLipVRNLoss()


def _tiny_clip(siglip: bool) -> CLIP:
    kw = dict(init_logit_scale=math.log(10), init_logit_bias=-10.0) if siglip else {}
    return CLIP(
        embed_dim=16,
        vision_cfg=CLIPVisionCfg(layers=1, width=32, head_width=16, patch_size=8, image_size=16),
        text_cfg=CLIPTextCfg(context_length=8, vocab_size=64, width=32, heads=2, layers=1),
        output_dict=True,
        **kw,
    )


@pytest.mark.parametrize("siglip", [False, True])
def test_a_training_step_as_open_clip_train_does(siglip):
    """The README snippet: model_out = model(images, texts); losses = loss(**model_out,
    output_dict=True); total_loss = sum(losses.values()) (open_clip_train.train_one_epoch)."""
    torch.manual_seed(0)
    model = _tiny_clip(siglip)
    loss = SigLipVRNLoss(n=10_000, weight=1.0) if siglip else ClipVRNLoss(n=10_000, weight=1.0)
    reference = SigLipLoss() if siglip else ClipLoss()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    images, texts = torch.randn(4, 3, 16, 16), torch.randint(1, 64, (4, 8))

    model_out = model(images, texts)
    assert ("logit_bias" in model_out) == siglip
    losses = loss(**model_out, output_dict=True)
    assert set(losses) == {"contrastive_loss", "vrn_loss"}
    torch.testing.assert_close(
        losses["contrastive_loss"], reference(**model_out, output_dict=True)["contrastive_loss"]
    )
    total_loss = sum(losses.values())
    optimizer.zero_grad()
    total_loss.backward()
    assert model.logit_scale.grad is not None  # the temperature is learned through our loss
    if siglip:
        assert model.logit_bias.grad is not None
    before = model.logit_scale.detach().clone()
    optimizer.step()
    assert not torch.equal(model.logit_scale.detach(), before)
