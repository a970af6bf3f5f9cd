"""False-negative masks (losses/masking.py), the masked ranking loss (losses/ranking.py) and VRN's
`false_negatives=` against the slow loops of tests/reference.py, in value and gradient.

Legend: R rows (anchors), C columns (candidates), B batch rows, D dimension.
"""

import doctest
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import reference as ref  # noqa: E402

from contrastlens.losses import masking, ranking, vrn_loss  # noqa: E402
from contrastlens.losses.masking import false_negatives, negative_mask, same_key  # noqa: E402
from contrastlens.losses.ranking import ranking_loss  # noqa: E402


def test_docstring_examples_run():
    for module in (masking, ranking):
        failed, tried = doctest.testmod(module, extraglobs={"torch": torch})
        assert tried > 0 and failed == 0, module.__name__


def _mask(R, C, seed, p=0.3):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(R, C, generator=g) < p


def test_masks_on_a_hand_made_batch():
    # texts of 4 positives: rows 0 and 2 share one, row 3 is unique, row 1 too
    keys = torch.tensor([7, 1, 7, 3])
    same = same_key(keys, keys)
    positive = torch.arange(4)
    fn = false_negatives(same, positive)
    assert fn.nonzero().tolist() == [[0, 2], [2, 0]]
    keep = negative_mask(fn, positive)
    assert keep.sum(1).tolist() == [2, 3, 2, 3]
    assert not keep.diagonal().any() and not (keep & fn).any()
    # the positive column is never a false negative, even when it shares the key (itself)
    assert same.diagonal().all() and not fn.diagonal().any()
    # offset positives (a process's rows among the gathered columns)
    fn2 = false_negatives(same_key(keys[2:], keys), torch.tensor([2, 3]))
    assert fn2.tolist() == [[True, False, False, False], [False, False, False, False]]


def test_mask_errors_name_the_problem():
    with pytest.raises(ValueError, match="integer keys"):
        same_key(torch.tensor([0.5]), torch.tensor([1]))
    with pytest.raises(ValueError, match="1-D"):
        same_key(torch.zeros(2, 2, dtype=torch.long), torch.tensor([1]))
    with pytest.raises(ValueError, match="boolean"):
        false_negatives(torch.zeros(2, 3), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"positive_R must be a \(2,\)"):
        negative_mask(torch.zeros(2, 3, dtype=torch.bool), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="one mask entry per score"):
        ranking_loss(torch.zeros(2, 3), torch.tensor([0, 1]), false_negatives_RC=_mask(2, 2, 0))


@pytest.mark.parametrize("R,C,scale", [(5, 5, 20.0), (7, 14, 1.0), (3, 9, 0.3)])
def test_ranking_loss_equals_the_loop_in_value_and_gradient(R, C, scale):
    g = torch.Generator().manual_seed(R * C)
    a = torch.randn(R, 4, generator=g, dtype=torch.float64, requires_grad=True)
    d = torch.randn(C, 4, generator=g, dtype=torch.float64, requires_grad=True)
    positive = torch.randperm(C, generator=g)[:R]
    for mask in (None, _mask(R, C, seed=R)):
        scores = scale * F.normalize(a) @ F.normalize(d).T
        got = ranking_loss(scores, positive, false_negatives_RC=mask)
        want = ref.ranking(scale * ref.unit(a) @ ref.unit(d).T, positive, mask)
        g_got = torch.autograd.grad(got, (a, d))
        g_want = torch.autograd.grad(want, (a, d))
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
        for x, y in zip(g_got, g_want):
            torch.testing.assert_close(x, y, rtol=1e-10, atol=1e-12)
    # unmasked: sentence-transformers' formula, cross entropy against the positive column
    s = torch.randn(R, C, generator=g, dtype=torch.float64)
    torch.testing.assert_close(ranking_loss(s, positive), F.cross_entropy(s, positive))
    none = torch.zeros(R, C, dtype=torch.bool)
    assert ranking_loss(s, positive, false_negatives_RC=none) == ranking_loss(s, positive)


def test_masked_scores_get_exactly_zero_gradient_and_the_positive_stays():
    g = torch.Generator().manual_seed(1)
    s = torch.randn(4, 6, generator=g, requires_grad=True)
    positive = torch.tensor([0, 1, 2, 3])
    mask = torch.zeros(4, 6, dtype=torch.bool)
    mask[0, 2] = mask[1, 0] = mask[3, 3] = True  # (3, 3) is row 3's positive: kept
    (grad,) = torch.autograd.grad(ranking_loss(s, positive, false_negatives_RC=mask), s)
    assert grad[0, 2] == 0 and grad[1, 0] == 0
    assert (grad[~mask] != 0).all() and grad[3, 3] != 0
    # a row whose only candidate is its positive: loss 0
    only = torch.ones(1, 3, dtype=torch.bool)
    assert ranking_loss(torch.randn(1, 3), torch.tensor([1]), false_negatives_RC=only) == 0


@pytest.mark.parametrize("B,within", [(5, False), (7, True), (2, False)])
def test_vrn_false_negatives_equal_the_loop(B, within):
    g = torch.Generator().manual_seed(B)
    z1 = torch.randn(B, 6, generator=g, dtype=torch.float64, requires_grad=True)
    z2 = torch.randn(B, 6, generator=g, dtype=torch.float64, requires_grad=True)
    mask = _mask(B, B, seed=B, p=0.4)
    for p in (2, 3):
        got = vrn_loss(z1, z2, n=100, p=p, within_view=within, false_negatives=mask)
        want = ref.vrn(z1, z2, n=100, p=p, within_view=within, false_negatives=mask)
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
        for x, y in zip(torch.autograd.grad(got, (z1, z2)), torch.autograd.grad(want, (z1, z2))):
            torch.testing.assert_close(x, y, rtol=1e-8, atol=1e-12)
    # no masked pair: exactly the plain loss; an id relation as a mask: the ids result
    none = torch.zeros(B, B, dtype=torch.bool)
    assert vrn_loss(z1, z2, n=100, false_negatives=none) == vrn_loss(z1, z2, n=100)
    ids = torch.arange(B) % 2
    torch.testing.assert_close(
        vrn_loss(z1, z2, n=100, false_negatives=ids[:, None] == ids[None, :]),
        vrn_loss(z1, z2, n=100, ids=ids) if B > 2 else vrn_loss(z1, z2, n=100),
    )


def test_vrn_with_every_pair_masked_is_zero_and_errors():
    z1 = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    z2 = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    every = torch.ones(3, 3, dtype=torch.bool)
    loss = vrn_loss(z1, z2, n=10, false_negatives=every)
    assert loss == 0
    loss.backward()
    assert (z1.grad == 0).all() and (z2.grad == 0).all()
    with pytest.raises(ValueError, match=r"shape \(3, 3\)"):
        vrn_loss(z1, z2, n=10, false_negatives=torch.zeros(3, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="boolean"):
        vrn_loss(z1, z2, n=10, false_negatives=torch.zeros(3, 3))
