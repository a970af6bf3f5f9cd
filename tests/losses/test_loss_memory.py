"""Memory budget of the fused losses: what autograd saves for backward, counted with
saved-tensor hooks (open_clip's way), in units of one float32 (2B x 2B) similarity matrix.

Measured at 2B = 1024: SimCLR 1.50, DCL 1.50, DHEL 0.88, InfoNCE 0.88, VRN 0.28 (its Gram
matrices are D x D), SigLIP 0.57, spectral 0.56, SogCLR 1.38 (one process: one
(2B, 2B) softmax for both views' anchors). (A plain masked-logits SimCLR with
cross-entropy also saves 1.5: its extra peak memory is in the forward's temporaries, which
`benchmarks/losses.py` measures; this test guards what stays alive until backward.)
"""

import pytest
import torch

from contrastlens import losses

pytestmark = pytest.mark.usefixtures("one_thread")
B, D = 512, 128
MATRIX = (2 * B) ** 2 * 4  # bytes of one float32 (2B, 2B) matrix


def _saved_bytes(fn, *args, **kw) -> int:
    storages = {}

    def pack(t):
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn(*args, **kw)
    return sum(storages.values())


@pytest.mark.parametrize(
    "fn, kw, budget",
    [
        (losses.simclr_loss, {"temperature": 0.2}, 1.6),
        (losses.dcl_loss, {"temperature": 0.2}, 1.6),
        (losses.dhel_loss, {"temperature": 0.2}, 1.0),
        (losses.infonce_loss, {"temperature": 0.2}, 1.0),
        (losses.vrn_loss, {"n": 1000}, 0.35),
        (losses.sigmoid_loss, {"t": 5.0, "b": 3.0}, 0.7),
        (losses.spectral_loss, {}, 0.7),
        (lambda z1, z2: losses.GlobalContrastiveLoss(10_000)(z1, z2, torch.arange(B)), {}, 1.45),
    ],
)
def test_saved_tensors_stay_within_budget(fn, kw, budget):
    g = torch.Generator().manual_seed(0)
    z1 = torch.randn(B, D, generator=g, requires_grad=True)
    z2 = torch.randn(B, D, generator=g, requires_grad=True)
    assert _saved_bytes(fn, z1, z2, **kw) <= budget * MATRIX


def test_the_counter_counts_what_backward_keeps():
    # exp saves its (2B, 2B) output for backward: the counter must see exactly that matrix
    z = torch.randn(2 * B, D, requires_grad=True)
    saved = _saved_bytes(lambda x: (x @ x.T).exp().sum(), z)
    assert MATRIX <= saved <= MATRIX + 2 * z.numel() * 4
