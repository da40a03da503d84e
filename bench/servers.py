"""Start and stop the two registries on loopback, each on a free port with fresh storage."""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
ADMIN = "admin"

PEER_CONFIG = """\
version: 0.1
log:
  level: warn
  accesslog:
    disabled: {no_access_log}
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: {host}:{port}
"""


class ServerFailed(RuntimeError):
    pass


@dataclass
class Server:
    name: str
    port: int
    workdir: Path
    command: list[str]
    env: dict[str, str]
    log_path: Path
    # Dockyard checks credentials on every request; docker-registry runs without auth (None).
    credentials: tuple[str, str] | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def hostport(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def auth(self) -> dict[str, str]:
        """The header every request to this server carries: basic auth, or nothing."""
        if self.credentials is None:
            return {}
        token = base64.b64encode(":".join(self.credentials).encode()).decode()
        return {"Authorization": f"Basic {token}"}

    def start(self, timeout: float = 30.0) -> None:
        log = open(self.log_path, "wb")  # noqa: SIM115 (kept open for the process's life)
        # A session of its own: granian forks workers, and stop() signals the whole group.
        self.process = subprocess.Popen(
            self.command,
            env=self.env,
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerFailed(
                    f"{self.name} exited with {self.process.returncode}:\n{self.tail()}"
                )
            ping = urllib.request.Request(f"{self.base}/v2/", headers=self.auth)
            with (
                contextlib.suppress(OSError, urllib.error.URLError),
                urllib.request.urlopen(ping, timeout=2) as reply,
            ):
                if reply.status == 200:
                    return
            time.sleep(0.1)
        raise ServerFailed(f"{self.name} did not answer /v2/ within {timeout:.0f}s:\n{self.tail()}")

    def stop(self, timeout: float = 20.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        pgid = process.pid  # the group we created with start_new_session
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            process.wait(5)
        # Workers of a stopped group that outlived their parent.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)

    def tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _clean_env(drop_prefixes: tuple[str, ...], drop: tuple[str, ...] = ()) -> dict[str, str]:
    return {
        k: v for k, v in os.environ.items() if not k.startswith(drop_prefixes) and k not in drop
    }


def dockyard_binary() -> str:
    beside = Path(sys.executable).parent / "dockyard"
    found = str(beside) if beside.exists() else shutil.which("dockyard")
    if not found:
        raise ServerFailed("no `dockyard` executable beside this Python or on PATH")
    return found


def admin_password() -> str:
    """A fresh password for the `admin` a fresh Dockyard bootstraps (DOCKYARD_ADMIN_PASSWORD)."""
    return secrets.token_urlsafe(18)


def dockyard(
    root: Path,
    workers: int,
    access_log: bool,
    extra_env: dict[str, str],
    command: list[str] | None = None,
) -> Server:
    """Dockyard with its defaults (durable fsync, SQLite, access control with the production
    argon2 cost) unless extra_env says otherwise; the bench talks to it as `admin`."""
    workdir = root / "dockyard"
    (workdir / "data").mkdir(parents=True)
    port = free_port()
    env = _clean_env(("DOCKYARD_",))
    env["DOCKYARD_SERVER__ACCESS_LOG"] = "true" if access_log else "false"
    env["DOCKYARD_ADMIN_PASSWORD"] = admin_password()
    env.update(extra_env)
    base = command or [dockyard_binary(), "serve"]
    argv = [*base, "--host", HOST, "--port", str(port), "--data-dir", str(workdir / "data")]
    argv += ["--workers", str(workers)]
    credentials = (ADMIN, env["DOCKYARD_ADMIN_PASSWORD"])
    return Server("dockyard", port, workdir, argv, env, workdir / "server.log", credentials)


def peer(root: Path, access_log: bool, binary: str = "docker-registry") -> Server:
    """Debian's docker-registry: it reads every REGISTRY_* variable as configuration, and its
    S3 driver panics on AWS_CA_BUNDLE, so both are cleared (DESIGN.md, facts)."""
    workdir = root / "docker-registry"
    (workdir / "data").mkdir(parents=True)
    port = free_port()
    config = workdir / "config.yml"
    config.write_text(
        PEER_CONFIG.format(
            root=workdir / "data",
            host=HOST,
            port=port,
            no_access_log="false" if access_log else "true",
        )
    )
    env = _clean_env(("REGISTRY_",), ("AWS_CA_BUNDLE",))
    argv = ["env", "-u", "AWS_CA_BUNDLE", binary, "serve", str(config)]
    return Server("docker-registry", port, workdir, argv, env, workdir / "server.log")


@contextlib.contextmanager
def running(*servers: Server) -> Iterator[tuple[Server, ...]]:
    """Start every server; stop all of them on the way out, whatever happened."""
    try:
        for server in servers:
            server.start()
        yield servers
    finally:
        for server in servers:
            server.stop()
