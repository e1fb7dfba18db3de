"""Peak-memory measurement for one scoring or generation call.

CUDA: torch's allocator peak (exact, tensors only). CPU: torch keeps no allocator statistics, so
on Linux the kernel's peak resident set size (VmHWM) is reset at the start (`/proc/self/clear_refs`)
and read at the end: the call's peak growth over its starting RSS, with no sampling thread (a
sampler costs the GIL, which slows small-model decoding measurably). Elsewhere it reports 0.
Process-wide: other threads' allocations during the call count too.
"""

from __future__ import annotations

from types import TracebackType

import torch


def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # 5: reset the peak RSS to the current RSS (Linux >= 4.0)
        return True
    except OSError:
        return False


class PeakMemory:
    """Context manager; `.peak_bytes` is the peak extra memory used inside the block."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.peak_bytes = 0

    def __enter__(self) -> "PeakMemory":
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self._start = torch.cuda.memory_allocated(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            self._tracking = _reset_peak_rss()
            self._start = _status_kb("VmRSS") or 0
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak_bytes = max(0, torch.cuda.max_memory_allocated(self.device) - self._start)
        elif self._tracking:
            self.peak_bytes = max(0, (_status_kb("VmHWM") or 0) - self._start)
