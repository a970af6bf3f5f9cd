"""False negatives: in-batch pairs that a contrastive loss must not push apart.

A contrastive loss scores R rows (anchors) against C columns (candidates); column `positive_R[i]`
is row i's positive and every other column is taken as a negative of row i. A column j is a
FALSE negative of row i when it is the same thing seen twice: the same text (duplicates in a
large batch), the same group or class, another positive of the same query. Masking it removes
the pair (i, j) from the negatives and nothing else; row i's own positive always stays.

    same_RC  = same_key(row_keys_R, col_keys_C)     rows and columns that share a key
    false_RC = false_negatives(same_RC, positive_R)  without each row's own positive column
    keep_RC  = negative_mask(false_RC, positive_R)   the true negatives of each row

Relations that are not one key per side are the OR (`|`) of several `same_key` masks (e.g. a
candidate equal to the anchor's text or to its positive's text). The masks are consumed by
`ranking_loss(..., false_negatives_RC=)` (MNRL / InfoNCE: masked columns leave the softmax
denominator) and `vrn_loss(..., false_negatives=)` (masked pairs leave VRN's mean).

Shape legend: R rows (anchors), C columns (candidates).
"""

from __future__ import annotations

import torch

__all__ = ["false_negatives", "negative_mask", "same_key"]


def _check_rows(positive_R: torch.Tensor, mask_RC: torch.Tensor, name: str) -> None:
    if not isinstance(mask_RC, torch.Tensor) or mask_RC.dim() != 2 or mask_RC.dtype != torch.bool:
        got = tuple(mask_RC.shape) if isinstance(mask_RC, torch.Tensor) else type(mask_RC).__name__
        raise ValueError(f"{name} must be a boolean (R, C) tensor, got {got}")
    if not isinstance(positive_R, torch.Tensor) or positive_R.shape != (mask_RC.shape[0],):
        got = tuple(positive_R.shape) if isinstance(positive_R, torch.Tensor) else positive_R
        raise ValueError(
            f"positive_R must be a ({mask_RC.shape[0]},) tensor of column indices (one per row "
            f"of {name}), got {got}"
        )


def same_key(row_keys_R: torch.Tensor, col_keys_C: torch.Tensor) -> torch.Tensor:
    """Rows and columns that share a key: the raw duplicate or group mask.

    Keys are integer ids of whatever identifies a duplicate (a text, a group, a class); rows
    and columns compare by value only, so keys from different sources must come from one
    numbering. Relations that are not one key per side are the OR (`|`) of several masks.

    Args:
        row_keys_R: (R,) integer keys of the rows (anchors).
        col_keys_C: (C,) integer keys of the columns (candidates).

    Returns:
        (R, C) boolean: True where row i's key equals column j's key.

    Examples:
        >>> import torch
        >>> from contrastlens.losses import same_key
        >>> same_key(torch.tensor([0, 1]), torch.tensor([1, 0, 0]))
        tensor([[False,  True,  True],
                [ True, False, False]])
    """
    for keys, name in ((row_keys_R, "row_keys_R"), (col_keys_C, "col_keys_C")):
        if not isinstance(keys, torch.Tensor) or keys.dim() != 1:
            raise ValueError(f"{name} must be a 1-D tensor of integer keys")
        if keys.is_floating_point() or keys.is_complex():
            raise ValueError(f"{name} must hold integer keys, got dtype {keys.dtype}")
    return row_keys_R[:, None] == col_keys_C.to(row_keys_R.device)[None, :]


def false_negatives(same_RC: torch.Tensor, positive_R: torch.Tensor) -> torch.Tensor:
    """The false negatives of each row: the same thing as the row, but not its own positive.

    `same_RC[i, j]` (an equality or group mask, e.g. from `same_key`) except at row i's own
    positive column `positive_R[i]`, which is never masked. `same_RC.sum()` minus the own
    positives is the count of masked pairs. The result is what `ranking_loss`'s
    `false_negatives_RC` and `vrn_loss`'s `false_negatives` take.

    Args:
        same_RC: (R, C) boolean, True where row i and column j are the same thing.
        positive_R: (R,) integer column of each row's positive.

    Returns:
        (R, C) boolean: True where column j is a false negative of row i.

    Examples:
        >>> import torch
        >>> from contrastlens.losses import false_negatives
        >>> same_RC = torch.tensor([[True, False, True], [True, True, False]])
        >>> false_negatives(same_RC, torch.tensor([0, 1]))
        tensor([[False, False,  True],
                [ True, False, False]])
    """
    _check_rows(positive_R, same_RC, "same_RC")
    own_RC = torch.zeros_like(same_RC)
    own_RC[torch.arange(same_RC.shape[0], device=same_RC.device), positive_R] = True
    return same_RC & ~own_RC


def negative_mask(false_RC: torch.Tensor, positive_R: torch.Tensor) -> torch.Tensor:
    """The true negatives of each row: neither its positive nor a false negative.

    Args:
        false_RC: (R, C) boolean false-negative mask (`false_negatives`).
        positive_R: (R,) integer column of each row's positive.

    Returns:
        (R, C) boolean: True where column j is a (true) negative of row i.

    Examples:
        >>> import torch
        >>> from contrastlens.losses import negative_mask
        >>> false_RC = torch.tensor([[False, False, True], [True, False, False]])
        >>> negative_mask(false_RC, torch.tensor([0, 1]))
        tensor([[False,  True, False],
                [False, False,  True]])
    """
    _check_rows(positive_R, false_RC, "false_RC")
    keep_RC = ~false_RC
    keep_RC[torch.arange(false_RC.shape[0], device=false_RC.device), positive_R] = False
    return keep_RC
