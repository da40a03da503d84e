"""Where the CPU went during a measurement: cores used by each part of the stack.

On a 2-core machine the load generator, the registry replicas, PostgreSQL and SeaweedFS all share
the same two cores, so a figure is often limited by who else is using them. `measure()` reads
/proc before and after a piece of work and returns, per component, the CPU seconds it used per
second of wall time (1.0 = one whole core). Clients the bench runs as subprocesses (wrk, skopeo)
are counted from the children's rusage, as they have exited by the time the work returns.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
_TICK = os.sysconf("SC_CLK_TCK")


def _processes() -> dict[int, tuple[str, int, float]]:
    """pid -> (command name, process group, CPU seconds so far) for every visible process."""
    found: dict[int, tuple[str, int, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        # fields[0] is state (field 3 of stat); utime/stime are fields 14/15, pgrp is field 5.
        found[int(entry.name)] = (comm, int(fields[2]), (int(fields[11]) + int(fields[12])) / _TICK)
    return found


def _machine_busy() -> float:
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / _TICK


def _children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _classify(pid: int, comm: str, pgrp: int, names: dict[int, str]) -> str:
    if pid in names:
        return names[pid]
    if pgrp in names:
        return names[pgrp]
    if comm.startswith("postgres"):
        return "postgresql"
    return "other"


def measure(work: Callable[[], T], names: dict[int, str]) -> tuple[T, dict[str, float]]:
    """Run work(); return its result and cores used per component over its wall time.

    names: process id or process group id -> component name (each registry server runs in a
    process group of its own; SeaweedFS is one process). Every PostgreSQL process on the machine
    counts as "postgresql" (the server is shared with other sessions). "client" is this process
    plus its waited-for children (wrk, skopeo); "other" is everything else that ran on the
    machine, other sessions' work included.
    """
    before, busy0, kids0 = _processes(), _machine_busy(), _children()
    self0 = time.process_time()
    started = time.perf_counter()
    result = work()
    wall = time.perf_counter() - started
    after, busy1, kids1 = _processes(), _machine_busy(), _children()
    used: dict[str, float] = {}
    me = os.getpid()
    for pid, (comm, pgrp, cpu) in after.items():
        if pid == me:
            continue
        delta = cpu - before.get(pid, (comm, pgrp, 0.0))[2]
        name = _classify(pid, comm, pgrp, names)
        used[name] = used.get(name, 0.0) + delta
    used["client"] = (kids1 - kids0) + (time.process_time() - self0)
    # Whatever ran and exited in between is in the machine total only: give it to "other".
    used["other"] = max(0.0, (busy1 - busy0) - sum(v for k, v in used.items() if k != "other"))
    shares = {k: round(v / wall, 2) for k, v in sorted(used.items()) if v / wall >= 0.005}
    shares["machine"] = round((busy1 - busy0) / wall, 2)
    return result, shares
