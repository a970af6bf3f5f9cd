"""Generated command lines for every subcommand: bad input is rejected with exit
status 2 and one line on stderr naming the problem, never a traceback, and before any work.

Every subcommand (data, eval, report, reproduce, simulate, sweep, theory, train) gets generated
flag values, `--set` strings, grids and config files: wrong types, unknown keys, negative and
huge sizes, NaN/Infinity, out-of-range probabilities, empty files, binary garbage, truncated
JSON, paths that do not exist, folders where files are expected, and paths under a regular
file (not writable even as root). `contrastlens.cli.main(argv)` runs in-process.

Only inputs that must be rejected BEFORE any work starts are generated, and the work itself is
replaced by guards that fail the test (training, sweeps, the simulator, evaluation, the study
runner): an input that slipped through validation shows up as a failure here, never as a
training run. Argparse's own usage errors (a non-number for an int flag, an unknown choice)
print its usage line and one error line, also with status 2; both forms are checked.

The cases are deterministic (`derandomize=True`); CONTRASTLENS_HYPOTHESIS_PROFILE=long runs 20x
as many fresh ones (tests/hypothesis_profiles.py). The counts per test are in CASES.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import itertools
import json
import re
import string
import types
import typing
from pathlib import Path

import pytest
from hypothesis import assume
from hypothesis import given as hyp_given
from hypothesis import strategies as st
from hypothesis_profiles import given_settings

from contrastlens.cli import main
from contrastlens.experiments import presets
from contrastlens.train.config import Config, config_to_dict

# Generated cases per test in the default profile: 1,124 in all, about 10 s on 2 CPU cores.
# (report has 4 distinct cases, all generated; hypothesis stops there.)
CASES = {
    "set": 400,
    "config": 200,
    "train_flags": 60,
    "eval": 60,
    "report": 4,
    "sweep": 100,
    "simulate": 60,
    "theory": 80,
    "data": 40,
    "reproduce": 40,
    "train_text": 80,
    "inspect": 100,
}

# --------------------------------------------------------------------------- the schema


def _leaf_types(cls: type, prefix: str = "") -> dict[str, typing.Any]:
    out = {}
    for name, tp in typing.get_type_hints(cls).items():
        if dataclasses.is_dataclass(tp):
            out.update(_leaf_types(tp, f"{prefix}{name}."))
        else:
            out[f"{prefix}{name}"] = tp
    return out


LEAVES = _leaf_types(Config)  # every settable key (new fields are picked up automatically)
SECTIONS = {k.rsplit(".", 1)[0] for k in LEAVES if "." in k} | {""}

CHOICES = {  # string keys with a fixed set of values (validate)
    "data.dataset",
    "model.backbone",
    "model.norm",
    "method.name",
    "optim.name",
    "train.amp",
    "train.channels_last",
    "train.dtype",
    "data.augment.recipe",
    "data.augment.crop",
    "train.device",
    "model.stem",
}
# Integer keys: the smallest valid value (anything below is rejected); sizes >= HUGE too.
INT_MIN = {
    "train.batch_size": 2,
    "train.epochs": 1,
    "train.log_every": 1,
    "model.proj_dim": 1,
    "method.moco_queue": 1,
    "method.moco_bn_groups": 1,
    "model.proj_hidden": 1,
    "model.depth": 1,
    "model.pool": 1,
    "train.checkpoint_every": 1,
    "eval.knn_k": 1,
    "eval.linear_epochs": 1,
    "eval.curve_linear_epochs": 1,
    "eval.table1_pairs": 1,
    "data.image_size": 0,
    "data.subset": 0,
    "data.val_size": 0,
    "data.workers": -1,
    "data.augment.pad": 0,
    "model.mid_pool": 0,
    "train.max_steps": 0,
    "train.seed": 0,
    "data.synthetic_n": 2,
    "vrn.n": 2,
    "train.micro_batch": 0,
    "data.synthetic_channels": 1,
}
HUGE = 2**31
NO_HUGE_LIMIT = {"vrn.n"}  # a dataset size in a formula: any size is fine
# Float keys: (lo, hi, lo_inclusive, hi_inclusive); values outside are rejected.
INF = float("inf")
FLOAT_RANGE = {
    "method.temperature": (0, INF, False, False),
    "optim.base_lr": (0, INF, False, False),
    "eval.knn_temperature": (0, INF, False, False),
    "eval.linear_lr": (0, INF, False, False),
    "vrn.weight": (0, INF, True, False),
    "gor.weight": (0, INF, True, False),
    "optim.weight_decay": (0, INF, True, False),
    "optim.warmup_epochs": (0, INF, True, False),
    "train.max_minutes": (0, INF, True, False),
    "optim.momentum": (0, 1, True, False),
    "optim.min_lr_ratio": (0, 1, True, True),
    "method.moco_momentum": (0, 1, True, False),
    "data.augment.flip_p": (0, 1, True, True),
    "data.augment.jitter_p": (0, 1, True, True),
    "data.augment.grayscale_p": (0, 1, True, True),
    "data.augment.blur_p": (0, 1, True, True),
    "data.augment.erase_p": (0, 1, True, True),
    "data.augment.hue": (0, 0.5, True, True),
    "data.augment.brightness": (0, INF, True, False),
    "data.augment.contrast": (0, INF, True, False),
    "data.augment.saturation": (0, INF, True, False),
    "vrn.lr_ref": (0, INF, False, False),
    "method.siglip_t": (0, INF, False, False),
    "vrn.delta": (-1, 1, True, True),
    "method.sogclr_gamma": (0, 1, False, True),
}
# (lo, hi) pairs: 0 < lo <= hi (<= 1 when bounded)
INTERVALS = {
    "data.augment.crop_scale": 1.0,
    "data.augment.crop_ratio": None,
    "data.augment.blur_sigma": None,
    "data.augment.erase_scale": 1.0,
}
# Settings that are each valid but not together; the message names the first key.
CONFLICTS = [
    (["vrn.n=10", "vrn.delta=-0.1"], "vrn.n"),
    (["train.time_schedule=true", "train.max_minutes=0"], "train.time_schedule"),
    (["train.micro_batch=5"], "train.micro_batch"),
    (["model.widths=[4,8]"], "model.widths"),
    (["data.image_size=3"], "data.image_size"),
    (["eval.curve_epochs=[0]"], "eval.curve_epochs"),
    (["train.seed=9223372036854775808"], "train.seed"),
]

# --------------------------------------------------------------------------- running main


def run_cli(argv: list[str]) -> tuple[int, str, bool]:
    """(exit status, stderr, True when argparse rejected it) of `contrastlens ARGV`."""
    out, err = io.StringIO(), io.StringIO()
    parser_error = False
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse: usage line(s) + one error line
            code, parser_error = exc.code, True
    return code, err.getvalue(), parser_error


def assert_rejected(argv: list[str], *names: str, fix: bool = False) -> str:
    """Exit 2, one line `contrastlens CMD: error: ...` naming every one of `names` (and saying
    "Fix:" when `fix`), no traceback. Returns the line."""
    code, err, parser_error = run_cli(argv)
    assert "Traceback" not in err, err
    assert code == 2, (argv, code, err)
    lines = err.strip().splitlines()
    if parser_error:
        assert all(ln.startswith(("usage:", " ")) for ln in lines[:-1]), err
    else:
        assert len(lines) == 1, err
    line = lines[-1]
    assert re.match(r"contrastlens( [\w-]+)*: error: ", line), line
    for name in names:
        assert name.lower() in line.lower(), (name, line)
    if fix:
        assert "Fix:" in line or "fix:" in line, line
    return line


class GuardError(Exception):
    """Not an error a user can cause: if it is raised, validation let bad input through."""


def _guard(what: str):
    def refuse(*args, **kwargs):
        raise GuardError(f"{what} started: the input was not rejected before the work")

    return refuse


@pytest.fixture(scope="module", autouse=True)
def sandbox(tmp_path_factory):
    """A private cwd and data environment (nothing found, nothing downloaded), and guards in
    place of every long-running piece of work."""
    import contrastlens.experiments.engine as study
    import contrastlens.experiments.evaluate_run as evaluate
    import contrastlens.experiments.sweep as sweep
    import contrastlens.inspect as lens
    import contrastlens.text.trainer as text_run
    import contrastlens.theory.simulation_study as theory_study
    import contrastlens.train.loop as loop
    from contrastlens.data import sources

    root = tmp_path_factory.mktemp("fuzz")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.setattr(loop, "train", _guard("training"))
        mp.setattr(text_run, "train_text", _guard("text training"))
        mp.setattr(sweep, "run_sweep", _guard("a sweep"))
        mp.setattr(study, "run_sweep", _guard("a study sweep"))
        mp.setattr(study, "measure_floor", _guard("the floor measurement"))
        mp.setattr(theory_study, "simulate", _guard("the simulator"))
        mp.setattr(evaluate, "evaluate_run", _guard("evaluation"))
        mp.setattr(lens, "analyze", _guard("the similarity lens"))
        mp.setattr(sources, "SYSTEM_DIRS", {})
        mp.setattr(sources, "DEFAULT_ROOT", root / "no-data")
        mp.delenv("CONTRASTLENS_DATA", raising=False)
        mp.setenv("CONTRASTLENS_CACHE", str(root / "cache"))
        mp.setenv("CONTRASTLENS_OFFLINE", "1")
        mp.delenv("CONTRASTLENS_DEBUG", raising=False)
        yield root


@pytest.fixture(scope="module")
def paths(sandbox):
    """Paths of every kind: a regular file, a path under it (not creatable, even as root), a
    missing one, an empty folder, a run folder with a valid config.json (no checkpoint)."""
    root = sandbox
    (root / "a-file").write_text("not a folder\n")
    (root / "empty-dir").mkdir()
    run = root / "run"
    run.mkdir()
    cfg = presets.get("smoke")
    (run / "config.json").write_text(json.dumps(config_to_dict(cfg)))
    return {
        "file": str(root / "a-file"),
        "under_file": str(root / "a-file" / "sub"),
        "missing": str(root / "does-not-exist" / "x"),
        "empty_dir": str(root / "empty-dir"),
        "run": str(run),
        "root": root,
    }


_counter = itertools.count()


def write_file(root, data: bytes) -> str:
    path = root / "files" / f"f{next(_counter)}.json"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    return str(path)


# --------------------------------------------------------------------------- generators

RESERVED = {"true", "false", "null", "none"}  # --set turns these into booleans / None
# (not "--" alone: argparse drops it even from `--flag=--`, so the flag reads as not given)
WORDS = st.text(string.ascii_letters + "_-", min_size=1, max_size=12).filter(
    lambda s: s.lower() not in RESERVED and s.strip("-")
)
FRACTIONS = st.floats(-1e6, 1e6, allow_nan=False).filter(lambda x: not float(x).is_integer())
NONFINITE = st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "-1e999"])
JSON_LISTS = st.sampled_from(["[]", "[1, 2]", '["a"]', "[[1]]"])
JSON_OBJECTS = st.sampled_from(['{"a": 1}', "{}"])
JSON_STRINGS = st.sampled_from(['"5"', '"0.5"', '"true"', '""'])
BOOLS = st.sampled_from(["true", "false"])


def _base(tp) -> tuple[typing.Any, bool]:
    """(the annotation without None, whether None is allowed)."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0], len(args) < len(typing.get_args(tp))
    return tp, False


def wrong_type(key: str) -> st.SearchStrategy[str]:
    """`--set` value texts of a type `key` does not take."""
    tp, optional = _base(LEAVES[key])
    null = st.nothing() if optional else st.just("null")
    ints = st.integers(-(10**6), 10**6).map(str)
    if tp is bool:
        return st.one_of(ints, FRACTIONS.map(repr), WORDS, JSON_LISTS, JSON_OBJECTS, null)
    if tp is int:
        return st.one_of(
            FRACTIONS.map(repr),
            NONFINITE,
            BOOLS,
            WORDS,
            JSON_LISTS,
            JSON_OBJECTS,
            JSON_STRINGS,
            null,
        )
    if tp is float:
        return st.one_of(NONFINITE, BOOLS, WORDS, JSON_LISTS, JSON_OBJECTS, JSON_STRINGS, null)
    if tp is str:
        return st.one_of(ints, FRACTIONS.map(repr), BOOLS, JSON_LISTS, JSON_OBJECTS, null)
    if typing.get_origin(tp) is tuple:
        args = typing.get_args(tp)
        bad_elem = '["a", 1]' if args[0] is int else '["x", 0.5]'
        wrong_len = ["[1, 2, 3, 4, 5]"] if args[-1] is not Ellipsis else []
        return st.one_of(
            ints,
            BOOLS,
            WORDS.map(lambda w: f"{w},1"),
            JSON_OBJECTS,
            st.sampled_from([bad_elem, '[1, "NaN"]', *wrong_len]),
            null,
        )
    raise AssertionError(f"no generator for {key}: {tp}")  # a new kind of field: add one


def out_of_range(key: str) -> st.SearchStrategy[str]:
    """Values of the right type that validate must refuse (empty when `key` has no range)."""
    options = []
    if key in INT_MIN:
        options.append(st.integers(-(2**70), INT_MIN[key] - 1).map(str))
        if key not in NO_HUGE_LIMIT:
            top = 2**63 if key == "train.seed" else HUGE
            options.append(st.integers(top, 2**200).map(str))
    if key in FLOAT_RANGE:
        lo, hi, lo_in, hi_in = FLOAT_RANGE[key]
        below = st.floats(max_value=lo, allow_nan=False, allow_infinity=False).filter(
            lambda x: x < lo or (x == lo and not lo_in)
        )
        options.append(below.map(repr))
        if hi != INF:
            above = st.floats(min_value=hi, max_value=1e300, allow_nan=False).filter(
                lambda x: x > hi or (x == hi and not hi_in)
            )
            options.append(above.map(repr))
    if key in INTERVALS:
        top = INTERVALS[key]
        pairs = [st.tuples(st.floats(-10, 0), st.floats(0.1, 1))]  # lo <= 0
        pairs.append(st.tuples(st.floats(0.5, 1), st.floats(0.01, 0.4)))  # lo > hi
        if top is not None:
            pairs.append(st.tuples(st.floats(0.1, 0.5), st.floats(1.01, 100)))  # hi > 1
        options.append(st.one_of(pairs).map(lambda p: json.dumps(list(p))))
    if key == "model.widths":
        options.append(st.sampled_from(["[0, 8, 8]", "[4, -1, 8]", "[4, 8]", "[4, 8, 8, 8]"]))
    if key in CHOICES:
        valid = {"train.device": {"auto", "cpu", "cuda", "mps"}}.get(key, set())
        options.append(WORDS.filter(lambda w: w not in valid and w not in _choices(key)))
    return st.one_of(options) if options else st.nothing()


def _choices(key: str) -> set[str]:
    from contrastlens.data.splits import DATASETS
    from contrastlens.losses.objective import METHODS
    from contrastlens.models import BACKBONES

    return {
        "data.dataset": set(DATASETS),
        "model.backbone": set(BACKBONES),
        "model.norm": {"bn", "none"},
        "method.name": set(METHODS),
        "optim.name": {"sgd", "lars"},
        "train.amp": {"auto", "bf16", "off"},
        "train.channels_last": {"auto", "on", "off"},
        "train.dtype": {"float32", "float64"},
        "data.augment.recipe": {"simclr", "grayscale", "none"},
        "data.augment.crop": {"resized", "pad", "none"},
        "train.device": set(),
        "model.stem": {"auto", "cifar", "imagenet"},
    }[key]


KEYS = sorted(LEAVES)


@st.composite
def bad_setting(draw, keys: list[str] = KEYS) -> tuple[str, str]:
    """(key, value text): a known key with a value it must refuse."""
    key = draw(st.sampled_from(keys))
    text = draw(st.one_of(wrong_type(key), out_of_range(key)))
    return key, text


@st.composite
def grid_setting(draw) -> tuple[str, str]:
    """(key, value) for a sweep's --grid/--set. The sweep re-prints numbers with 6 significant
    digits before they reach the runs (experiments/sweep.py `_fmt`), so only values that stay
    invalid through that are generated: words for non-strings, numbers for strings."""
    key = draw(st.sampled_from(KEYS))
    tp, _ = _base(LEAVES[key])
    if tp is str:
        values = st.integers(-(10**6), 10**6).map(str)
        if key in CHOICES:
            values = st.one_of(values, out_of_range(key))
    else:
        values = WORDS
        if key in INT_MIN:
            values = st.one_of(values, st.integers(-(10**6), INT_MIN[key] - 1).map(str))
    return key, draw(values)


@st.composite
def unknown_key(draw) -> str:
    section = draw(st.sampled_from(sorted(SECTIONS)))
    leaf = draw(st.text(string.ascii_lowercase + "_", min_size=1, max_size=10))
    key = f"{section}.{leaf}" if section else leaf
    assume(key not in LEAVES and key not in SECTIONS)
    return key


# --------------------------------------------------------------------------- train


@given_settings(CASES["set"])
@hyp_given(data=st.data())
def test_train_set_values_are_rejected(data):
    kind = data.draw(
        st.sampled_from(["value", "value", "value", "unknown", "malformed", "conflict"])
    )
    base = ["train", "--preset", "smoke"]
    if kind == "value":
        key, text = data.draw(bad_setting())
        assert_rejected([*base, "--set", f"{key}={text}"], key)
    elif kind == "unknown":
        key = data.draw(unknown_key())
        line = assert_rejected([*base, "--set", f"{key}=1"], "unknown config key")
        assert key.rsplit(".", 1)[-1] in line
    elif kind == "malformed":
        item, name = data.draw(
            st.sampled_from(
                [
                    ("train.epochs", "key=value"),
                    ("train=5", "section"),
                    ("train.epochs.x=1", "a value"),
                    ("=3", "unknown config key"),
                    ("data.augment=1", "section"),
                ]
            )
        )
        assert_rejected([*base, "--set", item], name)
    else:
        sets, name = data.draw(st.sampled_from(CONFLICTS))
        assert_rejected([*base, *itertools.chain(*(["--set", s] for s in sets))], name)


def _json_value(text: str) -> str:
    """A --set value text as it would appear in a JSON config file."""
    try:
        json.loads(text)
        return text
    except ValueError:
        return json.dumps(text)


def _nest(key: str, raw: str) -> str:
    parts = key.split(".")
    return "".join(f'{{"{p}": ' for p in parts) + raw + "}" * len(parts)


@given_settings(CASES["config"])
@hyp_given(data=st.data())
def test_train_config_files_are_rejected(data, paths):
    kind = data.draw(
        st.sampled_from(
            [
                "value",
                "value",
                "unknown",
                "not_object",
                "section",
                "empty",
                "truncated",
                "binary",
                "path",
            ]
        )
    )
    root = paths["root"]
    names: list[str] = []
    if kind == "value":
        key, text = data.draw(bad_setting())
        path = write_file(root, _nest(key, _json_value(text)).encode())
        names = [key]
    elif kind == "unknown":
        key = data.draw(unknown_key())
        path = write_file(root, _nest(key, "1").encode())
        names = ["unknown config key"]
    elif kind == "not_object":
        text = data.draw(st.sampled_from(["[]", "[1, 2]", "3", '"train"', "null", "true"]))
        path = write_file(root, text.encode())
        names = ["JSON object"]
    elif kind == "section":
        section = data.draw(st.sampled_from(sorted(s for s in SECTIONS if s)))
        path = write_file(
            root, _nest(section, data.draw(st.sampled_from(["1", '"x"', "[]"]))).encode()
        )
        names = [section]
    elif kind == "empty":
        path = write_file(root, data.draw(st.sampled_from([b"", b"\n", b"   \t\n"])))
        names = ["empty"]
    elif kind == "truncated":
        text = json.dumps({"train": {"batch_size": 32, "epochs": 3}, "method": {"name": "dcl"}})
        cut = data.draw(st.integers(1, len(text) - 1))
        path = write_file(root, text[:cut].encode())
        names = ["not valid JSON"]
    elif kind == "binary":
        blob = data.draw(st.binary(min_size=1, max_size=64))
        if data.draw(st.booleans()):
            blob = b"\xff\xfe" + blob  # never UTF-8
        try:
            assume(not isinstance(json.loads(blob.decode("utf-8")), dict))
        except ValueError:
            pass
        path = write_file(root, blob)
    else:
        which = data.draw(st.sampled_from(["missing", "empty_dir", "under_file"]))
        path = paths[which]
        names = ["Fix:"]
    line = assert_rejected(["train", "--preset", "smoke", "--config", path], *names)
    if kind != "value":  # a value the checks refuse is named by its key (it may come from --set)
        assert path in line  # the message names the file


@given_settings(CASES["train_flags"])
@hyp_given(data=st.data())
def test_train_paths_presets_and_resume_are_rejected(data, paths):
    kind = data.draw(
        st.sampled_from(["preset", "resume_path", "resume_garbage", "resume_key", "out_dir"])
    )
    if kind == "preset":
        name = data.draw(WORDS.filter(lambda w: w not in presets.PRESETS))
        assert_rejected(["train", f"--preset={name}"], "unknown preset", name)
    elif kind == "resume_path":
        which = data.draw(st.sampled_from(["missing", "file", "empty_dir", "under_file"]))
        assert_rejected(["train", "--resume", paths[which]], paths[which])
    elif kind == "resume_garbage":
        folder = paths["root"] / f"garbage{next(_counter)}"
        folder.mkdir()
        blob = data.draw(st.one_of(st.binary(max_size=32), st.just(b'{"train": {')))
        blob = b"\xff" + blob if data.draw(st.booleans()) else blob
        try:
            assume(not isinstance(json.loads(blob.decode("utf-8")), dict))
        except ValueError:
            pass
        (folder / "config.json").write_bytes(blob)
        assert_rejected(["train", "--resume", str(folder)], str(folder / "config.json"))
    elif kind == "resume_key":  # settings the checkpoint depends on cannot change on --resume
        key = data.draw(
            st.sampled_from(
                [
                    "train.batch_size=32",
                    "model.proj_dim=4",
                    "method.name=dcl",
                    "train.seed=5",
                    "data.synthetic_n=128",
                    "train.epochs=9",
                ]
            )
        )
        assert_rejected(
            ["train", "--resume", paths["run"], "--set", key],
            "resume cannot change",
            key.split("=")[0],
        )
    else:
        which = data.draw(st.sampled_from(["under_file", "file"]))
        name = data.draw(WORDS)
        assert_rejected(
            ["train", "--preset", "smoke", "--out-dir", paths[which], f"--name={name}"],
            paths[which],
            fix=True,
        )


# --------------------------------------------------------------------------- eval, report

EVAL_KEYS = [k for k in KEYS if k.startswith("eval.")]


@given_settings(CASES["eval"])
@hyp_given(data=st.data())
def test_eval_is_rejected(data, paths):
    kind = data.draw(st.sampled_from(["path", "set", "set", "not_eval", "device"]))
    if kind == "path":
        which = data.draw(st.sampled_from(["missing", "file", "empty_dir", "under_file"]))
        assert_rejected(["eval", paths[which]], paths[which])
    elif kind == "set":
        key, text = data.draw(bad_setting(EVAL_KEYS))
        assert_rejected(["eval", paths["run"], "--set", f"{key}={text}"], key)
    elif kind == "not_eval":
        key, text = data.draw(bad_setting([k for k in KEYS if not k.startswith("eval.")]))
        assert_rejected(["eval", paths["run"], "--set", f"{key}={text}"], "eval.*")
    else:
        device = data.draw(WORDS.filter(lambda w: w not in ("auto", "cpu", "cuda", "mps")))
        assert_rejected(["eval", paths["run"], f"--device={device}"], "--device", device)


@given_settings(CASES["report"])
@hyp_given(data=st.data())
def test_report_is_rejected(data, paths):
    which = data.draw(st.sampled_from(["missing", "file", "under_file", "out"]))
    if which == "out":
        assert_rejected(
            ["report", paths["empty_dir"], "--out", paths["under_file"]],
            paths["under_file"],
            fix=True,
        )
    else:
        assert_rejected(["report", paths[which]], paths[which])


# --------------------------------------------------------------------------- sweep


@given_settings(CASES["sweep"])
@hyp_given(data=st.data())
def test_sweep_is_rejected_before_any_run(data, paths):
    out = str(paths["root"] / f"sweep{next(_counter)}")
    grid = ["--grid", "train.seed=0,1"]
    kind = data.draw(
        st.sampled_from(
            ["grid_value", "grid_value", "grid_unknown", "grid_form", "set", "preset", "out"]
        )
    )
    if kind == "grid_value":
        key, text = data.draw(grid_setting())
        assert_rejected(
            ["sweep", "--preset", "smoke", "--grid", f"{key}=1,{text}", "--out", out], key
        )
    elif kind == "grid_unknown":
        key = data.draw(unknown_key())
        assert_rejected(
            ["sweep", "--preset", "smoke", "--grid", f"{key}=1,2", "--out", out],
            "unknown config key",
        )
    elif kind == "grid_form":
        item = data.draw(st.sampled_from(["train.seed", "train.seed=", "=1,2", ""]))
        assert_rejected(["sweep", "--preset", "smoke", "--grid", item, "--out", out], "grid")
    elif kind == "set":
        key, text = data.draw(grid_setting())
        assert_rejected(
            ["sweep", "--preset", "smoke", *grid, "--set", f"{key}={text}", "--out", out], key
        )
    elif kind == "preset":
        name = data.draw(WORDS.filter(lambda w: w not in presets.PRESETS))
        assert_rejected(["sweep", f"--preset={name}", *grid, "--out", out], "unknown preset")
    else:
        which = data.draw(st.sampled_from(["under_file", "file"]))
        assert_rejected(
            ["sweep", "--preset", "smoke", *grid, "--out", paths[which]], paths[which], fix=True
        )


# --------------------------------------------------------------------------- simulate, theory

SIM_FLOATS = {"--vrn-weight": 0.0, "--temperature": 0.0, "--lr": 0.0}  # lowest valid (exclusive
SIM_INTS = {"--n": 2, "--d": 1, "--batch": 2, "--steps": 1, "--min-steps": 0, "--seed": 0}


@given_settings(CASES["simulate"])
@hyp_given(data=st.data())
def test_simulate_is_rejected(data, paths):
    base = ["simulate", "--out", str(paths["root"] / "sim")]
    kind = data.draw(st.sampled_from(["float", "int", "huge", "not_number", "combo", "out"]))
    if kind == "float":
        flag = data.draw(st.sampled_from(sorted(SIM_FLOATS)))
        value = data.draw(
            st.one_of(
                st.sampled_from(["nan", "inf", "-inf"]),
                st.floats(max_value=-1e-9, allow_nan=False, allow_infinity=False).map(repr),
            )
        )
        assert_rejected([*base, f"{flag}={value}"], flag)
    elif kind == "int":
        flag = data.draw(st.sampled_from(sorted(SIM_INTS)))
        value = data.draw(st.integers(-(10**9), SIM_INTS[flag] - 1))
        name = {"--n": "n", "--d": "d", "--batch": "batch", "--steps": "steps"}.get(flag, flag)
        assert_rejected([*base, f"{flag}={value}"], name)
    elif kind == "huge":
        flag = data.draw(st.sampled_from(sorted(SIM_INTS)))
        assert_rejected([*base, f"{flag}={data.draw(st.integers(HUGE, 2**100))}"], flag)
    elif kind == "not_number":
        flag = data.draw(st.sampled_from(sorted({**SIM_FLOATS, **SIM_INTS})))
        assert_rejected([*base, f"{flag}={data.draw(WORDS)}"], flag)
    elif kind == "combo":
        argv, name = data.draw(
            st.sampled_from(
                [
                    (["--batch=64"], "batch"),
                    (["--n=64", "--batch=5"], "divide"),
                    (["--loss=spectral", "--temperature=0.5"], "--temperature"),
                    (["--t=5"], "--t"),
                    (["--loss=nope"], "--loss"),
                ]
            )
        )
        assert_rejected([*base, *argv], name)
    else:
        assert_rejected(["simulate", "--out", paths["under_file"]], paths["under_file"], fix=True)


@given_settings(CASES["theory"])
@hyp_given(data=st.data())
def test_theory_is_rejected(data):
    nonfinite = st.sampled_from(["nan", "inf", "-inf"])
    kind = data.draw(st.sampled_from(["siglip", "minibatch", "optimum", "tradeoff", "words"]))
    if kind == "siglip":
        which = data.draw(st.sampled_from(["t", "b", "n", "d"]))
        args = {"t": "5", "b": "2", "n": "8"}
        if which == "t":
            args["t"] = data.draw(
                st.one_of(
                    nonfinite,
                    st.floats(max_value=0, allow_nan=False, allow_infinity=False).map(repr),
                )
            )
        elif which == "b":
            args["b"] = data.draw(nonfinite)
        elif which == "n":
            args["n"] = str(
                data.draw(st.one_of(st.integers(-(10**6), 2), st.integers(2**53, 2**80)))
            )
        else:
            args["d"] = str(data.draw(st.integers(-(10**6), 0)))
        argv = ["theory", "siglip", *(f"--{k}={v}" for k, v in args.items())]
        assert_rejected(argv, "t" if which == "t" else which)
    elif kind == "minibatch":
        n, m = data.draw(
            st.sampled_from([(8, 3), (8, 0), (8, 1), (0, 2), (1, 1), (8, 16), (2**60, 4), (-8, 4)])
        )
        assert_rejected(["theory", "minibatch-variance", f"--n={n}", f"--m={m}"])
    elif kind == "optimum":
        n = data.draw(st.one_of(st.integers(-(10**9), 1), st.integers(2**53, 2**90)))
        assert_rejected(["theory", "optimum", f"--n={n}"], "n")
    elif kind == "tradeoff":
        neg = data.draw(
            st.one_of(
                nonfinite, st.floats(1.0001, 1e9).map(repr), st.floats(-1e9, -1.0001).map(repr)
            )
        )
        flag = data.draw(st.sampled_from(["--neg", "--pos"]))
        args = {"--n": "8", "--neg": "0.1", flag: neg}
        assert_rejected(["theory", "tradeoff", *(f"{k}={v}" for k, v in args.items())], flag)
    else:  # argparse: not a number, unknown calculator
        calc = data.draw(st.sampled_from(["optimum --n", "siglip --t 1 --b 1 --n", "nope"]))
        assert_rejected(["theory", *calc.split(), data.draw(WORDS)])


# --------------------------------------------------------------------------- data, reproduce


@given_settings(CASES["data"])
@hyp_given(data=st.data())
def test_data_is_rejected(data, paths):
    kind = data.draw(st.sampled_from(["missing", "imagefolder", "no_name", "argparse"]))
    if kind == "missing":  # nothing is installed in the sandbox and downloads are off
        action = data.draw(st.sampled_from(["verify", "fetch"]))
        name = data.draw(st.sampled_from(["fashion-mnist", "cifar10", "cifar100", "stl10"]))
        root = paths[data.draw(st.sampled_from(["missing", "file", "empty_dir", "under_file"]))]
        argv = ["data", action, name, "--root", root] + (["--no-download"] * (action == "fetch"))
        line = assert_rejected(argv, name, fix=True)
        assert root in line
    elif kind == "imagefolder":
        action = data.draw(st.sampled_from(["verify", "fetch"]))
        which = data.draw(st.sampled_from(["missing", "file", "empty_dir", "under_file", None]))
        argv = ["data", action, "imagefolder"] + (["--root", paths[which]] if which else [])
        assert_rejected(argv, "imagefolder")
    elif kind == "no_name":
        assert_rejected(["data", data.draw(st.sampled_from(["verify", "fetch"]))], "name")
    else:
        assert_rejected(["data", data.draw(WORDS.filter(lambda w: w != "list"))])


@given_settings(CASES["reproduce"])
@hyp_given(data=st.data())
def test_reproduce_is_rejected(data, paths):
    kind = data.draw(st.sampled_from(["only", "seeds", "seeds_absent", "out", "preset"]))
    if kind == "only":
        name = data.draw(WORDS.filter(lambda w: w != "smoke"))
        assert_rejected(["reproduce", "--preset", "smoke", f"--only={name}"], "--only", name)
    elif kind == "seeds":
        flag = data.draw(st.sampled_from(["--seeds", "--batches"]))
        text = data.draw(st.one_of(WORDS, FRACTIONS.map(repr), st.just("1,,2")))
        assert_rejected(["reproduce", "--preset", "smoke", f"{flag}={text}"], flag)
    elif kind == "seeds_absent":
        flag = data.draw(st.sampled_from(["--seeds", "--batches"]))
        values = data.draw(st.lists(st.integers(1000, 10**6), min_size=1, max_size=3))
        assert_rejected(["reproduce", "--preset", "smoke", flag, ",".join(map(str, values))], flag)
    elif kind == "out":
        assert_rejected(
            ["reproduce", "--preset", "smoke", "--out", paths["under_file"]],
            paths["under_file"],
            fix=True,
        )
    else:
        assert_rejected(["reproduce", "--preset", data.draw(WORDS)])


# --------------------------------------------------------------------------- train-text

# TextConfig's numbers: (lowest valid, highest valid); bounds from text/text_config.py's validate
TEXT_RANGES = {
    "batch_size": (2, 2**16),
    "mini_batch_size": (0, 16),
    "train_pairs": (16, None),
    "epochs": (0.0, 1000.0),
    "lr": (0.0, None),
    "warmup_ratio": (0.0, 1.0),
    "weight_decay": (0.0, None),
    "scale": (0.0, None),
    "vrn_weight": (0.0, None),
    "gor_weight": (0.0, None),
    "eval_synsets": (2, None),
    "max_seq_length": (8, 512),
    "log_every": (1, None),
    "seed": (0, 2**32 - 1),
    "subset_seed": (0, 2**32 - 1),
}
TEXT_CHOICES = {"arm", "eval_split", "amp"}


@st.composite
def bad_text_setting(draw) -> tuple[str, str]:
    from contrastlens.text.text_config import TextConfig

    key = draw(st.sampled_from(sorted(TEXT_RANGES) + sorted(TEXT_CHOICES)))
    if key in TEXT_CHOICES:
        return key, draw(
            WORDS.filter(lambda w: w not in {"mnrl", "test", "auto", "bf16", "off", "validation"})
        )
    is_int = isinstance(getattr(TextConfig(), key), int)
    lo, hi = TEXT_RANGES[key]
    kinds = ["type", "low"] + (["high"] if hi is not None else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "type":
        return key, draw(
            st.one_of(WORDS, FRACTIONS.map(repr)) if is_int else st.one_of(WORDS, NONFINITE)
        )
    if kind == "low":
        if is_int:  # 0 means "all" for these two
            zero_ok = key in ("train_pairs", "eval_synsets")
            return key, str(draw(st.integers(-(10**6), lo - 1).filter(lambda v: v or not zero_ok)))
        if key in ("epochs", "lr", "scale"):  # > 0
            return key, repr(draw(st.floats(-1e6, 0.0, allow_nan=False)))
        return key, repr(draw(st.floats(-1e6, lo, exclude_max=True, allow_nan=False)))
    if is_int:
        return key, str(draw(st.integers(hi + 1, 10**30)))
    exclusive = key != "warmup_ratio"  # [0, 1): 1 itself is too high
    return key, repr(draw(st.floats(hi, 1e30, exclude_min=exclusive, allow_nan=False)))


@given_settings(CASES["train_text"])
@hyp_given(data=st.data())
def test_train_text_is_rejected(data, paths):
    kind = data.draw(st.sampled_from(["value", "value", "value", "unknown", "config", "preset"]))
    base = ["train-text", "--preset", "wordnet"]
    if kind == "value":
        key, text = data.draw(bad_text_setting())
        extra = ["--set", "arm=cached-mnrl"] if key == "mini_batch_size" else []
        assert_rejected([*base, *extra, "--set", f"{key}={text}"], key)
    elif kind == "unknown":
        known = {*TEXT_RANGES, *TEXT_CHOICES, "name", "out_dir", "preset"}
        key = data.draw(WORDS.filter(lambda w: not w.startswith("-") and w not in known))
        assert_rejected([*base, "--set", f"{key}=1"], "unknown text setting")
    elif kind == "config":
        content = data.draw(
            st.sampled_from(
                [
                    b"\x00\xff",
                    b"{",
                    b"[1]",
                    b'{"lr": "fast"}',
                    b'{"seed": 1.5}',
                    b'{"arm": 3}',
                    b'{"lr": NaN}',
                    b'{"nope": 1}',
                ]
            )
        )
        assert_rejected([*base, "--config", write_file(paths["root"], content)])
    else:
        assert_rejected(["train-text", "--preset", data.draw(WORDS)])


# --------------------------------------------------------------------------- inspect


def _npy(root, array) -> str:
    import numpy as np

    path = root / "files" / f"a{next(_counter)}.npy"
    path.parent.mkdir(exist_ok=True)
    np.save(path, array)
    return str(path)


def _good(rows: int = 12, dim: int = 4, seed: int = 0):
    import numpy as np

    return np.random.default_rng(seed).normal(size=(rows, dim)).astype(np.float32) + 0.5


@st.composite
def bad_embeddings(draw) -> tuple:
    """(array or raw bytes, words the message must contain)."""
    import numpy as np

    kind = draw(
        st.sampled_from(
            [
                "nan",
                "inf",
                "zero",
                "1d",
                "3d",
                "one_row",
                "complex",
                "strings",
                "empty",
                "garbage",
                "object",
            ]
        )
    )
    rows = draw(st.integers(2, 30))
    array = _good(rows, draw(st.integers(1, 6)), draw(st.integers(0, 99)))
    row = draw(st.integers(0, rows - 1))
    if kind in ("nan", "inf"):
        array[row, draw(st.integers(0, array.shape[1] - 1))] = np.nan if kind == "nan" else np.inf
        return array, ["NaN or Inf", f"row {row}"]
    if kind == "zero":
        array[row] = 0
        return array, ["all-zero", f"row {row}"]
    if kind == "1d":
        return array[:, 0], ["2-D"]
    if kind == "3d":
        return array[None], ["2-D"]
    if kind == "one_row":
        return array[:1], ["at least 2 rows"]
    if kind == "complex":
        return array.astype(np.complex64), ["real numbers"]
    if kind == "strings":
        return array.astype(str), ["real numbers"]
    if kind == "empty":
        return b"", ["empty"]
    if kind == "object":
        return np.array([[1, "a"], [2, "b"]], dtype=object), ["could not be read"]
    return draw(st.binary(min_size=1, max_size=40)), ["could not be read"]


@given_settings(CASES["inspect"])
@hyp_given(data=st.data())
def test_inspect_is_rejected(data, paths):
    import numpy as np

    root = paths["root"]
    out = ["--out", str(root / f"lens{next(_counter)}")]
    kind = data.draw(
        st.sampled_from(
            [
                "embeddings",
                "embeddings",
                "embeddings",
                "mismatch",
                "labels",
                "pairs",
                "model_path",
                "run_dir",
                "flags",
                "inputs",
                "out",
            ]
        )
    )
    if kind == "embeddings":
        array, words = data.draw(bad_embeddings())
        where = st.sampled_from(["--embeddings", "--positives"])
        flag = data.draw(where)
        if isinstance(array, bytes):
            path = str(root / "files" / f"b{next(_counter)}.npy")
            (root / "files").mkdir(exist_ok=True)
            (root / "files" / Path(path).name).write_bytes(array)
        else:
            path = _npy(root, array)
        rows = max(array.shape[0], 2) if not isinstance(array, bytes) and array.ndim == 2 else 12
        dim = array.shape[1] if not isinstance(array, bytes) and array.ndim == 2 else 4
        other = _npy(root, _good(rows, dim, 1))
        argv = (
            ["--embeddings", path]
            if flag == "--embeddings"
            else ["--embeddings", other, "--positives", path]
        )
        assert_rejected(["inspect", *argv, *out], path, *words)
    elif kind == "mismatch":
        rows, dim = data.draw(st.integers(2, 20)), data.draw(st.integers(1, 8))
        E = _npy(root, _good(rows, dim))
        if data.draw(st.booleans()):
            other = data.draw(st.integers(2, 20).filter(lambda r: r != rows))
            P = _npy(root, _good(other, dim))
            assert_rejected(
                ["inspect", "--embeddings", E, "--positives", P, *out], f"{rows} rows", f"{other}"
            )
        else:
            other = data.draw(st.integers(1, 8).filter(lambda d: d != dim))
            P = _npy(root, _good(rows, other))
            assert_rejected(
                ["inspect", "--embeddings", E, "--positives", P, *out],
                f"dimension {dim}",
                f"{other}",
            )
    elif kind == "labels":
        rows = data.draw(st.integers(2, 20))
        E = _npy(root, _good(rows, 3))
        which = data.draw(st.sampled_from(["count", "float", "2d"]))
        if which == "count":
            n = data.draw(st.integers(1, 30).filter(lambda k: k != rows))
            L, words = _npy(root, np.arange(n)), [f"{n} labels", f"{rows} rows"]
        elif which == "float":
            L, words = _npy(root, np.arange(rows) + 0.5), ["non-integer"]
        else:
            L, words = _npy(root, np.zeros((rows, 2), dtype=int)), ["1-D"]
        assert_rejected(["inspect", "--embeddings", E, "--labels", L, *out], L, *words)
    elif kind == "pairs":
        text, words = data.draw(
            st.sampled_from(
                [
                    ("", ["empty"]),
                    ("anchor\tpositive\n", ["0 pair"]),
                    ("a\tb\nx\ty\nz\tw\n", ["anchor and positive"]),
                    ("anchor\tpositive\tlabel\nx\ty\t\nz\tw\t1\n", ["line 2", "label"]),
                    ("anchor\tpositive\n\t y\nz\tw\n", ["line 2", "anchor"]),
                ]
            )
        )
        pairs = write_file(root, text.encode()).replace(".json", ".tsv")
        Path(pairs).write_text(text)
        assert_rejected(
            ["inspect", "--model", paths["empty_dir"], "--pairs", pairs, *out], pairs, *words
        )
    elif kind == "model_path":
        which = data.draw(st.sampled_from(["missing", "file", "under_file"]))
        pairs = str(root / "ok.tsv")
        Path(pairs).write_text("anchor\tpositive\na\tb\nc\td\n")
        assert_rejected(
            ["inspect", "--model", paths[which], "--pairs", pairs, *out], paths[which], fix=True
        )
    elif kind == "run_dir":
        which = data.draw(st.sampled_from(["missing", "file", "empty_dir", "under_file"]))
        assert_rejected(["inspect", paths[which], *out], paths[which])
    elif kind == "flags":
        flag, value = data.draw(
            st.sampled_from(
                [
                    ("--batch-size", "1"),
                    ("--batch-size", "-3"),
                    ("--batch-size", "x"),
                    ("--queries", "0"),
                    ("--seed", "-1"),
                    ("--dataset-size", "1"),
                    ("--precisions", "int4"),
                    ("--precisions", ","),
                    ("--device", "tpu"),
                    ("--encode-batch-size", "0"),
                    ("--split", "val"),
                ]
            )
        )
        E = _npy(root, _good())
        assert_rejected(["inspect", "--embeddings", E, f"{flag}={value}", *out], flag)
    elif kind == "inputs":
        E = _npy(root, _good())
        argv, words = data.draw(
            st.sampled_from(
                [
                    ([], ["exactly one input"]),
                    (["--embeddings", E, "--model", "x"], ["exactly one input"]),
                    (["--embeddings", E, "--pairs", "p.tsv"], ["pairs go with a model"]),
                    (["--model", "x"], ["needs pairs"]),
                    (["--embeddings", E, "--positives", E, "--compare", E], ["compare_positives"]),
                    (["--embeddings", E, "--batch-size", "13"], ["batch size 13", "[2, 12]"]),
                ]
            )
        )
        assert_rejected(["inspect", *argv, *out], *words)
    else:
        which = data.draw(st.sampled_from(["under_file", "file"]))
        E = _npy(root, _good())
        assert_rejected(
            ["inspect", "--embeddings", E, "--out", paths[which]], paths[which], fix=True
        )


def test_every_subcommand_is_fuzzed():
    """A new subcommand needs its generated cases here."""
    from contrastlens.cli import build_parser

    parser = build_parser()
    (sub,) = [a for a in parser._actions if a.dest == "command"]
    fuzzed = {
        "data",
        "eval",
        "report",
        "reproduce",
        "simulate",
        "sweep",
        "theory",
        "train",
        "train-text",
        "inspect",
    }
    assert set(sub.choices) == fuzzed
    assert sum(CASES.values()) >= 500
