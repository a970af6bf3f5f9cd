"""A run killed with SIGKILL mid-training resumes from its last complete checkpoint."""

import os
import signal
import subprocess
import sys
import time

import torch

from contrastlens import runfolder as rf


def test_sigkill_then_resume(tmp_path):
    run = tmp_path / "k"
    sets = ["--set", "train.epochs=400", "--set", "eval.at_end=false"]
    cmd = [
        sys.executable,
        "-m",
        "contrastlens",
        "train",
        "--preset",
        "smoke",
        *sets,
        "--out-dir",
        str(tmp_path),
        "--name",
        "k",
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline:
        rows = rf.read_jsonl(run / rf.METRICS) if run.exists() else []
        if (run / rf.CHECKPOINT).exists() and rows and rows[-1]["epoch"] >= 3:
            break
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (run / rf.FINAL).exists()
    ckpt = torch.load(run / rf.CHECKPOINT, weights_only=False)  # complete, loadable
    assert ckpt["step"] % 4 == 0 and ckpt["epoch"] >= 2
    stop = f"train.max_steps={ckpt['step'] + 8}"
    resume = [
        sys.executable,
        "-m",
        "contrastlens",
        "train",
        "--resume",
        str(run),
        "--set",
        "train.epochs=400",
        "--set",
        stop,
    ]
    out = subprocess.run(resume, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    # a kill during a checkpoint write leaves only a temp file, which the resume removes
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]
    steps = [r["step"] for r in rf.read_jsonl(run / rf.METRICS)]
    assert steps == list(range(1, ckpt["step"] + 9))  # no gap, no duplicate
