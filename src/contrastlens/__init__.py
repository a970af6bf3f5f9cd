"""contrastlens: contrastive representation learning seen through the similarities of embeddings.

Implements Lee, Lim, Lee, Sohn, "On the Similarities of Embeddings in Contrastive Learning"
(ICML 2025): a unified family of contrastive losses, the VRN auxiliary term, similarity
diagnostics, the paper's theory as code, and small-batch training and evaluation.

Layout (imports flow one way: losses/similarity/theory <- models, data <- train, eval <-
experiments <- cli; report reads run folders only):

    distributed.py  the only importer of torch.distributed
    losses/         contrastive losses and the VRN term (pure functions + thin modules)
    similarity/     statistics of positive/negative similarities
    theory/         the paper's closed forms, conditions, bounds; the free-embedding simulator
    data/           datasets as uint8 tensors, fetch/verify, batched augmentation
    models/         backbones, projection heads, momentum encoder + queue
    train/          typed configs, the training loop, schedules, checkpoints
    eval/           feature extraction, linear probe, kNN probe
    experiments/    presets, the sweep runner, reproduce
    report/         tables and plots built from run folders
    inspect/        the similarity lens of any model or embeddings: contrastlens.inspect(...)
    cli/            one module per subcommand
"""

__version__ = "0.1.0"


def __getattr__(name: str):
    """`contrastlens.inspect` on first use: `import contrastlens` stays light (the package is
    imported only when asked for, and it is callable: `contrastlens.inspect(...)`)."""
    if name == "inspect":
        import importlib

        return importlib.import_module("contrastlens.inspect")
    raise AttributeError(f"module 'contrastlens' has no attribute {name!r}")
