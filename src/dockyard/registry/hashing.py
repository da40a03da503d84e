"""Running digests whose state can be saved and resumed in another process.

A chunked upload's next request may land on any worker or replica, and on object storage the
bytes already sent cannot be read back before the upload completes. So the sha256 state itself is
saved with the upload after every chunk (`rehashes` serializes it; hashlib cannot).
"""

from __future__ import annotations

from typing import Protocol

from rehashes import PySha256, PySha512

from dockyard.storage.base import StorageDriver

_ALGORITHMS = {"sha256": PySha256, "sha512": PySha512}


class RunningHash(Protocol):
    def update(self, data: bytes) -> None: ...

    def finalize(self) -> str: ...

    def serialize(self) -> bytes: ...


def new_hash(algorithm: str = "sha256") -> RunningHash:
    hasher: RunningHash = _ALGORITHMS[algorithm]()
    return hasher


def resume_sha256(state: bytes | None) -> RunningHash:
    """The upload's sha256 so far (a fresh one when nothing was sent yet)."""
    if state is None:
        return new_hash("sha256")
    hasher: RunningHash = PySha256.deserialize(state)
    return hasher


async def hash_stored(storage: StorageDriver, path: str, algorithm: str) -> str:
    """Hex digest of a stored object, for algorithms the upload did not track as it went."""
    hasher = new_hash(algorithm)
    async for chunk in await storage.read(path):
        hasher.update(bytes(chunk))
    return hasher.finalize()
