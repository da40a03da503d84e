"""The scale-out benchmark's output: the table on stdout and the raw numbers as JSON."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import loadgen
import machine
import workloads
from workloads import Metric

MINE, PEER = "dockyard", "docker-registry"
RESULTS = Path(__file__).resolve().parent / "results"
CONTEXT = {  # detail key -> label of a context row (what the machine allows, not a registry)
    "seaweedfs_direct_mib_s": "  context: presigned GET straight from SeaweedFS",
    "client_ceiling_mib_s": "  ceiling: same client, bare sendfile(2) server",
    "disk_ceiling_mib_s": "  context: local copy + fsync (no S3)",
    "skopeo_local_s": "  context: skopeo oci -> oci, no registry",
}


def ratio(metric: Metric, pick: Callable[[list[float]], float] | None = None) -> float | None:
    """Dockyard / docker-registry of the best figures, or of pick(runs) (e.g. the median)."""
    if pick is None:
        mine, theirs = metric.values.get(MINE), metric.values.get(PEER)
    else:
        mine, theirs = (pick(metric.runs[k]) if metric.runs.get(k) else None for k in (MINE, PEER))
    return mine / theirs if mine and theirs else None


def render(metrics: list[Metric], cpu: dict, args: argparse.Namespace) -> str:
    rows = [("benchmark", "unit", MINE, PEER, "ratio", "median ratio")]
    for metric in metrics:
        best, median = ratio(metric), ratio(metric, statistics.median)
        rows.append(
            (metric.label, metric.unit, _fig(metric.values.get(MINE)),
             _fig(metric.values.get(PEER)), _ratio(best), _ratio(median))
        )  # fmt: skip
        for key, label in CONTEXT.items():
            if isinstance(metric.detail.get(key), float):
                rows.append((label, metric.unit, _fig(metric.detail[key]), "", "", ""))
        if "speedup_best" in metric.detail:
            best, median = metric.detail["speedup_best"], metric.detail["speedup_median"]
            rows.append(("  2 replicas / 1 replica", "x", "", "", _ratio(best), _ratio(median)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        f"\nScale-out stack: Dockyard (S3 on SeaweedFS + PostgreSQL, 1 worker per replica) vs "
        f"docker-registry (S3 on the same SeaweedFS), {'quick' if args.quick else 'full'} run, "
        f"best of {args.runs}; ratio = dockyard / docker-registry of the best runs, median "
        "ratio = of the median runs",
        f"NOTE: this machine has {os.cpu_count()} cores; the client, every registry replica, "
        "PostgreSQL and SeaweedFS share them.\n",
    ]
    for index, row in enumerate(rows):
        cells = [c.ljust(widths[i]) if i < 2 else c.rjust(widths[i]) for i, c in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines += ["", "cores used while measuring (1.0 = one core; 'other' = rest of the machine):"]
    for name, shares in cpu.items():
        lines.append(f"  {name:<18} " + ", ".join(f"{k} {v:.2f}" for k, v in shares.items()))
    busy = ", ".join(f"{k} {v:.0%}" for k, v in args.background.items())
    lines += ["", f"machine busy just before each benchmark (other work): {busy}"]
    notes = [f"  {m.key}: {m.note}" for m in metrics if m.note]
    return "\n".join(lines + (["", "notes:", *notes] if notes else []))


def _ratio(value: float | None) -> str:
    return f"{value:.2f}" if value else "-"


def _fig(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if value < 100 else f"{value:.0f}"


def write_json(metrics: list[Metric], cpu: dict, args: Any, sizes: dict, started: float) -> Path:
    stamp = dt.datetime.fromtimestamp(started).strftime("%Y%m%d-%H%M%S")
    path = args.output or RESULTS / f"scale-out-{stamp}{'-quick' if args.quick else ''}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "started": dt.datetime.fromtimestamp(started).isoformat(timespec="seconds"),
        "duration_s": round(time.time() - started, 1),
        "stack": "dockyard: s3 (SeaweedFS weed mini) + postgresql; peer: s3 (same SeaweedFS)",
        "options": {
            "quick": args.quick,
            "selected": args.selected,
            "runs": args.runs,
            "sizes": sizes,
            "loadgen": loadgen.tool(),
        },
        "machine": machine.describe(),
        "background_busy": args.background,
        "versions": workloads.versions(),
        "cpu_cores_used": cpu,
        "metrics": [
            {
                "key": m.key,
                "label": m.label,
                "unit": m.unit,
                "higher_is_better": m.higher_is_better,
                "best": m.values,
                "runs": m.runs,
                "ratio": ratio(m),
                "median_ratio": ratio(m, statistics.median),
                "note": m.note,
                "detail": m.detail,
            }
            for m in metrics
        ],
    }
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return path
