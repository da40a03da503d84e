"""What the machine is, and whether something else is using it while we measure."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path


def describe() -> dict[str, object]:
    info: dict[str, object] = {
        "nproc": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        meminfo = Path("/proc/meminfo").read_text().split()
        info["memory_gib"] = round(int(meminfo[meminfo.index("MemTotal:") + 1]) / 2**20, 1)
    except (OSError, ValueError):
        pass
    return info


def _cpu_times() -> tuple[int, int]:
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields), idle


def busy(seconds: float = 1.0) -> float:
    """Fraction of all cores busy over the next `seconds` (0.0 when /proc is unavailable)."""
    try:
        total0, idle0 = _cpu_times()
        time.sleep(seconds)
        total1, idle1 = _cpu_times()
    except OSError:
        return 0.0
    total = total1 - total0
    return 1.0 - (idle1 - idle0) / total if total else 0.0


def wait_until_idle(max_wait: float, threshold: float) -> float:
    """Wait up to max_wait seconds for the machine to go idle; returns the last busy fraction."""
    deadline = time.monotonic() + max_wait
    load = busy()
    while load > threshold and time.monotonic() < deadline:
        load = busy(2.0)
    return load
