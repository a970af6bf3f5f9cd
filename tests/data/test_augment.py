import torch

from contrastlens.data.augment import augment, blur, color, crop_flip, recipe


def _images(b=8, c=3, s=32):
    return torch.randint(
        0, 256, (b, c, s, s), generator=torch.Generator().manual_seed(0), dtype=torch.uint8
    )


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


def test_batched_ops_equal_torchvision_functional_ops():
    # Our batched color/blur/flip against torchvision's per-image functional ops, with the
    # per-sample parameters our generator drew (replayed from the same seed).
    import torchvision.transforms.functional as TF

    from contrastlens.data.augment import _uniform

    x = _images(b=6).float() / 255
    B = x.shape[0]
    only = dict(
        jitter_p=1.0, brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0, grayscale_p=0.0
    )
    for name, fn in (
        ("brightness", TF.adjust_brightness),
        ("contrast", TF.adjust_contrast),
        ("saturation", TF.adjust_saturation),
    ):
        cfg = recipe("simclr", **{**only, name: 0.4})
        out = color(x, cfg, torch.Generator().manual_seed(7))
        g = torch.Generator().manual_seed(7)
        torch.rand(B, generator=g)  # the jitter coin flips
        f_B = _uniform(B, 0.6, 1.4, g)
        ref = torch.stack([fn(x[i], float(f_B[i])) for i in range(B)])
        # contrast and saturation use the luma: ours 0.299 R, torchvision's 0.2989 R
        tol = 2e-6 if name == "brightness" else 2e-4
        torch.testing.assert_close(out, ref, atol=tol, rtol=0, msg=name)
    gray = color(
        x,
        recipe("simclr", **{**only, "jitter_p": 0.0, "grayscale_p": 1.0}),
        torch.Generator().manual_seed(0),
    )
    ref = TF.rgb_to_grayscale(x, num_output_channels=3)
    torch.testing.assert_close(gray, ref, atol=2e-4, rtol=0)  # 0.299 vs torchvision's 0.2989
    cfg = recipe("simclr", blur_p=1.0, blur_sigma=(1.5, 1.5))
    out = blur(x, cfg, torch.Generator().manual_seed(0))
    K = max(3, int(0.1 * 32) // 2 * 2 + 1)
    torch.testing.assert_close(out, TF.gaussian_blur(x, [K, K], [1.5, 1.5]), atol=1e-5, rtol=0)
    flip = recipe("simclr", crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), flip_p=1.0)
    out = crop_flip(x, flip, torch.Generator().manual_seed(0))
    torch.testing.assert_close(out, TF.hflip(x), atol=1e-5, rtol=0)


def test_hue_matrix_is_inverted_once_and_unchanged(monkeypatch):
    # The hue rotation used to invert the constant RGB -> YIQ matrix on the images' device for
    # every view (on a GPU the host waits for linalg.inv's check). Same numbers as that formula.
    import math

    from contrastlens.data.augment import _yiq

    only_hue = dict(brightness=0.0, contrast=0.0, saturation=0.0, grayscale_p=0.0)
    cfg = recipe("simclr", hue=0.3, jitter_p=1.0, **only_hue)
    x = torch.rand(5, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    _yiq.cache_clear()
    out = color(x, cfg, torch.Generator().manual_seed(1))
    g = torch.Generator().manual_seed(1)
    torch.rand(5, generator=g)  # color() draws the jitter switches first
    angle = (torch.rand(5, generator=g) * 0.6 - 0.3) * 2 * math.pi
    yiq = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
    rot = torch.zeros(5, 3, 3)
    rot[:, 0, 0] = 1
    rot[:, 1, 1], rot[:, 1, 2] = angle.cos(), -angle.sin()
    rot[:, 2, 1], rot[:, 2, 2] = angle.sin(), angle.cos()
    m = torch.linalg.inv(yiq) @ rot @ yiq
    assert torch.equal(out, torch.einsum("bij,bjhw->bihw", m, x).clamp(0, 1))
    calls = []
    real_inv = torch.linalg.inv
    monkeypatch.setattr(torch.linalg, "inv", lambda a: calls.append(a) or real_inv(a))
    for seed in range(3):
        color(x, cfg, torch.Generator().manual_seed(seed))
    assert calls == []  # computed once, at the first call above
