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
