"""Dockyard on its scale-out stack against docker-registry on S3, side by side, on loopback.

    .venv/bin/python bench/scale_out.py [--quick] [--only NAME ...] [--runs N]

Starts a real SeaweedFS S3 server and a fresh PostgreSQL schema (database `test` on
127.0.0.1:5432), runs Dockyard on them (S3 blobs, PostgreSQL metadata) and Debian's
docker-registry on its S3 driver against the same SeaweedFS (a bucket of its own), and measures
blob GET (streamed through the registry, and via a 307 to SeaweedFS), monolithic upload, manifest
GET, small blob GET, skopeo push/pull, and manifest GET with one and with two Dockyard replicas on
the same schema and bucket. Prints a table with the ratio Dockyard/peer and where the CPU went;
writes every raw run to bench/results/scale-out-<timestamp>.json. Everything is stopped and
removed at the end, also on error. See bench/SCALE_OUT.md.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cpu_share
import data
import httpraw
import loadgen
import machine
import scale_report as report
import scale_stack as stack
import servers as srv
import workloads
from data import BlobFile, MiB
from scale_report import MINE, PEER
from workloads import Metric

from dockyard.testing.seaweedfs import seaweedfs

BENCHMARKS = ("blob-get", "upload", "manifest-get", "small-blob-get", "skopeo", "scaling")
MANIFEST_PATH = "/v2/bench/manifest/manifests/latest"  # the manifest benchmark's image
SOCKET_TIMEOUT = 300.0  # seconds; a 512 MiB upload to SeaweedFS here takes 5-15 s
IDLE = 0.15  # busier than this before a benchmark (other processes) makes its figures suspect
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
    parser.add_argument("--runs", type=int, default=3, help="best of N (default 3)")
    parser.add_argument("--seconds", type=float, help="duration of each manifest load")
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each benchmark wait up to this long for other CPU load to stop",
    )
    parser.add_argument("--output", type=Path, help="JSON file (default bench/results/...)")
    args = parser.parse_args(argv)
    only = {n.strip() for item in args.only for n in item.split(",") if n.strip()}
    if only - set(BENCHMARKS):
        parser.error(f"unknown benchmark(s) {sorted(only - set(BENCHMARKS))}")
    args.selected = [name for name in BENCHMARKS if not only or name in only]
    args.background = {}
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: stop servers, drop schema
    # The bench's raw-socket client sets no timeouts of its own: nothing may block forever.
    socket.setdefaulttimeout(SOCKET_TIMEOUT)
    missing = [t for t in ("docker-registry", "skopeo") if not shutil.which(t)]
    if missing:
        print(f"missing: {missing} (make system-deps)", file=sys.stderr)
        return 2
    sizes = QUICK if args.quick else FULL
    seconds = args.seconds or sizes["seconds"]
    started = time.time()
    root = Path(tempfile.mkdtemp(prefix="dockyard-scale-bench-"))
    metrics: list[Metric] = []
    cpu: dict[str, dict[str, float]] = {}
    try:
        inputs = _prepare(root, args.selected, sizes, args.runs)
        _say("starting SeaweedFS and a PostgreSQL schema ...")
        with seaweedfs(bucket="dockyard") as s3, stack.pg_schema() as schema:
            stack.create_bucket(s3, stack.PEER_BUCKET)
            shared = stack.DockyardStack(s3, schema, root)
            _say(shared.upgrade())
            run = _Runner(shared, root, cpu)
            assert s3.process is not None
            run.names[s3.process.pid] = "seaweedfs"
            mine, peer = shared.replica(MINE), stack.peer(s3, root, PEER)
            with run.running(mine, peer):
                for name in args.selected:
                    load = machine.wait_until_idle(args.wait_idle, IDLE)
                    args.background[name] = round(load, 3)
                    warning = f" (WARNING: {load:.0%} of the CPU busy before it)" * (load > IDLE)
                    _say(f"running {name} ...{warning}")
                    metrics += run.one(name, [mine, peer], inputs, args, seconds)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(report.render(metrics, cpu, args))
    path = report.write_json(metrics, cpu, args, sizes, started)
    print(f"\nraw numbers: {path}")
    return 0


def _prepare(root: Path, selected: list[str], sizes: dict, runs: int) -> dict[str, Any]:
    inputs: dict[str, Any] = {}
    (root / "inputs").mkdir()
    if "blob-get" in selected:
        _say(f"writing a {sizes['get'] // MiB} MiB random blob ...")
        inputs["get"] = data.random_file(root / "inputs" / "get.bin", sizes["get"])
    if "upload" in selected:
        _say(f"writing {runs} x {sizes['upload'] // MiB} MiB random blobs ...")
        inputs["upload"] = [
            data.random_file(root / "inputs" / f"up-{i}.bin", sizes["upload"]) for i in range(runs)
        ]
    if "skopeo" in selected:
        _say(f"writing {runs} OCI layouts of {sum(sizes['layers'])} MB random layers ...")
        layers = [mb * 1_000_000 for mb in sizes["layers"]]
        inputs["images"] = [root / f"image-{i}" for i in range(runs)]
        inputs["image_bytes"] = min(data.oci_layout(p, layers) for p in inputs["images"])
    return inputs


class _Runner:
    """Starts the servers each benchmark needs and accounts for the CPU each one used."""

    def __init__(self, shared: stack.DockyardStack, root: Path, cpu: dict) -> None:
        self.shared, self.root, self.cpu = shared, root, cpu
        self.names: dict[int, str] = {}

    @contextlib.contextmanager
    def running(self, *servers: srv.Server) -> Iterator[tuple[srv.Server, ...]]:
        """Start the servers (stopped on the way out) and attribute their CPU by name."""
        with srv.running(*servers):
            pids = [s.process.pid for s in servers if s.process is not None]
            self.names.update(zip(pids, (s.name for s in servers), strict=True))
            try:
                yield servers
            finally:
                for pid in pids:
                    self.names.pop(pid, None)

    def measured(self, name: str, work: Callable[[], list[Metric]]) -> list[Metric]:
        result, shares = cpu_share.measure(work, dict(self.names))
        self.cpu[name] = shares
        return result

    def one(self, name: str, pair: list[srv.Server], inputs: dict, args: Any, seconds: float):
        if name == "blob-get":
            return self.blob_get(pair, inputs["get"], args.runs)
        if name == "upload":
            return self.measured(name, lambda: workloads.blob_upload(pair, inputs["upload"]))
        if name == "manifest-get":
            return self.measured(
                name, lambda: workloads.manifest_get(pair, seconds, 32, loadgen.cores())
            )
        if name == "small-blob-get":
            return self.measured(name, lambda: _small_blob_get(pair, seconds))
        if name == "skopeo":
            images, size = inputs["images"], inputs["image_bytes"]
            return self.measured(name, lambda: workloads.skopeo(pair, images, size))
        return self.scaling(pair[0], seconds, args.runs)

    # -- blob GET: streamed through the registry, and redirected to SeaweedFS ---------------

    def blob_get(self, pair: list[srv.Server], blob: BlobFile, runs: int) -> list[Metric]:
        streamed = self.measured("blob-get", lambda: workloads.blob_get(pair, blob, runs))
        streamed[0].label += ", streamed by the registry"
        streamed[0].note = "storage.redirect false / redirect.disable true: bytes pass through"
        mine = self.shared.replica(f"{MINE}-redirect", redirect=True)
        peer = stack.peer(self.shared.s3, self.root, f"{PEER}-redirect", redirect=True)
        redirected = Metric("blob_get_redirect", "  same, 307 to SeaweedFS followed", "MiB/s", True)
        with self.running(mine, peer):

            def work() -> None:
                for server in (mine, peer):
                    _follow(server, blob)  # warm, and proves both redirect
                for _ in range(runs):
                    for key, server in ((MINE, mine), (PEER, peer)):
                        hop, total = _follow(server, blob)
                        redirected.add(key, blob.size / MiB / total)
                        hops = redirected.detail.setdefault("redirect_ms", {})
                        hops.setdefault(key, []).append(round(hop * 1000, 2))

            self.measured("blob-get-redirect", work)
        direct = [blob.size / MiB / self._direct(blob) for _ in range(runs)]
        redirected.detail["seaweedfs_direct_mib_s"] = max(direct)
        redirected.detail["seaweedfs_direct_runs"] = direct
        redirected.note = "GET answered 307 (presigned URL), then a GET to SeaweedFS; both timed"
        return [*streamed, redirected]

    def _direct(self, blob: BlobFile) -> float:
        """The object Dockyard stored, fetched from SeaweedFS with a presigned URL."""
        key = stack.recorded_path(self.shared.schema, blob.digest)
        url = stack.presigned_get(self.shared.s3, self.shared.s3.bucket, key)
        reply = httpraw.expect(httpraw.request("GET", url, discard_body=True), 200, what="S3")
        return reply.seconds

    # -- scaling: one replica against two on the same schema and bucket ---------------------

    def scaling(self, first: srv.Server, seconds: float, runs: int) -> list[Metric]:
        """Two wrk processes of 16 connections each, at once: both on replica A, or one on A
        and one on B. Same client either way; only the number of replicas serving differs."""
        second = self.shared.replica(f"{MINE}-b")
        one = Metric("scale_1", "manifest GET by tag, 1 replica, 2x16 conns", "req/s", True)
        two = Metric("scale_2", "manifest GET by tag, 2 replicas, 2x16 conns", "req/s", True)
        headers = {"Accept": data.OCI_MANIFEST, **first.auth}  # the replicas share the admin
        path = MANIFEST_PATH
        _ensure_image(first)  # pushed by manifest-get, unless it was not selected
        with self.running(second):
            httpraw.expect(httpraw.request("GET", second.base + path, headers), 200, what="B")
            loadgen.run(second.base + path, 16, min(2.0, seconds), headers, 1)  # warm-up
            for index in range(runs):
                order = [(one, [first, first]), (two, [first, second])]
                for metric, targets in order[:: 1 if index % 2 == 0 else -1]:
                    urls = [t.base + path for t in targets]
                    loads, shares = cpu_share.measure(
                        lambda urls=urls: _parallel(urls, 16, seconds, headers), dict(self.names)
                    )
                    metric.add(MINE, sum(load.rps for load in loads))
                    metric.detail.setdefault("loads", []).append([x.as_dict() for x in loads])
                    metric.detail.setdefault("cpu", []).append(shares)
        for metric in (one, two):
            self.cpu[metric.key] = metric.detail["cpu"][-1]
            metric.note = "sum of two `wrk -t1 -c16`, run at the same time"
        two.detail["speedup_best"] = two.values[MINE] / one.values[MINE]
        two.detail["speedup_median"] = statistics.median(two.runs[MINE]) / statistics.median(
            one.runs[MINE]
        )
        return [one, two]


def _small_blob_get(pair: list[srv.Server], seconds: float) -> list[Metric]:
    """GET of the small image's config blob: what a pull does for every config and small
    layer. On S3 each one is a metadata read plus object-store calls, no bytes to speak of."""
    _, blobs = data.small_image()
    digest, body = blobs[0]
    label = f"blob GET, {len(body)} B config blob, 32 conns"
    metric = Metric("small_blob_get", label, "req/s", True)
    for server in pair:
        _ensure_image(server)
        url = f"{server.base}/v2/bench/manifest/blobs/{digest}"
        got = httpraw.request("GET", url, server.auth)
        if httpraw.expect(got, 200, what=server.name).body != body:
            raise httpraw.HttpError(f"{server.name} returned a different blob")
        loadgen.run(url, 32, min(2.0, seconds), server.auth, loadgen.cores())  # warm-up
    for server in pair:
        url = f"{server.base}/v2/bench/manifest/blobs/{digest}"
        load = loadgen.run(url, 32, seconds, server.auth, loadgen.cores())
        if load.errors:
            raise httpraw.HttpError(f"{server.name}: {load.errors} failed requests on {url}")
        metric.add(server.name, load.rps)
        metric.detail[server.name] = load.as_dict()
    metric.note = f"{loadgen.tool()}, {loadgen.cores()} thread(s), 32 connections, {seconds:g} s"
    return [metric]


def _ensure_image(server: srv.Server) -> None:
    """The manifest benchmark's small image at MANIFEST_PATH, pushed unless it is there."""
    path = MANIFEST_PATH
    accept = {"Accept": data.OCI_MANIFEST, **server.auth}
    if httpraw.request("GET", server.base + path, accept).status == 200:
        return
    manifest, blobs = data.small_image()
    for blob in blobs:
        workloads.push_blob(server, "bench/manifest", blob, single_post=False)
    reply = httpraw.request(
        "PUT", server.base + path, {"Content-Type": data.OCI_MANIFEST, **server.auth}, body=manifest
    )
    httpraw.expect(reply, 201, what=f"{server.name} PUT manifest")


def _follow(server: srv.Server, blob: BlobFile) -> tuple[float, float]:
    """GET the blob, expect a 307, GET the Location; seconds for the 307 and for both."""
    url = f"{server.base}/v2/bench/get/blobs/{blob.digest}"
    first = httpraw.request("GET", url, server.auth)
    first = httpraw.expect(first, 307, what=f"{server.name} GET blob")
    location = first.headers["location"]
    # No credentials to the presigned URL: it carries its own signature (as docker does).
    reply = httpraw.request("GET", location, discard_body=True)
    httpraw.expect(reply, 200, what=f"{server.name} redirect target")
    if reply.received != blob.size:
        raise httpraw.HttpError(f"{server.name}: got {reply.received} of {blob.size} bytes")
    return first.seconds, first.seconds + reply.seconds


def _parallel(urls: list[str], connections: int, seconds: float, headers: dict) -> list[Any]:
    results: list[Any] = [None] * len(urls)

    def drive(index: int) -> None:
        results[index] = loadgen.run(urls[index], connections, seconds, headers, 1)

    threads = [threading.Thread(target=drive, args=(i,)) for i in range(len(urls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 60)
    if any(r is None or r.errors for r in results):
        raise httpraw.HttpError(f"manifest load failed: {results}")
    return results


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
