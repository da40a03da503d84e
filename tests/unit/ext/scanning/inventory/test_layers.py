"""Reading layers: compression told by magic bytes, whiteouts across layers, broken layers
reported (not raised), failures of the byte source raised."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from dockyard.ext.scanning.inventory import LayerSource, inventory_image
from dockyard.ext.scanning.inventory import detect as detect_module
from dockyard.ext.scanning.inventory.detect import InMemory
from dockyard.ext.scanning.packages import Ecosystem, Inventory
from dockyard.oci.digest import Digest
from dockyard.storage.base import PathNotFound
from dockyard.storage.layout import blob_path
from dockyard.storage.memory import MemoryDriver
from tests.unit.ext.scanning.inventory.layers import (
    DEBIAN_OS_RELEASE,
    GZIP,
    TAR,
    ZSTD,
    Dir,
    File,
    Link,
    gz,
    layer,
    opaque,
    tar,
    whiteout,
    zst,
)

pytestmark = pytest.mark.anyio

SITE = "usr/lib/python3/site-packages"


def dpkg_status(*packages: tuple[str, str]) -> File:
    paragraphs = [
        f"Package: {name}\nStatus: install ok installed\nArchitecture: amd64\nVersion: {version}\n"
        for name, version in packages
    ]
    return File("var/lib/dpkg/status", "\n".join(paragraphs).encode())


def dist_info(name: str, version: str, site: str = SITE) -> File:
    return File(
        f"{site}/{name}-{version}.dist-info/METADATA",
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
    )


def names(inventory: Inventory) -> list[str]:
    return [f"{p.name}@{p.version}" for p in inventory.packages]


BASE = tar(
    [
        DEBIAN_OS_RELEASE,
        dpkg_status(("bash", "5.2-1"), ("zlib1g", "1.2")),
        dist_info("six", "1.16.0"),
    ]
)


@pytest.mark.parametrize(
    ("compress", "media_type"),
    [(gz, GZIP), (zst, ZSTD), (lambda blob: blob, TAR), (zst, GZIP), (lambda blob: blob, GZIP)],
    ids=["gzip", "zstd", "uncompressed", "zstd-labelled-gzip", "tar-labelled-gzip"],
)
async def test_compression_is_told_by_magic_bytes(
    compress: Callable[[bytes], bytes], media_type: str
) -> None:
    inventory = await inventory_image([layer(compress(BASE), media_type)])
    assert names(inventory) == ["bash@5.2-1", "zlib1g@1.2", "six@1.16.0"]
    assert inventory.problems == ()


async def test_tiny_chunks_from_the_source() -> None:
    inventory = await inventory_image([layer(gz(BASE), chunk=7)])
    assert names(inventory) == ["bash@5.2-1", "zlib1g@1.2", "six@1.16.0"]


async def test_a_later_layer_replaces_a_database() -> None:
    upgrade = tar([dpkg_status(("bash", "5.2-2"))])
    inventory = await inventory_image([layer(gz(BASE)), layer(zst(upgrade), ZSTD)])
    debs = [p for p in inventory.packages if p.ecosystem == Ecosystem.DEBIAN]
    assert [(p.name, p.version) for p in debs] == [("bash", "5.2-2")]
    assert debs[0].layer == layer(zst(upgrade)).digest


async def test_whiteouts_delete_files_and_directories_of_lower_layers() -> None:
    delete = tar(
        [
            whiteout("var/lib/dpkg/status"),
            whiteout(f"{SITE}/six-1.16.0.dist-info"),
        ]
    )
    inventory = await inventory_image([layer(gz(BASE)), layer(gz(delete))])
    assert inventory.packages == ()
    assert inventory.distro is not None  # os-release was not deleted


async def test_an_opaque_directory_hides_lower_entries_but_not_its_own() -> None:
    lower = tar(
        [dist_info("six", "1.16.0"), dist_info("idna", "3.4"), dist_info("pip", "23.0", "opt")]
    )
    # The layer's own entries count even when the marker comes after them in the tar.
    upper = tar([dist_info("certifi", "2024.2.2"), Dir(SITE), opaque(SITE)])
    inventory = await inventory_image([layer(gz(lower)), layer(gz(upper))])
    assert names(inventory) == ["certifi@2024.2.2", "pip@23.0"]


async def test_a_whiteout_does_not_delete_its_own_layers_file() -> None:
    upper = tar([dist_info("six", "1.17.0"), whiteout(f"{SITE}/six-1.17.0.dist-info")])
    inventory = await inventory_image([layer(gz(BASE)), layer(gz(upper))])
    assert "six@1.17.0" in names(inventory)


async def test_a_file_replacing_a_directory_removes_what_was_beneath() -> None:
    upper = tar([File(f"{SITE}/six-1.16.0.dist-info", b"now a plain file")])
    inventory = await inventory_image([layer(gz(BASE)), layer(gz(upper))])
    assert "six@1.16.0" not in names(inventory)


async def test_a_symlink_replacing_a_database_removes_it() -> None:
    upper = tar([Link("var/lib/dpkg/status", "/dev/null"), Link("bin/sh", "bash", hard=True)])
    inventory = await inventory_image([layer(gz(BASE)), layer(gz(upper))])
    assert names(inventory) == ["six@1.16.0"]


async def test_a_truncated_layer_is_a_problem_and_the_rest_still_counts() -> None:
    big = File("usr/share/big.bin", bytes(range(256)) * 4096)
    broken = tar([dist_info("requests", "2.31.0"), big, dist_info("late", "1.0")])
    cut = broken[: len(broken) // 2]  # inside big.bin's data
    later = tar([dist_info("urllib3", "2.0.7")])
    truncated = layer(gz(cut))
    inventory = await inventory_image([layer(gz(BASE)), truncated, layer(zst(later), ZSTD)])

    assert names(inventory) == [
        "bash@5.2-1",
        "zlib1g@1.2",
        "requests@2.31.0",
        "six@1.16.0",
        "urllib3@2.0.7",
    ]
    (problem,) = inventory.problems
    assert problem.layer == truncated.digest


@pytest.mark.parametrize("compress", [gz, zst, lambda blob: blob], ids=["gzip", "zstd", "tar"])
async def test_a_tar_ending_without_its_end_blocks_is_reported(
    compress: Callable[[bytes], bytes],
) -> None:
    whole = tar([dist_info("requests", "2.31.0"), dist_info("idna", "3.4")])
    end_of_data = len(whole.rstrip(b"\0"))
    cut = whole[: end_of_data + (-end_of_data % 512)]  # the last member whole, no end blocks
    source = layer(compress(cut))
    inventory = await inventory_image([source])
    assert names(inventory) == ["idna@3.4", "requests@2.31.0"]
    (problem,) = inventory.problems
    assert problem.layer == source.digest
    assert "ends early" in problem.reason


async def test_garbage_is_a_problem() -> None:
    source = layer(b"\x1f\x8b this is not gzip at all" * 10)
    good = layer(gz(BASE))
    inventory = await inventory_image([good, source, layer(b"plain garbage" * 100, TAR)])
    assert len(inventory.packages) == 3
    assert [p.layer for p in inventory.problems] == [
        source.digest,
        layer(b"plain garbage" * 100).digest,
    ]


async def test_a_failing_source_is_raised_not_reported() -> None:
    async def failing() -> AsyncIterator[bytes]:
        yield gz(BASE)[:100]
        raise OSError("storage went away")

    with pytest.raises(OSError, match="storage went away"):
        await inventory_image([LayerSource("sha256:" + "0" * 64, GZIP, failing)])


async def test_layers_read_through_a_storage_driver() -> None:
    driver = MemoryDriver()
    blob = gz(BASE)
    digest = Digest.parse(layer(blob).digest)
    await driver.put(blob_path(digest), blob)
    source = LayerSource(str(digest), GZIP, lambda: driver.read(blob_path(digest)))
    inventory = await inventory_image([source])
    assert names(inventory) == ["bash@5.2-1", "zlib1g@1.2", "six@1.16.0"]

    missing = Digest.parse("sha256:" + "1" * 64)
    with pytest.raises(PathNotFound):
        await inventory_image(
            [LayerSource(str(missing), GZIP, lambda: driver.read(blob_path(missing)))]
        )


async def test_encrypted_layers_are_reported_unread() -> None:
    async def never() -> AsyncIterator[bytes]:
        raise AssertionError("an encrypted layer must not be read")
        yield b""

    source = LayerSource(
        "sha256:" + "e" * 64, "application/vnd.oci.image.layer.v1.tar+gzip+encrypted", never
    )
    inventory = await inventory_image([source])
    assert inventory.problems[0].layer == source.digest


async def test_a_database_over_its_cap_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    capped = tuple(
        InMemory(d.name, d.matches, d.parse, 16) if d.name == "dpkg" else d
        for d in detect_module.DETECTORS
    )
    monkeypatch.setattr(detect_module, "DETECTORS", capped)
    inventory = await inventory_image([layer(gz(BASE))])
    assert names(inventory) == ["six@1.16.0"]
    (problem,) = inventory.problems
    assert problem.reason.startswith("var/lib/dpkg/status: dpkg: larger than 16 bytes")


async def test_output_is_sorted_and_deterministic() -> None:
    layers = [layer(gz(BASE)), layer(gz(tar([dist_info("aaa", "1"), dist_info("zzz", "1")])))]
    first, second = await inventory_image(layers), await inventory_image(list(layers))
    assert first == second
    keys = [(p.ecosystem, p.name, p.version, p.path) for p in first.packages]
    assert keys == sorted(keys)
