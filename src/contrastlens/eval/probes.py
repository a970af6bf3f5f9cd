"""Probes of a frozen representation, scikit-learn style: `Probe(...).fit(F, y).score(F, y)`.

`LinearProbe` follows the paper's protocol (docs/theory.md, "Protocol"): frozen backbone
features (projector dropped), no augmentation, L2-normalized, a linear classifier trained by
SGD (momentum 0.9) with lr 0.1, no weight decay, batch 256, cosine-decayed over `epochs`;
reports top-1 and top-5. Features are precomputed once, so each epoch is a few small matrix
products (about a second for 60,000 x 6,272 on this CPU).
`KNNProbe` is the weighted cosine kNN of Wu et al. (2018) as used by InstDisc/MoCo monitors:
the k nearest training features vote with weight exp(cos / temperature).

`__init__` stores arguments only; `fit` returns `self`; fitted attributes end in `_`.

Legend: N samples, F feature dims, K classes, Q queries (a chunk of test samples).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def check_labels(y_N: torch.Tensor) -> torch.Tensor:
    """Class labels as int64 indices, refusing negative ones.

    Args:
        y_N: (N,) class labels; -1 marks an unlabeled image (e.g. STL-10's "unlabeled"
            split), which a probe can neither fit nor score: a ValueError.

    Returns:
        (N,) int64 class indices.
    """
    y_N = y_N.long()
    if y_N.numel() and int(y_N.min()) < 0:
        n = int((y_N < 0).sum())
        raise ValueError(
            f"{n} of {y_N.numel()} labels are negative (-1 marks an unlabeled image, e.g. "
            "STL-10's 'unlabeled' split); a probe needs class indices >= 0. Fix: fit and score "
            "probes on a labeled split (STL-10: 'train' and 'test')"
        )
    return y_N


def _topk_accuracy(logits_NK: torch.Tensor, y_N: torch.Tensor, ks=(1, 5)) -> dict[str, float]:
    out = {}
    for k in ks:
        k_eff = min(k, logits_NK.shape[1])
        top_Nk = logits_NK.topk(k_eff, dim=1).indices
        out[f"top{k}"] = (top_Nk == y_N[:, None]).any(dim=1).float().mean().item()
    return out


class LinearProbe:
    """Linear classifier on frozen, L2-normalized features: the paper's linear probe.

    The protocol of Lee et al. (ICML 2025; docs/theory.md, "Protocol"): backbone features with
    the projector dropped, no augmentation, L2-normalized; softmax regression trained by SGD
    with momentum, lr 0.1, no weight decay, batch 256, the lr cosine-decayed over `epochs`;
    top-1 and top-5 accuracy. scikit-learn's contract: `__init__` stores the arguments, `fit`
    returns self, the fitted attributes end in `_` (`coef_` (K, F), `intercept_` (K,),
    `n_classes_`).

    Args:
        epochs: passes over the features (the paper trains 200).
        lr: the peak learning rate.
        batch_size: rows per SGD step.
        momentum: SGD's momentum.
        weight_decay: L2 penalty (the paper: none).
        normalize: L2-normalize the features first.
        seed: the initialization and the shuffling.

    Examples:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> centers = 3 * torch.randn(3, 16)  # three classes, 20 features each
        >>> y = torch.arange(3).repeat_interleave(20)
        >>> X = centers[y] + torch.randn(60, 16)
        >>> from contrastlens.eval import LinearProbe
        >>> probe = LinearProbe(epochs=10, batch_size=16).fit(X, y)
        >>> probe.coef_.shape, probe.score(X, y)
        (torch.Size([3, 16]), 1.0)

    References:
        - Lee, Lim, Lee, Sohn. On the Similarities of Embeddings in Contrastive Learning.
          ICML 2025. <https://arxiv.org/abs/2506.09781>
        - Chen, Kornblith, Norouzi, Hinton. A Simple Framework for Contrastive Learning of
          Visual Representations (the linear evaluation protocol). ICML 2020.
          <https://arxiv.org/abs/2002.05709>
    """

    def __init__(
        self,
        epochs: int = 100,
        lr: float = 0.1,
        batch_size: int = 256,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        normalize: bool = True,
        seed: int = 0,
    ):
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.normalize = normalize
        self.seed = seed

    def _prep(self, X_NF: torch.Tensor) -> torch.Tensor:
        X_NF = X_NF.float()
        return F.normalize(X_NF, dim=1) if self.normalize else X_NF

    @torch.no_grad()
    def fit(self, X_NF: torch.Tensor, y_N: torch.Tensor) -> LinearProbe:
        """Trains the classifier.

        Args:
            X_NF: (N, F) frozen features.
            y_N: (N,) class indices >= 0; K = max + 1 classes.

        Returns:
            self, with `coef_`, `intercept_` and `n_classes_`.
        """
        # Softmax regression by minibatch SGD with momentum (torch.optim.SGD's update rule:
        # buf = m buf + g; w -= lr buf), gradients in closed form: dL/dlogits = (p - onehot)/B;
        # tests/eval/test_probes.py checks it against torch.optim.SGD with autograd.
        X_NF = self._prep(X_NF)
        y_N = check_labels(y_N).to(X_NF.device)
        N, D = X_NF.shape
        K = int(y_N.max().item()) + 1
        g = torch.Generator().manual_seed(self.seed)
        W_KD = (torch.randn(K, D, generator=g) * 0.01).to(X_NF)
        b_K = torch.zeros(K).to(X_NF)
        buf_W, buf_b = torch.zeros_like(W_KD), torch.zeros_like(b_K)
        onehot_NK = torch.nn.functional.one_hot(y_N, K).to(X_NF)
        steps_per_epoch = (N + self.batch_size - 1) // self.batch_size
        total, step = max(1, self.epochs * steps_per_epoch), 0
        for _ in range(self.epochs):
            perm_N = torch.randperm(N, generator=g).to(X_NF.device)
            for start in range(0, N, self.batch_size):
                idx = perm_N[start : start + self.batch_size]
                x_BD = X_NF[idx]
                p_BK = torch.softmax(torch.addmm(b_K, x_BD, W_KD.T), dim=1)
                d_BK = (p_BK - onehot_NK[idx]) / idx.numel()
                grad_W = d_BK.T @ x_BD
                grad_b = d_BK.sum(dim=0)
                if self.weight_decay:
                    grad_W += self.weight_decay * W_KD
                    grad_b += self.weight_decay * b_K
                lr = self.lr * 0.5 * (1 + math.cos(math.pi * step / total))  # cosine
                buf_W.mul_(self.momentum).add_(grad_W)
                buf_b.mul_(self.momentum).add_(grad_b)
                W_KD.sub_(lr * buf_W)
                b_K.sub_(lr * buf_b)
                step += 1
        self.coef_ = W_KD  # (K, F)
        self.intercept_ = b_K  # (K,)
        self.n_classes_ = K
        return self

    def decision_function(self, X_NF: torch.Tensor) -> torch.Tensor:
        """(N, K) class logits of (N, F) features."""
        return self._prep(X_NF) @ self.coef_.T + self.intercept_  # (N, K)

    def predict(self, X_NF: torch.Tensor) -> torch.Tensor:
        """(N,) predicted classes of (N, F) features."""
        return self.decision_function(X_NF).argmax(dim=1)

    def score(self, X_NF: torch.Tensor, y_N: torch.Tensor) -> float:
        """Top-1 accuracy in [0, 1] of (N, F) features against (N,) labels."""
        return self.scores(X_NF, y_N)["top1"]

    def scores(self, X_NF: torch.Tensor, y_N: torch.Tensor) -> dict[str, float]:
        """{"top1", "top5"} accuracies in [0, 1] of (N, F) features against (N,) labels."""
        with torch.no_grad():
            return _topk_accuracy(self.decision_function(X_NF), check_labels(y_N).to(X_NF.device))


class KNNProbe:
    """Weighted cosine kNN: the k nearest neighbours vote with weight exp(cos / temperature).

    The monitor of Wu et al. (2018), used by InstDisc and MoCo: each query's k most similar
    training features (cosine) vote for their class with weight exp(cos / temperature); the
    class with the most weight wins. `fit` stores the normalized training features; queries
    are scored in chunks, one (chunk, N) similarity block at a time.

    Args:
        k: the neighbours that vote (200 in the paper's protocol; 10 is also reported).
        temperature: the vote weight's temperature (0.1).
        chunk_size: queries per similarity block.
        compute_dtype: dtype of the similarity product (bfloat16 halves its memory).

    Examples:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> centers = 3 * torch.randn(3, 16)  # three classes, 20 features each
        >>> y = torch.arange(3).repeat_interleave(20)
        >>> X = centers[y] + torch.randn(60, 16)
        >>> from contrastlens.eval import KNNProbe
        >>> knn = KNNProbe(k=5).fit(X, y)
        >>> knn.score(X, y), knn.top1_at(X, y, ks=(1, 5))
        (1.0, {1: 1.0, 5: 1.0})

    References:
        - Wu, Xiong, Yu, Lin. Unsupervised Feature Learning via Non-Parametric Instance
          Discrimination. CVPR 2018. <https://arxiv.org/abs/1805.01978>
    """

    def __init__(
        self,
        k: int = 200,
        temperature: float = 0.1,
        chunk_size: int = 1024,
        compute_dtype: torch.dtype = torch.float32,
    ):
        self.k = k
        self.temperature = temperature
        self.chunk_size = chunk_size
        self.compute_dtype = compute_dtype  # bfloat16: the similarity product in bf16

    def fit(self, X_NF: torch.Tensor, y_N: torch.Tensor) -> KNNProbe:
        """Stores the training set.

        Args:
            X_NF: (N, F) training features (normalized here).
            y_N: (N,) class indices >= 0.

        Returns:
            self, with `X_`, `y_` and `n_classes_`.
        """
        self.X_ = F.normalize(X_NF.float(), dim=1).to(self.compute_dtype)
        self.y_ = check_labels(y_N).to(self.X_.device)
        self.n_classes_ = int(self.y_.max().item()) + 1
        return self

    def _votes(self, X_QF: torch.Tensor, ks: tuple[int, ...]) -> list[torch.Tensor]:
        """Class votes (Q, K) for each k in ks, from one pass (top max(ks), then prefixes)."""
        X_QF = F.normalize(X_QF.float(), dim=1).to(self.X_.device, self.compute_dtype)
        ks = tuple(min(k, self.X_.shape[0]) for k in ks)
        out: list[list[torch.Tensor]] = [[] for _ in ks]
        for start in range(0, X_QF.shape[0], self.chunk_size):
            sim_QN = X_QF[start : start + self.chunk_size] @ self.X_.T
            sim_Qk, idx_Qk = sim_QN.topk(max(ks), dim=1)  # sorted: the first k are the top k
            w_Qk = (sim_Qk.float() / self.temperature).exp()
            labels_Qk = self.y_[idx_Qk]
            for i, k in enumerate(ks):
                votes_QK = torch.zeros(sim_Qk.shape[0], self.n_classes_, device=self.X_.device)
                votes_QK.scatter_add_(1, labels_Qk[:, :k], w_Qk[:, :k])
                out[i].append(votes_QK)
        return [torch.cat(v) for v in out]

    def decision_function(self, X_QF: torch.Tensor) -> torch.Tensor:
        """Class votes (N, K) for the queries."""
        return self._votes(X_QF, (self.k,))[0]

    def correct_at(self, X_NF: torch.Tensor, y_N: torch.Tensor, ks: tuple[int, ...]) -> dict:
        """{k: bool (N,) whether each query's top-1 class is right} for several k at the cost
        of one kNN search."""
        if not ks or min(ks) < 1:
            raise ValueError(f"ks must be positive neighbour counts, got {ks}")
        with torch.no_grad():
            y_N = check_labels(y_N).to(self.X_.device)
            votes = self._votes(X_NF, tuple(ks))
            return {k: v.topk(1, dim=1).indices[:, 0] == y_N for k, v in zip(ks, votes)}

    def top1_at(self, X_NF: torch.Tensor, y_N: torch.Tensor, ks: tuple[int, ...]) -> dict:
        """{k: top-1 accuracy} for several k at the cost of one kNN search.

        Args:
            X_NF: (N, F) query features.
            y_N: (N,) their class indices.
            ks: the neighbour counts, each >= 1.

        Returns:
            {k: accuracy in [0, 1]}.
        """
        return {k: c.float().mean().item() for k, c in self.correct_at(X_NF, y_N, ks).items()}

    def predict(self, X_NF: torch.Tensor) -> torch.Tensor:
        """(N,) predicted classes of (N, F) query features."""
        return self.decision_function(X_NF).argmax(dim=1)

    def score(self, X_NF: torch.Tensor, y_N: torch.Tensor) -> float:
        """Top-1 accuracy in [0, 1] of (N, F) query features against (N,) labels."""
        return self.scores(X_NF, y_N)["top1"]

    def scores(self, X_NF: torch.Tensor, y_N: torch.Tensor) -> dict[str, float]:
        """{"top1", "top5"} accuracies in [0, 1] of (N, F) queries against (N,) labels."""
        with torch.no_grad():
            return _topk_accuracy(
                self.decision_function(X_NF), check_labels(y_N).to(self.X_.device)
            )
