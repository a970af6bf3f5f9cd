"""Shared fixtures. Modules of tiny tensors use `one_thread`:

pytestmark = pytest.mark.usefixtures("one_thread")
"""

import pytest
import torch


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
# model and the installed WordNet.
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
    "tests/inspect/test_html_chromium.py",
)
INTEGRATION = (
    "tests/integrations/",
    "tests/text/test_study.py",
    "tests/data/test_wordnet.py",
    "tests/inspect/test_minilm.py",
)


def pytest_collection_modifyitems(config, items):
    root = config.rootpath
    for item in items:
        where = item.path.relative_to(root).as_posix() + "::" + item.name.split("[")[0]
        if where.startswith(SLOW):
            item.add_marker(pytest.mark.slow)
        if where.startswith(INTEGRATION):
            item.add_marker(pytest.mark.integration)
