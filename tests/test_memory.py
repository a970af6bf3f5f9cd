"""PeakMemory: the training phase's peak resident memory, with the probes' pauses left out."""

import pytest

from contrastlens.memory import PeakMemory

MIB = 2**20


def _touch(mib: int) -> bytes:
    return b"\x01" * (mib * MIB)  # written, so every page is resident


def test_peak_counts_the_phase_and_leaves_pauses_out():
    memory = PeakMemory("cpu")
    if memory.state()["scope"] != "phase":
        pytest.skip("this kernel does not let a process reset its high-water mark")
    block = _touch(100)
    del block
    first = memory.state()
    assert first["peak_rss_mb"] - first["rss_before_mb"] >= 90
    with memory.paused():
        kept = _touch(100)  # a probe's data: allocated in a pause and kept afterwards
        peak_of_pause = _touch(100)
        del peak_of_pause
    larger = _touch(150)  # training again, above its earlier peak
    del larger
    second = memory.state()
    assert len(kept) == 100 * MIB
    # the new peak counts (+150 MiB over the start), the pause's 200 MiB and the kept 100 not
    added = second["peak_rss_mb"] - second["rss_before_mb"]
    assert 140 <= added < 175, added
    assert second["cuda_peak_mb"] is None


def test_a_resumed_phase_keeps_the_earlier_peak():
    earlier = {"rss_before_mb": 1.0, "peak_rss_mb": 1e6, "cuda_peak_mb": None}
    state = PeakMemory("cpu", resumed=earlier).state()
    assert state["rss_before_mb"] == 1.0
    if state["scope"] == "phase":
        assert state["peak_rss_mb"] == 1e6
