"""One batch, prepared once and shared by every loss term: `view_pairs(z1, z2) -> ViewPairs`.

This is THE place where embeddings are normalized: `normalize` L2-normalizes rows (the paper's
encoder maps to the unit sphere, so every similarity below is a cosine) and computes in float32
for float16/bfloat16 inputs (float64 stays float64). Every public loss goes through it, so a loss
and the VRN term of one objective share the same normalized, cast, all-gathered tensors, the same
instance-id mask and the same excluded-pair list: nothing is computed twice. The (B, G)
similarity blocks themselves are made by the terms that need them (the loss; VRN needs none for
p = 2, see vrn.py).

Shape legend:
    B   local rows (instances on this process)         G   global rows (B * world size)
    D   embedding dimension                             K   queue length (MoCo)
    E   excluded (same-instance) pairs among the B x G local-row/global-column pairs
    u = view 1 (z1, or MoCo's q), v = view 2 (z2, or MoCo's k)
"""

# ruff: noqa: N815  (the dataclass fields carry shape suffixes, the house style)
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from contrastlens import distributed
from contrastlens.checks import check_global_rows, check_ids, check_queue, check_views

__all__ = ["ViewPairs", "normalize", "view_pairs"]


def normalize(z_BD: torch.Tensor) -> torch.Tensor:
    """Rows onto the unit sphere, u = z / max(||z||, 1e-12): THE normalization of the losses.

    Args:
        z_BD: (B, D) embeddings, any scale.

    Returns:
        (B, D) unit rows (a zero row stays zero); float16/bfloat16 come back as float32,
        float64 stays float64.

    Examples:
        >>> import torch
        >>> from contrastlens.losses import normalize
        >>> normalize(torch.tensor([[3.0, 4.0], [0.0, 0.0]], dtype=torch.float16))
        tensor([[0.6000, 0.8000],
                [0.0000, 0.0000]])
    """
    if z_BD.dtype in (torch.float16, torch.bfloat16):
        z_BD = z_BD.float()
    return F.normalize(z_BD, dim=1, eps=1e-12)


@dataclass(frozen=True)
class ViewPairs:
    """A prepared batch (`view_pairs`). Row i of u_BD/v_BD is global row `offset + i` of u_GD/v_GD.

    `same_BG[i, j]` is True when local row i and global row j share an instance id (then the
    pair (i, j) is not a negative, in any view combination); it is None when no ids were given,
    in which case only the pairs (i, offset + i) are the same instance.

    Attributes:
        u_BD: (B, D) unit rows of view 1 on this process.
        v_BD: (B, D) unit rows of view 2 on this process.
        u_GD: (G, D) view 1 of the global batch (u_BD on one process; gathered with gradient).
        v_GD: (G, D) view 2 of the global batch.
        offset: the global row of local row 0.
        same_BG: (B, G) boolean same-instance mask, or None without ids.
        queue_KD: (K, D) normalized, detached MoCo keys, or None.
        gathered: whether the columns come from several processes.
    """

    u_BD: torch.Tensor
    v_BD: torch.Tensor
    u_GD: torch.Tensor
    v_GD: torch.Tensor
    offset: int
    same_BG: torch.Tensor | None
    queue_KD: torch.Tensor | None
    gathered: bool

    @property
    def B(self) -> int:
        return self.u_BD.shape[0]

    @property
    def G(self) -> int:
        return self.u_GD.shape[0]

    def excluded(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(rows_E, cols_E): the local-row/global-column pairs that are the same instance."""
        if self.same_BG is None:
            rows_E = torch.arange(self.B, device=self.u_BD.device)
            return rows_E, rows_E + self.offset
        rows_E, cols_E = self.same_BG.nonzero(as_tuple=True)
        return rows_E, cols_E

    def excluded_mask(self) -> torch.Tensor:
        """Boolean (B, G) mask of the same-instance pairs."""
        if self.same_BG is not None:
            return self.same_BG
        mask_BG = torch.zeros(self.B, self.G, dtype=torch.bool, device=self.u_BD.device)
        rows_E, cols_E = self.excluded()
        mask_BG[rows_E, cols_E] = True
        return mask_BG

    def num_excluded(self) -> int:
        return self.B if self.same_BG is None else int(self.same_BG.sum())

    def global_sum(self, partial: torch.Tensor) -> torch.Tensor:
        """This process's partial sum of a loss -> the global loss (identity unless gathered)."""
        return distributed.sum_over_processes(partial) if self.gathered else partial

    def global_count(self, local: int) -> torch.Tensor:
        """A count summed over processes, as a float tensor (the denominator of a pair mean)."""
        count = torch.tensor(float(local), dtype=self.u_BD.dtype, device=self.u_BD.device)
        return distributed.all_reduce_sum(count) if self.gathered else count


def view_pairs(
    z1: torch.Tensor,
    z2: torch.Tensor,
    *,
    ids: torch.Tensor | None = None,
    gather: bool = False,
    queue: torch.Tensor | None = None,
    names: tuple[str, str] = ("z1", "z2"),
    need_negatives: bool = True,
    check_values: bool = True,
) -> ViewPairs:
    """Validate, normalize, cast and (with `gather`) all-gather one two-view batch.

    Every loss of `contrastlens.losses` starts here, so a loss and the VRN term of one
    objective share the same prepared tensors (`build_objective` prepares the batch once).

    Args:
        z1: (B, D) view 1 of B instances.
        z2: (B, D) view 2, of z1's dtype; row i of z1 and of z2 are a positive pair.
        ids: (B,) instance ids; rows with equal ids are never negatives of each other
            (duplicates in a batch, as in the authors' code).
        gather: when torch.distributed is initialized, gather both views (with gradient) and
            the ids from all processes; local rows are then scored against the G global
            columns.
        queue: (K, D) MoCo keys, normalized and detached.
        names: the two views' names in error messages.
        need_negatives: require at least two instances in the global batch.
        check_values: also the checks that read tensor values (finite embeddings, finite
            floating ids: a NaN id would make its row its own negative, every row has a
            negative id), each a device-to-host synchronization; the training loop turns them
            off and checks the loss.

    Returns:
        The prepared batch: unit rows u_BD, v_BD (local) and u_GD, v_GD (global), the id mask
        and the queue.

    Examples:
        >>> import torch
        >>> from contrastlens.losses import view_pairs
        >>> P = view_pairs(torch.randn(4, 8), torch.randn(4, 8), ids=torch.tensor([0, 0, 1, 2]))
        >>> P.B, P.G, P.num_excluded()  # rows 0 and 1 share an id: 4 + 2 excluded pairs
        (4, 4, 6)
    """
    check_views(z1, z2, names, finite=check_values)
    rows = z1.shape[0]
    if ids is not None:
        check_ids(ids, rows, finite=check_values)
    if queue is not None:
        check_queue(queue, z1.shape[1])
    gathered = bool(gather) and distributed.world_size() > 1
    processes = distributed.world_size() if gathered else 1
    if need_negatives:
        check_global_rows(rows * processes, names)

    u_BD, v_BD = normalize(z1), normalize(z2)
    if gathered:
        u_GD = distributed.all_gather_with_grad(u_BD)
        v_GD = distributed.all_gather_with_grad(v_BD)
        offset = distributed.rank() * rows
    else:
        u_GD, v_GD, offset = u_BD, v_BD, 0

    same_BG = None
    if ids is not None:
        ids_B = ids.to(u_BD.device)
        ids_G = distributed.all_gather_no_grad(ids_B) if gathered else ids_B
        same_BG = ids_B[:, None] == ids_G[None, :]
        if check_values and need_negatives and not bool((~same_BG).any(dim=1).all()):
            raise ValueError("ids: some row shares its id with every row, so it has no negatives")

    queue_KD = None
    if queue is not None:
        queue_KD = normalize(queue.detach().to(u_BD.device)).to(u_BD.dtype)
    return ViewPairs(u_BD, v_BD, u_GD, v_GD, offset, same_BG, queue_KD, gathered)
