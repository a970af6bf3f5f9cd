"""Memory a phase of a run used: the resident set on the CPU, allocated tensors on CUDA.

    peak = PeakMemory(device)    # at the start of training: resets the peaks
    with peak.paused():          # a probe inside training: its memory is not training's
        ...
    peak.state()                 # {"rss_before_mb", "peak_rss_mb", "cuda_peak_mb", "scope"}

On Linux the process's high-water mark of resident memory (VmHWM) is reset by writing "5" to
/proc/self/clear_refs; `PeakMemory` resets it when the phase starts and after each pause, and
keeps the maximum over the stretches in between, less what the pauses added and kept (a
probe's data, loaded once), so the peak is the training phase's own. Where the reset is not
allowed or does not take, the peak is the process's since it started (`ru_maxrss`) and
"scope" says "process" instead of "phase". On CUDA, `cuda_peak_mb` is
torch.cuda.max_memory_allocated over the same stretches, less what the pauses kept: the
tensors allocated, not the allocator's reserved cache. Each process measures its own; a run
folder records rank 0's. Sizes are MiB.
"""

from __future__ import annotations

import contextlib
import math
import os
import resource

import torch

CLEAR_REFS = "/proc/self/clear_refs"
STATUS = "/proc/self/status"
RESET_TOLERANCE_MB = 16.0  # a reset high-water mark is within this of the resident set


def rss_mb() -> float:
    """The resident set of this process now, MiB (nan where /proc is missing)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return math.nan


def process_peak_rss_mb() -> float:
    """The largest resident set of this process since it started, MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _hwm_mb() -> float:
    try:
        with open(STATUS) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except (OSError, ValueError, IndexError):
        pass
    return math.nan


def _max(a: float, b) -> float:
    """The larger of two sizes, either of which may be unknown (nan or None)."""
    known = [x for x in (a, b) if isinstance(x, (int, float)) and not math.isnan(x)]
    return max(known) if known else math.nan


def _reset_hwm() -> bool:
    try:
        with open(CLEAR_REFS, "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class PeakMemory:
    """The peak memory of one phase of this process, with pauses left out (see module doc)."""

    def __init__(self, device=None, *, resumed: dict | None = None) -> None:
        self.cuda = str(device).startswith("cuda")  # "cuda", "cuda:1" or a torch.device
        self.rss_before_mb = rss_mb()
        # the reset has to take: right after it the high-water mark is the resident set
        self.phase = _reset_hwm() and abs(_hwm_mb() - rss_mb()) < RESET_TOLERANCE_MB
        self._peak_rss = self.rss_before_mb if self.phase else math.nan
        self._peak_cuda = 0.0
        self._kept_mb = self._kept_cuda_mb = 0.0  # what the pauses added and kept
        if resumed:  # a resumed run: the peak of the stretches before the interruption
            self.rss_before_mb = resumed.get("rss_before_mb", self.rss_before_mb)
            self._peak_rss = _max(self._peak_rss, resumed.get("peak_rss_mb"))
            self._peak_cuda = resumed.get("cuda_peak_mb") or 0.0
        self.device = device
        if self.cuda:
            torch.cuda.reset_peak_memory_stats(device)

    def _collect(self) -> None:
        if self.phase:
            self._peak_rss = _max(self._peak_rss, _hwm_mb() - self._kept_mb)
        if self.cuda:
            peak = torch.cuda.max_memory_allocated(self.device) / 2**20 - self._kept_cuda_mb
            self._peak_cuda = max(self._peak_cuda, peak)

    @contextlib.contextmanager
    def paused(self):
        """Memory used inside does not count towards the phase's peak."""
        self._collect()
        before, cuda_before = rss_mb(), self._cuda_now()
        try:
            yield
        finally:
            kept = rss_mb() - before
            if kept > 0:  # (a pause that freed memory frees it for training too; nan: unknown)
                self._kept_mb += kept
            self._kept_cuda_mb += max(0.0, self._cuda_now() - cuda_before)
            if self.phase:
                _reset_hwm()
            if self.cuda:
                torch.cuda.reset_peak_memory_stats(self.device)

    def _cuda_now(self) -> float:
        return torch.cuda.memory_allocated(self.device) / 2**20 if self.cuda else 0.0

    def state(self) -> dict:
        """The phase's peak so far (JSON-ready; also what a checkpoint carries to a resume)."""
        self._collect()
        peak = self._peak_rss if self.phase else process_peak_rss_mb()
        return {
            "rss_before_mb": self.rss_before_mb,
            "peak_rss_mb": peak,
            "cuda_peak_mb": self._peak_cuda if self.cuda else None,
            "scope": "phase" if self.phase else "process",
        }
