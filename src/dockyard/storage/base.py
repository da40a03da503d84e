"""The StorageDriver port: a dumb, path-keyed byte store that never sees digests.

Paths are relative, '/'-separated keys made by `storage.layout`; drivers reject anything else
with `InvalidPath` so no caller can escape the store's root.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


class StorageError(Exception):
    """Base of the driver's typed errors."""


class PathNotFound(StorageError):
    def __init__(self, path: str) -> None:
        super().__init__(f"no object at {path!r}")
        self.path = path


class InvalidPath(StorageError):
    def __init__(self, path: str) -> None:
        super().__init__(f"invalid storage path {path!r}")
        self.path = path


class StorageUnavailable(StorageError):
    """The backing store cannot be reached or refuses service for now."""


class InvalidOffset(StorageError):
    def __init__(self, path: str, offset: int) -> None:
        super().__init__(f"offset {offset} is outside {path!r}")
        self.path = path
        self.offset = offset


@dataclass(frozen=True, slots=True)
class FileInfo:
    path: str
    size: int


_COMPONENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")  # fullmatch: `$` allows a trailing \n


def check_path(path: str) -> str:
    """Raise InvalidPath unless every component is a plain name (no '..', no absolute)."""
    parts = path.split("/")
    if not path or not all(_COMPONENT.fullmatch(p) and p not in (".", "..") for p in parts):
        raise InvalidPath(path)
    return path


class FileWriter(Protocol):
    """Bytes appended in order; nothing is visible at the path's final form until commit."""

    @property
    def size(self) -> int: ...

    async def write(self, data: bytes) -> None: ...

    async def commit(self) -> None:
        """Make everything written durable; the writer is closed afterwards."""

    async def close(self) -> None:
        """Stop writing without committing; what was written so far stays."""

    async def cancel(self) -> None:
        """Discard the file entirely."""


class StorageDriver(Protocol):
    async def get(self, path: str) -> bytes: ...

    async def put(self, path: str, data: bytes) -> None: ...

    async def read(
        self, path: str, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        """Return an iterator over the bytes from offset (raises before iterating)."""
        ...

    async def writer(self, path: str, append: bool = False) -> FileWriter: ...

    async def stat(self, path: str) -> FileInfo: ...

    async def list(self, prefix: str) -> list[str]:
        """Every object path below prefix (recursively), sorted."""
        ...

    async def move(self, source: str, destination: str) -> None:
        """Atomically replace destination with source."""
        ...

    async def delete(self, path: str) -> None:
        """Delete an object or everything below a prefix; PathNotFound if neither exists."""
        ...


@runtime_checkable
class SupportsLocalPath(Protocol):
    """A driver whose objects are plain files, so responses can use zero-copy sendfile."""

    def local_path(self, path: str) -> str: ...


@runtime_checkable
class SupportsClose(Protocol):
    """A driver holding connections that must be released at shutdown."""

    async def close(self) -> None: ...


@runtime_checkable
class SupportsRename(Protocol):
    """A driver whose move is a cheap atomic rename (on object stores a move is a copy)."""

    async def rename(self, source: str, destination: str) -> None: ...


@runtime_checkable
class SupportsRedirect(Protocol):
    """A driver that can hand clients a short-lived URL to fetch an object directly."""

    async def redirect_url(self, path: str, expires_in: int) -> str | None: ...
