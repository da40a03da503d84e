"""Dockyard against Debian's docker-registry (distribution 2.8) on loopback, side by side.

    .venv/bin/python bench/run.py [--quick] [--only NAME ...] [--workers N]

Both servers start on free 127.0.0.1 ports with fresh storage in a temporary directory and are
stopped at the end, also on error. Prints a table (figures and the ratio Dockyard/peer) and
writes every raw run, the machine and the versions to bench/results/<timestamp>.json.
See bench/README.md for what each figure measures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import data
import loadgen
import machine
import servers as srv
import workloads
from data import MiB
from workloads import Metric

BENCHMARKS = ("blob-get", "upload", "manifest-get", "skopeo")
IDLE = 0.15  # busier than this before a benchmark (other processes) makes its figures suspect
CEILINGS = {  # context rows: what the machine allows, not a server figure
    "client_ceiling_mib_s": "  ceiling: same client, bare sendfile(2) server",
    "disk_ceiling_mib_s": "  ceiling: copy + fsync on the same disk",
    "skopeo_local_s": "  context: skopeo oci -> oci, no registry",
}
RESULTS = Path(__file__).resolve().parent / "results"

FULL = {"get": 512 * MiB, "upload": 512 * MiB, "seconds": 10.0, "layers": [40, 25, 15]}
QUICK = {"get": 64 * MiB, "upload": 64 * MiB, "seconds": 3.0, "layers": [4, 3, 2]}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, short loads (smoke)")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help=f"run only these (repeat or comma-separate): {', '.join(BENCHMARKS)}",
    )
    parser.add_argument("--workers", type=int, default=1, help="dockyard worker processes")
    parser.add_argument("--runs", type=int, default=3, help="best of N (default 3)")
    parser.add_argument("--connections", type=int, default=32, help="manifest GET connections")
    parser.add_argument("--seconds", type=float, help="manifest GET duration per measurement")
    parser.add_argument(
        "--threads", type=int, default=loadgen.cores(), help="load generator threads"
    )
    parser.add_argument(
        "--loadgen",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="manifest load generator (auto: wrk when installed)",
    )
    parser.add_argument(
        "--access-log", action="store_true", help="log every request on both servers"
    )
    parser.add_argument(
        "--dockyard-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for dockyard, e.g. DOCKYARD_STORAGE__FSYNC=false (comparisons)",
    )
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each benchmark wait up to this long for other CPU load to stop",
    )
    parser.add_argument("--peer", default="docker-registry", help="docker-registry binary")
    parser.add_argument("--output", type=Path, help="JSON file (default bench/results/...)")
    args = parser.parse_args(argv)
    only = {name.strip() for item in args.only for name in item.split(",") if name.strip()}
    unknown = only - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark(s) {sorted(unknown)}; choose from {BENCHMARKS}")
    args.background = {}
    args.selected = [name for name in BENCHMARKS if not only or name in only]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # A SIGTERM unwinds like Ctrl-C, so the servers are stopped and the temporary files go.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sizes = QUICK if args.quick else FULL
    seconds = args.seconds or sizes["seconds"]
    needed = [args.peer] + (["skopeo"] if "skopeo" in args.selected else [])
    needed += ["wrk"] if args.loadgen == "wrk" else []
    missing = [tool for tool in needed if not shutil.which(tool)]
    if missing:
        print(f"missing: {missing} (make system-deps; apt-get install wrk)", file=sys.stderr)
        return 2
    if "manifest-get" in args.selected and loadgen.tool(args.loadgen) != "wrk":
        _say("no wrk: the Python load generator measures manifest GET (lower figures for both)")
    extra_env = dict(item.split("=", 1) for item in args.dockyard_env)
    started = time.time()
    root = Path(tempfile.mkdtemp(prefix="dockyard-bench-"))
    metrics: list[Metric] = []
    try:
        inputs = _prepare(root, args.selected, sizes, args.runs)
        dockyard = srv.dockyard(root, args.workers, args.access_log, extra_env)
        peer = srv.peer(root, args.access_log, args.peer)
        with srv.running(dockyard, peer):
            pair = [dockyard, peer]
            for name in args.selected:
                load = machine.wait_until_idle(args.wait_idle, IDLE)
                args.background[name] = round(load, 3)
                warning = f" (WARNING: {load:.0%} of the CPU busy before it)" if load > IDLE else ""
                _say(f"running {name} ...{warning}")
                metrics += _run_one(name, pair, inputs, args, seconds)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(render(metrics, args))
    path = _write_json(metrics, args, sizes, started)
    print(f"\nraw numbers: {path}")
    return 0


def _prepare(root: Path, selected: list[str], sizes: dict, runs: int) -> dict[str, object]:
    inputs: dict[str, object] = {}
    blobs = root / "inputs"
    blobs.mkdir()
    if "blob-get" in selected:
        _say(f"writing a {sizes['get'] // MiB} MiB random blob ...")
        inputs["get"] = data.random_file(blobs / "get.bin", sizes["get"])
    if "upload" in selected:
        _say(f"writing {runs} x {sizes['upload'] // MiB} MiB random blobs ...")
        inputs["upload"] = [
            data.random_file(blobs / f"upload-{i}.bin", sizes["upload"]) for i in range(runs)
        ]
    if "skopeo" in selected:
        _say(f"writing {runs} OCI layouts of {sum(sizes['layers'])} MB random layers ...")
        layers = [mb * 1_000_000 for mb in sizes["layers"]]
        images = [root / f"image-{i}" for i in range(runs)]
        image_bytes = [data.oci_layout(image, layers) for image in images]
        inputs["image_bytes"] = image_bytes[0]
        inputs["images"] = images
    return inputs


def _run_one(
    name: str, pair: list[srv.Server], inputs: dict, args: argparse.Namespace, seconds: float
) -> list[Metric]:
    if name == "blob-get":
        return workloads.blob_get(pair, inputs["get"], args.runs)
    if name == "upload":
        return workloads.blob_upload(pair, inputs["upload"])
    if name == "manifest-get":
        return workloads.manifest_get(pair, seconds, args.connections, args.threads, args.loadgen)
    return workloads.skopeo(pair, inputs["images"], inputs["image_bytes"])


def ratio(metric: Metric) -> float | None:
    mine, theirs = metric.values.get("dockyard"), metric.values.get("docker-registry")
    if not mine or not theirs:
        return None
    return mine / theirs


def render(metrics: list[Metric], args: argparse.Namespace) -> str:
    header = ("benchmark", "unit", "dockyard", "docker-registry", "ratio", "goal")
    rows = [header]
    for metric in metrics:
        value = ratio(metric)
        if value is None:
            goal = "-"
        elif metric.higher_is_better:
            goal = "ok (>= 1)" if value >= 1.0 else "BELOW (< 1)"
        else:
            goal = "ok (<= 1)" if value <= 1.0 else "ABOVE (> 1)"
        rows.append(
            (
                metric.label,
                metric.unit,
                _figure(metric.values.get("dockyard")),
                _figure(metric.values.get("docker-registry")),
                f"{value:.2f}" if value is not None else "-",
                goal,
            )
        )
        for key, label in CEILINGS.items():
            ceiling = metric.detail.get(key)
            if isinstance(ceiling, float):
                rows.append((label, metric.unit, _figure(ceiling), "", "", ""))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for index, row in enumerate(rows):
        cells = [
            cell.ljust(widths[i]) if i in (0, 1, 5) else cell.rjust(widths[i])
            for i, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    mode = "quick" if args.quick else "full"
    lines.insert(
        0,
        f"\nDockyard ({args.workers} worker(s)) vs docker-registry, {mode} run, best of "
        f"{args.runs}, {os.cpu_count()} cores, ratio = dockyard / docker-registry\n",
    )
    notes = [f"  {m.key}: {m.note}" for m in metrics if m.note]
    if notes:
        lines += ["", "notes:", *notes]
    return "\n".join(lines)


def _figure(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if value < 100 else f"{value:.0f}"


def _write_json(
    metrics: list[Metric], args: argparse.Namespace, sizes: dict, started: float
) -> Path:
    stamp = dt.datetime.fromtimestamp(started).strftime("%Y%m%d-%H%M%S")
    path = args.output or RESULTS / f"{stamp}{'-quick' if args.quick else ''}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "started": dt.datetime.fromtimestamp(started).isoformat(timespec="seconds"),
        "duration_s": round(time.time() - started, 1),
        "options": {
            "quick": args.quick,
            "selected": args.selected,
            "workers": args.workers,
            "runs": args.runs,
            "connections": args.connections,
            "load_threads": args.threads,
            "loadgen": loadgen.tool(args.loadgen),
            "access_log": args.access_log,
            "dockyard_env": args.dockyard_env,
            "sizes": sizes,
        },
        "machine": machine.describe(),
        "background_busy": args.background,
        "versions": {**_python_versions(), **workloads.versions()},
        "metrics": [
            {
                "key": m.key,
                "label": m.label,
                "unit": m.unit,
                "higher_is_better": m.higher_is_better,
                "best": m.values,
                "runs": m.runs,
                "ratio": ratio(m),
                "note": m.note,
                "detail": m.detail,
            }
            for m in metrics
        ],
    }
    path.write_text(json.dumps(report, indent=2) + "\n")
    return path


def _python_versions() -> dict[str, str]:
    """Versions from dockyard's own interpreter (the bench may run under another Python)."""
    python = Path(srv.dockyard_binary()).parent / "python"
    code = (
        "import importlib.metadata as m, json;"
        "print(json.dumps({p: m.version(p) for p in "
        "('dockyard', 'granian', 'starlette', 'sqlalchemy', 'aiosqlite', 'uvloop')}))"
    )
    try:
        out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True)
        return dict(json.loads(out.stdout))
    except (OSError, subprocess.CalledProcessError, ValueError):
        return {}


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
