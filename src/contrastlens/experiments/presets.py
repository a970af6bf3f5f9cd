"""Named presets: functions returning a `Config`. `get(name)` builds one; `PRESETS` lists them.

fmnist-simclr   the Fashion-MNIST recipe on 2 CPU cores: a fixed 28-minute training budget,
                >= 88% linear probe (results/fmnist-recipe/). Small CNN whose representation
                keeps the spatial layout (the whole 7x7x128 last map, 6272-d), grayscale
                crop/flip/brightness/contrast, SimCLR t = 0.3, SGD 0.3, time-based cosine;
                linear probe lr 3 (chosen on validation, results/speed-targets/).
fmnist-quick    the same model on 20,000 images for 3 epochs (step-based, reproducible): a
                few CPU minutes per run, for studies of many short runs.
smoke           seconds: synthetic 28 x 28 data, a tiny CNN, 2 epochs (tests, --dry-run).
cifar10-simclr, cifar100-simclr, stl10-simclr   the paper's protocol (docs/theory.md, "Protocol"):
                CIFAR ResNet-18, SimCLR augmentations, SGD lr 0.3 x B/256, wd 1e-4,
                200 epochs, 10 warmup, t = 0.2, linear probe 200 epochs (a GPU job).
                stl10-simclr trains on train+unlabeled (105,000 images); its probes fit the
                5,000 labeled train images (data.splits.probe_fit_split).
cifar10-moco    MoCo v2 on CIFAR-10 (queue 4096, momentum 0.99, t = 0.2, symmetric).
imagefolder-simclr  ResNet-50 on an ImageNet-style folder (data.root), 224 px, lr 0.1 base;
                the standard ResNet (ImageNet stem: model.stem=auto at 224 px), about 4 GMACs
                per image forward (the CIFAR stem would cost ~15x).
wordnet, wordnet-smoke   text presets (`contrastlens train-text`): a TextConfig each.
"""

from __future__ import annotations

from collections.abc import Callable

from contrastlens.data.augment import recipe
from contrastlens.errors import ConfigError
from contrastlens.text.text_config import TextConfig
from contrastlens.train.config import (
    Config,
    DataConfig,
    EvalConfig,
    MethodConfig,
    ModelConfig,
    OptimConfig,
    TrainConfig,
)


def fmnist_simclr() -> Config:
    """The recipe (see results/fmnist-recipe/README.md for the measurements)."""
    return Config(
        data=DataConfig(dataset="fashion-mnist", augment=recipe("grayscale")),
        # The representation is the whole 7 x 7 x 128 last feature map (6272-d), not a global
        # pool: on the same weights, global pool 82.1% kNN / 79.7% linear, 2x2 84.0 / 83.0,
        # 7x7 86.5 / 86.5 (results/fmnist-recipe/README.md).
        model=ModelConfig(backbone="small_cnn", widths=(32, 64, 128), pool=7, mid_pool=0),
        method=MethodConfig(name="simclr", temperature=0.3),
        optim=OptimConfig(name="sgd", base_lr=0.3, weight_decay=5e-4, warmup_epochs=0.5),
        # A fixed 28-minute budget on a shared 2-core CPU: the cosine follows the clock, so it
        # anneals fully whatever the throughput (epochs is only an upper bound).
        train=TrainConfig(
            epochs=100, batch_size=256, log_every=20, max_minutes=28.0, time_schedule=True
        ),
        # Probe lr 3, not the paper's 0.1, chosen on 10,000 held-out training images (a 28-minute
        # run, seed 0): 0.1 90.18, 0.3 91.49, 1 92.42, 3 92.43, 10 91.92% validation linear
        # top-1 (results/speed-targets/select-probe-lr/). 0.1 underfits these L2-normalized
        # 6272-d features. No curve probes by default: they score a validation split
        # (data.val_size=10000 eval.curve_epochs=3,7 adds them).
        eval=EvalConfig(linear_epochs=200, linear_lr=3.0),
        preset="fmnist-simclr",
    )


def fmnist_quick() -> Config:
    """The recipe on 20,000 training images for 3 epochs (step-based, reproducible): ~1-4
    CPU minutes per run, for studies of many short runs."""
    cfg = fmnist_simclr()
    cfg.data.subset = 20000
    cfg.train = TrainConfig(epochs=3, batch_size=256, log_every=20)
    cfg.optim.warmup_epochs = 0.2
    cfg.eval = EvalConfig(linear_epochs=30, table1_pairs=5000)
    cfg.preset = "fmnist-quick"
    return cfg


def smoke() -> Config:
    return Config(
        data=DataConfig(dataset="synthetic", synthetic_n=64, augment=recipe("grayscale")),
        model=ModelConfig(
            backbone="small_cnn", widths=(4, 8, 8), pool=1, proj_hidden=16, proj_dim=8
        ),
        method=MethodConfig(name="simclr", temperature=0.5),
        optim=OptimConfig(base_lr=0.3, warmup_epochs=0.5),
        train=TrainConfig(epochs=2, batch_size=16, log_every=1, progress=False),
        eval=EvalConfig(linear_epochs=5, knn_k=10, table1_pairs=64),
        preset="smoke",
    )


def _cifar(dataset: str) -> Config:
    return Config(
        data=DataConfig(dataset=dataset, augment=recipe("simclr")),
        model=ModelConfig(backbone="resnet18", proj_hidden=512, proj_dim=128),
        method=MethodConfig(name="simclr", temperature=0.2),
        optim=OptimConfig(name="sgd", base_lr=0.3, weight_decay=1e-4, warmup_epochs=10),
        train=TrainConfig(epochs=200, batch_size=256, log_every=50),
        eval=EvalConfig(linear_epochs=200),
        preset=f"{dataset}-simclr",
    )


def cifar10_simclr() -> Config:
    return _cifar("cifar10")


def cifar100_simclr() -> Config:
    return _cifar("cifar100")


def stl10_simclr() -> Config:
    cfg = _cifar("stl10")
    cfg.data.train_split = "train+unlabeled"
    cfg.eval.table1_pairs = 5000
    cfg.preset = "stl10-simclr"
    return cfg


def cifar10_moco() -> Config:
    cfg = _cifar("cifar10")
    cfg.method = MethodConfig(
        name="moco", temperature=0.2, moco_queue=4096, moco_momentum=0.99, moco_symmetric=True
    )
    cfg.optim.base_lr = 0.06 * 2  # MoCo v2 CIFAR: 0.06 at B=512 -> 0.12 per 256 (SGD)
    cfg.optim.weight_decay = 5e-4
    cfg.preset = "cifar10-moco"
    return cfg


def imagefolder_simclr() -> Config:
    return Config(
        data=DataConfig(
            dataset="imagefolder",
            image_size=224,
            augment=recipe("simclr", brightness=0.8, contrast=0.8, saturation=0.8, hue=0.2),
        ),
        model=ModelConfig(backbone="resnet50", proj_hidden=2048, proj_dim=128),
        method=MethodConfig(name="simclr", temperature=0.2),
        optim=OptimConfig(name="sgd", base_lr=0.1, weight_decay=1e-4, warmup_epochs=10),
        train=TrainConfig(epochs=200, batch_size=256, log_every=50),
        eval=EvalConfig(at_end=False),
        preset="imagefolder-simclr",
    )


def wordnet() -> TextConfig:
    """Text: the text study's run, 8,000 training pairs, one pass, batch 16, scored on test."""
    return TextConfig(preset="wordnet")


def wordnet_smoke() -> TextConfig:
    """Text: seconds, 64 training pairs (4 steps of 16), scored on 64 test synsets."""
    return TextConfig(
        train_pairs=64, eval_split="test", eval_synsets=64, log_every=1, preset="wordnet-smoke"
    )


# The one registry: image presets (`contrastlens train`) and text presets (`train-text`).
IMAGE: dict[str, Callable[[], Config]] = {
    "fmnist-simclr": fmnist_simclr,
    "fmnist-quick": fmnist_quick,
    "smoke": smoke,
    "cifar10-simclr": cifar10_simclr,
    "cifar100-simclr": cifar100_simclr,
    "stl10-simclr": stl10_simclr,
    "cifar10-moco": cifar10_moco,
    "imagefolder-simclr": imagefolder_simclr,
}
TEXT: dict[str, Callable[[], TextConfig]] = {"wordnet": wordnet, "wordnet-smoke": wordnet_smoke}
PRESETS: dict[str, Callable[[], Config | TextConfig]] = {**IMAGE, **TEXT}


def get(name: str) -> Config:
    """A fresh Config of the named image preset (`contrastlens train --preset`)."""
    if name in TEXT:
        raise ConfigError(f"{name!r} is a text preset: contrastlens train-text --preset {name}")
    if name not in IMAGE:
        raise ConfigError(f"unknown preset {name!r}; choose one of {', '.join(IMAGE)}")
    return IMAGE[name]()


def get_text(name: str) -> TextConfig:
    """A fresh TextConfig of the named text preset (`contrastlens train-text --preset`)."""
    if name in IMAGE:
        raise ConfigError(f"{name!r} is an image preset: contrastlens train --preset {name}")
    if name not in TEXT:
        raise ConfigError(f"unknown text preset {name!r}; choose one of {', '.join(TEXT)}")
    return TEXT[name]()
