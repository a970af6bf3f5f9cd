import torch

from contrastlens.data.augment import recipe
from contrastlens.data.views import TwoViewBatches, synthetic_images


def _batches(rank=0, world=1, aug="none"):
    images, _ = synthetic_images(40, 1, 8)
    return TwoViewBatches(
        images,
        batch_size=8,
        augment=recipe(aug),
        mean=(0.5,),
        std=(0.25,),
        seed=3,
        rank=rank,
        world_size=world,
    )


def test_epoch_covers_dataset_once_and_ids_match_images():
    b = _batches()
    assert len(b) == 5
    ids = torch.cat([i for _, _, i in b.epoch(0)])
    assert sorted(ids.tolist()) == list(range(40))
    x1, x2, i = next(iter(b.epoch(1)))
    expect = (b.images_NCHW[i].float() / 255 - 0.5) / 0.25
    assert torch.allclose(x1, expect) and torch.allclose(x2, expect)
    assert not torch.equal(next(iter(b.epoch(0)))[2], i)  # a new order each epoch


def test_shards_union_is_the_global_batch():
    one = list(_batches().epoch(2))
    r0, r1 = list(_batches(0, 2).epoch(2)), list(_batches(1, 2).epoch(2))
    for (_, _, i), (_, _, a), (_, _, b) in zip(one, r0, r1):
        assert torch.equal(i, torch.cat([a, b]))


def test_resume_mid_epoch_replays_the_same_views():
    b = _batches(aug="grayscale")
    full = list(b.epoch(0))
    tail = list(b.epoch(0, start_step=3))
    for (a1, a2, ai), (b1, b2, bi) in zip(full[3:], tail):
        assert torch.equal(a1, b1) and torch.equal(a2, b2) and torch.equal(ai, bi)
