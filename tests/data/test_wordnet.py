"""WordNet 3.0 for the text study: the parser on real and corrupt lines, checksums, the split."""

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from contrastlens.cli import main
from contrastlens.data import sources, wordnet
from contrastlens.data.wordnet import Synset, parse_file, parse_line, split_gloss, split_synsets
from contrastlens.errors import DataError

try:
    WORDNET_DIR = wordnet.locate()
except DataError:
    WORDNET_DIR = None
needs_wordnet = pytest.mark.skipif(
    WORDNET_DIR is None, reason="WordNet is not installed (apt-get install wordnet-base)"
)

# Real lines of Debian's wordnet-base 1:3.0-37 (file, line) and what they parse to.
REAL_LINES = {
    ("data.verb", 33): (
        "00002724 29 v 01 choke 0 002 @ 00001740 v 0000 + 14058252 n 0101 01 + 02 00 | "
        "breathe with great difficulty, as when experiencing a strong emotion; "
        '"She choked with emotion when she spoke about her deceased husband"  \n',
        Synset(
            2724,
            "v",
            ("choke",),
            "breathe with great difficulty, as when experiencing a strong emotion",
            ("She choked with emotion when she spoke about her deceased husband",),
            29,
        ),
    ),
    ("data.adj", 186): (
        "00032358 00 s 02 about(p) 0 astir(p) 0 001 & 00031974 a 0000 | on the move; "
        '"up and about"; "the whole town was astir over the incident"  \n',
        Synset(
            32358,
            "a",
            ("about", "astir"),
            "on the move",
            ("up and about", "the whole town was astir over the incident"),
            0,
        ),
    ),
    ("data.noun", 87): (
        "00035891 04 n 01 alienation 0 001 @ 00037396 n 0000 | the action of alienating; "
        'the action of causing to become unfriendly; "his behavior alienated the other '
        'students"  \n',
        Synset(
            35891,
            "n",
            ("alienation",),
            "the action of alienating; the action of causing to become unfriendly",
            ("his behavior alienated the other students",),
            4,
        ),
    ),
    ("data.adj", 146): (  # an attribution after the last example is dropped
        "00024619 00 s 02 used_to(p) 0 wont_to(p) 0 001 & 00024417 a 0000 | in the habit; "
        '"I am used to hitchhiking"; "you\'ll get used to the idea"; "...was wont to '
        'complain that this is a cold world"- Henry David Thoreau  \n',
        Synset(
            24619,
            "a",
            ("used_to", "wont_to"),
            "in the habit",
            (
                "I am used to hitchhiking",
                "you'll get used to the idea",
                "...was wont to complain that this is a cold world",
            ),
            0,
        ),
    ),
    ("data.adv", 3550): (  # no pointers, no example
        "00505450 02 r 02 by_rights 0 properly 1 000 | with reason or justice  \n",
        Synset(505450, "r", ("by_rights", "properly"), "with reason or justice", (), 2),
    ),
}


@pytest.mark.parametrize("where", list(REAL_LINES), ids=lambda w: f"{w[0]}:{w[1]}")
def test_parse_real_lines(where):
    line, expected = REAL_LINES[where]
    synset = parse_line(line)
    assert synset == expected
    assert synset.key == f"{expected.offset:08d}-{expected.pos}"
    assert synset.lexname == wordnet.LEXNAMES[expected.lex_filenum]


def test_lexicographer_files():
    choke, about, alienation, _, by_rights = (s for _, s in REAL_LINES.values())
    assert (choke.lexname, about.lexname) == ("verb.body", "adj.all")
    assert (alienation.lexname, by_rights.lexname) == ("noun.act", "adv.all")
    assert len(wordnet.LEXNAMES) == 45 and wordnet.LEXNAMES[44] == "adj.ppl"
    assert Synset(1, "n", ("w",), "d", ()).lexname == "unknown (-1)"


@needs_wordnet
def test_real_lines_are_the_installed_ones():
    for (fname, lineno), (line, expected) in REAL_LINES.items():
        with open(WORDNET_DIR / fname, encoding="ascii") as fh:
            fh.seek(expected.offset)  # synset_offset is the line's byte offset
            assert fh.readline() == line
        with open(WORDNET_DIR / fname, encoding="ascii") as fh:
            assert fh.readlines()[lineno - 1] == line


@pytest.mark.parametrize(
    "line,problem",
    [
        ("00002724 29 v 01 choke 0 002 @ 00001740 v 0000 breathe hard\n", "no ' | '"),
        ("0000272 29 v 01 choke 0 000 01 + 02 00 | breathe\n", "synset_offset '0000272'"),
        ("00002724 29 x 01 choke 0 000 | breathe\n", "ss_type 'x'"),
        (
            "00002724 29 n 02 choke 0 000 | breathe\n",
            "ends before its lex_id",
        ),  # w_cnt says 2 words
        ("00002724 29 n 01 choke 0 002 @ 00001740 n 0000 | breathe\n", "ends before its pointer"),
        ("00002724 29 n 01 choke 0 001 @ 0001740 n 0000 | breathe\n", "pointer offset"),
        ("00002724 29 v 01 choke 0 000 | breathe\n", "ends before its f_cnt"),  # verb, no frames
        ("00002724 29 n 01 choke 0 000 01 + 02 00 | breathe\n", "4 unexpected fields"),
        ("00002724 29 n 00 000 | breathe\n", "w_cnt is 0"),
    ],
)
def test_corrupt_lines_name_the_line_and_the_fix(line, problem):
    with pytest.raises(DataError) as err:
        parse_line(line, 17, "/x/data.noun")
    msg = str(err.value)
    assert msg.startswith("/x/data.noun, line 17: not a WordNet data line")
    assert problem in msg and "apt-get install --reinstall wordnet-base" in msg


def test_split_gloss_rules():
    assert split_gloss("with reason or justice  ") == ("with reason or justice", ())
    assert split_gloss('painful;"losing a child";  ') == ("painful", ("losing a child",))
    assert split_gloss('actor: "Hemingway favors active constructions"') == (
        "actor",
        ("Hemingway favors active constructions",),
    )
    # unclosed last quote runs to the end; duplicates and empty quotes are dropped
    assert split_gloss('notice; "a notice"; "a notice"; ""; "a notice of sale') == (
        "notice",
        ("a notice", "a notice of sale"),
    )
    assert split_gloss('branch where postal services are available"') == (
        "branch where postal services are available",
        (),
    )


# ----------------------------------------------------------------------------- files on disk
@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No system copy, no user roots, no installs: only what the test puts in tmp_path."""
    monkeypatch.setattr(wordnet, "SYSTEM_DIRS", ())
    monkeypatch.setattr(sources, "DEFAULT_ROOT", tmp_path / "default-root")
    monkeypatch.delenv("CONTRASTLENS_DATA", raising=False)
    monkeypatch.setenv("CONTRASTLENS_OFFLINE", "1")
    return tmp_path


def _copy_with(root: Path, fname: str, data: bytes) -> Path:
    """ROOT/wordnet/ with the installed files linked and `fname` replaced by `data`."""
    d = root / "wordnet"
    d.mkdir(parents=True)
    for f in wordnet.FILES:
        if f == fname:
            (d / f).write_bytes(data)
        else:
            (d / f).symlink_to(WORDNET_DIR / f)
    return d / fname


@needs_wordnet
def test_verify_installed_files_and_cli(capsys):
    report = wordnet.verify()
    assert report.ok and [c.path.name for c in report.checks] == list(wordnet.FILES)
    assert main(["data", "verify", "wordnet"]) == 0
    out = capsys.readouterr().out
    for fname in wordnet.FILES:
        assert f"ok  {fname}: sha256 ok (wordnet-base 1:3.0-37)" in out


@needs_wordnet
def test_truncated_file_names_file_and_fix(isolated, capsys):
    raw = (WORDNET_DIR / "data.adv").read_bytes()
    bad = _copy_with(isolated / "root", "data.adv", raw[:200_000])
    report = wordnet.verify(isolated / "root")
    assert not report.ok
    (check,) = [c for c in report.checks if not c.ok]
    assert check.path == bad and "truncated" in check.detail
    assert "apt-get install --reinstall wordnet-base" in check.detail
    with pytest.raises(DataError, match=r"data\.adv.*truncated.*apt-get install --reinstall"):
        wordnet.load_synsets(isolated / "root")
    with pytest.raises(DataError, match=r"data\.adv, line \d+: the last line is incomplete"):
        parse_file(bad)  # without the checksum, the parser still refuses the torn line
    assert main(["data", "verify", "wordnet", "--root", str(isolated / "root")]) == 1
    assert "BAD data.adv: sha256" in capsys.readouterr().out


@needs_wordnet
def test_lost_byte_is_caught_by_the_offsets(isolated):
    raw = bytearray((WORDNET_DIR / "data.adv").read_bytes())
    at = raw.index(b"a cappella")
    del raw[at]  # one byte lost inside line 30's gloss: line 31 starts a byte early
    bad = _copy_with(isolated / "root", "data.adv", bytes(raw))
    with pytest.raises(DataError, match=r"data\.adv, line 31: synset_offset 00001837 but"):
        parse_file(bad)
    with pytest.raises(DataError, match=r"data\.adv.*does not match"):
        wordnet.verified_dir(isolated / "root")


@needs_wordnet
def test_fast_and_field_by_field_parsers_agree():
    lines = (WORDNET_DIR / "data.adv").read_text("ascii").splitlines(keepends=True)
    lines += (WORDNET_DIR / "data.verb").read_text("ascii").splitlines(keepends=True)[:2000]
    for line in lines:
        if line.startswith("  "):
            continue
        head = line.partition(" | ")[0]
        offset, ss_type, words = wordnet._walk_fields(line, head, "here")
        s = parse_line(line)
        assert (s.offset, s.pos) == (offset, "a" if ss_type == "s" else ss_type)
        assert s.words == tuple(wordnet._ADJ_MARKER.sub("", w) for w in words)
        assert s.lex_filenum == int(head.split()[1])


def test_missing_offline_not_root_and_no_apt(isolated, monkeypatch, capsys):
    with pytest.raises(DataError) as err:
        wordnet.fetch(isolated / "empty")
    msg = str(err.value)
    assert "WordNet 3.0 not found" in msg and "apt-get install -y wordnet-base" in msg
    assert "installing is disabled" in msg
    assert main(["data", "fetch", "wordnet", "--root", str(isolated / "empty")]) == 2
    assert "Traceback" not in capsys.readouterr().err

    monkeypatch.delenv("CONTRASTLENS_OFFLINE")
    monkeypatch.setattr(subprocess, "run", None)  # must not be reached
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(wordnet.shutil, "which", lambda cmd: "/usr/bin/" + cmd)
    with pytest.raises(DataError, match="not running as root.*sudo apt-get install -y wordnet"):
        wordnet.fetch(isolated / "empty")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(wordnet.shutil, "which", lambda cmd: None)
    with pytest.raises(DataError, match="apt-get is not available.*install the package"):
        wordnet.fetch(isolated / "empty")


@needs_wordnet
def test_fetch_runs_apt_as_root(isolated, monkeypatch):
    system = isolated / "usr-share-wordnet"
    monkeypatch.setattr(wordnet, "SYSTEM_DIRS", (system,))
    monkeypatch.delenv("CONTRASTLENS_OFFLINE")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(wordnet.shutil, "which", lambda cmd: "/usr/bin/" + cmd)
    commands = []

    def fake_apt(cmd, **kwargs):  # "installs" the package by linking the real files
        commands.append(cmd[1:])
        if "install" in cmd:
            system.mkdir()
            for f in wordnet.FILES:
                (system / f).symlink_to(WORDNET_DIR / f)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(subprocess, "run", fake_apt)
    report = wordnet.fetch()
    assert report.ok and report.directory == system
    assert commands[0] == ["update", "-qq"] and commands[1][-1] == "wordnet-base"
    assert wordnet.fetch().ok and len(commands) == 2  # verified: no second install


# ----------------------------------------------------------------------------- the split
def _s(i: int, definition: str, *examples: str) -> Synset:
    return Synset(i, "n", (f"w{i}",), definition, examples)


def test_synsets_sharing_a_text_stay_in_one_split():
    synsets = [_s(i, f"definition {i}", f"example {i}") for i in range(40)]
    synsets[3] = _s(3, "Shared  definition", "example 3")
    synsets[17] = _s(17, "shared definition", "example 17")  # case and spacing ignored
    synsets[25] = _s(25, "definition 25", "example 17", "x")  # shares 17's example
    synsets[31] = _s(31, "definition 31", "definition 25")  # example = 25's definition
    linked = {3, 17, 25, 31}
    for seed in range(20):
        split = split_synsets(synsets, n_validation=5, n_test=8, seed=seed)
        sizes = [len(split.train), len(split.validation), len(split.test)]
        assert sizes == [27, 5, 8]
        homes = [i for i, part in enumerate(split) if linked & {s.offset for s in part}]
        assert len(homes) == 1  # all four in the same split
    with pytest.raises(ValueError, match="n_validation"):
        split_synsets(synsets, n_validation=30, n_test=20)


@pytest.fixture(scope="module")
def real_synsets():
    if WORDNET_DIR is None:
        pytest.skip("WordNet is not installed (apt-get install wordnet-base)")
    return wordnet.load_synsets()


def _texts(part) -> set[str]:
    return {wordnet._norm(t) for s in part for t in (s.definition, *s.examples)}


def _digest(part) -> str:
    return hashlib.sha256("\n".join(s.key for s in part).encode()).hexdigest()[:16]


def test_real_counts(real_synsets):
    assert len(real_synsets) == 32_927  # synsets with a definition and >= 1 example
    assert len(wordnet.pairs(real_synsets)) == 48_342
    assert all(s.definition and s.examples for s in real_synsets)
    keys = [s.key for s in real_synsets]
    assert keys == sorted(set(keys))
    senses = wordnet.senses_by_word(real_synsets)
    assert len(senses["well"]) > 5  # hard negatives: other senses of the same word


def test_real_lexicographer_files_match_the_part_of_speech(real_synsets):
    """Every synset's lexicographer file is one of its part of speech (noun.* for nouns, ...):
    the LEXNAMES table is in lex_filenum order."""
    prefix = {"n": ("noun.",), "v": ("verb.",), "a": ("adj.",), "r": ("adv.",)}
    assert all(s.lexname.startswith(prefix[s.pos]) for s in real_synsets)
    used = {s.lex_filenum for s in real_synsets}
    assert len(used) >= 40 and used <= set(range(45))


def test_real_split_is_fixed_disjoint_and_leak_free(real_synsets):
    split = split_synsets(real_synsets)
    assert [len(p) for p in split] == [26_927, 2_000, 4_000]
    # the split never changes: pinned (seed 0, Debian's files)
    assert [_digest(p) for p in split] == [
        "4c3c2960bdf217b8",
        "111489f89235d2cc",
        "66ca81965b3b2a27",
    ]
    assert split_synsets(list(reversed(real_synsets))) == split  # input order is irrelevant
    keys = [{s.key for s in p} for p in split]
    assert not (keys[0] & keys[1] or keys[0] & keys[2] or keys[1] & keys[2])
    assert set.union(*keys) == {s.key for s in real_synsets}
    train, validation, test = (_texts(p) for p in split)
    assert not (test & train) and not (test & validation) and not (validation & train)
    assert _digest(split_synsets(real_synsets, seed=1).test) != _digest(split.test)


# ----------------------------------------------------------------------------- the text task
def _syn(offset: int, definition: str, *examples: str) -> Synset:
    return Synset(offset, "n", (f"w{offset}",), definition, tuple(examples))


def test_training_pairs_are_a_fixed_seeded_subset():
    synsets = [_syn(i, f"def {i}", f"ex {i} a", f"ex {i} b") for i in range(50)]
    every = wordnet.training_pairs(synsets)
    assert sorted(every) == sorted(wordnet.pairs(synsets)) and len(every) == 100
    first = wordnet.training_pairs(synsets, 30, seed=0)
    assert first == every[:30]  # a prefix of one fixed order
    assert first == wordnet.training_pairs(list(reversed(synsets)), 30, seed=0)  # input order
    assert first != wordnet.training_pairs(synsets, 30, seed=1)
    with pytest.raises(ValueError, match="101 training pairs asked for, but the split has 100"):
        wordnet.training_pairs(synsets, 101)
    with pytest.raises(ValueError, match="n must be >= 0"):
        wordnet.training_pairs(synsets, -1)


def test_retrieval_task_merges_shared_definitions():
    synsets = [
        _syn(1, "a dog", "the dog barked", "a dog ran"),
        _syn(2, "a cat", "cats purr"),
        _syn(3, "A  dog", "my dog"),
    ]  # 3 shares 1's definition
    task = wordnet.retrieval_task(synsets)
    assert task.corpus == {"00000001-n": "a dog", "00000002-n": "a cat"}
    assert task.queries == {
        "00000001-n#0": "the dog barked",
        "00000001-n#1": "a dog ran",
        "00000002-n#0": "cats purr",
        "00000003-n#0": "my dog",
    }
    assert task.relevant["00000003-n#0"] == {"00000001-n"}
    assert set(task.relevant) == set(task.queries)
    examples, definitions = wordnet.lens_pairs(synsets)
    assert (examples, definitions) == (["the dog barked", "cats purr"], ["a dog", "a cat"])
    assert wordnet.lens_synsets(synsets) == synsets[:2]


def test_real_test_split_task(real_synsets):
    test = split_synsets(real_synsets).test
    task = wordnet.retrieval_task(test)
    assert len(task.corpus) <= len(test) and len(task.queries) == sum(len(s.examples) for s in test)
    assert all(
        len(docs) == 1 and next(iter(docs)) in task.corpus for docs in task.relevant.values()
    )
