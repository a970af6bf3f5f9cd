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
    block = _touch(200)
    del block
    first = memory.state()
    assert first["peak_rss_mb"] - first["rss_before_mb"] >= 180
    with memory.paused():
        kept = _touch(300)  # a probe's data: allocated in a pause and kept afterwards
        peak_of_pause = _touch(300)
        del peak_of_pause
    small = _touch(50)
    del small
    second = memory.state()
    assert len(kept) == 300 * MIB
    # neither the pause's own peak (600 MiB) nor what it kept (300 MiB) is training's
    assert first["peak_rss_mb"] <= second["peak_rss_mb"] < first["peak_rss_mb"] + 40
    assert second["cuda_peak_mb"] is None


def test_a_resumed_phase_keeps_the_earlier_peak():
    earlier = {"rss_before_mb": 1.0, "peak_rss_mb": 1e6, "cuda_peak_mb": None}
    state = PeakMemory("cpu", resumed=earlier).state()
    assert state["rss_before_mb"] == 1.0
    if state["scope"] == "phase":
        assert state["peak_rss_mb"] == 1e6
