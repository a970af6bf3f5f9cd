"""Every integration test runs on one intra-op thread: tiny tensors and a small model, and on
a busy 2-core machine a second thread waiting for a core made one test 100x slower (measured:
300 Adam steps on a 24 x 8 matrix, 0.14 s with one thread, 24 s with two)."""

import pytest


@pytest.fixture(autouse=True)
def _one_thread_everywhere(one_thread):
    yield
