"""`contrastlens data {list,fetch,verify} NAME [--root DIR]`: find, download and verify data."""

from __future__ import annotations

import argparse

NAMES = ("fashion-mnist", "cifar10", "cifar100", "stl10", "imagefolder", "wordnet")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "data",
        help="list, fetch or verify datasets",
        description="Find existing copies of a dataset (Debian package, $CONTRASTLENS_DATA, "
        "torchvision layout under a root), verify official checksums, or download it. "
        "wordnet (WordNet 3.0, the text study's pairs) comes from the Debian package "
        "wordnet-base: `fetch` runs apt-get when root, `verify` checks its sha256.",
    )
    p.add_argument("action", choices=("list", "fetch", "verify"))
    p.add_argument("name", nargs="?", choices=NAMES, help="dataset (all for list when omitted)")
    p.add_argument("--root", help="data root (or, for imagefolder, the folder with train/ val/)")
    p.add_argument("--no-download", action="store_true", help="fetch: never download/install")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from contrastlens.data import sources, wordnet
    from contrastlens.errors import DataError

    if args.action == "list":
        names = [args.name] if args.name else [n for n in NAMES if n != "imagefolder"]
        for name in names:
            try:
                if name == "wordnet":
                    where = wordnet.locate(args.root)
                else:
                    where = sources.locate(name, args.root)
                print(f"{name:14s} found   {where}")
            except DataError:
                print(f"{name:14s} missing (contrastlens data fetch {name})")
        if not args.name:
            print(f"{'imagefolder':14s} any folder PATH/train/<class>/*.jpg (use --root PATH)")
        return 0
    if args.name is None:
        raise DataError(f"`data {args.action}` needs a dataset name: one of {', '.join(NAMES)}")
    if args.name == "wordnet":
        if args.action == "verify":
            report = wordnet.verify(args.root)
        else:
            report = wordnet.fetch(args.root, download=not args.no_download)
    elif args.action == "verify":
        report = sources.verify(args.name, args.root)
    else:
        report = sources.fetch(args.name, args.root, download=not args.no_download)
    print("\n".join(report.lines()))
    return 0 if report.ok else 1
