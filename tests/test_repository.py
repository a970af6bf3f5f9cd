"""The repository stands on its own: committed files hold no absolute path of the machine
that made them (run folders record paths inside the repository, commands as `contrastlens`)."""

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MACHINE_PATH = re.compile(r"(?<![\w.~-])/(work|root|home|tmp)/[\w.-]+")


def test_committed_files_hold_no_absolute_path_of_the_machine():
    try:
        listed = subprocess.run(
            ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    found = []
    for name in listed:
        path = ROOT / name
        if path.suffix in (".png", ".pt", ".gz") or not path.is_file():
            continue
        text = path.read_text(errors="replace")
        found += [f"{name}: {m.group(0)}" for m in MACHINE_PATH.finditer(text)][:1]
    assert not found, found[:10]
