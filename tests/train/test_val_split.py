"""data.val_size: a validation split held out from training, the same for every seed."""

import pytest
import torch

from contrastlens.data import sources
from contrastlens.data.splits import load_split, probe_split
from contrastlens.errors import DataError
from contrastlens.experiments import presets
from contrastlens.train.config import apply_overrides

try:
    sources.locate("fashion-mnist")
    HAVE = True
except DataError:
    HAVE = False


@pytest.mark.skipif(not HAVE, reason="Fashion-MNIST is not installed")
def test_val_split_is_disjoint_fixed_and_used_by_probes():
    cfg = apply_overrides(presets.get("fmnist-quick"), ["data.val_size=1000", "data.subset=0"])
    (xtr, ytr), (xva, yva) = load_split(cfg.data, "train"), load_split(cfg.data, "val")
    assert xtr.shape[0] == 59000 and xva.shape[0] == 1000
    # disjoint: no validation image equals a training image at the same position of the
    # original order, and together they are the whole training set (counts per class add up)
    full = load_split(apply_overrides(cfg, ["data.val_size=0"]).data, "train")
    assert torch.equal(torch.bincount(ytr) + torch.bincount(yva), torch.bincount(full[1]))
    flat = {bytes(x.numpy().tobytes()) for x in xva[:50]}
    assert not any(bytes(x.numpy().tobytes()) in flat for x in xtr[::59])
    seeded = apply_overrides(cfg, ["train.seed=3"])
    assert torch.equal(load_split(seeded.data, "val")[1], yva)  # same split for every seed
    assert probe_split(cfg.data) == "val"
    assert probe_split(apply_overrides(cfg, ["data.val_size=0"]).data) == "test"
    with pytest.raises(ValueError, match="val_size"):
        load_split(apply_overrides(cfg, ["data.val_size=0"]).data, "val")


def test_final_split_test_scores_test_once_while_curves_score_validation(monkeypatch):
    from contrastlens.train import loop

    cfg = apply_overrides(presets.get("smoke"), ["data.val_size=8", "eval.final_split=test"])
    asked = []
    monkeypatch.setattr(loop, "load_split", lambda data, name: asked.append(name) or (name,))
    probes = loop.ProbeData(cfg, ("train",))
    assert probes.splits()[1] == ("val",)  # curve points: validation
    assert probes.splits(final=True)[1] == ("test",)  # the end of the run: test
    probes.splits()
    assert asked == ["val", "test"]  # each loaded once
    auto = apply_overrides(cfg, ["eval.final_split=auto"])
    assert loop.ProbeData(auto, ("train",)).splits(final=True)[1] == ("val",)
    assert probe_split(cfg.data, "test") == "test" and probe_split(cfg.data) == "val"
    from contrastlens.train.config import validate

    with pytest.raises(Exception, match="eval.final_split='val'; choose one of auto, test"):
        validate(apply_overrides(cfg, ["eval.final_split=val"]))


@pytest.mark.skipif(not HAVE, reason="Fashion-MNIST is not installed")
def test_batch_ids_index_the_training_split_after_val_size_and_subset():
    """SogCLR's state is indexed by the batches' ids: with a validation split held out (and a
    subset kept) they must be positions in the training split as trained, [0, n_train), each
    once per epoch; the trainer sizes the state with that n_train."""
    from contrastlens.data.splits import two_view_batches

    cfg = apply_overrides(presets.get("fmnist-quick"), ["data.val_size=1000", "data.subset=500"])
    batches, n_train, _ = two_view_batches(cfg.data, batch_size=100, seed=0, device="cpu")
    assert n_train == 500
    ids = torch.cat([ids_B for _, _, ids_B in batches.epoch(0)])
    assert sorted(ids.tolist()) == list(range(n_train))
