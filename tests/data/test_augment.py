import torch

from contrastlens.data.augment import augment, blur, color, crop_flip, recipe


def _images(b=8, c=3, s=32):
    return torch.randint(0, 256, (b, c, s, s), generator=torch.Generator().manual_seed(0),
                         dtype=torch.uint8)  # fmt: skip


def test_shapes_range_and_determinism():
    x = _images()
    for name in ("simclr", "grayscale"):
        cfg = recipe(name)
        a = augment(x, cfg, torch.Generator().manual_seed(1))
        b = augment(x, cfg, torch.Generator().manual_seed(1))
        c = augment(x, cfg, torch.Generator().manual_seed(2))
        assert a.shape == x.shape and a.dtype == torch.float32
        assert a.min() >= 0 and a.max() <= 1
        assert torch.equal(a, b) and not torch.equal(a, c)


def test_per_sample_randomness():
    x = _images(b=1).expand(16, -1, -1, -1).contiguous()
    out = augment(x, recipe("simclr"), torch.Generator().manual_seed(0))
    assert len({tuple(o.flatten()[:50].tolist()) for o in out}) == 16


def test_identity_settings():
    x = _images().float() / 255
    g = torch.Generator().manual_seed(0)
    same = recipe("simclr", crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), flip_p=0.0)
    assert torch.allclose(crop_flip(x, same, g), x, atol=1e-5)
    flip = recipe("simclr", crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), flip_p=1.0)
    assert torch.allclose(crop_flip(x, flip, g), x.flip(-1), atol=1e-5)
    assert torch.equal(color(x, recipe("simclr", jitter_p=0.0, grayscale_p=0.0), g), x)
    assert torch.equal(blur(x, recipe("simclr", blur_p=0.0), g), x)
    assert torch.allclose(blur(x, recipe("simclr", blur_p=1.0, blur_sigma=(1e-3, 1e-3)), g), x)
    assert torch.equal(augment(x, recipe("none"), g), x)


def test_grayscale_and_blur_behave():
    x = _images().float() / 255
    g = torch.Generator().manual_seed(0)
    gray = color(x, recipe("simclr", jitter_p=0.0, grayscale_p=1.0), g)
    assert torch.allclose(gray[:, 0], gray[:, 1]) and torch.allclose(gray[:, 1], gray[:, 2])
    blurred = blur(x, recipe("simclr", blur_p=1.0, blur_sigma=(2.0, 2.0)), g)
    assert blurred.std() < x.std()
    assert torch.allclose(blurred.mean(dim=(2, 3)), x.mean(dim=(2, 3)), atol=0.05)


def test_pad_crop_translates():
    x = torch.zeros(4, 1, 8, 8)
    x[:, :, 4, 4] = 1
    cfg = recipe("grayscale", crop="pad", pad=2, flip_p=0.0)
    out = crop_flip(x, cfg, torch.Generator().manual_seed(0))
    assert torch.allclose(out.sum(dim=(1, 2, 3)), torch.ones(4), atol=1e-5)  # moved, not blurred
