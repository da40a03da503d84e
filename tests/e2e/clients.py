"""Real container clients for the end-to-end tests: docker, podman and containerd's ctr.

Each runs with state and credentials of its own under a temporary directory, so neither the
machine's configuration nor ~/.docker nor /var/lib/containers takes part:

- `PrivateDockerd` (tests/e2e/docker_client.py): a private `dockerd` (vfs storage, no
  networking) with its own managed containerd, and a `docker` CLI with a private DOCKER_CONFIG;
- `Podman`: podman with private storage (vfs), auth file, containers.conf and registries.conf;
- `Ctr`: `ctr` against a containerd socket (the one the private dockerd manages), in a namespace
  of its own.

None of them can run a container here: images are built from `FROM scratch` + `COPY` only.
Credentials (for when Dockyard asks for them): `docker.login(registry, user, password)` runs
`docker login -u USER --password-stdin REGISTRY`, `podman.login(...)` runs `podman login
--tls-verify=false -u USER --password-stdin REGISTRY`, and ctr takes `user=("user", "password")`
on `pull`/`push` (`ctr images pull --plain-http --user USER:PASSWORD REF`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.client_base import (
    COMMAND_TIMEOUT,
    ClientError,
    archive_files,
    clean_environment,
    client_missing,
    find_binary,
    run,
    write_build_context,
)
from tests.e2e.docker_client import PrivateDockerd

__all__ = [
    "ClientError",
    "Ctr",
    "Podman",
    "PrivateDockerd",
    "client_missing",
    "ctr_fixture",
    "dockerd_fixture",
    "layout_archive",
    "podman_fixture",
]


class Podman:
    """podman with private storage (vfs), auth file and configuration under `home`.

    It needs no daemon; `--tls-verify=false` lets it talk plain HTTP to 127.0.0.1."""

    def __init__(self, home: Path, binary: str | None = None) -> None:
        self.binary = binary or find_binary("podman", "/usr/bin/podman")
        self.home = home
        for sub in ["root", "run", "tmp", "config", "data"]:
            (home / sub).mkdir(parents=True, exist_ok=True)
        self.authfile = home / "auth.json"
        self.authfile.write_text('{"auths": {}}')
        conf = home / "containers.conf"
        # No systemd, no journald here: cgroupfs, and events nowhere.
        conf.write_text('[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "none"\n')
        registries = home / "registries.conf"
        registries.write_text("unqualified-search-registries = []\nshort-name-mode = 'disabled'\n")
        self.env = clean_environment(
            HOME=str(home),
            XDG_CONFIG_HOME=str(home / "config"),
            XDG_DATA_HOME=str(home / "data"),
            XDG_RUNTIME_DIR=str(home / "run"),
            TMPDIR=str(home / "tmp"),
            CONTAINERS_CONF=str(conf),
            CONTAINERS_REGISTRIES_CONF=str(registries),
            REGISTRY_AUTH_FILE=str(self.authfile),
        )
        self.global_flags = [
            f"--root={home / 'root'}",
            f"--runroot={home / 'run'}",
            "--storage-driver=vfs",
            f"--tmpdir={home / 'tmp'}",
        ]

    def __call__(
        self, *args: str | Path, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return run([self.binary, *self.global_flags, *args], self.env, input, check)

    def build_image(self, tag: str, files: dict[str, bytes], *more: dict[str, bytes]) -> str:
        """Build `FROM scratch` + one `COPY` per dict of files; returns the image ID."""
        context = write_build_context(
            self.home / "tmp" / f"context-{os.urandom(4).hex()}", [files, *more]
        )
        try:
            self("build", "--quiet", "--tag", tag, context)
        finally:
            shutil.rmtree(context, ignore_errors=True)
        return self.image_id(tag)

    def push(self, ref: str, *extra: str) -> str:
        """Push `ref`; returns the digest of the manifest pushed."""
        digest_file = self.home / "tmp" / f"push-{os.urandom(4).hex()}.digest"
        self(
            "push",
            "--tls-verify=false",
            f"--authfile={self.authfile}",
            f"--digestfile={digest_file}",
            *extra,
            ref,
        )
        try:
            return digest_file.read_text().strip()
        finally:
            digest_file.unlink(missing_ok=True)

    def pull(self, ref: str, *extra: str) -> str:
        """Pull `ref`; returns the image ID (`sha256:` + the config's digest, as docker's)."""
        self("pull", "--quiet", "--tls-verify=false", f"--authfile={self.authfile}", *extra, ref)
        return self.image_id(ref)

    def login(self, registry: str, user: str, password: str) -> None:
        self(
            "login",
            "--tls-verify=false",
            f"--authfile={self.authfile}",
            "--username",
            user,
            "--password-stdin",
            registry,
            input=password,
        )

    def logout(self, registry: str) -> None:
        self("logout", f"--authfile={self.authfile}", registry)

    def remove(self, *refs: str) -> None:
        self("rmi", "--force", *refs)

    def image_id(self, ref: str) -> str:
        """`sha256:` + the config's digest (podman itself prints it without the prefix)."""
        return "sha256:" + self("image", "inspect", "--format", "{{.Id}}", ref).stdout.strip()

    def repo_digests(self, ref: str) -> list[str]:
        out = self("image", "inspect", "--format", "{{json .RepoDigests}}", ref).stdout
        return list(json.loads(out) or [])

    def image_files(self, ref: str) -> dict[str, bytes]:
        archive = self.home / "tmp" / f"save-{os.urandom(4).hex()}.tar"
        try:
            self("save", "--format", "docker-archive", "--output", archive, ref)
            return archive_files(archive)
        finally:
            archive.unlink(missing_ok=True)


class Ctr:
    """containerd's `ctr` against the containerd at `address`, in a namespace of its own.

    Pulls unpack with the `native` snapshotter (plain copies: no overlay mounts needed)."""

    def __init__(
        self,
        address: Path,
        workdir: Path,
        namespace: str = "dockyard-e2e",
        binary: str | None = None,
    ) -> None:
        self.binary = binary or find_binary("ctr", "/usr/bin/ctr")
        self.address = address
        self.namespace = namespace
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.env = clean_environment(HOME=str(workdir))

    def __call__(
        self, *args: str | Path, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        command = [self.binary, "--address", self.address, "--namespace", self.namespace, *args]
        return run(command, self.env, input, check)

    @staticmethod
    def _remote(user: tuple[str, str] | None) -> list[str]:
        return ["--plain-http"] + ([f"--user={user[0]}:{user[1]}"] if user else [])

    def pull(self, ref: str, user: tuple[str, str] | None = None) -> str:
        """Pull and unpack `ref`; returns the digest of the manifest (or index) it resolved."""
        self("images", "pull", *self._remote(user), "--snapshotter=native", ref)
        return self.image_digest(ref)

    def push(self, ref: str, user: tuple[str, str] | None = None) -> None:
        self("images", "push", *self._remote(user), ref)

    def import_archive(self, archive: Path, base_name: str, all_platforms: bool = False) -> None:
        """Import an OCI archive whose index names tags; each becomes `base_name:tag`.
        Without `all_platforms` only this machine's platform is kept (and unpacked)."""
        platforms = ["--all-platforms", "--no-unpack"] if all_platforms else []
        self(
            "images",
            "import",
            *platforms,
            "--base-name",
            base_name,
            "--snapshotter=native",
            archive,
        )

    def tag(self, source: str, target: str) -> None:
        self("images", "tag", "--force", source, target)

    def remove(self, *refs: str) -> None:
        self("images", "remove", "--sync", *refs)

    def images(self) -> dict[str, str]:
        """Every image in the namespace: reference → digest of its manifest or index."""
        out = self("images", "list").stdout.splitlines()[1:]
        return {line.split()[0]: line.split()[2] for line in out if line.strip()}

    def image_digest(self, ref: str) -> str:
        return self.images()[ref]

    def content(self, digest: str) -> bytes:
        """A blob, byte for byte, from containerd's content store."""
        command = [self.binary, "--address", str(self.address), "--namespace", self.namespace]
        result = subprocess.run(
            [*command, "content", "get", digest],
            capture_output=True,
            env=self.env,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
        if result.returncode != 0:
            raise ClientError(
                subprocess.CompletedProcess(
                    result.args, result.returncode, "", result.stderr.decode(errors="replace")
                )
            )
        return result.stdout

    def image_files(self, ref: str) -> dict[str, bytes]:
        archive = self.workdir / f"export-{os.urandom(4).hex()}.tar"
        try:
            self("images", "export", archive, ref)
            return archive_files(archive)
        finally:
            archive.unlink(missing_ok=True)


def layout_archive(layout_root: Path, archive: Path) -> Path:
    """An OCI image layout directory as the tar `ctr images import` reads."""
    with tarfile.open(archive, "w") as tar:
        for path in sorted(layout_root.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(layout_root)), recursive=False)
    return archive


# Fixtures `dockerd`, `podman` and `ctr`: import them into a test module
# (`from tests.e2e.clients import dockerd_fixture`, with noqa F401); the functions are named apart
# from the fixtures so that test arguments do not shadow an import.


@pytest.fixture(scope="module", name="dockerd")
def dockerd_fixture() -> Iterator[PrivateDockerd]:
    """One private dockerd per test module (it starts in about half a second)."""
    with PrivateDockerd() as daemon:
        yield daemon


@pytest.fixture(scope="module", name="podman")
def podman_fixture(tmp_path_factory: pytest.TempPathFactory) -> Podman:
    return Podman(tmp_path_factory.mktemp("podman"))


@pytest.fixture(scope="module", name="ctr")
def ctr_fixture(dockerd: PrivateDockerd, tmp_path_factory: pytest.TempPathFactory) -> Ctr:
    """ctr against the containerd the private dockerd manages."""
    return Ctr(dockerd.containerd_socket, tmp_path_factory.mktemp("ctr"))
