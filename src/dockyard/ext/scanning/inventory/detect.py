"""Which detector reads a file of a layer, and how: small files in memory (package databases,
metadata), archives and databases that need random access from a temporary copy, executables
while they stream.

Each detector is capped: a file larger than its cap is reported as a problem of the layer (or, for
metadata whose headers come first, read up to the cap), never read whole into memory.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from dockyard.ext.scanning.inventory import (
    apk,
    binaries,
    dpkg,
    maven,
    npm,
    osrelease,
    pypi,
    rpm,
)
from dockyard.ext.scanning.inventory.findings import DetectorError, Finding, Member


@dataclass(frozen=True, slots=True)
class InMemory:
    name: str
    matches: Callable[[str], bool]
    parse: Callable[[Member, bytes], Finding | None]
    max_size: int
    prefix_ok: bool = False  # a larger file is read up to max_size instead of skipped


@dataclass(frozen=True, slots=True)
class Spooled:
    name: str
    matches: Callable[[str], bool]
    parse: Callable[[Member, Path], Finding | None]
    max_size: int


DETECTORS: tuple[InMemory | Spooled, ...] = (
    InMemory("os-release", osrelease.matches, osrelease.parse, osrelease.MAX_SIZE),
    InMemory("dpkg", dpkg.matches, dpkg.parse, dpkg.MAX_SIZE),
    InMemory("apk", apk.matches, apk.parse, apk.MAX_SIZE),
    InMemory("python", pypi.matches, pypi.parse, pypi.MAX_SIZE, prefix_ok=True),
    InMemory("npm", npm.matches, npm.parse, npm.MAX_SIZE),
    Spooled("rpm", rpm.matches, rpm.parse, rpm.MAX_SIZE),
    Spooled("java", maven.matches, maven.parse, maven.MAX_SIZE),
)


def wanted(member: Member) -> bool:
    return _detector(member.path) is not None or binaries.wanted(member)


def detect(open_member: Callable[[], IO[bytes]], member: Member) -> Finding | None:
    """The finding of one regular file. A failure to read the layer (a truncated tar, the
    storage) propagates as itself; a file that cannot be parsed raises DetectorError."""
    detector = _detector(member.path)
    name = "binary" if detector is None else detector.name
    try:
        with open_member() as raw:
            return _detect(detector, _Guarded(raw), member)
    except _ReadFailed as failed:
        raise failed.original from None
    except DetectorError as exc:
        raise DetectorError(f"{name}: {exc}") from exc
    except Exception as exc:  # one unparseable file must not cost the image its inventory
        raise DetectorError(f"{name}: {exc!r}") from exc


def _detect(
    detector: InMemory | Spooled | None, stream: _Guarded, member: Member
) -> Finding | None:
    if detector is None:
        return binaries.scan(stream, member)
    prefix_ok = isinstance(detector, InMemory) and detector.prefix_ok
    if member.size > detector.max_size and not prefix_ok:
        raise DetectorError(f"larger than {detector.max_size} bytes, not read")
    if isinstance(detector, InMemory):
        return detector.parse(member, stream.read(detector.max_size))
    with tempfile.NamedTemporaryFile(prefix=f"{detector.name}-") as spool:
        shutil.copyfileobj(stream, spool, 1024 * 1024)
        spool.flush()
        return detector.parse(member, Path(spool.name))


def _detector(path: str) -> InMemory | Spooled | None:
    return next((detector for detector in DETECTORS if detector.matches(path)), None)


class _ReadFailed(Exception):
    def __init__(self, original: BaseException) -> None:
        super().__init__(str(original))
        self.original = original


class _Guarded:
    """The member's stream, with read errors marked as such: they belong to the layer, and must
    not be mistaken for a detector's parse error."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream

    def read(self, size: int = -1, /) -> bytes:
        try:
            return self._stream.read(size)
        except Exception as exc:
            raise _ReadFailed(exc) from exc
