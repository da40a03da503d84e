"""The four measurements. Each returns Metrics with every raw run kept for the JSON file.

Runs alternate between the servers (run 1 on each, then run 2 on each, ...) so that drift on the
machine (page cache, disk writeback, thermal) spreads over both instead of favouring one.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import data
import httpraw
import loadgen
from data import BlobFile, MiB
from servers import Server


@dataclass
class Metric:
    key: str
    label: str
    unit: str
    higher_is_better: bool
    values: dict[str, float] = field(default_factory=dict)  # server name -> best figure
    runs: dict[str, list[float]] = field(default_factory=dict)
    note: str = ""
    detail: dict[str, object] = field(default_factory=dict)

    def add(self, server: str, figure: float) -> None:
        self.runs.setdefault(server, []).append(figure)
        best = max if self.higher_is_better else min
        self.values[server] = best(self.runs[server])


# -- blob helpers ----------------------------------------------------------------------------


def _absolute(server: Server, location: str) -> str:
    return location if location.startswith("http") else f"{server.base}{location}"


def push_blob(
    server: Server, repo: str, blob: BlobFile | tuple[str, bytes], single_post: bool
) -> float:
    """Upload one blob monolithically; returns the seconds the whole upload took.

    single_post: one `POST /blobs/uploads/?digest=` carrying the body; otherwise the two-request
    monolithic upload, `POST` then `PUT <location>?digest=` with the body.
    """
    digest, body, body_file = (
        (blob.digest, None, str(blob.path)) if isinstance(blob, BlobFile) else (*blob, None)
    )
    headers = {"Content-Type": "application/octet-stream", **server.auth}
    start_url = f"{server.base}/v2/{repo}/blobs/uploads/"
    if single_post:
        reply = httpraw.request(
            "POST", f"{start_url}?digest={digest}", headers, body=body, body_file=body_file
        )
        return httpraw.expect(reply, 201, what=f"{server.name} POST ?digest=").seconds
    reply = httpraw.request("POST", start_url, server.auth, body=b"")
    reply = httpraw.expect(reply, 202, what=f"{server.name} POST upload")
    post_seconds = reply.seconds
    location = _absolute(server, reply.headers["location"])
    separator = "&" if "?" in location else "?"
    reply = httpraw.request(
        "PUT", f"{location}{separator}digest={digest}", headers, body=body, body_file=body_file
    )
    return post_seconds + httpraw.expect(reply, 201, what=f"{server.name} PUT ?digest=").seconds


def supports_single_post(server: Server) -> bool:
    """Whether `POST ?digest=` with a body completes the upload (Distribution 2.8 ignores it)."""
    payload = os.urandom(1024)
    digest = data.sha256(payload)
    reply = httpraw.request(
        "POST",
        f"{server.base}/v2/bench/probe/blobs/uploads/?digest={digest}",
        {"Content-Type": "application/octet-stream", **server.auth},
        body=payload,
    )
    return reply.status == 201


# -- 1. blob GET -----------------------------------------------------------------------------


def blob_get(servers: list[Server], blob: BlobFile, runs: int) -> list[Metric]:
    metric = Metric("blob_get", f"blob GET {blob.size // MiB} MiB", "MiB/s", True)
    for server in servers:
        push_blob(server, "bench/get", blob, single_post=False)
        _download(server, blob)  # warm: both serve from the page cache, as in production
    for _ in range(runs):
        for server in servers:
            metric.add(server.name, blob.size / MiB / _download(server, blob))
    ceiling = [blob.size / MiB / _sendfile_ceiling(blob) for _ in range(runs)]
    metric.note = "raw-socket client (recv_into a 4 MiB buffer); one untimed warm-up GET each"
    metric.detail["client_ceiling_mib_s"] = max(ceiling)
    metric.detail["client_ceiling_runs"] = ceiling
    return [metric]


def _download(server: Server, blob: BlobFile) -> float:
    url = f"{server.base}/v2/bench/get/blobs/{blob.digest}"
    reply = httpraw.expect(
        httpraw.request("GET", url, server.auth, discard_body=True),
        200,
        what=f"{server.name} GET blob",
    )
    if reply.received != blob.size:
        raise httpraw.HttpError(f"{server.name}: got {reply.received} of {blob.size} bytes")
    return reply.seconds


def _sendfile_ceiling(blob: BlobFile) -> float:
    """The same client against a bare sendfile(2) loop: what the client and loopback can do."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        with conn, open(blob.path, "rb") as f:
            conn.recv(65536)
            head = f"HTTP/1.1 200 OK\r\nContent-Length: {blob.size}\r\nConnection: close\r\n\r\n"
            conn.sendall(head.encode())
            conn.sendfile(f)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        reply = httpraw.request("GET", f"http://127.0.0.1:{port}/blob", discard_body=True)
    finally:
        thread.join(30)
        listener.close()
    return reply.seconds


# -- 2. monolithic upload --------------------------------------------------------------------


def blob_upload(servers: list[Server], files: list[BlobFile]) -> list[Metric]:
    """Each run uploads different random data to a fresh repository: nothing deduplicates."""
    size = files[0].size // MiB
    single = Metric("upload_single_post", f"upload {size} MiB, one POST ?digest=", "MiB/s", True)
    two = Metric("upload_post_put", f"upload {size} MiB, POST + PUT ?digest=", "MiB/s", True)
    capable = {server.name: supports_single_post(server) for server in servers}
    for index, blob in enumerate(files):
        for server in servers:
            modes = [(two, False)] + ([(single, True)] if capable[server.name] else [])
            for metric, single_post in modes[:: 1 if index % 2 else -1]:  # alternate the order
                os.sync()  # start each upload with no other writeback pending
                repo = f"bench/upload-{metric.key}-{index}"
                seconds = push_blob(server, repo, blob, single_post)
                metric.add(server.name, blob.size / MiB / seconds)
    disk = []
    for blob in files:
        os.sync()
        disk.append(blob.size / MiB / _disk_ceiling(blob))
    single.detail["disk_ceiling_mib_s"] = max(disk)
    single.detail["disk_ceiling_runs"] = disk
    lacking = [name for name, ok in capable.items() if not ok]
    for name in lacking:
        # Its POST ?digest= answers 202 and drops the body, so POST + PUT is its monolithic upload.
        single.values[name] = two.values[name]
        single.runs[name] = two.runs[name]
        single.note = f"{', '.join(lacking)}: no single-POST upload, its POST + PUT stands in"
    single.detail["single_post_supported"] = capable
    return [single, two]


def _disk_ceiling(blob: BlobFile) -> float:
    """Copy the file next to the servers' storage and fsync it: what a durable upload can reach."""
    target = blob.path.with_suffix(".ceiling")
    started = time.perf_counter()
    with open(blob.path, "rb") as source, open(target, "wb") as out:
        shutil.copyfileobj(source, out, 1 << 20)
        out.flush()
        os.fsync(out.fileno())
    elapsed = time.perf_counter() - started
    target.unlink()
    return elapsed


# -- 3. manifest GET -------------------------------------------------------------------------


def manifest_get(
    servers: list[Server], seconds: float, connections: int, threads: int, choice: str = "auto"
) -> list[Metric]:
    manifest, blobs = data.small_image()
    digest = data.sha256(manifest)
    tool = loadgen.tool(choice)
    by_tag = Metric("manifest_get_tag", f"manifest GET by tag, {connections} conns", "req/s", True)
    by_digest = Metric("manifest_get_digest", "manifest GET by digest", "req/s", True)
    for server in servers:
        headers = {"Accept": data.OCI_MANIFEST, **server.auth}
        for blob in blobs:
            push_blob(server, "bench/manifest", blob, single_post=False)
        reply = httpraw.request(
            "PUT",
            f"{server.base}/v2/bench/manifest/manifests/latest",
            {"Content-Type": data.OCI_MANIFEST, **server.auth},
            body=manifest,
        )
        httpraw.expect(reply, 201, what=f"{server.name} PUT manifest")
        check = httpraw.request("GET", f"{server.base}/v2/bench/manifest/manifests/latest", headers)
        if httpraw.expect(check, 200, what="GET manifest").body != manifest:
            raise httpraw.HttpError(f"{server.name} returned a different manifest")
        loadgen.run(
            f"{server.base}/v2/bench/manifest/manifests/latest",
            connections,
            min(2.0, seconds),
            headers,
            threads,
            choice,
        )  # warm-up: connections, SQLite page cache, Go's blob descriptor cache
    for metric, reference in ((by_tag, "latest"), (by_digest, digest)):
        for server in servers:
            url = f"{server.base}/v2/bench/manifest/manifests/{reference}"
            headers = {"Accept": data.OCI_MANIFEST, **server.auth}  # wrk -H sends it each time
            load = loadgen.run(url, connections, seconds, headers, threads, choice)
            if load.errors:
                raise httpraw.HttpError(f"{server.name}: {load.errors} failed requests on {url}")
            metric.add(server.name, load.rps)
            metric.detail[server.name] = load.as_dict()
        metric.note = f"{tool}, {threads} thread(s), {connections} connections, {seconds:g} s"
    return [by_tag, by_digest]


# -- 4. skopeo copy --------------------------------------------------------------------------


def skopeo(servers: list[Server], images: list[Path], image_bytes: int) -> list[Metric]:
    """Push image i to a fresh repository (no blob is known there, nor mountable), then pull it
    into an empty OCI layout."""
    mb = image_bytes / 1e6
    push = Metric("skopeo_push", f"skopeo copy push, {mb:.0f} MB 3 layers", "s", False)
    pull = Metric("skopeo_pull", f"skopeo copy pull, {mb:.0f} MB 3 layers", "s", False)
    for index, image in enumerate(images):
        for server in servers:
            destination = f"docker://{server.hostport}/bench/skopeo-{index}:latest"
            creds = _creds("--dest-creds", server)
            push.add(server.name, _skopeo_copy(f"oci:{image}:latest", destination, *creds))
    for index in range(len(images)):
        for server in servers:
            with tempfile.TemporaryDirectory(prefix="dockyard-bench-pull-") as target:
                source = f"docker://{server.hostport}/bench/skopeo-{index}:latest"
                creds = _creds("--src-creds", server)
                pull.add(server.name, _skopeo_copy(source, f"oci:{target}/image:latest", *creds))
    local = []
    for image in images:  # what skopeo alone takes: read, hash and write the same image
        with tempfile.TemporaryDirectory(prefix="dockyard-bench-local-") as target:
            local.append(_skopeo_copy(f"oci:{image}:latest", f"oci:{target}/image:latest"))
    push.detail["skopeo_local_s"] = min(local)
    push.detail["skopeo_local_runs"] = local
    push.note = "a different image each run into a fresh repository (no mount, no skip)"
    pull.note = "into an empty OCI layout; wall time of the skopeo process"
    return [push, pull]


def _creds(option: str, server: Server) -> list[str]:
    """skopeo's credentials option for a server that checks them (it then follows the Bearer
    challenge to the token endpoint, as with any registry with token auth)."""
    return [option, ":".join(server.credentials)] if server.credentials else []


def _skopeo_copy(source: str, destination: str, *options: str) -> float:
    argv = [
        "skopeo",
        "--insecure-policy",
        "copy",
        "--quiet",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        *options,
        source,
        destination,
    ]
    started = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        previous = ["", *argv[:-1]]
        shown = [
            "***" if before.endswith("-creds") else arg
            for before, arg in zip(previous, argv, strict=True)
        ]
        raise RuntimeError(f"{' '.join(shown)} failed:\n{result.stderr[-2000:]}")
    return elapsed


def versions() -> dict[str, str]:
    found: dict[str, str] = {}
    for name, argv in {
        "docker-registry": ["docker-registry", "--version"],
        "skopeo": ["skopeo", "--version"],
        "wrk": ["wrk", "--version"],
        "curl": ["curl", "--version"],
    }.items():
        if shutil.which(argv[0]):
            out = subprocess.run(argv, capture_output=True, text=True)
            text = (out.stdout or out.stderr).strip().splitlines()
            found[name] = text[0] if text else "?"
    return found
