"""2 CPU processes (gloo, torchrun) equal 1 process over the same global batch (float64), with
and without batch norm (global statistics: `GlobalBatchNorm`; MoCo: shuffle-BN groups)."""

import json
import os
import socket
import subprocess
import sys

import pytest
import torch
from train.helpers import exact_config

from contrastlens import runfolder as rf
from contrastlens.cli import main
from contrastlens.train.config import config_to_dict


@pytest.mark.parametrize(
    "method, norm, micro",
    [
        ("simclr", "none", 0),
        ("siglip", "none", 0),
        ("simclr", "bn", 0),
        ("moco", "bn", 0),
        ("sogclr", "none", 0),
        ("simclr", "none", 4),
    ],
)  # siglip: learnable t, b outside DDP; moco: 2 shuffle-BN groups on 1 process = 2 processes;
# micro 4: GradCache on 2 processes (DDP's no_sync on every chunk but the last) = 1 process
def test_two_processes_equal_one(tmp_path, method, norm, micro):
    cfg = exact_config(epochs=1)
    cfg.vrn.weight = 3.0
    cfg.method.name = method
    cfg.model.norm = norm
    cfg.method.moco_queue = 32
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(config_to_dict(cfg)))
    common = ["train", "--config", str(path), "--no-eval", "--out-dir", str(tmp_path)]
    two_only = ["--set", f"train.micro_batch={micro}"]  # one process: the plain step
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        f"--master_port={port}",
        "-m",
        "contrastlens",
        *common,
        *two_only,
        "--name",
        "two",
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    assert main([*common, "--name", "one"]) == 0

    one, two = rf.read_run(tmp_path / "one"), rf.read_run(tmp_path / "two")
    assert two["meta"]["world_size"] == 2 and one["meta"]["world_size"] == 1
    assert len(one["metrics"]) == len(two["metrics"]) == 4
    for a, b in zip(one["metrics"], two["metrics"]):
        for key in ("loss", method, "vrn", "neg_var"):
            assert abs(a[key] - b[key]) < 1e-8, (key, a[key], b[key])
    wa = torch.load(tmp_path / "one" / rf.CHECKPOINT, weights_only=False)["encoder"]
    wb = torch.load(tmp_path / "two" / rf.CHECKPOINT, weights_only=False)["encoder"]
    # MoCo on one process runs the query encoder once per shuffle-BN group (2 per step), on two
    # processes once each: the same batch statistics, but twice the running-statistics updates.
    running = ("running_mean", "running_var", "num_batches_tracked")
    compared = 0
    for key, value in wa.items():
        if method == "moco" and key.endswith(running):
            continue
        if value.is_floating_point():
            assert value.dtype == torch.float64
            assert torch.allclose(value, wb[key], atol=1e-8, rtol=0), key
        else:
            assert torch.equal(value, wb[key]), key
        compared += key.endswith("running_var")
    assert (norm == "none" or method == "moco") == (compared == 0)  # BN statistics compared
    for part in ("objective", "moco"):
        oa = torch.load(tmp_path / "one" / rf.CHECKPOINT, weights_only=False).get(part, {})
        ob = torch.load(tmp_path / "two" / rf.CHECKPOINT, weights_only=False).get(part, {})
        assert oa.keys() == ob.keys()
        assert part != "objective" or method != "siglip" or len(oa) >= 2
        assert part != "objective" or method != "sogclr" or "sogclr.log_u_N" in oa  # its state
        assert part != "moco" or (method != "moco") == (not oa)
        for key, value in oa.items():
            if key.endswith(running):
                continue
            if value.is_floating_point():
                assert torch.allclose(value, ob[key], atol=1e-8, rtol=0), (part, key)
            else:
                assert torch.equal(value, ob[key]), (part, key)
