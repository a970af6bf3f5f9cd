"""Where datasets live on disk: find existing copies, verify checksums, download if allowed.

Every dataset is found by looking, in order, at
1. the `root` passed by the caller (`--root DIR`),
2. `$CONTRASTLENS_DATA`,
3. the default data root `~/.cache/contrastlens/data` (where `fetch` downloads to),
4. system copies: the Debian package `dataset-fashion-mnist` (`/usr/share/datasets/fashion-mnist`).
Inside a root, both our layout (`ROOT/fashion-mnist/*.gz`) and torchvision's
(`ROOT/FashionMNIST/raw/*.gz`, `ROOT/cifar-10-batches-py`, `ROOT/stl10_binary`) are accepted.

Checksums are torchvision's official ones (its dataset classes carry them). The Debian package
recompresses Fashion-MNIST's `.gz` files (different gzip headers, same bytes inside), so for
Fashion-MNIST a file also passes when its *decompressed* payload has the MD5 below, measured
from the Debian package and consistent with the official shapes and per-class counts (tested).

Downloads go through torchvision's own downloaders. With downloads disabled
(`CONTRASTLENS_OFFLINE=1` or `download=False`) or no network, a missing dataset raises
`DataError` with exact instructions instead of a traceback.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from contrastlens.errors import DataError

DATASETS = ("fashion-mnist", "cifar10", "cifar100", "stl10", "imagefolder")
SYSTEM_DIRS = {"fashion-mnist": [Path("/usr/share/datasets/fashion-mnist")]}
DEFAULT_ROOT = Path("~/.cache/contrastlens/data").expanduser()

# MD5 of the decompressed idx files (the bytes torchvision's .gz files decompress to).
FASHION_MNIST_PAYLOAD_MD5 = {
    "train-images-idx3-ubyte.gz": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "train-labels-idx1-ubyte.gz": "9018921c3c673c538a1fc5bad174d6f9",
    "t10k-images-idx3-ubyte.gz": "8181f5470baa50b63fa0f6fddb340f0a",
    "t10k-labels-idx1-ubyte.gz": "15d484375f8d13e6eb1aabb0c3f46965",
}

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".webp", ".tif", ".tiff")


@dataclass
class FileCheck:
    path: Path
    ok: bool
    detail: str


@dataclass
class VerifyReport:
    """Result of `verify`: where the dataset was found and one line per checked file."""

    name: str
    directory: Path | None
    checks: list[FileCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.directory is not None and all(c.ok for c in self.checks)

    def lines(self) -> list[str]:
        head = f"{self.name}: {'OK' if self.ok else 'FAILED'} ({self.directory})"
        return [head] + [
            f"  {'ok ' if c.ok else 'BAD'} {c.path.name}: {c.detail}" for c in self.checks
        ]


def md5sum(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def gunzip_md5(path: Path) -> str:
    """MD5 of a .gz file's decompressed bytes; `DataError` when truncated or not gzip."""
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with gzip.open(path, "rb") as fh:
            while block := fh.read(1 << 20):
                digest.update(block)
    except (EOFError, OSError, gzip.BadGzipFile) as err:
        raise DataError(
            f"{path} is truncated or corrupt ({type(err).__name__}: {err}). Fix: delete it and "
            f"run `contrastlens data fetch fashion-mnist`, or reinstall the Debian package "
            f"(`apt-get install --reinstall dataset-fashion-mnist`)."
        ) from err
    return digest.hexdigest()


def search_roots(root: str | os.PathLike | None = None) -> list[Path]:
    """The data roots searched, in order (see the module docstring)."""
    roots = []
    if root is not None:
        roots.append(Path(root).expanduser())
    env = os.environ.get("CONTRASTLENS_DATA")
    if env:
        roots.append(Path(env).expanduser())
    roots.append(DEFAULT_ROOT)
    return roots


def download_root(root: str | os.PathLike | None = None) -> Path:
    """Where `fetch` writes: the explicit root, else `$CONTRASTLENS_DATA`, else the default."""
    return search_roots(root)[0]


# ----------------------------------------------------------------------------- per dataset
def _tv_class(name: str):
    import torchvision.datasets as tvd

    return {
        "fashion-mnist": tvd.FashionMNIST,
        "cifar10": tvd.CIFAR10,
        "cifar100": tvd.CIFAR100,
        "stl10": tvd.STL10,
    }[name]


def _expected_files(name: str) -> list[tuple[str, str]]:
    """(relative file name inside the dataset directory, official md5) pairs."""
    cls = _tv_class(name)
    if name == "fashion-mnist":
        return list(cls.resources)
    if name in ("cifar10", "cifar100"):
        return [tuple(x) for x in cls.train_list + cls.test_list] + [
            (cls.meta["filename"], cls.meta["md5"])
        ]
    if name == "stl10":
        return [tuple(x) for x in cls.train_list + cls.test_list]
    raise KeyError(name)


def _candidate_dirs(name: str, root: str | os.PathLike | None) -> list[Path]:
    sub = {
        "fashion-mnist": ["fashion-mnist", "FashionMNIST/raw", "."],
        "cifar10": ["cifar-10-batches-py", "cifar10/cifar-10-batches-py"],
        "cifar100": ["cifar-100-python", "cifar100/cifar-100-python"],
        "stl10": ["stl10_binary", "stl10/stl10_binary"],
    }[name]
    dirs = [r / s for r in search_roots(root) for s in sub]
    return dirs + SYSTEM_DIRS.get(name, [])


def _check_name(name: str) -> None:
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")


def locate(name: str, root: str | os.PathLike | None = None) -> Path:
    """The first directory holding every file of `name`; `DataError` with the fix if none."""
    _check_name(name)
    if name == "imagefolder":
        if root is None:
            raise DataError("imagefolder needs a path: `--root PATH` (PATH/train/<class>/*.jpg)")
        return _locate_imagefolder(Path(root).expanduser())
    files = [f for f, _ in _expected_files(name)]
    tried = _candidate_dirs(name, root)
    for d in tried:
        if all((d / f).is_file() for f in files):
            return d
    raise DataError(missing_message(name, tried))


def missing_message(name: str, tried: list[Path]) -> str:
    """One line: where `name` was looked for and the ways to get it."""
    files = ", ".join(f for f, _ in _expected_files(name))
    how = [
        f"run `contrastlens data fetch {name}` (downloads with torchvision into "
        f"{download_root()} or `--root DIR`)"
    ]
    if name == "fashion-mnist":
        how.append(
            "or, on Debian/Ubuntu as root: `apt-get update && apt-get install -y "
            "dataset-fashion-mnist`"
        )
    how.append(
        f"or place the official files ({files}) in one of those directories "
        "(set $CONTRASTLENS_DATA to use your own root)"
    )
    where = ", ".join(str(d) for d in tried)
    return f"dataset {name!r} not found (looked in {where}). Fix: " + "; ".join(how) + "."


def _locate_imagefolder(path: Path) -> Path:
    if not path.is_dir():
        raise DataError(
            f"imagefolder: {path} is not a directory. Expected PATH/train/<class>/*.jpg "
            "(and PATH/val/<class>/*.jpg for evaluation)."
        )
    if not (path / "train").is_dir():
        raise DataError(
            f"imagefolder: {path} has no train/ subfolder. Expected "
            "PATH/train/<class>/*.jpg (and PATH/val/<class>/*.jpg)."
        )
    return path


def verify(name: str, root: str | os.PathLike | None = None) -> VerifyReport:
    """Check every file of `name` against its official checksum (see module docstring)."""
    directory = locate(name, root)
    report = VerifyReport(name, directory)
    if name == "imagefolder":
        report.checks = _verify_imagefolder(directory)
        return report
    for fname, official in _expected_files(name):
        path = directory / fname
        digest = md5sum(path)
        if digest == official:
            report.checks.append(FileCheck(path, True, "official md5"))
            continue
        payload = FASHION_MNIST_PAYLOAD_MD5.get(fname) if name == "fashion-mnist" else None
        if payload is not None:
            try:
                inner = gunzip_md5(path)
            except DataError as err:
                report.checks.append(FileCheck(path, False, str(err)))
                continue
            if inner == payload:
                report.checks.append(FileCheck(path, True, "official content (recompressed .gz)"))
                continue
        report.checks.append(
            FileCheck(
                path,
                False,
                f"md5 {digest} does not match the official {official}: the file is corrupt or "
                f"incomplete. Fix: delete it and run `contrastlens data fetch {name}`.",
            )
        )
    return report


def _verify_imagefolder(path: Path, sample: int = 16) -> list[FileCheck]:
    from PIL import Image

    checks = []
    for split in ("train", "val"):
        d = path / split
        if not d.is_dir():
            checks.append(FileCheck(d, split == "val", "absent" if split == "val" else "missing"))
            continue
        classes = sorted(p for p in d.iterdir() if p.is_dir())
        images = [f for c in classes for f in c.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES]
        if not classes or not images:
            checks.append(FileCheck(d, False, "no <class>/<image> files found"))
            continue
        bad = []
        for f in images[:: max(1, len(images) // sample)][:sample]:
            try:
                with Image.open(f) as im:
                    im.verify()
            except Exception as err:  # PIL raises many types for broken files
                bad.append(f"{f.name} ({err})")
        detail = f"{len(classes)} classes, {len(images)} images, {sample} decoded"
        checks.append(FileCheck(d, not bad, detail if not bad else "unreadable: " + ", ".join(bad)))
    return checks


def fetch(name: str, root: str | os.PathLike | None = None, download: bool = True) -> VerifyReport:
    """Make `name` available: use a verified existing copy, else download with torchvision."""
    _check_name(name)
    if name == "imagefolder":
        return verify(name, root)
    try:
        report = verify(name, root)
        if report.ok:
            return report
    except DataError:
        report = None
    if not download or os.environ.get("CONTRASTLENS_OFFLINE"):
        raise DataError(
            missing_message(name, _candidate_dirs(name, root))
            + " (downloads are disabled: CONTRASTLENS_OFFLINE is set or download=False)"
        )
    target = download_root(root)
    target.mkdir(parents=True, exist_ok=True)
    cls = _tv_class(name)
    try:
        if name == "stl10":
            cls(str(target), split="train+unlabeled", download=True)
            cls(str(target), split="test", download=True)
        else:
            cls(str(target), download=True)
            if name != "fashion-mnist":
                cls(str(target), train=False, download=True)
    except (OSError, RuntimeError) as err:  # URLError is an OSError
        raise DataError(
            f"downloading {name} into {target} failed ({err}). "
            + missing_message(name, _candidate_dirs(name, root))
        ) from err
    return verify(name, root)
