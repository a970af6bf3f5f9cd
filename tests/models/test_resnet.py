"""ResNet stems: the cost at 224 px (FLOPs counted on the meta device, no memory, no compute),
`model.stem=auto` by image size, and the stem recorded in the run."""

import pytest
import torch
import torchvision
from torch.utils.flop_counter import FlopCounterMode
from train.helpers import tiny_config

from contrastlens import runfolder as rf
from contrastlens.experiments import presets
from contrastlens.models import ResNet, build_encoder, encoder_stem
from contrastlens.train.config import ModelConfig, apply_overrides, validate
from contrastlens.train.loop import train


def gmacs(backbone: str, stem: str, side: int) -> float:
    """Multiply-accumulates of one forward of one image, in billions (convs and matmuls)."""
    with torch.device("meta"):
        net = ResNet(backbone, 3, stem).eval()
        x = torch.empty(1, 3, side, side)
    with FlopCounterMode(display=False) as counter:
        net(x)
    return counter.get_total_flops() / 2 / 1e9  # FlopCounterMode counts 2 FLOPs per MAC


@pytest.mark.parametrize(
    "backbone,weights", [("resnet50", "ResNet50_Weights"), ("resnet18", "ResNet18_Weights")]
)
def test_the_imagenet_stem_costs_what_torchvision_publishes(backbone, weights):
    # torchvision's own count for its ImageNet models ("_ops", GMACs at 224 px, fc included:
    # 2048 x 1000 = 0.002 GMACs, which our identity head drops): 4.089 for ResNet-50
    published = getattr(torchvision.models, weights).IMAGENET1K_V1.meta["_ops"]
    assert gmacs(backbone, "imagenet", 224) == pytest.approx(published, abs=0.01)


def test_the_cifar_stem_at_224_px_costs_about_15x():
    # the cost the imagefolder-simclr preset paid before: ~127 GFLOPs (64 GMACs) per image
    imagenet, cifar = gmacs("resnet50", "imagenet", 224), gmacs("resnet50", "cifar", 224)
    assert 3.9 < imagenet < 4.2 and 14 < cifar / imagenet < 17
    # at 32 px the CIFAR stem is the paper's CIFAR model: (32 / 224)^2 of the 224 px cost
    assert gmacs("resnet50", "cifar", 32) == pytest.approx(cifar * (32 / 224) ** 2, rel=0.01)


def test_auto_stem_follows_the_image_size():
    m = ModelConfig(backbone="resnet50")
    assert [encoder_stem(m, s) for s in (32, 96, 128, 224)] == ["cifar"] * 2 + ["imagenet"] * 2
    m.stem = "cifar"
    assert encoder_stem(m, 224) == "cifar"
    assert encoder_stem(ModelConfig(backbone="small_cnn"), 224) is None
    with torch.device("meta"):
        enc = build_encoder(ModelConfig(backbone="resnet50"), 3, image_size=224)
    conv1 = enc.backbone.net.conv1
    assert conv1.kernel_size == (7, 7) and conv1.stride == (2, 2)
    assert isinstance(enc.backbone.net.maxpool, torch.nn.MaxPool2d)
    with pytest.raises(Exception, match="model.stem='wide'; choose one of auto, cifar"):
        validate(apply_overrides(presets.get("smoke"), ["model.stem=wide"]))


def test_imagefolder_preset_resolves_the_imagenet_stem():
    cfg = presets.get("imagefolder-simclr")
    assert cfg.model.stem == "auto" and encoder_stem(cfg.model, cfg.data.image_size) == "imagenet"
    cifar = presets.get("cifar10-simclr")
    assert encoder_stem(cifar.model, 32) == "cifar"


def test_the_stem_in_use_is_recorded(tmp_path):
    cfg = tiny_config(epochs=1, max_steps=1)
    train(cfg, tmp_path / "cnn")
    assert rf.read_json(tmp_path / "cnn" / rf.META)["resolved"]["stem"] is None
    cfg = tiny_config(epochs=1, max_steps=1)
    cfg.model = ModelConfig(backbone="resnet18", proj_hidden=16, proj_dim=8, stem="imagenet")
    train(cfg, tmp_path / "resnet")
    assert rf.read_json(tmp_path / "resnet" / rf.META)["resolved"]["stem"] == "imagenet"
