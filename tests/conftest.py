"""Shared fixtures. Modules of tiny tensors use `one_thread`:

pytestmark = pytest.mark.usefixtures("one_thread")
"""

import os

import pytest
import torch

# The packaged all-MiniLM-L6-v2 loads from disk: never reach the Hugging Face hub, also in the
# integrations' doctests (set before sentence_transformers imports huggingface_hub).
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def one_thread():
    """Tiny tensors: one intra-op thread avoids thread-pool stalls on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# The fast inner loop (`make test-fast`: pytest -m "not slow and not integration") leaves out
# what is classified here; `make test` runs everything. slow: end-to-end runs, subprocesses,
# several processes, property-based fuzzing (seconds each). integration: the outside libraries
# (sentence-transformers, lightly, pytorch-metric-learning, open_clip), the packaged MiniLM
# model and the installed WordNet. Doctests (pyproject.toml's testpaths under src/) are
# classified by their module's path like tests: the integrations' examples are integration.
SLOW = (
    "tests/train/test_ddp.py",
    "tests/train/test_kill.py",
    "tests/test_distributed.py",
    "tests/experiments/test_sweep.py",
    "tests/experiments/test_reproduce.py::test_reproduce_smoke_end_to_end",
    "tests/test_faults.py",
    "tests/test_cli_fuzz.py",
    "tests/losses/test_generated.py",
    "tests/similarity/test_generated.py",
    "tests/test_docs.py::test_site_builds_strict",
    "tests/inspect/test_html_chromium.py",
)
INTEGRATION = (
    "tests/integrations/",
    "tests/text/test_study.py",
    "tests/data/test_wordnet.py",
    "src/contrastlens/integrations/",
    "tests/inspect/test_minilm.py",
)


def _on_one_thread(item) -> None:
    """Runs a doctest with one intra-op thread, like `one_thread` (fixtures of this file do not
    reach items under src/). Measured: the sentence-transformers examples, 1.7 s on one thread,
    16 s on two on this busy 2-core machine."""
    run = item.runtest

    def runtest():
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            run()
        finally:
            torch.set_num_threads(threads)

    item.runtest = runtest


def pytest_collection_modifyitems(config, items):
    root = config.rootpath
    for item in items:
        where = item.path.relative_to(root).as_posix() + "::" + item.name.split("[")[0]
        if where.startswith(SLOW):
            item.add_marker(pytest.mark.slow)
        if where.startswith(INTEGRATION):
            item.add_marker(pytest.mark.integration)
        if where.startswith("src/"):  # the doctests of the public docstrings
            _on_one_thread(item)
