"""A real `dockyard serve` process per test, and the real clients that talk to it."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import service_missing


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.e2e)


START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class DockyardServer:
    """`dockyard serve` as a child process: start, stop, kill, restart on the same data dir."""

    def __init__(
        self,
        data_dir: Path,
        log_path: Path,
        workers: int = 1,
        env: dict[str, str] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.workers_count = workers
        self.extra_env = env or {}
        self.log_path = log_path
        self.host = "127.0.0.1"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.exit_codes: list[int] = []

    @property
    def address(self) -> str:
        """host:port, as skopeo and oras want it."""
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    @property
    def pid(self) -> int:
        assert self.process is not None, "the server is not running"
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self) -> None:
        assert self.process is None, "the server is already running"
        command = [
            sys.executable,
            "-m",
            "dockyard",
            "serve",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            "--workers",
            str(self.workers_count),
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
        env.update(self.extra_env)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        self._wait_ready()

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"dockyard exited with {self.process.returncode} while starting:\n{self.log()}"
                )
            try:
                if httpx.get(f"{self.url}/v2/", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"dockyard did not answer GET /v2/ in {START_TIMEOUT}s:\n{self.log()}")

    def stop(self) -> int:
        """SIGTERM, then wait; returns the exit code (SIGKILLs and fails if it hangs)."""
        assert self.process is not None
        process, self.process = self.process, None
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            pytest.fail(f"dockyard did not exit within {STOP_TIMEOUT}s of SIGTERM:\n{self.log()}")
        if _group_alive(process.pid):
            _kill_group(process)
            pytest.fail(f"dockyard exited but left worker processes behind:\n{self.log()}")
        self.exit_codes.append(code)
        return code

    def kill(self) -> None:
        """SIGKILL the server and its workers at once: a crash, as far as the data is concerned."""
        if self.process is None:
            return
        process, self.process = self.process, None
        _kill_group(process)

    def restart(self) -> None:
        if self.process is not None:
            assert self.stop() == 0
        self.start()

    def workers(self) -> list[int]:
        """PIDs of the server's worker processes (its children)."""
        children = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        return [int(pid) for pid in children.read_text().split()]

    def blob_files(self) -> list[Path]:
        root = self.data_dir / "storage" / "blobs"
        return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


MakeRegistry = Callable[..., DockyardServer]


def _group_alive(pgid: int, grace: float = 2.0) -> bool:
    """Whether any process of the group is still there after `grace` seconds."""
    deadline = time.monotonic() + grace
    while True:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        if time.monotonic() > deadline:
            return True
        time.sleep(0.05)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    # The server runs in its own session, so its group is exactly it and its workers.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=STOP_TIMEOUT)


@pytest.fixture
def make_registry(tmp_path: Path) -> Iterator[MakeRegistry]:
    """Start registries; every one is stopped with SIGTERM at the end and must exit with 0."""
    servers: list[DockyardServer] = []

    def make(
        name: str = "registry", workers: int = 1, env: dict[str, str] | None = None
    ) -> DockyardServer:
        data_dir = tmp_path / f"{name}-data"
        server = DockyardServer(data_dir, tmp_path / f"{name}.log", workers, env)
        servers.append(server)
        server.start()
        return server

    try:
        yield make
    finally:
        failures = []
        for server in servers:
            if server.process is None:
                continue
            try:
                code = server.stop()
            except BaseException as exc:  # stop() fails the test when SIGTERM is not enough
                server.kill()
                failures.append(str(exc))
                continue
            if code != 0:
                failures.append(f"{server.url} exited with {code} after SIGTERM:\n{server.log()}")
        if failures:
            pytest.fail("\n".join(failures))


@pytest.fixture
def registry(make_registry: MakeRegistry) -> DockyardServer:
    return make_registry()


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        service_missing(f"the {name} command")
    assert path is not None
    return path


class Skopeo:
    """skopeo with a private policy and auth file: the machine's configuration cannot interfere."""

    def __init__(self, binary: str, home: Path) -> None:
        self.binary = binary
        home.mkdir(parents=True, exist_ok=True)
        self.policy = home / "policy.json"
        self.policy.write_text('{"default": [{"type": "insecureAcceptAnything"}]}')
        self.authfile = home / "auth.json"
        self.authfile.write_text('{"auths": {}}')
        self.env = {**os.environ, "HOME": str(home), "XDG_RUNTIME_DIR": str(home)}
        self.env.pop("REGISTRY_AUTH_FILE", None)

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [self.binary, "--policy", str(self.policy), *args]
        result = subprocess.run(
            command, capture_output=True, text=True, env=self.env, timeout=120, check=False
        )
        if check and result.returncode != 0:
            pytest.fail(
                f"{' '.join(command)} exited with {result.returncode}:\n"
                f"{result.stdout}\n{result.stderr}"
            )
        return result

    def copy(self, source: str, destination: str, *extra: str) -> None:
        self(
            "copy",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            "--authfile",
            str(self.authfile),
            *extra,
            source,
            destination,
        )


@pytest.fixture
def skopeo(tmp_path: Path) -> Skopeo:
    return Skopeo(_tool("skopeo"), tmp_path / "skopeo-home")


@pytest.fixture
def umoci() -> str:
    return _tool("umoci")
