"""Datasets on disk: the installed Fashion-MNIST, checksums, and clear errors for bad files."""

import gzip
import shutil
from pathlib import Path

import pytest
import torch

from contrastlens.cli import main
from contrastlens.data import load_dataset, open_imagefolder, sources
from contrastlens.errors import DataError

try:
    FMNIST_DIR = sources.locate("fashion-mnist")
except DataError:
    FMNIST_DIR = None
needs_fmnist = pytest.mark.skipif(FMNIST_DIR is None, reason="Fashion-MNIST is not installed")


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No system copies, no user roots, a private cache: only what the test puts in tmp_path."""
    monkeypatch.setattr(sources, "SYSTEM_DIRS", {})
    monkeypatch.setattr(sources, "DEFAULT_ROOT", tmp_path / "default-root")
    monkeypatch.delenv("CONTRASTLENS_DATA", raising=False)
    monkeypatch.setenv("CONTRASTLENS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("CONTRASTLENS_OFFLINE", "1")
    return tmp_path


@needs_fmnist
@pytest.mark.parametrize("split,n", [("train", 60000), ("test", 10000)])
def test_fashion_mnist_shapes_counts_and_range(split, n):
    ds = load_dataset("fashion-mnist", split)
    assert ds.images.shape == (n, 1, 28, 28)
    assert ds.images.dtype == torch.uint8 and ds.labels.dtype == torch.int64
    assert torch.equal(torch.bincount(ds.labels), torch.full((10,), n // 10))
    assert int(ds.images.min()) == 0 and int(ds.images.max()) == 255
    assert len(ds.classes) == 10


@needs_fmnist
def test_fashion_mnist_checksums_verify():
    report = sources.verify("fashion-mnist")
    assert report.ok, report.lines()
    assert len(report.checks) == 4


@needs_fmnist
def test_cached_load_equals_fresh_parse(isolated, monkeypatch):
    monkeypatch.setenv("CONTRASTLENS_DATA", str(FMNIST_DIR))
    fresh = load_dataset("fashion-mnist", "test", cache=False)
    first = load_dataset("fashion-mnist", "test")  # parses and writes the cache
    cached = load_dataset("fashion-mnist", "test")  # reads the cache
    assert list((isolated / "cache").glob("*.pt"))
    assert torch.equal(fresh.images, cached.images) and torch.equal(first.labels, cached.labels)


def _copy_fmnist(dst: Path) -> Path:
    dst.mkdir(parents=True)
    for f in FMNIST_DIR.iterdir():
        shutil.copy(f, dst / f.name)
    return dst


@needs_fmnist
def test_truncated_gz_names_file_and_fix(isolated):
    root = isolated / "root"
    d = _copy_fmnist(root / "fashion-mnist")
    bad = d / "t10k-images-idx3-ubyte.gz"
    bad.write_bytes(bad.read_bytes()[:100_000])
    report = sources.verify("fashion-mnist", root)
    assert not report.ok
    (line,) = [c.detail for c in report.checks if not c.ok]
    assert "t10k-images-idx3-ubyte.gz" in line and "truncated or corrupt" in line
    assert "contrastlens data fetch" in line
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz.*truncated"):
        load_dataset("fashion-mnist", "test", root=root)


@needs_fmnist
def test_corrupted_payload_is_reported(isolated):
    root = isolated / "root"
    d = _copy_fmnist(root / "fashion-mnist")
    labels = d / "train-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(labels.read_bytes()))
    raw[100] ^= 0xFF  # one flipped byte, still a valid gzip
    labels.write_bytes(gzip.compress(bytes(raw)))
    report = sources.verify("fashion-mnist", root)
    (bad,) = [c for c in report.checks if not c.ok]
    assert bad.path.name == "train-labels-idx1-ubyte.gz" and "does not match" in bad.detail


def test_missing_dataset_offline_gives_install_message(isolated, capsys):
    with pytest.raises(DataError) as err:
        sources.fetch("fashion-mnist", isolated / "empty")
    msg = str(err.value)
    assert "not found" in msg and "apt-get install -y dataset-fashion-mnist" in msg
    assert "contrastlens data fetch fashion-mnist" in msg and "downloads are disabled" in msg
    # the CLI prints the same message, no traceback, exit code 2
    assert main(["data", "fetch", "fashion-mnist", "--root", str(isolated / "empty")]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_load_missing_dataset_and_bad_split(isolated):
    with pytest.raises(DataError, match="not found"):
        load_dataset("cifar10", "train", root=isolated)
    with pytest.raises(DataError, match="no split 'val'"):
        load_dataset("fashion-mnist", "val")
    with pytest.raises(DataError, match="unknown dataset"):
        load_dataset("mnist-typo")


def test_bad_idx_header_is_clear(isolated):
    d = isolated / "root" / "fashion-mnist"
    d.mkdir(parents=True)
    for f, _ in sources._expected_files("fashion-mnist"):
        (d / f).write_bytes(gzip.compress(b"\x00\x00\x08\x01" + b"\x00" * 8))
    with pytest.raises(DataError, match="bad magic number"):
        load_dataset("fashion-mnist", "train", root=isolated / "root")


def test_imagefolder_verify(tmp_path):
    from PIL import Image

    for cls in ("a", "b"):
        (tmp_path / "train" / cls).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (40, 30), (i * 50, 0, 0)).save(tmp_path / "train" / cls / f"{i}.png")
    report = sources.verify("imagefolder", tmp_path)
    assert report.ok and "2 classes, 6 images" in report.checks[0].detail
    ds = open_imagefolder(tmp_path, image_size=16)
    image, label = ds[4]
    assert image.shape == (3, 16, 16) and image.dtype == torch.uint8 and label == 1
    with pytest.raises(DataError, match="no train/"):
        sources.verify("imagefolder", tmp_path / "train")


def test_imagefolder_batches_smoke(tmp_path):
    # ImageFolderBatches: the two-view batcher over a streamed folder (DataLoader workers decode,
    # augmentation runs batched afterwards), sharded like TwoViewBatches
    from PIL import Image

    from contrastlens.data.augment import recipe
    from contrastlens.data.views import ImageFolderBatches

    for cls in ("a", "b"):
        (tmp_path / "train" / cls).mkdir(parents=True)
        for i in range(4):
            Image.new("RGB", (24, 20), (i * 60, 30, 0)).save(tmp_path / "train" / cls / f"{i}.png")
    ds = open_imagefolder(tmp_path, image_size=16)
    common = dict(
        batch_size=4, augment=recipe("simclr"), mean=(0.5,) * 3, std=(0.25,) * 3, seed=0, workers=0
    )
    batches = ImageFolderBatches(ds, **common)
    assert len(batches) == 2
    steps = list(batches.epoch(0))
    assert len(steps) == 2
    x1, x2, ids = steps[0]
    assert x1.shape == x2.shape == (4, 3, 16, 16) and x1.dtype == torch.float32
    assert not torch.equal(x1, x2)  # two independent augmentations
    seen = torch.cat([s[2] for s in steps])
    assert sorted(seen.tolist()) == list(range(8))  # one epoch visits every image once
    rank1 = ImageFolderBatches(ds, rank=1, world_size=2, **common)
    ids0 = next(iter(ImageFolderBatches(ds, rank=0, world_size=2, **common).epoch(0)))[2]
    ids1 = next(iter(rank1.epoch(0)))[2]
    assert torch.equal(torch.cat([ids0, ids1]), ids)  # the processes' shards make the batch
    assert [int(i) for i in next(iter(batches.epoch(0, start_step=1)))[2]] == steps[1][2].tolist()
