"""What `contrastlens inspect` reads, turned into one `Subject`: embeddings and what is known
about their rows (positives, labels, duplicates, the dataset size).

    from_embeddings("E.npy", positives="P.npy", labels="L.npy")   # or arrays / tensors
    from_model("path/to/model", "pairs.tsv")                       # a sentence-transformers model
    from_run("runs/fmnist-simclr-1")                                # a contrastlens run folder

Shape legend: N rows, D dimension.

Files:
    embeddings  .npy (numpy.save) or .pt / .pth (torch.save of a tensor), shape (N, D), real
                numbers, finite, no all-zero row
    labels      .npy / .pt, shape (N,): integers or strings, one class (or group) per row
    pairs       .tsv, .csv (a header row) or .jsonl (one object per line) with the columns
                anchor and positive, optionally label or group

Duplicates: rows whose anchor texts or positive texts are equal (pairs), or whose embeddings
are identical (arrays), joined transitively into groups. A duplicate of row i is not a negative
of row i (the same text seen twice) and is relevant to its query in the retrieval scores.
Every problem with an input is a ValueError (FileNotFoundError for a missing path) whose one
line names the file, the row or column, and the fix.
"""

# ruff: noqa: N815  (the dataclass fields carry shape suffixes, the house style)
from __future__ import annotations

import csv
import io
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "Pairs",
    "Subject",
    "from_embeddings",
    "from_model",
    "from_run",
    "read_pairs",
]

PAIR_SUFFIXES = {".tsv": "\t", ".csv": ",", ".jsonl": None}
ARRAY_SUFFIXES = (".npy", ".pt", ".pth")
MINILM = "minilm"  # --model minilm: the packaged all-MiniLM-L6-v2 (offline)


@dataclass
class Subject:
    """One thing to inspect. z1_ND are the anchors (or the only view); z2_ND their positives
    (row i of each a positive pair) or None. Tensors live on the CPU; z1/z2 are float32."""

    name: str
    kind: str  # "embeddings" | "model" | "run"
    z1_ND: torch.Tensor
    z2_ND: torch.Tensor | None = None
    labels_N: torch.Tensor | None = None  # int64 class ids 0..L-1
    label_names: tuple[str, ...] | None = None  # the original label of each id
    duplicates_N: torch.Tensor | None = None  # int64 duplicate-group id per row
    dataset_size: int | None = None  # n of the optimum -1/(n-1) and the Welch floor
    source: dict[str, Any] = field(default_factory=dict)  # what the report says it read
    encode_seconds: float = 0.0


@dataclass
class Pairs:
    """A pairs file: anchors[i] and positives[i] are a positive pair; labels[i] its group."""

    path: str
    anchors: list[str]
    positives: list[str]
    labels: list[str] | None = None
    label_column: str | None = None


# ----------------------------------------------------------------------------- arrays
def _describe(path: str | os.PathLike | None, what: str) -> str:
    return str(path) if path is not None else what


def load_array(path: str | os.PathLike, what: str) -> np.ndarray:
    """A .npy / .pt / .pth file as a numpy array (`what` names it in errors)."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(
            f"{what} {p}: no such file. Fix: check the path (a .npy or .pt file)"
        )
    if p.is_dir():
        raise ValueError(f"{what} {p} is a folder: give a .npy or .pt file")
    if p.suffix.lower() not in ARRAY_SUFFIXES:
        raise ValueError(
            f"{what} {p} must end in .npy, .pt or .pth (numpy.save or torch.save of one array)"
        )
    if p.stat().st_size == 0:
        raise ValueError(f"{what} {p} is empty (0 bytes): write it again with numpy.save")
    try:
        if p.suffix.lower() == ".npy":
            return np.load(p, allow_pickle=False)
        value = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as err:  # numpy/torch raise many kinds for a damaged file
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(
            f"{what} {p} could not be read ({first[:160]}): save one array with "
            "numpy.save(path, array) or one tensor with torch.save(tensor, path)"
        ) from None
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    raise ValueError(
        f"{what} {p} holds a {type(value).__name__}, not a tensor: torch.save one (N, D) tensor"
    )


def _as_array(value: Any, what: str) -> tuple[np.ndarray, str]:
    """(array, name for messages) from a path, a numpy array or a tensor; `what` is the
    command-line flag ("--embeddings"), an in-memory array is named without the dashes."""
    if isinstance(value, (str, os.PathLike)):
        return load_array(value, what), str(value)
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy(), what.lstrip("-")
    if isinstance(value, np.ndarray):
        return value, what.lstrip("-")
    raise ValueError(
        f"{what} must be a path, a numpy array or a torch tensor, got {type(value).__name__}"
    )


def as_embeddings(array: np.ndarray, name: str) -> torch.Tensor:
    """(N, D) real numbers, N >= 2, D >= 1, finite, no all-zero row -> float32 tensor."""
    if array.dtype == object or not (
        np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)
    ):
        raise ValueError(
            f"{name} has dtype {array.dtype}: embeddings must be real numbers (float32, ...)"
        )
    if array.ndim != 2:
        raise ValueError(
            f"{name} has shape {array.shape}: embeddings must be 2-D (rows, dimension), "
            "one row per item"
        )
    n, d = array.shape
    if n < 2 or d < 1:
        raise ValueError(
            f"{name} has shape {array.shape}: need at least 2 rows (negatives need a second "
            "row) and 1 column"
        )
    z_ND = torch.from_numpy(np.ascontiguousarray(array)).float()
    bad_N = ~torch.isfinite(z_ND).all(dim=1)
    if bool(bad_N.any()):
        raise ValueError(
            f"{name} has NaN or Inf in {int(bad_N.sum())} row(s) (first: row "
            f"{int(bad_N.nonzero()[0])}): drop those rows or recompute them"
        )
    zero_N = z_ND.abs().amax(dim=1) == 0
    if bool(zero_N.any()):
        raise ValueError(
            f"{name} has {int(zero_N.sum())} all-zero row(s) (first: row "
            f"{int(zero_N.nonzero()[0])}): a zero vector has no direction, so its cosine "
            "similarity is undefined; drop those rows"
        )
    return z_ND


def label_ids(values: Sequence[Any] | np.ndarray, name: str) -> tuple[torch.Tensor, tuple]:
    """Labels (integers or strings, one per row) -> (int64 ids 0..L-1, the label of each id)."""
    array = np.asarray(values)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise ValueError(f"{name} has shape {array.shape}: labels must be 1-D, one per row")
    if np.issubdtype(array.dtype, np.floating):
        if not np.all(np.isfinite(array)) or not np.all(array == np.round(array)):
            raise ValueError(
                f"{name} holds non-integer numbers: labels must be integers or strings "
                "(class or group ids), e.g. labels.astype(int)"
            )
        array = array.astype(np.int64)
    elif not (
        np.issubdtype(array.dtype, np.integer)
        or np.issubdtype(array.dtype, np.str_)
        or np.issubdtype(array.dtype, np.bool_)
    ):
        raise ValueError(f"{name} has dtype {array.dtype}: labels must be integers or strings")
    names, inverse = np.unique(array, return_inverse=True)
    return torch.from_numpy(inverse.reshape(-1).astype(np.int64)), tuple(str(x) for x in names)


def _groups(*keys_N: torch.Tensor) -> torch.Tensor:
    """Rows linked by any equal key, transitively (union-find) -> (N,) group ids 0..G-1."""
    N = keys_N[0].shape[0]
    parent = list(range(N))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for key_N in keys_N:
        first: dict[int, int] = {}
        for i, k in enumerate(key_N.tolist()):
            j = first.setdefault(k, i)
            if j != i:
                ri, rj = find(i), find(j)
                if ri != rj:
                    parent[ri] = rj
    roots = torch.tensor([find(i) for i in range(N)])
    return torch.unique(roots, return_inverse=True)[1]


def _row_keys(z_ND: torch.Tensor) -> torch.Tensor:
    """(N,) ids, equal exactly for identical rows."""
    return torch.unique(z_ND, dim=0, return_inverse=True)[1]


def _text_keys(texts: list[str]) -> torch.Tensor:
    ids: dict[str, int] = {}
    return torch.tensor([ids.setdefault(t, len(ids)) for t in texts])


def from_embeddings(
    embeddings: Any,
    positives: Any = None,
    labels: Any = None,
    *,
    name: str | None = None,
    dataset_size: int | None = None,
) -> Subject:
    """Precomputed embeddings: paths (.npy / .pt) or arrays / tensors. embeddings (N, D);
    positives (N, D), row i the positive of row i, or None (one view); labels (N,)."""
    e, e_name = _as_array(embeddings, "--embeddings")
    z1_ND = as_embeddings(e, e_name)
    source: dict[str, Any] = {"embeddings": e_name}
    z2_ND = None
    if positives is not None:
        p, p_name = _as_array(positives, "--positives")
        z2_ND = as_embeddings(p, p_name)
        if z2_ND.shape[0] != z1_ND.shape[0]:
            raise ValueError(
                f"{e_name} has {z1_ND.shape[0]} rows but {p_name} has {z2_ND.shape[0]}: row i of "
                "the positives must be the positive of row i of the embeddings (same row count)"
            )
        if z2_ND.shape[1] != z1_ND.shape[1]:
            raise ValueError(
                f"{e_name} has dimension {z1_ND.shape[1]} but {p_name} has {z2_ND.shape[1]}: "
                "both must come from one model"
            )
        source["positives"] = p_name
    labels_N = label_names = None
    if labels is not None:
        y, y_name = _as_array(labels, "--labels")
        labels_N, label_names = label_ids(y, y_name)
        if labels_N.shape[0] != z1_ND.shape[0]:
            raise ValueError(
                f"{y_name} has {labels_N.shape[0]} labels but {e_name} has {z1_ND.shape[0]} "
                "rows: give one label per row"
            )
        source["labels"] = y_name
    keys = [_row_keys(z1_ND)] + ([] if z2_ND is None else [_row_keys(z2_ND)])
    return Subject(
        name=name or (Path(e_name).stem if isinstance(embeddings, (str, os.PathLike)) else e_name),
        kind="embeddings",
        z1_ND=z1_ND,
        z2_ND=z2_ND,
        labels_N=labels_N,
        label_names=label_names,
        duplicates_N=_groups(*keys),
        dataset_size=dataset_size,
        source=source,
    )


# ----------------------------------------------------------------------------- pairs files
def _column(header: list[str], names: tuple[str, ...]) -> int | None:
    lowered = [h.strip().lower() for h in header]
    return next((lowered.index(n) for n in names if n in lowered), None)


def _missing_columns(path: Path, found: list[str]) -> ValueError:
    return ValueError(
        f"{path} has the columns {found} but needs anchor and positive (optional: label or "
        "group): name the columns in the header row (TSV/CSV) or the keys (JSONL)"
    )


def read_pairs(path: str | os.PathLike) -> Pairs:
    """A .tsv / .csv (header row) or .jsonl pairs file (module docstring) -> `Pairs`."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"--pairs {p}: no such file. Fix: check the path")
    if p.is_dir():
        raise ValueError(f"--pairs {p} is a folder: give a .tsv, .csv or .jsonl file")
    suffix = p.suffix.lower()
    if suffix not in PAIR_SUFFIXES:
        raise ValueError(f"--pairs {p} must end in .tsv, .csv or .jsonl (its format)")
    try:
        text = p.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError(f"{p} is not UTF-8 text: save the pairs file as UTF-8") from None
    if not text.strip():
        raise ValueError(
            f"{p} is empty: write one pair per line (columns anchor and positive, with a header)"
        )
    records: list[tuple[int, dict[str, Any]]] = []  # (line number, {anchor, positive, label})
    label_column = None
    if suffix == ".jsonl":
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                raise ValueError(
                    f"{p} line {lineno} is not valid JSON: write one object per line, e.g. "
                    '{"anchor": "...", "positive": "..."}'
                ) from None
            if not isinstance(obj, dict):
                raise ValueError(f"{p} line {lineno} is not a JSON object: one object per line")
            keys = {str(k).strip().lower(): v for k, v in obj.items()}
            if "anchor" not in keys or "positive" not in keys:
                raise _missing_columns(p, sorted(obj))
            column = "label" if "label" in keys else "group" if "group" in keys else None
            if records and column != label_column:
                raise ValueError(
                    f"{p} line {lineno}: the {column or label_column!r} key is on some lines "
                    "only: give it on every line or on none"
                )
            label_column = column
            records.append((lineno, keys | {"label": keys.get(column) if column else None}))
    else:
        rows = list(csv.reader(io.StringIO(text), delimiter=PAIR_SUFFIXES[suffix]))
        header, body = rows[0], rows[1:]
        a, b = _column(header, ("anchor",)), _column(header, ("positive",))
        if a is None or b is None:
            raise _missing_columns(p, header)
        c = _column(header, ("label", "group"))
        label_column = None if c is None else header[c].strip().lower()
        for lineno, row in enumerate(body, 2):
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise ValueError(
                    f"{p} line {lineno} has {len(row)} fields, the header {len(header)}: quote "
                    "texts that contain the delimiter"
                )
            records.append(
                (
                    lineno,
                    {"anchor": row[a], "positive": row[b], "label": None if c is None else row[c]},
                )
            )
    if len(records) < 2:
        raise ValueError(
            f"{p} has {len(records)} pair(s): the lens needs at least 2 (negatives pair one "
            "row's anchor with another row's positive)"
        )
    anchors, positives, labels = [], [], []
    for lineno, rec in records:
        for column in ("anchor", "positive"):
            value = rec[column]
            if not isinstance(value, str) or not value.strip():
                raise ValueError(
                    f"{p} line {lineno}: the {column} is empty or not text: every row needs an "
                    "anchor and a positive text"
                )
        anchors.append(rec["anchor"])
        positives.append(rec["positive"])
        if label_column is not None:
            label = rec["label"]
            if label is None or (isinstance(label, str) and not label.strip()):
                raise ValueError(
                    f"{p} line {lineno}: empty {label_column}: give every row a {label_column} "
                    "or drop the column"
                )
            if not isinstance(label, (str, int)) or isinstance(label, bool):
                raise ValueError(
                    f"{p} line {lineno}: the {label_column} must be a string or an integer"
                )
            labels.append(str(label))
    return Pairs(str(p), anchors, positives, labels if label_column else None, label_column)


# ----------------------------------------------------------------------------- models
def _offline() -> None:
    """Read local models only: never reach the Hugging Face hub (the user can override)."""
    for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        os.environ.setdefault(key, "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def resolve_model_path(model: str | os.PathLike) -> Path:
    """`minilm` -> the packaged all-MiniLM-L6-v2; any other value must be an existing folder."""
    if str(model).lower() == MINILM:
        from contrastlens.integrations.sentence_transformers import minilm_path

        return minilm_path()
    p = Path(model)
    if not p.exists():
        raise FileNotFoundError(
            f"--model {p}: no such folder. Fix: give the folder of a saved sentence-transformers "
            f"model (SentenceTransformer.save), or `{MINILM}` for the packaged all-MiniLM-L6-v2"
        )
    if not p.is_dir():
        raise ValueError(
            f"--model {p} is a file. Fix: give the folder of a saved sentence-transformers "
            f"model (with modules.json), or `{MINILM}`"
        )
    return p


def load_model(model: str | os.PathLike, device: str = "cpu"):
    """A SentenceTransformer from a local folder (offline), or a one-line ValueError."""
    path = resolve_model_path(model)
    _offline()
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as err:
        raise ValueError(
            f"--model needs sentence-transformers ({err}): pip install "
            "'contrastlens[sentence-transformers]'"
        ) from None
    try:
        return SentenceTransformer(str(path), device=device, local_files_only=True)
    except Exception as err:  # whatever the folder holds, the user gets one line
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ValueError(
            f"--model {path} did not load as a sentence-transformers model "
            f"({type(err).__name__}: {first[:200]}). Fix: give a folder written by "
            f"SentenceTransformer.save (with modules.json and the weights), or `{MINILM}`"
        ) from None


def _encode(model, texts: list[str], method: str, batch_size: int, progress: bool):
    """Unique texts embedded once, (N, D) float32 CPU in the order of `texts`."""
    unique = list(dict.fromkeys(texts))
    encode = getattr(model, method, model.encode)
    z_UD = encode(unique, batch_size=batch_size, show_progress_bar=progress, convert_to_tensor=True)
    index = {t: i for i, t in enumerate(unique)}
    return z_UD.detach().float().cpu()[torch.tensor([index[t] for t in texts])]


def from_model(
    model: str | os.PathLike,
    pairs: str | os.PathLike | Pairs,
    *,
    device: str = "auto",
    batch_size: int = 64,
    progress: bool = False,
    dataset_size: int | None = None,
    name: str | None = None,
    loaded_model: Any = None,
) -> Subject:
    """Embed a pairs file's anchors (`encode_query`) and positives (`encode_document`) with a
    sentence-transformers model; labels from its label / group column."""
    if not isinstance(pairs, Pairs):
        pairs = read_pairs(pairs)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    st = loaded_model if loaded_model is not None else load_model(model, device)
    t0 = time.perf_counter()
    z1_ND = _encode(st, pairs.anchors, "encode_query", batch_size, progress)
    z2_ND = _encode(st, pairs.positives, "encode_document", batch_size, progress)
    seconds = time.perf_counter() - t0
    model_name = str(model)
    z1_ND = as_embeddings(z1_ND.numpy(), f"the anchors' embeddings by {model_name}")
    z2_ND = as_embeddings(z2_ND.numpy(), f"the positives' embeddings by {model_name}")
    labels_N = label_names = None
    if pairs.labels is not None:
        labels_N, label_names = label_ids(pairs.labels, f"{pairs.path} ({pairs.label_column})")
    resolved = str(resolve_model_path(model)) if loaded_model is None else model_name
    return Subject(
        name=name
        or (Path(model_name).name if model_name.lower() != MINILM else "all-MiniLM-L6-v2"),
        kind="model",
        z1_ND=z1_ND,
        z2_ND=z2_ND,
        labels_N=labels_N,
        label_names=label_names,
        duplicates_N=_groups(_text_keys(pairs.anchors), _text_keys(pairs.positives)),
        dataset_size=dataset_size,
        source={
            "model": resolved,
            "pairs": pairs.path,
            "label_column": pairs.label_column,
            "device": str(device),
        },
        encode_seconds=seconds,
    )


# ----------------------------------------------------------------------------- run folders
def from_run(
    run_dir: str | os.PathLike,
    *,
    split: str = "train",
    limit: int | None = 10_000,
    device: str = "auto",
    seed: int = 0,
    progress: bool = False,
    batch_size: int = 512,
    name: str | None = None,
    dataset_size: int | None = None,
) -> Subject:
    """Projector outputs of two augmented views of a run's images (as its loss saw them), with
    the class labels; the dataset size is the training-set size unless `dataset_size` is given.
    split: "train" or "test"; limit: a seeded random subset of that many images (None: all)."""
    from tqdm.auto import tqdm

    from contrastlens.data.splits import load_split
    from contrastlens.data.views import normalization
    from contrastlens.eval.evaluate import augmented_projections
    from contrastlens.experiments.evaluate_run import load_run_encoder

    if split not in ("train", "test"):
        raise ValueError(f"--split must be train or test, got {split!r}")
    run = load_run_encoder(run_dir, device=device)
    cfg = run.cfg
    images, labels = run.train if split == "train" else load_split(cfg.data, cfg.data.test_split)
    n_train = int(run.train[0].shape[0])
    N = images.shape[0]
    if N < 2:
        raise ValueError(f"{run_dir}: the {split} split has {N} image(s); the lens needs 2")
    rows = torch.arange(N)
    if limit is not None and limit < N:
        rows = torch.randperm(N, generator=torch.Generator().manual_seed(seed))[:limit].sort()[0]
    mean, std = normalization(cfg.data.dataset, images.shape[1])
    t0 = time.perf_counter()
    views = []
    chunks = list(rows.split(batch_size))
    for i, chunk in enumerate(tqdm(chunks, desc="encoding", unit="batch", disable=not progress)):
        kw = {"batch_size": batch_size, "precision": run.precision}
        x = images[chunk]
        views.append(
            augmented_projections(
                run.encoder,
                x,
                cfg.data.augment,
                mean,
                std,
                run.device,
                run.dtype,
                seed=seed * 1_000_003 + i,
                **kw,
            )
        )
    seconds = time.perf_counter() - t0
    z1_ND = as_embeddings(torch.cat([v[0] for v in views]).float().numpy(), "view 1")
    z2_ND = as_embeddings(torch.cat([v[1] for v in views]).float().numpy(), "view 2")
    labels_N, label_names = label_ids(labels[rows].numpy(), f"{run_dir} labels")
    return Subject(
        name=name or Path(run_dir).resolve().name,
        kind="run",
        z1_ND=z1_ND,
        z2_ND=z2_ND,
        labels_N=labels_N,
        label_names=label_names,
        duplicates_N=torch.arange(z1_ND.shape[0]),  # every image once
        dataset_size=n_train if dataset_size is None else dataset_size,
        source={
            "run": str(run_dir),
            "dataset": cfg.data.dataset,
            "split": split,
            "images": int(rows.numel()),
            "checkpoint_step": run.step,
            "embedding": "projector outputs of two augmented views",
            "device": str(run.device),
        },
        encode_seconds=seconds,
    )
