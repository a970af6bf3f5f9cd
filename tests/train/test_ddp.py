"""2 CPU processes (gloo, torchrun) equal 1 process over the same global batch (float64)."""

import json
import os
import socket
import subprocess
import sys

import pytest
import torch
from train.helpers import exact_config

from contrastlens.cli import main
from contrastlens.train import run_dir as rd
from contrastlens.train.config import config_to_dict


@pytest.mark.parametrize("method", ["simclr", "siglip"])  # siglip: learnable t, b outside DDP
def test_two_processes_equal_one(tmp_path, method):
    cfg = exact_config(epochs=1)
    cfg.vrn.weight = 3.0
    cfg.method.name = method
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(config_to_dict(cfg)))
    common = ["train", "--config", str(path), "--no-eval", "--out-dir", str(tmp_path)]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
           f"--master_port={port}", "-m", "contrastlens", *common, "--name", "two"]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    assert main([*common, "--name", "one"]) == 0

    one, two = rd.read_run(tmp_path / "one"), rd.read_run(tmp_path / "two")
    assert two["meta"]["world_size"] == 2 and one["meta"]["world_size"] == 1
    assert len(one["metrics"]) == len(two["metrics"]) == 4
    for a, b in zip(one["metrics"], two["metrics"]):
        for key in ("loss", method, "vrn", "neg_var"):
            assert abs(a[key] - b[key]) < 1e-8, (key, a[key], b[key])
    wa = torch.load(tmp_path / "one" / rd.CHECKPOINT, weights_only=False)["encoder"]
    wb = torch.load(tmp_path / "two" / rd.CHECKPOINT, weights_only=False)["encoder"]
    for key, value in wa.items():
        assert value.dtype == torch.float64
        assert torch.allclose(value, wb[key], atol=1e-8, rtol=0), key
    oa = torch.load(tmp_path / "one" / rd.CHECKPOINT, weights_only=False)["objective"]
    ob = torch.load(tmp_path / "two" / rd.CHECKPOINT, weights_only=False)["objective"]
    assert oa.keys() == ob.keys() and (method != "siglip" or len(oa) >= 2)
    for key, value in oa.items():
        assert torch.allclose(value, ob[key], atol=1e-8, rtol=0), key
