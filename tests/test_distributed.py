"""A real 2-process gloo group on the CPU: every loss with `gather=True` equals one process
holding the global batch, in value and in the gradient of every input (float64, 1e-10); for
SogCLR also in its per-sample state, which every process holds whole, over steps that revisit.

One spawn runs all checks; each process writes its largest errors to a JSON file that the test
reads. Shape legend: B local rows, G = 2B global rows, D dimension, K queue length.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from contrastlens import distributed, losses
from contrastlens.models import Queue

WORLD, B, D, K = 2, 4, 5, 6
# duplicates inside a process (3, 3) and across processes (0 on both, 7 on both)
IDS_G = torch.tensor([0, 1, 3, 3, 7, 0, 5, 7])


def _checks():
    """name -> f(z1, z2, ids, queue, gather) returning a 0-d tensor."""
    q_vrn = dict(n=50)
    objective_simclr = losses.build_objective("simclr", vrn_weight=3.0, vrn_n=50)
    objective_moco = losses.build_objective("moco", vrn_weight=3.0, vrn_delta=-0.05)
    objective_siglip = losses.build_objective("siglip", siglip_t=5.0, siglip_b=2.0)

    def with_gather(objective, gather):
        objective.gather = gather
        return objective

    return {
        "simclr_ids": lambda a, b, i, q, g: losses.simclr_loss(
            a, b, temperature=0.2, ids=i, gather=g
        ),
        "infonce": lambda a, b, i, q, g: losses.infonce_loss(a, b, temperature=0.5, gather=g),
        "dcl_ids": lambda a, b, i, q, g: losses.dcl_loss(a, b, temperature=0.2, ids=i, gather=g),
        "dhel_ids": lambda a, b, i, q, g: losses.dhel_loss(a, b, temperature=1.0, ids=i, gather=g),
        "decoupled_infonce": lambda a, b, i, q, g: losses.infonce_family(
            a, b, temperature=0.3, decoupled=True, ids=i, gather=g
        ),
        "siglip": lambda a, b, i, q, g: losses.sigmoid_loss(a, b, t=5.0, b=2.0, gather=g),
        "siglip_within_ids": lambda a, b, i, q, g: losses.sigmoid_loss(
            a, b, t=5.0, b=2.0, within_view=True, ids=i, gather=g
        ),
        "spectral_within_ids": lambda a, b, i, q, g: losses.spectral_loss(
            a, b, within_view=True, ids=i, gather=g
        ),
        "moco": lambda a, b, i, q, g: losses.moco_loss(a, b, q, temperature=0.2, gather=g),
        "vrn_ids": lambda a, b, i, q, g: losses.vrn_loss(a, b, ids=i, gather=g, **q_vrn),
        "vrn_within_queue": lambda a, b, i, q, g: losses.vrn_loss(
            a, b, delta=-0.2, within_view=True, queue=q, gather=g
        ),
        "vrn_p3_ids": lambda a, b, i, q, g: losses.vrn_loss(a, b, n=9, p=3, ids=i, gather=g),
        "objective_simclr_vrn": lambda a, b, i, q, g: with_gather(objective_simclr, g)(a, b, ids=i)[
            "loss"
        ],
        "objective_moco_vrn": lambda a, b, i, q, g: with_gather(objective_moco, g)(
            a, b, ids=i, queue=q
        )["loss"],
        "objective_moco_vrn_views": lambda a, b, i, q, g: with_gather(objective_moco, g)(
            a, b.detach(), ids=i, queue=q, vrn_views=(a, b)
        )["loss"],
        "objective_siglip": lambda a, b, i, q, g: with_gather(objective_siglip, g)(a, b)["loss"],
        "stats_neg_var": lambda a, b, i, q, g: losses.similarity_stats(a, b, ids=i, gather=g)[
            "neg_var"
        ],
    }


def _worker(rank: int, init_file: str, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD)
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    z1_GD = torch.randn(WORLD * B, D, dtype=torch.float64, generator=g)
    z2_GD = z1_GD + torch.randn(WORLD * B, D, dtype=torch.float64, generator=g)
    queue_KD = torch.randn(K, D, dtype=torch.float64, generator=g)
    rows = slice(rank * B, (rank + 1) * B)
    errors = {
        "helpers": [float(distributed.world_size() != WORLD), float(distributed.rank() != rank)]
    }

    # all_gather_with_grad itself: L = sum over processes of <gathered x, w>  => dL/dx = W * w
    x_BD = z1_GD[rows].clone().requires_grad_()
    w_GD = torch.arange(WORLD * B * D, dtype=torch.float64).reshape(WORLD * B, D)
    gathered = distributed.all_gather_with_grad(x_BD)
    (gathered * w_GD).sum().backward()
    errors["all_gather"] = [
        (gathered.detach() - z1_GD).abs().max().item(),
        (x_BD.grad - WORLD * w_GD[rows]).abs().max().item(),
        (distributed.all_gather_no_grad(IDS_G[rows]) - IDS_G).abs().max().item(),
    ]

    # Queue.enqueue(gather=True) stores every process's keys, in process order
    queue = Queue(2 * WORLD * B, D, dtype=torch.float64)
    queue.enqueue(z2_GD[rows], gather=True)
    unit_GD = z2_GD / z2_GD.norm(dim=1, keepdim=True)
    errors["queue_gather"] = [(queue.keys_KD[: WORLD * B] - unit_GD).abs().max().item()]

    errors.update(_sogclr_errors(rank, z1_GD, z2_GD, rows))

    for name, fn in _checks().items():
        a_GD, b_GD = z1_GD.clone().requires_grad_(), z2_GD.clone().requires_grad_()
        expected = fn(a_GD, b_GD, IDS_G, queue_KD, False)  # one process, global batch
        a_BD, b_BD = z1_GD[rows].clone().requires_grad_(), z2_GD[rows].clone().requires_grad_()
        value = fn(a_BD, b_BD, IDS_G[rows], queue_KD, True)  # local rows, gathered columns
        errs = [(value - expected).abs().item()]
        if expected.requires_grad:
            expected.backward()
            value.backward()
            errs += [
                (a_BD.grad - a_GD.grad[rows]).abs().max().item(),
                (b_BD.grad - b_GD.grad[rows]).abs().max().item(),
            ]
        errors[name] = errs
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps(errors))
    dist.barrier()
    dist.destroy_process_group()


def _sogclr_errors(rank, z1_GD, z2_GD, rows) -> dict:
    """SogCLR in the objective with VRN (within-view, and cross-view only): three steps, all
    new, then some new among revisits, then revisits; value, gradients and the WHOLE state
    (on every process) against one process holding the global batch."""
    n = 3 * WORLD * B
    ids_steps = [
        torch.arange(WORLD * B),
        torch.arange(2, WORLD * B + 2).flip(0),
        torch.tensor([9, 0, 17, 3, 5, 12, 1, 8]),
    ]
    errors = {}
    for within in (True, False):
        kw = dict(temperature=0.3, within_view=within, sogclr_n=n, sogclr_gamma=0.7)
        one = losses.build_objective("sogclr", vrn_weight=2.0, vrn_n=n, **kw).double()
        two = losses.build_objective("sogclr", vrn_weight=2.0, vrn_n=n, gather=True, **kw)
        two = two.double()
        errs = []
        for step, ids_G in enumerate(ids_steps):
            a_GD = (z1_GD + step).requires_grad_()
            b_GD = (z2_GD - step).requires_grad_()
            expected = one(a_GD, b_GD, ids=ids_G)["loss"]
            a_BD = a_GD.detach()[rows].clone().requires_grad_()
            b_BD = b_GD.detach()[rows].clone().requires_grad_()
            value = two(a_BD, b_BD, ids=ids_G[rows])["loss"]
            expected.backward()
            value.backward()
            state_one, state_two = one.sogclr.log_u_N, two.sogclr.log_u_N
            errs += [
                (value - expected).abs().item(),
                (a_BD.grad - a_GD.grad[rows]).abs().max().item(),
                (b_BD.grad - b_GD.grad[rows]).abs().max().item(),
                float(not torch.equal(state_one.isinf(), state_two.isinf())),
                (state_one - state_two).nan_to_num(nan=0.0).abs().max().item(),
            ]
        errors[f"sogclr_within_{within}"] = errs
    return errors


def test_helpers_are_identities_on_one_process():
    assert not distributed.is_distributed()
    assert distributed.world_size() == 1 and distributed.rank() == 0
    x = torch.randn(3, 2, requires_grad=True)
    assert distributed.all_gather_with_grad(x) is x
    assert distributed.sum_over_processes(x) is x
    assert torch.equal(distributed.all_gather_no_grad(x), x)
    assert torch.equal(distributed.all_reduce_sum(x), x)
    assert torch.equal(distributed.all_reduce_mean(x), x)
    # gather=True without a process group is the plain loss
    z1, z2 = torch.randn(5, 3), torch.randn(5, 3)
    assert torch.equal(
        losses.simclr_loss(z1, z2, temperature=0.2, gather=True),
        losses.simclr_loss(z1, z2, temperature=0.2),
    )


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
def test_two_gloo_processes_equal_one_process_over_the_global_batch():
    with tempfile.TemporaryDirectory() as tmp:
        init_file = os.path.join(tmp, "init")
        mp.spawn(_worker, args=(init_file, tmp), nprocs=WORLD, join=True)
        results = [json.loads(Path(tmp, f"rank{r}.json").read_text()) for r in range(WORLD)]
    names = set(_checks()) | {"helpers", "all_gather", "queue_gather"}
    names |= {"sogclr_within_True", "sogclr_within_False"}
    for rank, errors in enumerate(results):
        assert set(errors) == names
        for name, errs in errors.items():
            assert max(errs) < 1e-10, f"rank {rank} {name}: errors {errs}"
