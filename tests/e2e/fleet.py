"""A fleet of `dockyard serve` replicas on one scale-out backend, set up as a deployer would:
one YAML settings file for every replica, `dockyard db upgrade` once, then the replicas."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.backends import ScaleOut
from tests.e2e.conftest import DockyardServer, Servers


def run_dockyard(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """A `dockyard` command with no DOCKYARD_* variables from outside; killed (with any
    workers) if it outlives `timeout`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
    command = [sys.executable, "-m", "dockyard", *args]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate(timeout=10)
        pytest.fail(f"{' '.join(command)} ran longer than {timeout}s:\n{stdout}\n{stderr}")
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


@dataclass
class Fleet:
    backend: ScaleOut
    config: Path
    replicas: list[DockyardServer]


MakeFleet = Callable[..., Fleet]


def start_fleet(
    servers: Servers,
    backend: ScaleOut,
    config: Path,
    replicas: int,
    env: dict[str, str] | None = None,
) -> Fleet:
    """Migrate the schema with `dockyard db upgrade`, then start the replicas side by side."""
    backend.write_config(config)
    upgraded = run_dockyard("db", "upgrade", "--config", str(config))
    assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
    names = [f"replica-{letter}" for letter in "abc"[:replicas]]

    def start(name: str) -> DockyardServer:
        return servers.start(name, env=env, backend=backend, config=config)

    with ThreadPoolExecutor(replicas) as pool:
        started = list(pool.map(start, names))
    return Fleet(backend, config, started)
