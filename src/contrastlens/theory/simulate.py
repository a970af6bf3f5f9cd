"""The free-embedding simulator: the paper's theorems (section 5) checked by optimization.

Shape legend:
    N  instances (the dataset size n)
    M  instances in one mini-batch (m)
    D  embedding dimension

Two free matrices W_u, W_v (N, D), float64 and seeded, are the "encoder": u_i = W_u[i]/||W_u[i]||
and v_i likewise (the losses of `contrastlens.losses` normalize inside, so the free vectors are
the unnormalized rows). Each step takes one batch, evaluates a real loss from
`contrastlens.losses` (plus lambda * VRN, Def 5.7, when asked) and takes an Adam or GD step:

    partition="full"       every step sees all n instances (the full-batch theorems 5.1-5.3)
    partition="fixed"      b = n/m fixed batches visited in turn (Thm 5.5; m must divide n)
    partition="reshuffle"  a new random partition every epoch (the last batch may be short)

The learning rate follows a cosine decay to `lr * final_lr_frac` so that the run settles on the
optimum instead of hovering around it (Adam with a constant step keeps a jitter of size ~lr).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from contrastlens.similarity import pair_stats

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

# name -> (function in contrastlens.losses, default keyword arguments)
LOSSES: dict[str, tuple[str, dict]] = {
    "infonce": ("infonce_loss", {"temperature": 0.2}),
    "simclr": ("simclr_loss", {"temperature": 0.2}),
    "dcl": ("dcl_loss", {"temperature": 0.2}),
    "dhel": ("dhel_loss", {"temperature": 0.2}),
    "siglip": ("sigmoid_loss", {"t": 5.0, "b": 3.0}),
    "spectral": ("spectral_loss", {}),
}
PARTITIONS = ("full", "fixed", "reshuffle")


def resolve_loss(loss: str | LossFn, loss_kwargs: dict | None = None) -> tuple[str, LossFn]:
    """A loss name of `LOSSES` (with its defaults, overridden by loss_kwargs) or a callable
    (z1_MD, z2_MD) -> 0-d tensor. Returns (name, function of two views)."""
    if callable(loss):
        kw = dict(loss_kwargs or {})
        return getattr(loss, "__name__", "custom"), lambda z1, z2: loss(z1, z2, **kw)
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r} for simulate: choose one of {', '.join(LOSSES)}")
    import contrastlens.losses as losses

    fn_name, defaults = LOSSES[loss]
    fn = getattr(losses, fn_name)
    kw = {**defaults, **(loss_kwargs or {})}
    return loss, lambda z1, z2: fn(z1, z2, **kw)


@dataclass
class SimulationResult:
    """Output of `simulate`.

    Attributes:
        u: (N, D) final view-1 embeddings, normalized, float64.
        v: (N, D) final view-2 embeddings, normalized, float64.
        trajectory: one dict per logged step: step, epoch, loss (last batch), lr, and the exact
            statistics over all n instances (pos_mean, pos_var, neg_mean, neg_var,
            within_mean, within_var, excess; negatives are the n(n-1) cross-view pairs).
        final: the same statistics at the end.
        config: the settings of the run (loss, its arguments, n, d, batch size, ...).
        warnings: the theorem assumptions not met.
    """

    u: torch.Tensor  # (N, D)
    v: torch.Tensor  # (N, D)
    trajectory: list[dict]
    final: dict
    config: dict
    warnings: list[str] = field(default_factory=list)


def _full_stats(u_ND: torch.Tensor, v_ND: torch.Tensor) -> dict:
    s = pair_stats(u_ND, v_ND, n=u_ND.shape[0], quantile_levels=(0.05, 0.5, 0.95))
    return {
        "pos_mean": s.pos_mean,
        "pos_var": s.pos_var,
        "pos_min": float((u_ND * v_ND).sum(1).min()),
        "neg_mean": s.neg_mean,
        "neg_var": s.neg_var,
        "neg_q05": s.neg_quantiles[0],
        "neg_q95": s.neg_quantiles[2],
        "within_mean": s.within_mean,
        "within_var": s.within_var,
        "excess": s.excess,
    }


def check_setup(
    n: int, d: int, batch_size: int | None, partition: str, loss_name: str = ""
) -> list[str]:
    """Validates sizes (ValueError for impossible ones) and returns warnings for the theorem
    assumptions that do not hold (d >= n-1 for Thm 5.1, d >= m-1 for Thm 5.5, d >= n for the
    SigLIP optimum of Thm 5.3)."""
    if int(n) != n or n < 2:
        raise ValueError(f"n (number of instances) must be an integer >= 2, got n = {n}")
    if int(d) != d or d < 1:
        raise ValueError(f"d (embedding dimension) must be an integer >= 1, got d = {d}")
    if partition not in PARTITIONS:
        raise ValueError(f"partition must be one of {', '.join(PARTITIONS)}, got {partition!r}")
    m = n if batch_size is None else batch_size
    if int(m) != m or m < 2:
        raise ValueError(f"batch size m must be an integer >= 2, got m = {m}")
    if m > n:
        raise ValueError(f"batch size m = {m} is larger than the dataset size n = {n}")
    if partition == "fixed" and n % m:
        raise ValueError(
            f"a fixed partition needs the batch size to divide n: m = {m}, n = {n} "
            f"(choose a divisor of n; simulate() also offers partition='reshuffle')"
        )
    notes = []
    if m == n or partition == "full":
        if d < n - 1:
            notes.append(
                f"WARNING: d = {d} < n-1 = {n - 1}: Thm 5.1 (simplex ETF optimum) assumes "
                f"d >= n-1; the full-batch optimum is not predicted here"
            )
        elif loss_name == "siglip" and d < n:
            notes.append(
                f"WARNING: d = {d} < n = {n}: Thm 5.3 (excessive separation) assumes d >= n"
            )
    elif d < m - 1:
        notes.append(
            f"WARNING: d = {d} < m-1 = {m - 1}: Thm 5.5 (fixed mini-batches) assumes d >= m-1; "
            f"its variance bounds need not hold"
        )
    return notes


def simulate(
    loss: str | LossFn = "infonce",
    n: int = 8,
    d: int = 8,
    *,
    loss_kwargs: dict | None = None,
    batch_size: int | None = None,
    partition: str = "fixed",
    vrn_weight: float = 0.0,
    vrn_n: int | None = None,
    steps: int = 2000,
    lr: float = 0.05,
    final_lr_frac: float = 0.01,
    optimizer: str = "adam",
    seed: int = 0,
    log_every: int = 100,
    init: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> SimulationResult:
    """Trains free unit embeddings U, V (n x d) with a loss from `contrastlens.losses`.

    The harness of the paper's section 5 (Lee et al., ICML 2025) as code: two free matrices,
    rows normalized, float64, Adam or gradient descent on a real loss (+ lambda * VRN,
    Def 5.7), full batch (Thm 5.1-5.3), fixed mini-batches (Thm 5.5) or reshuffled ones; the
    exact similarity statistics over all n instances are logged along the way. Assumption
    violations (e.g. d < n-1) are warned about and listed in `result.warnings`; impossible
    setups raise ValueError.

    Args:
        loss: a name in `LOSSES` ("infonce", "simclr", "dcl", "dhel", "siglip", "spectral")
            with loss_kwargs overriding its defaults (temperature 0.2; SigLIP t = 5, b = 3),
            or a callable (z1_MD, z2_MD, **loss_kwargs) -> 0-d tensor.
        n: the number of instances (the dataset size).
        d: the embedding dimension.
        loss_kwargs: keyword arguments of the loss.
        batch_size: m (None: full batch).
        partition: "full", "fixed" (Thm 5.5; m must divide n) or "reshuffle".
        vrn_weight: lambda of Def 5.7 (0: off).
        vrn_n: the n in delta = -1/(n-1), default the simulated dataset size n.
        steps: optimizer steps (one batch each).
        lr: peak learning rate of the cosine schedule.
        final_lr_frac: the learning rate decays to lr * final_lr_frac.
        optimizer: "adam" or "gd" (plain gradient descent).
        seed: initialization and reshuffles.
        log_every: log the statistics every this many steps (0: only at the end).
        init: optional initial (W_u, W_v), (N, D) each, instead of the seeded Gaussian.

    Returns:
        The final embeddings, the trajectory, the final statistics and the settings.

    Examples:
        >>> from contrastlens.theory import simulate
        >>> result = simulate("dcl", n=4, d=3, steps=200, lr=0.2, log_every=0)  # full batch
        >>> final = result.final  # Thm 5.1: aligned, every negative at -1/(n-1) = -1/3
        >>> round(final["pos_mean"], 4), round(final["neg_mean"], 4), round(final["neg_var"], 6)
        (1.0, -0.3333, 0.0)

    References:
        - Lee, Lim, Lee, Sohn. On the Similarities of Embeddings in Contrastive Learning.
          ICML 2025, section 5. <https://arxiv.org/abs/2506.09781>
    """
    # n x d matrices of a few hundred entries: extra threads only add synchronization, so the
    # `contrastlens simulate` command runs single-threaded (the library leaves that choice to
    # its caller: torch.set_num_threads is global).
    return _simulate(**locals())


def _simulate(
    loss,
    n,
    d,
    *,
    loss_kwargs,
    batch_size,
    partition,
    vrn_weight,
    vrn_n,
    steps,
    lr,
    final_lr_frac,
    optimizer,
    seed,
    log_every,
    init,
) -> SimulationResult:
    name, loss_fn = resolve_loss(loss, loss_kwargs)
    if batch_size is None or batch_size == n:
        batch_size, partition = n, "full"
    notes = check_setup(n, d, batch_size, partition, name)
    for note in notes:
        warnings.warn(note, UserWarning, stacklevel=3)
    if steps < 1 or not lr > 0:
        raise ValueError(f"need steps >= 1 and lr > 0, got steps = {steps}, lr = {lr}")
    if optimizer not in ("adam", "gd"):
        raise ValueError(f"optimizer must be 'adam' or 'gd', got {optimizer!r}")
    if vrn_weight < 0:
        raise ValueError(f"vrn_weight must be >= 0, got {vrn_weight}")
    vrn = None
    if vrn_weight > 0:
        from contrastlens.losses import vrn_loss

        vrn_target_n = n if vrn_n is None else vrn_n
        vrn = lambda z1, z2: vrn_loss(z1, z2, n=vrn_target_n)  # noqa: E731

    gen = torch.Generator().manual_seed(seed)
    if init is None:
        w_u_ND = torch.randn(n, d, generator=gen, dtype=torch.float64)
        w_v_ND = torch.randn(n, d, generator=gen, dtype=torch.float64)
    else:
        w_u_ND, w_v_ND = (w.detach().to(torch.float64).clone() for w in init)
        if w_u_ND.shape != (n, d) or w_v_ND.shape != (n, d):
            raise ValueError(f"init must be two ({n}, {d}) tensors")
    m = batch_size
    per_epoch = math.ceil(n / m)
    # One Adam over the whole matrices, as in real training where every batch moves shared
    # weights: rows outside the batch get a zero gradient but keep their momentum.
    w_u_ND.requires_grad_(True)
    w_v_ND.requires_grad_(True)
    params = [w_u_ND, w_v_ND]
    opt = torch.optim.Adam(params, lr=lr) if optimizer == "adam" else torch.optim.SGD(params, lr=lr)
    order_N = torch.arange(n)  # fixed partition: batches are consecutive rows (init is iid)
    trajectory: list[dict] = []

    def normalized() -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            u = w_u_ND / w_u_ND.norm(dim=1, keepdim=True)
            v = w_v_ND / w_v_ND.norm(dim=1, keepdim=True)
        return u.clone(), v.clone()

    last_loss = math.nan
    for step in range(steps):
        epoch, k = divmod(step, per_epoch)
        if partition == "reshuffle" and k == 0:
            order_N = torch.randperm(n, generator=gen)
        idx_M = order_N[k * m : (k + 1) * m]
        z1_MD, z2_MD = w_u_ND[idx_M], w_v_ND[idx_M]  # (M, D) each
        # cosine decay from lr to lr * final_lr_frac
        frac = final_lr_frac + (1 - final_lr_frac) * 0.5 * (1 + math.cos(math.pi * step / steps))
        for group in opt.param_groups:
            group["lr"] = lr * frac
        value = loss_fn(z1_MD, z2_MD)
        if vrn is not None:
            value = value + vrn_weight * vrn(z1_MD, z2_MD)
        opt.zero_grad(set_to_none=True)
        value.backward()
        opt.step()
        last_loss = float(value.detach())
        if not math.isfinite(last_loss):
            raise FloatingPointError(f"loss became {last_loss} at step {step}; lower lr")
        if log_every and (step % log_every == 0 or step == steps - 1):
            u_ND, v_ND = normalized()
            trajectory.append(
                {"step": step, "epoch": epoch, "loss": last_loss, "lr": lr * frac}
                | _full_stats(u_ND, v_ND)
            )

    u_ND, v_ND = normalized()
    final = {"loss": last_loss} | _full_stats(u_ND, v_ND)
    config = {
        "loss": name,
        "loss_kwargs": {**(LOSSES.get(name, ("", {}))[1]), **(loss_kwargs or {})},
        "n": n,
        "d": d,
        "batch_size": m,
        "partition": partition,
        "vrn_weight": vrn_weight,
        "vrn_n": (n if vrn_n is None else vrn_n) if vrn_weight > 0 else None,
        "steps": steps,
        "lr": lr,
        "final_lr_frac": final_lr_frac,
        "optimizer": optimizer,
        "seed": seed,
    }
    return SimulationResult(u_ND, v_ND, trajectory, final, config, notes)
