"""WordNet 3.0 as (example sentence, definition) pairs: locate, verify, parse, split.

The text study retrieves a synset's definition from one of its example sentences;
other senses of the same word are the natural hard negatives.

Files: `data.noun`, `data.verb`, `data.adj`, `data.adv` of WordNet 3.0, looked for, in order, in
`--root`, `$CONTRASTLENS_DATA`, `~/.cache/contrastlens/data` (each as `ROOT/wordnet/`,
`ROOT/WordNet-3.0/dict/`, `ROOT/dict/` or `ROOT/` itself) and Debian's `wordnet-base`
(`/usr/share/wordnet`). The checksums below are those of Debian's build; Debian regenerates the
database from the lexicographer sources (grind), so its `data.adj` is not byte-identical to
Princeton's tarball (some adjective offsets differ by a byte) and only Debian's files verify.

Format (wndb(5WN)): header lines (the license) start with two spaces; every other line is

    synset_offset lex_filenum ss_type w_cnt word lex_id [word lex_id...] p_cnt [ptr...]
    [frames...] | gloss

with `synset_offset` the line's own byte offset in the file (checked: it catches inserted,
removed or damaged bytes), `w_cnt` two hex digits, `p_cnt` three decimal digits, a pointer
`symbol offset pos source/target`, and verb frames `f_cnt + f_num w_num ...`.

A gloss is a definition followed by quoted example sentences:
`in an acute manner; "she pitied her sister acutely"; "acutely aware"`. The definition is the
text before the first `"` with trailing `;`, `:` or `,` removed; the examples are the quoted
parts (an unclosed last quote runs to the end of the gloss); anything outside the quotes after
the definition (attributions such as `- Shakespeare`) is dropped. A handful of glosses quote a
phrase inside the definition (`as in the expression "on the job"`); the same rule applies.

Standard library only: no torch.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from contrastlens.data.sources import FileCheck, VerifyReport, search_roots
from contrastlens.errors import DataError

NAME = "wordnet"
PACKAGE = "wordnet-base"
PACKAGE_VERSION = "1:3.0-37"  # Debian 12 (bookworm); the files below come from this build
SYSTEM_DIRS = (Path("/usr/share/wordnet"),)
SUBDIRS = ("wordnet", "WordNet-3.0/dict", "dict", ".")

# file -> (pos letter of its synsets, sha256, size in bytes) of Debian's wordnet-base 1:3.0-37.
FILES = {
    "data.noun": (
        "n",
        "fea17d2f9656611334eac790e5d69e47645fa180c4aa481fb4cd9b3520754ca2",
        15300280,
    ),
    "data.verb": (
        "v",
        "adcf43e35b581e8036d8b5a52d63d9cd3d3b4870b2720d3c03c799df44777bc2",
        2772517,
    ),
    "data.adj": (
        "a",
        "c89120dfc1f046ddff4a631bf9b7e9fa1a36b5e86565a23bf82dbe14f30b88a7",
        3155427,
    ),
    "data.adv": (
        "r",
        "444a63bf3955080ab7524f5079cfc07ff9bc682cb98bdb1db73b0fb9829f1139",
        516696,
    ),
}
SS_TYPES = {"n": "n", "v": "v", "a": "as", "r": "r"}  # file pos -> allowed ss_type letters
REINSTALL = f"`apt-get install --reinstall {PACKAGE}`"
# lexnames(5WN): the 45 lexicographer files of WordNet 3.0, by lex_filenum; a coarse semantic
# class of every synset (26 noun, 15 verb, 3 adjective and 1 adverb files)
LEXNAMES = tuple(
    (
        "adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute "
        "noun.body noun.cognition noun.communication noun.event noun.feeling noun.food "
        "noun.group noun.location noun.motive noun.object noun.person noun.phenomenon noun.plant "
        "noun.possession noun.process noun.quantity noun.relation noun.shape noun.state "
        "noun.substance noun.time verb.body verb.change verb.cognition verb.communication "
        "verb.competition verb.consumption verb.contact verb.creation verb.emotion verb.motion "
        "verb.perception verb.possession verb.social verb.stative verb.weather adj.ppl"
    ).split()
)

_ADJ_MARKER = re.compile(r"\((?:a|p|ip)\)$")  # data.adj: syntactic marker glued to the word
_QUOTED = re.compile(r'"([^"]*)"?')  # a quoted example; an unclosed last one runs to the end


@dataclass(frozen=True)
class Synset:
    """One synset with its gloss split; `pos` is its file's letter (n, v, a, r)."""

    offset: int
    pos: str
    words: tuple[str, ...]  # as in WordNet (underscores for spaces), adjective markers removed
    definition: str
    examples: tuple[str, ...]
    lex_filenum: int = -1  # its lexicographer file, `LEXNAMES[lex_filenum]`; -1 = not known

    @property
    def lexname(self) -> str:
        """The lexicographer file, e.g. `noun.animal` or `verb.motion` (lexnames(5WN))."""
        if 0 <= self.lex_filenum < len(LEXNAMES):
            return LEXNAMES[self.lex_filenum]
        return f"unknown ({self.lex_filenum})"

    @property
    def key(self) -> str:
        """WordNet's usual synset id, e.g. `00001740-r`; unique across the four files."""
        return f"{self.offset:08d}-{self.pos}"


@dataclass(frozen=True)
class WordNetSplit:
    """Synsets per split, each sorted by `Synset.key`; unpacks as `train, validation, test`."""

    train: tuple[Synset, ...]
    validation: tuple[Synset, ...]
    test: tuple[Synset, ...]

    def __iter__(self):
        return iter((self.train, self.validation, self.test))


# ----------------------------------------------------------------------------- files on disk
def candidate_dirs(root: str | os.PathLike | None = None) -> list[Path]:
    """The directories searched, in order (see the module docstring)."""
    return [r / s for r in search_roots(root) for s in SUBDIRS] + list(SYSTEM_DIRS)


def locate(root: str | os.PathLike | None = None) -> Path:
    """The first directory holding all four data files; `DataError` with the fix if none."""
    tried = candidate_dirs(root)
    for d in tried:
        if all((d / f).is_file() for f in FILES):
            return d
    raise DataError(missing_message(tried))


def missing_message(tried: list[Path]) -> str:
    """One line: where WordNet was looked for and how to get it."""
    where = ", ".join(str(d) for d in dict.fromkeys(tried))
    return (
        f"WordNet 3.0 not found (looked in {where}). Fix: on Debian/Ubuntu as root, "
        f"`apt-get update && apt-get install -y {PACKAGE}` (`contrastlens data fetch wordnet` "
        f"runs it), or copy {', '.join(FILES)} of Debian's {PACKAGE} {PACKAGE_VERSION} into "
        "ROOT/wordnet/ and pass `--root ROOT` or set $CONTRASTLENS_DATA=ROOT."
    )


def sha256sum(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def verify(root: str | os.PathLike | None = None) -> VerifyReport:
    """Check the four data files against the sha256 of Debian's build (one line per file)."""
    directory = locate(root)
    report = VerifyReport(NAME, directory)
    for fname, (_, expected, size) in FILES.items():
        path = directory / fname
        digest = sha256sum(path)
        if digest == expected:
            report.checks.append(FileCheck(path, True, f"sha256 ok ({PACKAGE} {PACKAGE_VERSION})"))
            continue
        actual = path.stat().st_size
        what = "truncated" if actual < size else "corrupt or a different build"
        report.checks.append(
            FileCheck(
                path,
                False,
                f"sha256 {digest} does not match {expected} ({actual} bytes, expected {size}): "
                f"the file is {what}. Fix: {REINSTALL} (or replace {path} with the file of "
                f"Debian's {PACKAGE} {PACKAGE_VERSION}).",
            )
        )
    return report


def verified_dir(root: str | os.PathLike | None = None) -> Path:
    """`locate` + `verify`; `DataError` naming each bad file and the fix."""
    report = verify(root)
    if not report.ok:
        bad = "; ".join(f"{c.path}: {c.detail}" for c in report.checks if not c.ok)
        raise DataError(f"WordNet files failed verification: {bad}")
    return report.directory


def fetch(root: str | os.PathLike | None = None, download: bool = True) -> VerifyReport:
    """A verified copy: an existing one, else `apt-get install wordnet-base` (root with apt)."""
    try:
        report = verify(root)
    except DataError:
        report = None
    if report is not None and (report.ok or report.directory not in SYSTEM_DIRS):
        return report  # verified, or a damaged copy of the user's that apt would not replace
    problem = (
        missing_message(candidate_dirs(root))
        if report is None
        else "; ".join(f"{c.path}: {c.detail}" for c in report.checks if not c.ok)
    )
    if not download or os.environ.get("CONTRASTLENS_OFFLINE"):
        raise DataError(
            problem + " (installing is disabled: CONTRASTLENS_OFFLINE is set or --no-download)"
        )
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        why = "apt-get is not available" if apt is None else "this is not running as root"
        raise DataError(
            f"{problem} ({why}, so contrastlens cannot install it: install the package "
            f"`{PACKAGE}` yourself, e.g. `sudo apt-get install -y {PACKAGE}`)"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (
        [apt, "update", "-qq"],
        [apt, "install", "-y", "-qq", "--reinstall", "--no-install-recommends", PACKAGE],
    ):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise DataError(
                f"`{' '.join(cmd)}` failed (exit {done.returncode}: {' / '.join(tail)}). " + problem
            )
    return verify(root)


# ----------------------------------------------------------------------------- parsing
def split_gloss(gloss: str) -> tuple[str, tuple[str, ...]]:
    """(definition, examples) of a gloss (rule in the module docstring)."""
    gloss = gloss.strip()
    quote = gloss.find('"')
    if quote < 0:
        return gloss.rstrip(";:, ").strip(), ()
    definition = gloss[:quote].strip().rstrip(";:,").strip()
    examples = (m.strip().rstrip(";").strip() for m in _QUOTED.findall(gloss, quote))
    return definition, tuple(dict.fromkeys(e for e in examples if e))


def parse_line(line: str, lineno: int = 0, path: str | os.PathLike = "<line>") -> Synset:
    """One data line (not a header line) -> `Synset`; `DataError` naming the line if malformed."""
    head, sep, gloss = line.rstrip("\n").partition(" | ")
    m = _HEAD.fullmatch(head) if sep else None
    words = m["words"].split()[::2] if m else []
    if (
        m
        and len(words) == int(m["w_cnt"], 16)
        and m["ptrs"].count(" ") == 4 * int(m["p_cnt"])
        and (m["f_cnt"] is None) == (m["ss"] != "v")
        and (m["f_cnt"] is None or m["frames"].count("+") == int(m["f_cnt"]))
    ):
        offset, ss_type, lex_filenum = int(m["offset"]), m["ss"], int(m["lex"])
    else:  # the slow walk names the first bad field (and is the authority on odd spacing)
        offset, ss_type, words = _walk_fields(line, head if sep else None, f"{path}, line {lineno}")
        lex_filenum = int(head.split()[1])  # checked by the walk: two digits
    pos = "a" if ss_type == "s" else ss_type
    definition, examples = split_gloss(gloss)
    words = tuple(_ADJ_MARKER.sub("", w) for w in words)
    return Synset(offset, pos, words, definition, examples, lex_filenum)


# The fast path: one regex per line; counts are checked against w_cnt, p_cnt and f_cnt.
_HEAD = re.compile(
    r"(?P<offset>\d{8}) (?P<lex>\d{2}) (?P<ss>[nvasr]) (?P<w_cnt>[0-9a-fA-F]{2}) "
    r"(?P<words>(?:\S+ [0-9a-fA-F] )+)(?P<p_cnt>\d{3})"
    r"(?P<ptrs>(?: \S{1,2} \d{8} [nvasr] [0-9a-fA-F]{4})*)"
    r"(?: (?P<f_cnt>\d{2})(?P<frames>(?: \+ \d{2} [0-9a-fA-F]{2})*))?"
)


def _walk_fields(line: str, head: str | None, where: str) -> tuple[int, str, list[str]]:
    """Field by field, as wndb(5WN) describes them: (offset, ss_type, words) or `DataError`."""

    def bad(problem: str) -> DataError:
        return DataError(
            f"{where}: not a WordNet data line ({problem}): {line.rstrip()[:80]!r}. "
            f"The file is corrupt. Fix: {REINSTALL}."
        )

    if head is None:
        raise bad("no ' | ' before the gloss")
    fields = head.split()
    i = 0

    def take(pattern: str, what: str) -> str:
        nonlocal i
        if i >= len(fields):
            raise bad(f"the line ends before its {what}")
        if not re.fullmatch(pattern, fields[i]):
            raise bad(f"{what} {fields[i]!r} is not {pattern}")
        i += 1
        return fields[i - 1]

    offset = int(take(r"\d{8}", "synset_offset"))
    take(r"\d{2}", "lex_filenum")
    ss_type = take(r"[nvasr]", "ss_type")
    w_cnt = int(take(r"[0-9a-fA-F]{2}", "w_cnt"), 16)
    if w_cnt == 0:
        raise bad("w_cnt is 0")
    words = []
    for _ in range(w_cnt):
        words.append(take(r"\S+", "word"))
        take(r"[0-9a-fA-F]", "lex_id")
    for _ in range(int(take(r"\d{3}", "p_cnt"))):
        take(r"\S{1,2}", "pointer_symbol")
        take(r"\d{8}", "pointer offset")
        take(r"[nvasr]", "pointer pos")
        take(r"[0-9a-fA-F]{4}", "pointer source/target")
    if ss_type == "v":
        for _ in range(int(take(r"\d{2}", "f_cnt"))):
            take(r"\+", "frame '+'")
            take(r"\d{2}", "f_num")
            take(r"[0-9a-fA-F]{2}", "w_num")
    if i != len(fields):
        raise bad(f"{len(fields) - i} unexpected fields after the counted ones")
    return offset, ss_type, words


def parse_file(path: str | os.PathLike) -> list[Synset]:
    """Every synset of one data file (examples or not), checking each line's byte offset."""
    path = Path(path)
    expected_pos = FILES[path.name][0] if path.name in FILES else None
    synsets = []
    position = 0
    in_header = True
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            start, position = position, position + len(raw)
            if not raw.endswith(b"\n"):
                raise DataError(
                    f"{path}, line {lineno}: the last line is incomplete (no newline): the file "
                    f"is truncated. Fix: {REINSTALL}."
                )
            try:
                line = raw.decode("ascii")
            except UnicodeDecodeError as err:
                raise DataError(
                    f"{path}, line {lineno}: a non-ASCII byte at column {err.start + 1}: the "
                    f"file is corrupt. Fix: {REINSTALL}."
                ) from err
            if line.startswith("  "):
                if not in_header:
                    raise DataError(
                        f"{path}, line {lineno}: a header line after the data lines: the file "
                        f"is corrupt. Fix: {REINSTALL}."
                    )
                continue
            in_header = False
            synset = parse_line(line, lineno, path)
            if synset.offset != start:
                raise DataError(
                    f"{path}, line {lineno}: synset_offset {synset.offset:08d} but the line "
                    f"starts at byte {start}: bytes were lost or inserted before it. "
                    f"Fix: {REINSTALL}."
                )
            if expected_pos is not None and synset.pos != expected_pos:
                raise DataError(
                    f"{path}, line {lineno}: a synset of type {synset.pos!r} in a file of "
                    f"{expected_pos!r} synsets. Fix: {REINSTALL}."
                )
            synsets.append(synset)
    if not synsets:
        raise DataError(f"{path} holds no synsets: the file is truncated. Fix: {REINSTALL}.")
    return synsets


def load_synsets(root: str | os.PathLike | None = None, verify: bool = True) -> list[Synset]:
    """Synsets with a definition and at least one example, sorted by `Synset.key`."""
    directory = verified_dir(root) if verify else locate(root)
    synsets = [s for f in FILES for s in parse_file(directory / f) if s.definition and s.examples]
    return sorted(synsets, key=lambda s: s.key)


def pairs(synsets: list[Synset] | tuple[Synset, ...]) -> list[tuple[str, str]]:
    """(example sentence, definition), one per example, in the synsets' order."""
    return [(example, s.definition) for s in synsets for example in s.examples]


def senses_by_word(synsets: list[Synset] | tuple[Synset, ...]) -> dict[str, list[str]]:
    """Lower-cased word (underscores as spaces) -> keys of its synsets: the hard negatives."""
    senses: dict[str, list[str]] = {}
    for s in synsets:
        for word in dict.fromkeys(w.replace("_", " ").lower() for w in s.words):
            senses.setdefault(word, []).append(s.key)
    return senses


# ----------------------------------------------------------------------------- split
def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def linked_groups(synsets: list[Synset] | tuple[Synset, ...]) -> list[list[Synset]]:
    """Synsets joined when they share a definition or example (case and spacing ignored).

    Each group is sorted by key; groups are sorted by their first key.
    """
    parent = list(range(len(synsets)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    for i, s in enumerate(synsets):
        for text in (s.definition, *s.examples):
            j = owner.setdefault(_norm(text), i)
            a, b = find(i), find(j)
            if a != b:
                parent[max(a, b)] = min(a, b)
    groups: dict[int, list[Synset]] = {}
    for i, s in enumerate(synsets):
        groups.setdefault(find(i), []).append(s)
    out = [sorted(g, key=lambda s: s.key) for g in groups.values()]
    return sorted(out, key=lambda g: g[0].key)


def split_synsets(
    synsets: list[Synset] | tuple[Synset, ...],
    n_validation: int = 2000,
    n_test: int = 4000,
    seed: int = 0,
) -> WordNetSplit:
    """Deterministic train / validation / test split by synset.

    Synsets sharing a definition or an example (`linked_groups`) stay in one split, so no test
    text is seen in training. Groups are ordered by sha256 of `seed` and their first key (the
    same split on every machine and Python version, independent of the input order); test then
    validation take the groups that still fit their size, so both sizes are exact whenever
    enough single synsets remain; the rest is training.
    """
    if n_validation < 0 or n_test < 0 or n_validation + n_test > len(synsets):
        raise ValueError(
            f"n_validation={n_validation} and n_test={n_test} must be >= 0 and together at "
            f"most the {len(synsets)} synsets"
        )

    def rank(group: list[Synset]) -> str:
        return hashlib.sha256(f"{seed}:{group[0].key}".encode()).hexdigest()

    target = {"test": n_test, "validation": n_validation}
    parts: dict[str, list[Synset]] = {"train": [], "validation": [], "test": []}
    for group in sorted(linked_groups(synsets), key=rank):
        name = next(
            (n for n in ("test", "validation") if len(parts[n]) + len(group) <= target[n]),
            "train",
        )
        parts[name].extend(group)
    return WordNetSplit(
        *(tuple(sorted(parts[n], key=lambda s: s.key)) for n in ("train", "validation", "test"))
    )


# ----------------------------------------------------------------------------- the text task
def training_pairs(
    synsets: list[Synset] | tuple[Synset, ...], n: int = 0, seed: int = 0
) -> list[tuple[str, str]]:
    """A fixed subset of `pairs(synsets)`: all of them in a seeded random order, cut to the first
    `n` (0 = all). The order depends on `seed` and the texts only (sha256), not on Python's
    hash seed, so every arm and every seed of a study trains on the same pairs."""
    if n < 0:
        raise ValueError(f"n must be >= 0 (0 = all pairs), got {n}")
    everything = pairs(synsets)
    if n > len(everything):
        raise ValueError(f"n = {n} training pairs asked for, but the split has {len(everything)}")

    def rank(pair: tuple[str, str]) -> str:
        return hashlib.sha256(f"{seed}:{pair[0]}\t{pair[1]}".encode()).hexdigest()

    ordered = sorted(everything, key=rank)
    return ordered[:n] if n else ordered


@dataclass(frozen=True)
class RetrievalTask:
    """Retrieve a synset's definition from one of its example sentences.

    queries: query id -> example sentence (one per example of every synset).
    corpus: document id -> definition (one per distinct definition: synsets sharing a definition
    share a document, so no query has an identical but 'wrong' twin).
    relevant: query id -> {the id of its synset's definition}.
    Ids are synset keys (`00001740-r`, with `#k` for the k-th example of a query).
    """

    queries: dict[str, str]
    corpus: dict[str, str]
    relevant: dict[str, set[str]]


def retrieval_task(synsets: list[Synset] | tuple[Synset, ...]) -> RetrievalTask:
    """The evaluation task of a split (see `RetrievalTask`)."""
    doc_of: dict[str, str] = {}  # normalized definition -> document id
    corpus: dict[str, str] = {}
    queries: dict[str, str] = {}
    relevant: dict[str, set[str]] = {}
    for s in synsets:
        doc = doc_of.setdefault(_norm(s.definition), s.key)
        corpus.setdefault(doc, s.definition)
        for k, example in enumerate(s.examples):
            queries[f"{s.key}#{k}"] = example
            relevant[f"{s.key}#{k}"] = {doc}
    return RetrievalTask(queries, corpus, relevant)


def lens_synsets(synsets: list[Synset] | tuple[Synset, ...]) -> list[Synset]:
    """The synsets of `lens_pairs`' rows, in order: the first synset of each distinct definition
    (for labels of the rows, e.g. `s.lex_filenum`)."""
    seen: set[str] = set()
    rows = []
    for s in synsets:
        if _norm(s.definition) not in seen:
            seen.add(_norm(s.definition))
            rows.append(s)
    return rows


def lens_pairs(synsets: list[Synset] | tuple[Synset, ...]) -> tuple[list[str], list[str]]:
    """(examples, definitions): the first example and the definition of each synset with a
    distinct definition (`lens_synsets`), row i a positive pair; every other row's definition
    is a true negative (no two rows share a definition)."""
    rows = lens_synsets(synsets)
    return [s.examples[0] for s in rows], [s.definition for s in rows]
