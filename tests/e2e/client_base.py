"""What the real-client wrappers (tests/e2e/clients.py, docker_client.py) share: running a
command with a private environment, typed failures, build contexts, reading saved images."""

from __future__ import annotations

import json
import os
import posixpath
import re
import shutil
import subprocess
import tarfile
from collections.abc import Sequence
from pathlib import Path

from tests.conftest import service_missing

COMMAND_TIMEOUT = 180.0
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


class ClientError(Exception):
    """A client command exited with an error; carries what it printed."""

    def __init__(self, result: subprocess.CompletedProcess[str]) -> None:
        self.result = result
        self.returncode = result.returncode
        self.stdout = result.stdout
        self.stderr = result.stderr
        command = " ".join(str(arg) for arg in result.args)
        super().__init__(
            f"{command} exited with {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )


def client_missing(name: str) -> None:
    """Skip when the client is not installed on a laptop; fail in CI, where it must be."""
    service_missing(f"the {name} command")


def find_binary(name: str, *preferred: str) -> str:
    """The first executable of `preferred`, else `name` on PATH; skips/fails when there is none."""
    for candidate in preferred:
        if os.access(candidate, os.X_OK):
            return candidate
    path = shutil.which(name)
    if path is None:
        client_missing(name)
    assert path is not None
    return path


def run(
    command: Sequence[str | Path],
    env: dict[str, str],
    input: str | None = None,
    check: bool = True,
    timeout: float = COMMAND_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(arg) for arg in command],
        input=input,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        raise ClientError(result)
    return result


def clean_environment(**extra: str) -> dict[str, str]:
    """os.environ without the variables that would point a client at someone else's state."""
    dropped = ("DOCKER_", "REGISTRY_AUTH_FILE", "CONTAINERS_", "CONTAINERD_", "BUILDAH_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    env.update(extra)
    return env


def write_build_context(directory: Path, layers: Sequence[dict[str, bytes]]) -> Path:
    """A build context whose Dockerfile is `FROM scratch` plus one `COPY` per layer (no `RUN`:
    nothing can run a container here). Returns the context directory."""
    directory.mkdir(parents=True, exist_ok=True)
    lines = ["FROM scratch"]
    for number, files in enumerate(layers):
        for path, content in files.items():
            target = directory / f"layer{number}" / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        lines.append(f"COPY layer{number}/ /")
    (directory / "Dockerfile").write_text("\n".join(lines) + "\n")
    return directory


def archive_files(archive: Path) -> dict[str, bytes]:
    """The regular files of the one image in a `docker save`-style archive (docker save,
    `podman save --format docker-archive`, `ctr images export`), layers applied in order."""
    files: dict[str, bytes] = {}
    with tarfile.open(archive) as outer:
        index = outer.extractfile("manifest.json")
        assert index is not None
        (entry,) = json.load(index)
        for layer_path in entry["Layers"]:
            layer_file = outer.extractfile(layer_path)
            assert layer_file is not None
            with tarfile.open(fileobj=layer_file, mode="r:*") as layer:
                _apply_layer(layer, files)
    return files


def _apply_layer(layer: tarfile.TarFile, files: dict[str, bytes]) -> None:
    for member in layer:
        name = posixpath.normpath(member.name.lstrip("/")).removeprefix("./")
        parent, base = posixpath.split(name)
        if base.startswith(".wh."):  # a whiteout hides what lower layers had there
            hidden = parent if base == ".wh..wh..opq" else posixpath.join(parent, base[4:])
            for path in [p for p in files if p == hidden or p.startswith(hidden + "/")]:
                del files[path]
        elif member.isfile():
            data = layer.extractfile(member)
            assert data is not None
            files[name] = data.read()
