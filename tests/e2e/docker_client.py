"""A private Docker daemon for the end-to-end tests, and the `docker` CLI that talks to it.

`dockerd` runs with vfs storage and no networking at all (no bridge, no iptables, no IP
forwarding), so it needs neither overlayfs nor network privileges and changes nothing on the
machine. Everything it keeps lives in one short temporary directory:

    /tmp/dkd-XXXXXXXX/
        daemon.json   its only configuration (/etc/docker/daemon.json is never read)
        key.json      its trust key (otherwise written to /etc/docker/key.json)
        docker.sock   the API socket (unix sockets want paths under ~100 characters)
        data/         --data-root: images (vfs), the managed containerd's root
        exec/         --exec-root: containerd/containerd.sock of the managed containerd
        config/       DOCKER_CONFIG of the CLI: `docker login` writes config.json here
        dockerd.log

Docker trusts plain HTTP to 127.0.0.0/8 by default, so no `--insecure-registry` is needed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import httpx

from tests.e2e.client_base import (
    DIGEST,
    archive_files,
    clean_environment,
    find_binary,
    run,
    write_build_context,
)

START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
DAEMON_FLAGS = [
    "--storage-driver=vfs",
    "--bridge=none",
    "--iptables=false",
    "--ip6tables=false",
    "--ip-forward=false",
    "--ip-masq=false",
    "--userland-proxy=false",
    # On loopback a retry only hides a registry error. (Uploads are retried 5 times with
    # back-off whatever we say: a failing push takes about a minute to give up.)
    "--max-download-attempts=1",
]


class PrivateDockerd:
    """`with PrivateDockerd() as docker:` starts dockerd and waits until it answers; leaving
    stops it (SIGTERM, then SIGKILL) and removes its directory."""

    def __init__(self, dockerd: str | None = None, docker: str | None = None) -> None:
        self.dockerd = dockerd or find_binary("dockerd", "/usr/sbin/dockerd")
        # Debian's CLI matches Debian's daemon; a newer CLI earlier on PATH works too, but
        # would build with BuildKit.
        self.docker_binary = docker or find_binary("docker", "/usr/bin/docker")
        self.root = Path(tempfile.mkdtemp(prefix="dkd-", dir="/tmp"))
        self.socket = self.root / "docker.sock"
        self.containerd_socket = self.root / "exec" / "containerd" / "containerd.sock"
        assert len(f"{self.containerd_socket}.ttrpc") < 100, "unix socket path too long"
        self.config_dir = self.root / "config"
        self.log_path = self.root / "dockerd.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.startup_seconds = 0.0
        self.env = clean_environment(
            DOCKER_CONFIG=str(self.config_dir),
            DOCKER_HOST=f"unix://{self.socket}",
            DOCKER_BUILDKIT="0",
        )

    def __enter__(self) -> PrivateDockerd:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self) -> None:
        self.config_dir.mkdir()
        config = self.root / "daemon.json"
        config.write_text(json.dumps({"deprecated-key-path": str(self.root / "key.json")}))
        command = [
            self.dockerd,
            f"--config-file={config}",
            f"--data-root={self.root / 'data'}",
            f"--exec-root={self.root / 'exec'}",
            f"--pidfile={self.root / 'dockerd.pid'}",
            f"--host=unix://{self.socket}",
            *DAEMON_FLAGS,
        ]
        began = time.monotonic()
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=clean_environment(),
                start_new_session=True,
            )
        self._wait_ready()
        self.startup_seconds = time.monotonic() - began

    def _wait_ready(self) -> None:
        assert self.process is not None
        transport = httpx.HTTPTransport(uds=str(self.socket))
        deadline = time.monotonic() + START_TIMEOUT
        with httpx.Client(transport=transport, base_url="http://docker", timeout=2) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(
                        f"dockerd exited with {self.process.returncode}:\n{self.log()}"
                    )
                with contextlib.suppress(httpx.TransportError):
                    answered = client.get("/_ping").status_code == 200
                    if answered and self.containerd_socket.exists():
                        return
                time.sleep(0.1)
        raise RuntimeError(f"dockerd did not answer in {START_TIMEOUT}s:\n{self.log()}")

    def close(self) -> None:
        """Stop the daemon (its containerd goes with it) and remove every file it wrote."""
        process, self.process = self.process, None
        if process is not None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=STOP_TIMEOUT)
            self._kill_leftover_containerd()
        self._unmount_all()
        shutil.rmtree(self.root, ignore_errors=True)
        if self.root.exists():  # vfs can leave files rmtree trips over; we are root
            subprocess.run(["rm", "-rf", str(self.root)], check=False, timeout=STOP_TIMEOUT)

    def _kill_leftover_containerd(self) -> None:
        # containerd runs in a session of its own; dockerd stops it on SIGTERM, and the kernel
        # kills it when dockerd dies (PDEATHSIG). This is for when neither happened.
        pid_file = self.root / "exec" / "containerd" / "containerd.pid"
        with contextlib.suppress(OSError, ValueError):
            pid = int(pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            if str(self.root).encode() in cmdline:
                os.kill(pid, signal.SIGKILL)

    def _unmount_all(self) -> None:
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
        points = [line.split()[4] for line in mounts if line.split()[4].startswith(f"{self.root}/")]
        for point in sorted(points, reverse=True):
            subprocess.run(["umount", "-l", point], check=False, capture_output=True)

    # The CLI.

    def docker(
        self, *args: str | Path, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run the `docker` CLI against this daemon, with the private DOCKER_CONFIG."""
        return run([self.docker_binary, *args], self.env, input, check)

    def build_image(self, tag: str, files: dict[str, bytes], *more: dict[str, bytes]) -> str:
        """`docker build` of `FROM scratch` + one `COPY` per dict of files; returns the image ID
        (`sha256:` + the config's digest)."""
        context = write_build_context(self.root / f"context-{os.urandom(4).hex()}", [files, *more])
        try:
            return self.docker("build", "--quiet", "--tag", tag, context).stdout.strip()
        finally:
            shutil.rmtree(context, ignore_errors=True)

    def push(self, ref: str) -> str:
        """Push `ref`; returns the digest of the manifest docker pushed."""
        out = self.docker("push", ref).stdout
        found = re.search(rf"digest: ({DIGEST.pattern}) size: \d+", out)
        assert found, f"no digest in the output of docker push:\n{out}"
        return found.group(1)

    def pull(self, ref: str) -> str:
        """Pull `ref`; returns the image ID."""
        self.docker("pull", ref)
        return self.image_id(ref)

    def login(self, registry: str, user: str, password: str) -> None:
        self.docker("login", "--username", user, "--password-stdin", registry, input=password)

    def logout(self, registry: str) -> None:
        self.docker("logout", registry)

    def remove(self, *refs: str) -> None:
        self.docker("image", "rm", "--force", *refs)

    def image_id(self, ref: str) -> str:
        return self.docker("image", "inspect", "--format", "{{.Id}}", ref).stdout.strip()

    def repo_digests(self, ref: str) -> list[str]:
        out = self.docker("image", "inspect", "--format", "{{json .RepoDigests}}", ref).stdout
        return list(json.loads(out) or [])

    def images(self) -> list[str]:
        """Every local image's repository:tag."""
        out = self.docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}").stdout
        return out.split()

    def image_files(self, ref: str) -> dict[str, bytes]:
        """The regular files in the image, read from `docker save`."""
        archive = self.root / f"save-{os.urandom(4).hex()}.tar"
        try:
            self.docker("image", "save", "--output", archive, ref)
            return archive_files(archive)
        finally:
            archive.unlink(missing_ok=True)
