"""Injected faults: a full disk, damaged files, SIGKILL, two sweeps on one folder,
a NaN loss, a dead or hung process of a distributed run. Each fault must end in one clear line
(naming the file and the fix) or be handled, must leave what was already written intact, and the
run must then continue to the result an undisturbed run gives.

Run folders come from the `smoke` preset (64 synthetic images, batch 16: 4 steps per epoch,
3 epochs, a checkpoint every epoch) trained in-process through `contrastlens.cli.main`; the
sweep, lock and distributed tests start real processes. A full disk is a patched write that
writes part of its data and then raises ENOSPC, as a full disk does; where the test may mount
one, `test_real_full_disk` also fills a real 1 MiB tmpfs. The tests marked "> 20 s" start
several Python processes (each imports torch, ~3-5 s on a shared 2-core machine).
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import io
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from contrastlens import runfolder as rf
from contrastlens.cli import main

TIMING = ("img_per_s", "time_s")  # wall-clock keys: the only ones allowed to differ
SMOKE = ["--preset", "smoke", "--set", "train.epochs=3", "--set", "eval.at_end=false"]
STEPS = 12  # 3 epochs x 4 steps; checkpoints at steps 4, 8, 12


# --------------------------------------------------------------------------- helpers


def cli(*argv: str) -> tuple[int, str]:
    """(exit status, stderr) of `contrastlens ARGV`, in-process."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(list(argv))
    return code, err.getvalue()


def one_line(err: str, *names: str) -> str:
    """The single stderr line, which must name every one of `names`."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for name in names:
        assert name in lines[0], (name, lines[0])
    return lines[0]


def rows(run: Path) -> list[dict]:
    return [
        {k: v for k, v in r.items() if k not in TIMING} for r in rf.read_jsonl(run / rf.METRICS)
    ]


def same_state(a, b, path: str = "") -> None:
    """Checkpoint contents equal bit for bit (tensors, RNG states, optimizer state)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            same_state(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            same_state(x, y, f"{path}[{i}]")
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b), path
    elif isinstance(a, np.ndarray):
        assert np.array_equal(a, b), path
    else:
        assert a == b, path


def same_checkpoint(a: Path, b: Path) -> None:
    ca = torch.load(a / rf.CHECKPOINT, weights_only=False)
    cb = torch.load(b / rf.CHECKPOINT, weights_only=False)
    for ckpt in (ca, cb):
        ckpt.pop("train_time_s"), ckpt.pop("memory")  # wall clock, the process's memory
        ckpt["config"].pop("out_dir"), ckpt["config"].pop("name")  # where, not what
    same_state(ca, cb)


def intact(folder: Path) -> None:
    """No torn file: every JSON parses, every checkpoint loads, no temporary file is left."""
    assert not [p for p in folder.rglob("*.tmp")], list(folder.rglob("*.tmp"))
    for p in folder.rglob("*.json"):
        json.loads(p.read_text())
    for p in folder.rglob("*.jsonl"):
        text = p.read_text()
        assert not text or text.endswith("\n"), p
        rf.read_jsonl(p)
    for p in folder.rglob(rf.CHECKPOINT):
        torch.load(p, weights_only=False)


class _FullDisk:
    """A file whose disk fills up after `room` more bytes: the write that does not fit writes
    what fits, then raises ENOSPC (what `write(2)` on a full disk amounts to)."""

    def __init__(self, f, room: int) -> None:
        self._f, self.room = f, room

    def write(self, data):
        if len(data) > self.room:
            self._f.write(data[: self.room])
            self._f.flush()
            self.room = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= len(data)
        return self._f.write(data)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self._f.__exit__(*exc)

    def __getattr__(self, name):
        return getattr(self._f, name)


def disk_full_on(monkeypatch, prefix: str, *, nth: int = 1, room: int = 1000) -> None:
    """The `nth` atomic write (runfolder.atomic_write) of a file whose name starts with
    `prefix` finds the disk full after `room` bytes."""
    real = os.fdopen
    count = itertools.count(1)

    def fdopen(fd, *args, **kwargs):
        f = real(fd, *args, **kwargs)
        name = os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))
        if name.startswith(f".{prefix}") and name.endswith(".tmp") and next(count) == nth:
            return _FullDisk(f, room)
        return f

    monkeypatch.setattr(os, "fdopen", fdopen)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The undisturbed run every recovered run must equal."""
    out = tmp_path_factory.mktemp("reference")
    assert cli("train", *SMOKE, "--out-dir", str(out), "--name", "ref")[0] == 0
    return out / "ref"


def start(tmp_path: Path, *sets: str, name: str = "r") -> tuple[int, str, Path]:
    code, err = cli("train", *SMOKE, *sets, "--out-dir", str(tmp_path), "--name", name)
    return code, err, tmp_path / name


def resume(run: Path, *sets: str) -> tuple[int, str]:
    return cli("train", "--resume", str(run), *sets)


def assert_recovers_to(run: Path, reference: Path, *sets: str) -> None:
    code, err = resume(run, *sets)
    assert code == 0, err
    assert rf.run_status(run) == "finished"
    assert rows(run) == rows(reference)
    same_checkpoint(run, reference)
    intact(run)


# --------------------------------------------------------------------------- disk full


def test_disk_full_writing_a_checkpoint(reference, tmp_path):
    with pytest.MonkeyPatch.context() as mp:
        disk_full_on(mp, "checkpoint.pt.", nth=2)  # the checkpoint of step 8
        code, err, run = start(tmp_path)
    assert code == 2
    one_line(err, str(run / rf.CHECKPOINT), "disk is full", "--resume")
    assert torch.load(run / rf.CHECKPOINT, weights_only=False)["step"] == 4  # the previous one
    assert rows(run) == rows(reference)[:8] and rf.run_status(run) == "partial"
    intact(run)
    assert_recovers_to(run, reference)  # space freed


def test_disk_full_appending_metrics(reference, tmp_path):
    real_open = open
    appends = itertools.count(1)

    def full_on_sixth_line(path, mode="r", *args, **kwargs):
        f = real_open(path, mode, *args, **kwargs)
        if Path(path).name == rf.METRICS and "a" in mode and next(appends) == 6:
            return _FullDisk(f, room=25)  # a torn line 6
        return f

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(rf, "open", full_on_sixth_line, raising=False)
        code, err, run = start(tmp_path)
    assert code == 2
    one_line(err, str(run / rf.METRICS), "disk is full")
    text = (run / rf.METRICS).read_text()
    assert not text.endswith("\n") and rows(run) == rows(reference)[:5]  # torn line dropped
    assert torch.load(run / rf.CHECKPOINT, weights_only=False)["step"] == 4
    assert_recovers_to(run, reference)


def test_disk_full_writing_the_report(reference, tmp_path):
    shutil.copytree(reference, tmp_path / "study" / "ref")
    study = tmp_path / "study"
    assert cli("report", str(study))[0] == 0
    before = {n: (study / n).read_bytes() for n in ("report.md", "report.html", "report.json")}
    with pytest.MonkeyPatch.context() as mp:
        disk_full_on(mp, "report.html.")
        code, err = cli("report", str(study))
    assert code == 2
    one_line(err, str(study / "report.html"), "disk is full")
    assert (study / "report.html").read_bytes() == before["report.html"]  # the previous report
    intact(study)
    assert cli("report", str(study))[0] == 0
    assert {n: (study / n).read_bytes() for n in before} == before


# --------------------------------------------------------------------------- the data cache


@pytest.fixture
def fake_fmnist(tmp_path, monkeypatch) -> Path:
    """A 20-image Fashion-MNIST in the official idx.gz format, found only under the returned
    root, cached under tmp_path/cache."""
    from contrastlens.data import sources

    d = tmp_path / "data" / "fashion-mnist"
    d.mkdir(parents=True)
    g = np.random.default_rng(0)
    for prefix, n in (("train", 20), ("t10k", 10)):
        images = g.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = g.integers(0, 10, n, dtype=np.uint8)
        head = b"\x00\x00\x08\x03" + b"".join(x.to_bytes(4, "big") for x in (n, 28, 28))
        (d / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(head + images.tobytes()))
        head = b"\x00\x00\x08\x01" + n.to_bytes(4, "big")
        (d / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(head + labels.tobytes()))
    monkeypatch.setattr(sources, "SYSTEM_DIRS", {})
    monkeypatch.setattr(sources, "DEFAULT_ROOT", tmp_path / "no-default")
    monkeypatch.delenv("CONTRASTLENS_DATA", raising=False)
    monkeypatch.setenv("CONTRASTLENS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "data"


def _cache_files(root: Path) -> list[Path]:
    return sorted((root.parent / "cache").glob("*"))


def test_disk_full_writing_the_data_cache(fake_fmnist, capsys, monkeypatch):
    from contrastlens.data import datasets

    with pytest.MonkeyPatch.context() as mp:
        disk_full_on(mp, "fashion-mnist-train-", room=4096)
        first = datasets.load_dataset("fashion-mnist", "train", root=fake_fmnist)
    err = capsys.readouterr().err
    assert "disk full" in err and "CONTRASTLENS_CACHE" in err and len(err.splitlines()) == 1
    assert len(first) == 20 and _cache_files(fake_fmnist) == []  # no cache, no temp file
    datasets.load_dataset("fashion-mnist", "train", root=fake_fmnist)  # now it is cached
    (cache,) = _cache_files(fake_fmnist)
    monkeypatch.setitem(datasets._PARSERS, "fashion-mnist", None)  # only the cache can serve it
    again = datasets.load_dataset("fashion-mnist", "train", root=fake_fmnist)
    assert torch.equal(again.images, first.images) and torch.equal(again.labels, first.labels)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "wrong_content"])
def test_damaged_data_cache_is_rebuilt(fake_fmnist, capsys, damage):
    from contrastlens.data import datasets

    good = datasets.load_dataset("fashion-mnist", "train", root=fake_fmnist)
    (cache,) = _cache_files(fake_fmnist)
    data = cache.read_bytes()
    if damage == "truncated":
        cache.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        cache.write_bytes(os.urandom(len(data)))
    elif damage == "empty":
        cache.write_bytes(b"")
    else:  # a readable file that is not this dataset
        torch.save({"images": torch.zeros(3, 2), "labels": torch.zeros(5), "classes": []}, cache)
    capsys.readouterr()
    rebuilt = datasets.load_dataset("fashion-mnist", "train", root=fake_fmnist)
    err = capsys.readouterr().err
    assert str(cache) in err and "rebuilding" in err and len(err.splitlines()) == 1
    assert torch.equal(rebuilt.images, good.images) and torch.equal(rebuilt.labels, good.labels)
    assert torch.load(cache, weights_only=True)["images"].shape == (20, 1, 28, 28)  # rewritten


# --------------------------------------------------------------------------- damaged run files


@pytest.fixture
def stopped_run(tmp_path) -> Path:
    """A run stopped by train.max_steps after 6 of its 12 steps (checkpoint at step 6)."""
    code, err, run = start(tmp_path, "--set", "train.max_steps=6")
    assert code == 0, err
    return run


def _snapshot(run: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_damaged_checkpoint_is_a_clear_error(stopped_run, reference, damage):
    path = stopped_run / rf.CHECKPOINT
    data = path.read_bytes()
    path.write_bytes(
        {"truncated": data[: len(data) // 2], "garbage": os.urandom(4096), "empty": b""}[damage]
    )
    before = _snapshot(stopped_run)
    code, err = resume(stopped_run, "--set", "train.max_steps=0")
    assert code == 2
    one_line(err, str(path), "truncated or corrupt", "Fix:")
    assert _snapshot(stopped_run) == before  # nothing rewritten, nothing amended


@pytest.mark.parametrize("damage", ["torn", "binary", "not_an_object"])
def test_damaged_config_json_is_a_clear_error(stopped_run, damage):
    path = stopped_run / rf.CONFIG
    path.write_bytes(
        {
            "torn": path.read_bytes()[:100],
            "binary": b"\xff\xfe\x00\x81garbage",
            "not_an_object": b"[1, 2]",
        }[damage]
    )
    before = _snapshot(stopped_run)
    code, err = resume(stopped_run)
    assert code == 2
    one_line(err, str(path), "Fix:")
    assert _snapshot(stopped_run) == before


def test_torn_last_metrics_line_is_dropped_on_resume(stopped_run, reference):
    with open(stopped_run / rf.METRICS, "a") as f:
        f.write('{"step": 7, "epoch": 1, "lo')  # a kill in the middle of an append
    assert_recovers_to(stopped_run, reference, "--set", "train.max_steps=0")
    meta = rf.read_json(stopped_run / rf.META)
    assert meta["amended"][0]["changes"] == {"train.max_steps": [6, 0]}


def test_metrics_damaged_in_the_middle_stop_the_resume(stopped_run, reference):
    """Decision: a bad line with good lines after it is damage, not a torn write; dropping it
    and everything after it would lose results, so the resume stops with the line number and
    rewrites nothing. Deleting the line lets it continue."""
    path = stopped_run / rf.METRICS
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:2]) + "#$%garbage\n" + "".join(lines[2:]))
    before = _snapshot(stopped_run)
    code, err = resume(stopped_run, "--set", "train.max_steps=0")
    assert code == 2
    one_line(err, str(path), "line 3", "Fix:")
    assert _snapshot(stopped_run) == before
    path.write_text("".join(lines))  # the user deletes the line
    assert_recovers_to(stopped_run, reference, "--set", "train.max_steps=0")


def test_a_second_trainer_on_the_same_folder_refuses(stopped_run):
    from contrastlens.train.folder import lock_run_folder

    held = lock_run_folder(stopped_run)  # a training process still running there
    try:
        before = _snapshot(stopped_run)
        code, err = resume(stopped_run, "--set", "train.max_steps=0")
        assert code == 2
        one_line(err, str(stopped_run), "in use by another training process")
        assert _snapshot(stopped_run) == before
    finally:
        os.close(held)


# --------------------------------------------------------------------------- NaN


def test_nan_loss_then_resume_with_a_lower_lr(tmp_path, monkeypatch):
    """The loss turns NaN at step 6 whenever the lr there is above what the schedule of
    base_lr 0.3 gives (an lr too high for this model, simulated): the run stops naming the
    step and the last good checkpoint; resuming with a lower optim.base_lr continues."""
    from contrastlens.train import loop

    real_step, real_objective = loop.train_step, loop.build_objective
    poison = {"on": False}
    steps = itertools.count(1)

    def step(p, *args, lr, **kwargs):
        n = next(steps) + poison.get("offset", 0)
        poison["on"] = n == 6 and lr > 0.9 * poison["limit"]
        return real_step(p, *args, lr=lr, **kwargs)

    def objective(*args, **kwargs):
        obj = real_objective(*args, **kwargs)
        forward = obj.forward

        def nan_forward(*a, **k):
            terms = forward(*a, **k)
            if poison["on"]:
                terms["loss"] = terms["loss"] * float("nan")
            return terms

        obj.forward = nan_forward
        return obj

    monkeypatch.setattr(loop, "train_step", step)
    monkeypatch.setattr(loop, "build_objective", objective)
    from contrastlens.experiments import presets
    from contrastlens.train.optim import LRSchedule
    from contrastlens.train.resolve import resolve

    cfg = presets.get("smoke")
    cfg.train.epochs = 3
    resolved = resolve(cfg, n_train=64, world=1, steps_per_epoch=4)
    poison["limit"] = LRSchedule.from_config(cfg, resolved).lr(5, 0.0)  # base_lr 0.3 at step 6

    code, err, run = start(tmp_path)
    assert code == 3
    line = one_line(err, "step 6", str(run / rf.CHECKPOINT), "optim.base_lr", "--resume")
    assert "nan" in line.lower()
    final = rf.read_json(run / rf.FINAL)
    assert final["status"] == "diverged" and final["steps"] == 5
    assert torch.load(run / rf.CHECKPOINT, weights_only=False)["step"] == 4

    poison["offset"], steps = 4, itertools.count(1)  # the resume starts after step 4
    code, err = resume(run, "--set", "optim.base_lr=0.1")
    assert code == 0, err
    assert rf.run_status(run) == "finished"
    got = rf.read_jsonl(run / rf.METRICS)
    assert [r["step"] for r in got] == list(range(1, STEPS + 1))  # no gap, no duplicate
    assert got[5]["lr"] < 0.9 * poison["limit"] and all(np.isfinite(r["loss"]) for r in got)
    assert rf.read_json(run / rf.CONFIG)["optim"]["base_lr"] == 0.1  # what the rest used
    (amended,) = rf.read_json(run / rf.META)["amended"]
    assert amended["changes"] == {"optim.base_lr": [0.3, 0.1]}
    # a setting the checkpoint depends on cannot change on --resume
    code, err = resume(run, "--set", "model.proj_dim=4")
    assert code == 2
    one_line(err, "resume cannot change model.proj_dim", "optim.*")


# --------------------------------------------------------------------------- a real full disk


@pytest.fixture
def small_disk(tmp_path):
    """A real 1 MiB tmpfs (root with CAP_SYS_ADMIN only; skipped elsewhere)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    out = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({out.stderr.strip()})")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_real_full_disk(small_disk, reference):
    """The same as the patched test, on a real file system filled while the run is stopped:
    torch.save reports a full disk as RuntimeError("unexpected pos ..."); it must still read
    as a full disk naming the checkpoint."""
    code, err, run = start(small_disk, "--set", "train.max_steps=4")
    assert code == 0, err
    st = os.statvfs(small_disk)
    filler = small_disk / "filler"
    with open(filler, "wb") as f:  # leave 24 KiB: the metrics fit, the 38 KB checkpoint not
        f.write(b"\0" * (st.f_bavail * st.f_frsize - 24 * 1024))
    code, err = resume(run, "--set", "train.max_steps=0")
    assert code == 2
    one_line(err, str(run / rf.CHECKPOINT), "disk is full")
    assert torch.load(run / rf.CHECKPOINT, weights_only=False)["step"] == 4
    intact(run)
    filler.unlink()
    assert_recovers_to(run, reference)


# --------------------------------------------------------------------------- processes

ENV = dict(os.environ, OMP_NUM_THREADS="1")
PY = [sys.executable, "-m", "contrastlens"]


def _wait_for(condition, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, "timed out waiting"
        assert proc is None or proc.poll() is None, "the process ended first"
        time.sleep(0.02)


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the process and its children (a crash, an OOM kill of the job, a power cut)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


SWEEP_SETS = ["--set", "train.epochs=6", "--set", "eval.at_end=false"]  # 24 steps a run


def _sweep(out: Path, *extra: str) -> subprocess.Popen:
    cmd = [
        *PY,
        "sweep",
        "--preset",
        "smoke",
        "--grid",
        "train.seed=0,1",
        *SWEEP_SETS,
        *extra,
        "--out",
        str(out),
    ]
    return subprocess.Popen(
        cmd, env=ENV, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def test_sigkill_at_several_moments_of_a_sweep(tmp_path):  # > 20 s: 4 sweeps, 6 trainings
    """Kill the whole sweep (the runner and its training process) with SIGKILL three times,
    at three moments: while the first run starts, in the middle of the first run, in the
    middle of the second run; rerun after each. The finished sweep equals undisturbed runs
    (metrics and checkpoints, bit for bit; timing keys aside) and no file is torn."""
    out = tmp_path / "sweep"
    runs = out / "runs"
    ckpt = lambda i: (runs / f"seed{i}" / rf.CHECKPOINT).is_file()  # noqa: E731
    done = lambda i: (runs / f"seed{i}" / rf.FINAL).is_file()  # noqa: E731
    moments = [
        lambda: (runs / "seed0" / rf.SWEEP_RUN).is_file(),  # run 1 is starting
        lambda: ckpt(0) and not done(0),  # run 1 has a checkpoint, not finished
        lambda: ckpt(1) and not done(1),  # run 2 has a checkpoint, not finished
    ]
    for moment in moments:
        proc = _sweep(out)
        _wait_for(moment, 120, proc)
        _kill_group(proc)
        for p in runs.rglob("*.json"):  # atomic writes: never torn, even mid-kill
            json.loads(p.read_text())
    proc = _sweep(out)
    assert proc.wait(timeout=180) == 0, proc.stderr.read().decode()[-2000:]
    # undisturbed references, trained in this process with the same settings
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for seed in (0, 1):
            code, err = cli(
                "train",
                "--preset",
                "smoke",
                "--set",
                "train.progress=false",
                "--set",
                f"train.seed={seed}",
                *SWEEP_SETS,
                "--out-dir",
                str(tmp_path / "ref"),
                "--name",
                f"seed{seed}",
            )
            assert code == 0, err
    finally:
        torch.set_num_threads(threads)
    for seed in (0, 1):
        run, ref = runs / f"seed{seed}", tmp_path / "ref" / f"seed{seed}"
        assert rf.run_status(run) == "finished"
        assert rows(run) == rows(ref) and len(rows(run)) == 24
        same_checkpoint(run, ref)
        assert len(rf.read_json(run / rf.META)["resumed"]) >= 1  # both were killed mid-run
    intact(out)


def test_a_second_sweep_on_the_same_folder_refuses(tmp_path):  # ~8 s: 2 sweep processes
    out = tmp_path / "sweep"
    first = _sweep(out, "--set", "train.epochs=500")  # long enough to outlive the second
    try:
        lock = out / ".sweep.lock"
        _wait_for(lambda: lock.is_file() and lock.read_text().strip() == str(first.pid), 60, first)
        second = subprocess.run(
            [*PY, "sweep", "--preset", "smoke", "--grid", "train.seed=5", "--out", str(out)],
            env=ENV,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 2
        one_line(second.stderr, str(out), "in use by another sweep")
        assert first.poll() is None  # the first one goes on
        assert not (out / "runs" / "seed5").exists()  # nothing of the second one started
        assert rf.read_json(out / rf.SWEEP)["sweep"]["grid"] == {"train.seed": [0, 1]}
    finally:
        _kill_group(first)


# --------------------------------------------------------------------------- distributed


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ranks(out: Path, *sets: str, timeout_s: int) -> list[subprocess.Popen]:
    """Two processes of one gloo job, started the way torchrun starts them (no supervisor:
    what happens to one process when the other dies is this package's own behaviour)."""
    port = _free_port()
    procs = []
    for rank in (0, 1):
        env = dict(
            ENV,
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=str(port),
            WORLD_SIZE="2",
            RANK=str(rank),
            LOCAL_RANK=str(rank),
            LOCAL_WORLD_SIZE="2",
            CONTRASTLENS_DIST_TIMEOUT_S=str(timeout_s),
        )
        cmd = [
            *PY,
            "train",
            "--preset",
            "smoke",
            "--set",
            "eval.at_end=false",
            *sets,
            "--out-dir",
            str(out),
            "--name",
            "d",
        ]
        procs.append(
            subprocess.Popen(
                cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
            )
        )
    return procs


@pytest.mark.parametrize("fault", ["kill", "hang"])
def test_a_dead_or_hung_process_ends_the_other(tmp_path, fault):  # hang: ~17 s, kill: ~7 s
    """Rank 1 is SIGKILLed (dies) or SIGSTOPped (hangs) mid-run; rank 0 must exit with one
    clear line within the collective timeout (CONTRASTLENS_DIST_TIMEOUT_S, 10 s here), not
    hang; its last checkpoint then resumes (here on one process: same global batch)."""
    timeout_s = 10
    rank0, rank1 = _ranks(tmp_path, "--set", "train.epochs=400", timeout_s=timeout_s)
    run = tmp_path / "d"
    try:
        _wait_for(lambda: (run / rf.CHECKPOINT).is_file(), 120, rank0)
        rank1.send_signal(signal.SIGKILL if fault == "kill" else signal.SIGSTOP)
        t0 = time.time()
        rank0.wait(timeout=timeout_s + 30)
        waited = time.time() - t0
    finally:
        for p in (rank0, rank1):
            with contextlib.suppress(ProcessLookupError):
                p.kill()
            p.wait()
    assert rank0.returncode == 1, rank0.stderr.read()[-3000:]
    err = rank0.stderr.read()
    last = err.strip().splitlines()[-1]
    assert "Traceback" not in err, err[-3000:]
    assert last.startswith("contrastlens train: error: rank 0: a collective operation failed")
    assert "--resume" in last
    assert waited < timeout_s + 20  # bounded: gloo notices a dead peer at once, a hung one
    intact(run)  # at the timeout
    step = torch.load(run / rf.CHECKPOINT, weights_only=False)["step"]
    code, err = resume(run, "--set", f"train.max_steps={step + 4}")
    assert code == 0, err
    assert rf.run_status(run) == "stopped"


def test_uneven_last_batch_on_two_processes_completes(tmp_path):  # ~8 s: 2 processes
    """40 images, batch 16: the last 8 are dropped (data/views.py), so both processes take the
    same number of steps and nobody waits for a batch that never comes."""
    procs = _ranks(
        tmp_path, "--set", "data.synthetic_n=40", "--set", "train.epochs=2", timeout_s=60
    )
    for p in procs:
        assert p.wait(timeout=120) == 0, p.stderr.read()[-3000:]
    run = rf.read_run(tmp_path / "d")
    assert run["status"] == "finished" and run["meta"]["world_size"] == 2
    assert [r["step"] for r in run["metrics"]] == [1, 2, 3, 4]
