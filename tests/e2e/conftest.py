"""A real `dockyard serve` process per test, and the real clients that talk to it."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.conftest import ADMIN, PG_URL, service_missing
from tests.e2e.backends import Backend, Embedded, ScaleOut, StoredBlob

if TYPE_CHECKING:
    from tests.e2e.fleet import Fleet


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.e2e)


START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0  # more than the server's own 10 s kill timeout for its workers

# What tests/conftest.py sets for the admin every registry bootstraps (and for cheap argon2),
# handed on to every `dockyard serve`: a server starts without the test's DOCKYARD_* variables.
AUTH_ENV = {
    name: os.environ[name]
    for name in (
        "DOCKYARD_ADMIN_PASSWORD",
        "DOCKYARD_AUTH__ARGON2__TIME_COST",
        "DOCKYARD_AUTH__ARGON2__MEMORY_KIB",
        "DOCKYARD_AUTH__ARGON2__PARALLELISM",
    )
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class DockyardServer:
    """`dockyard serve` as a child process: start, stop, kill, restart on the same data dir.

    Its blobs and metadata live where `backend` says (the data dir, or S3 + PostgreSQL); the
    backend's settings arrive as `DOCKYARD_*` variables, or in the YAML file `config`. It
    bootstraps `admin` with the password of `tests.conftest.ADMIN` (AUTH_ENV), and is ready
    when GET /v2/ with those credentials answers 200.
    """

    def __init__(
        self,
        data_dir: Path,
        log_path: Path,
        workers: int = 1,
        env: dict[str, str] | None = None,
        backend: Backend | None = None,
        config: Path | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.workers_count = workers
        self.backend: Backend = backend or Embedded(data_dir)
        self.config = config
        backend_env = self.backend.env() if config is None else {}
        self.extra_env = {**AUTH_ENV, **backend_env, **(env or {})}
        self.credentials = ADMIN
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
        if self.config is not None:
            command += ["--config", str(self.config)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
        env.update(self.extra_env)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        self._wait_ready()
        self.backend.assert_serves(self.data_dir)

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT
        answer = "no answer"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"dockyard exited with {self.process.returncode} while starting:\n{self.log()}"
                )
            try:
                ready = httpx.get(f"{self.url}/v2/", auth=self.credentials, timeout=5.0)
                if ready.status_code == 200:
                    return
                answer = f"{ready.status_code} {ready.text}"
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(
            f"dockyard did not answer GET /v2/ as {self.credentials[0]} with 200 in "
            f"{START_TIMEOUT}s (last: {answer}):\n{self.log()}"
        )

    def stop(self) -> int:
        """SIGTERM, then wait; returns the exit code (SIGKILLs and fails if it hangs)."""
        assert self.process is not None
        process, self.process = self.process, None
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            _dump_stacks(process)
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

    def stored_blobs(self) -> list[StoredBlob]:
        """Every stored copy of a blob, named by digest (see `Backend.stored_blobs`)."""
        return self.backend.stored_blobs()

    def upload_leftovers(self) -> list[str]:
        return self.backend.upload_leftovers()


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


def _dump_stacks(process: subprocess.Popen[bytes]) -> None:
    """Have every process of the server write its threads' stacks to its log (SIGUSR1, see
    dockyard/jobs/shutdown.py): the log then says where a server that will not stop is stuck."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGUSR1)
        time.sleep(1.0)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    # The server runs in its own session, so its group is exactly it and its workers.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=STOP_TIMEOUT)


class Servers:
    """Every server a test starts; `close` stops them all with SIGTERM (each must exit with 0)
    and then removes the backends they used."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.servers: list[DockyardServer] = []
        self.backends: list[Backend] = []

    def start(
        self,
        name: str,
        workers: int = 1,
        env: dict[str, str] | None = None,
        backend: Backend | None = None,
        config: Path | None = None,
    ) -> DockyardServer:
        data_dir = self.tmp_path / f"{name}-data"
        server = DockyardServer(
            data_dir, self.tmp_path / f"{name}.log", workers, env, backend, config
        )
        self.servers.append(server)
        server.start()
        return server

    def own(self, backend: Backend) -> Backend:
        self.backends.append(backend)
        return backend

    def close(self) -> None:
        failures = []
        for server in self.servers:
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
        for backend in self.backends:
            try:
                backend.cleanup()
            except Exception as exc:
                failures.append(f"cleaning up {backend.name}: {exc!r}")
        if failures:
            pytest.fail("\n".join(failures))


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    pool = Servers(tmp_path)
    try:
        yield pool
    finally:
        pool.close()


# DESIGN.md §2: the same tests on both deployment shapes.
SHAPES = ["embedded", "scale-out"]


@pytest.fixture(params=SHAPES)
def shape(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def new_scale_out(request: pytest.FixtureRequest, servers: Servers) -> Callable[..., ScaleOut]:
    """Makes scale-out backends: a fresh key prefix in the session's SeaweedFS and a fresh
    PostgreSQL schema each, removed at the end of the test."""
    import asyncpg

    s3 = request.getfixturevalue("s3_server")

    def make(label: str = "", part_size_mib: int = 16) -> ScaleOut:
        try:
            backend = ScaleOut(s3, PG_URL, label, part_size_mib)
        except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
            service_missing(f"PostgreSQL at {PG_URL} ({exc})")
        servers.own(backend)
        return backend

    return make


@pytest.fixture
def make_fleet(
    servers: Servers, new_scale_out: Callable[..., ScaleOut], tmp_path: Path
) -> Callable[..., Fleet]:
    """Replicas sharing one S3 prefix and one PostgreSQL schema (tests/e2e/fleet.py)."""
    from tests.e2e.fleet import start_fleet

    def make(replicas: int = 2, part_size_mib: int = 5, env: dict[str, str] | None = None) -> Fleet:
        # 5 MiB, the smallest part S3 allows: a few MiB take an upload through parts and spool.
        backend = new_scale_out("fleet", part_size_mib)
        return start_fleet(servers, backend, tmp_path / "scale.yaml", replicas, env)

    return make


@pytest.fixture
def make_registry(request: pytest.FixtureRequest, shape: str, servers: Servers) -> MakeRegistry:
    """Start registries in the test's deployment shape; each name is a registry of its own
    (its own data dir, or its own S3 prefix and PostgreSQL schema)."""

    def make(
        name: str = "registry", workers: int = 1, env: dict[str, str] | None = None
    ) -> DockyardServer:
        backend = None
        if shape == "scale-out":
            backend = request.getfixturevalue("new_scale_out")(name)
        return servers.start(name, workers, env, backend)

    return make


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
    """skopeo with a private policy and auth file: the machine's configuration cannot interfere.

    Every command reads the private auth file (REGISTRY_AUTH_FILE); `login` puts a server's
    credentials there, keyed by its host:port, as `skopeo login` would.
    """

    def __init__(self, binary: str, home: Path) -> None:
        self.binary = binary
        home.mkdir(parents=True, exist_ok=True)
        self.policy = home / "policy.json"
        self.policy.write_text('{"default": [{"type": "insecureAcceptAnything"}]}')
        self.authfile = home / "auth.json"
        self.authfile.write_text('{"auths": {}}')
        self.env = {**os.environ, "HOME": str(home), "XDG_RUNTIME_DIR": str(home)}
        self.env["REGISTRY_AUTH_FILE"] = str(self.authfile)

    def login(self, server: DockyardServer, credentials: tuple[str, str] = ADMIN) -> None:
        """Remember `credentials` for `server` (the admin's unless told otherwise)."""
        config = json.loads(self.authfile.read_text())
        token = base64.b64encode(":".join(credentials).encode()).decode()
        config["auths"][server.address] = {"auth": token}
        self.authfile.write_text(json.dumps(config))

    def logout(self, server: DockyardServer) -> None:
        config = json.loads(self.authfile.read_text())
        config["auths"].pop(server.address, None)
        self.authfile.write_text(json.dumps(config))

    def __call__(
        self, *args: str, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        command = [self.binary, "--policy", str(self.policy), *args]
        result = subprocess.run(
            command,
            input=input,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=120,
            check=False,
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
