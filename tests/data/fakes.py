"""Small fake copies of the real datasets' on-disk layouts, for the code paths no test could run
on the real files (STL-10 is 2.6 GB, ImageNet-style folders larger).

    root = fake_stl10(tmp_path)            # tmp_path/stl10_binary/*.bin, official format
    stl10_checksums_pass(monkeypatch)      # torchvision checks the official MD5s on load
    root = fake_imagefolder(tmp_path)      # tmp_path/{train,val}/<class>/*.png

Images carry their class (a per-class colour plus noise), so a probe has something to find.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

STL_SIDE = 96


def _class_images(n: int, labels: np.ndarray, side: int, seed: int) -> np.ndarray:
    """(n, 3, side, side) uint8: class c is a colour of its own plus noise."""
    rng = np.random.default_rng(seed)
    palette = rng.integers(30, 226, size=(10, 3, 1, 1))
    base = palette[labels % 10] if n else np.zeros((0, 3, 1, 1))
    noise = rng.integers(-25, 26, size=(n, 3, side, side))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def fake_stl10(
    root: Path,
    n_train: int = 20,
    n_unlabeled: int = 30,
    n_test: int = 20,
    class_names: bool = False,
) -> Path:
    """STL-10's binary files under root/stl10_binary (column-major images, labels 1..10, as
    the official release), without class_names.txt unless asked. Returns root."""
    d = root / "stl10_binary"
    d.mkdir(parents=True, exist_ok=True)
    for name, n, seed in (
        ("train", n_train, 1),
        ("test", n_test, 2),
        ("unlabeled", n_unlabeled, 3),
    ):
        labels = np.arange(n) % 10
        x = _class_images(n, labels, STL_SIDE, seed)
        x.transpose(0, 1, 3, 2).tofile(d / f"{name}_X.bin")  # the file is column-major
        if name != "unlabeled":
            (labels + 1).astype(np.uint8).tofile(d / f"{name}_y.bin")
    if class_names:
        (d / "class_names.txt").write_text("\n".join(f"class{i}" for i in range(10)) + "\n")
    return root


def stl10_checksums_pass(monkeypatch) -> None:
    """torchvision's STL10 refuses files whose MD5 is not the official one: accept the fakes."""
    import torchvision.datasets as tvd

    monkeypatch.setattr(tvd.STL10, "_check_integrity", lambda self: True)


def fake_imagefolder(
    root: Path, classes: int = 2, per_class: int = 4, size=(40, 30), splits=("train", "val")
) -> Path:
    """root/<split>/<class>/<i>.png RGB images of `size` (width, height). Returns root."""
    from PIL import Image

    for s, split in enumerate(splits):
        labels = np.repeat(np.arange(classes), per_class)
        x = _class_images(len(labels), labels, max(size), seed=10 + s)
        for i, (img, c) in enumerate(zip(x, labels)):
            folder = root / split / f"c{c}"
            folder.mkdir(parents=True, exist_ok=True)
            pixels = img.transpose(1, 2, 0)[: size[1], : size[0]]
            Image.fromarray(np.ascontiguousarray(pixels)).save(folder / f"{i}.png")
    return root
