"""The built-in scanner on real images: time and memory to scan the largest image, and images
scanned per minute.

    .venv/bin/python bench/scan.py [--quick] [--output FILE]

Builds, in a temporary directory, a large image from this machine's own files (a base layer
with /usr/bin, /usr/lib/x86_64-linux-gnu, the dpkg database and os-release; a layer with a
Python virtual environment's site-packages; a layer with SeaweedFS's `weed` Go binary), gzip'd
as registries store them, and a small image (the dpkg database and os-release only). The OSV
database is imported from ../shared/vulndb (Go, PyPI, crates.io) into a SQLite store. Then:

- the large image is scanned once: wall time, throughput over its compressed and uncompressed
  sizes, and the process's peak resident memory before and after (ru_maxrss), which shows that
  the layers are streamed, not held;
- the small image is scanned repeatedly for `--seconds`: images scanned per minute.

No peer runs beside it: docker-registry does not scan, and no other scanner can be installed
here (Trivy and Grype are not in Debian or PyPI). It is a benchmark, never a test.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import io
import json
import os
import resource
import shutil
import sys
import tarfile
import tempfile
import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from dockyard.ext.scanning.inventory import LayerSource  # noqa: E402
from dockyard.ext.scanning.scanner import BuiltinScanner, ScanTarget  # noqa: E402
from dockyard.ext.scanning.vulndb import import_osv  # noqa: E402
from dockyard.meta.sql import SqlMetadataStore  # noqa: E402

MiB = 1024 * 1024
VULNDB = ROOT.parent / "shared" / "vulndb"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def _weed() -> Path | None:
    from dockyard.testing.seaweedfs import weed_binary

    found = weed_binary()
    return Path(found) if found else None


def build_layer(target: Path, entries: Iterable[tuple[Path, str]]) -> tuple[int, int]:
    """A gzip'd tar of (source, name in the image); returns (compressed, uncompressed) sizes."""
    counted = _Counting()
    with (
        open(target, "wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1) as zipped,
    ):
        counted.inner = zipped
        with tarfile.open(fileobj=counted, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[arg-type]
            for source, name in entries:
                if source.exists():
                    tar.add(source, arcname=name, recursive=True)
    return target.stat().st_size, counted.size


class _Counting(io.RawIOBase):
    def __init__(self) -> None:
        self.inner: io.BufferedIOBase | None = None
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        assert self.inner is not None
        self.size += len(data)
        self.inner.write(data)
        return len(data)


def layer_source(path: Path) -> LayerSource:
    async def stream() -> AsyncIterator[bytes]:
        file = await asyncio.to_thread(path.open, "rb")
        try:
            while chunk := await asyncio.to_thread(file.read, MiB):
                yield chunk
        finally:
            file.close()

    return LayerSource(f"sha256:{path.stem}", LAYER, stream)


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def run(args: argparse.Namespace, work: Path) -> dict[str, object]:
    store = SqlMetadataStore(f"sqlite+aiosqlite:///{work / 'meta.db'}")
    await store.upgrade()
    started = time.perf_counter()
    for feed in ("Go", "PyPI", "crates.io"):
        await import_osv(store, VULNDB / f"{feed}-all.zip")
    import_seconds = time.perf_counter() - started
    scanner = BuiltinScanner(store, "bench")

    base = [
        (Path("/var/lib/dpkg/status"), "var/lib/dpkg/status"),
        (Path("/usr/lib/os-release"), "etc/os-release"),
    ]
    big = base + (
        []
        if args.quick
        else [
            (Path("/usr/bin"), "usr/bin"),
            (Path("/usr/lib/x86_64-linux-gnu"), "usr/lib/x86_64-linux-gnu"),
        ]
    )
    venv = Path(sys.prefix) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    weed = _weed()
    layers = [("base", big), ("python", [(venv / "site-packages", "app/site-packages")])]
    if weed is not None:
        layers.append(("go", [(weed, "usr/local/bin/weed")]))
    compressed = uncompressed = 0
    paths = []
    for name, entries in layers:
        path = work / f"{name}.tar.gz"
        sizes = build_layer(path, entries)
        compressed, uncompressed = compressed + sizes[0], uncompressed + sizes[1]
        paths.append(path)
    small = work / "small.tar.gz"
    build_layer(small, base)

    rss_before = rss_mib()
    started = time.perf_counter()
    target = ScanTarget(
        "bench/big", "sha256:" + "b" * 64, MANIFEST, [layer_source(p) for p in paths]
    )
    report = await scanner.scan(target)
    big_seconds = time.perf_counter() - started
    rss_after = rss_mib()

    scans, started = 0, time.perf_counter()
    while time.perf_counter() - started < args.seconds:
        await scanner.scan(
            ScanTarget("bench/small", "sha256:" + "a" * 64, MANIFEST, [layer_source(small)])
        )
        scans += 1
    per_minute = scans / (time.perf_counter() - started) * 60
    await store.close()
    return {
        "vulndb_import_s": round(import_seconds, 2),
        "large_image": {
            "layers": len(paths),
            "compressed_mib": round(compressed / MiB, 1),
            "uncompressed_mib": round(uncompressed / MiB, 1),
            "packages": len(report.inventory.packages),
            "findings": len(report.findings),
            "problems": len(report.inventory.problems),
            "scan_s": round(big_seconds, 2),
            "uncompressed_mib_per_s": round(uncompressed / MiB / big_seconds, 1),
            "peak_rss_mib_before": round(rss_before, 1),
            "peak_rss_mib_after": round(rss_after, 1),
        },
        "small_image": {"images_per_minute": round(per_minute, 1)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small 'large' image")
    parser.add_argument("--seconds", type=float, default=20.0, help="small-image scan loop")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dockyard-scan-bench-"))
    try:
        result = asyncio.run(run(args, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = json.dumps(result, indent=2)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
