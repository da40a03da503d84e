"""Running digests of uploads in progress, kept per process.

Python cannot hand a sha256 state to another process, so when an upload continues somewhere the
state is not (another worker, another replica, after a restart) the stored prefix is re-hashed,
which is fast (DESIGN.md, facts). The cache only ever saves that work.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

from dockyard.oci.digest import new_hasher
from dockyard.storage.base import StorageDriver

_MAX_ENTRIES = 1024


class UploadHashes:
    def __init__(self) -> None:
        self._states: OrderedDict[str, tuple[int, hashlib._Hash]] = OrderedDict()

    def take(self, upload_id: str, size: int) -> hashlib._Hash | None:
        """The sha256 state for exactly `size` bytes of this upload, if this process has it."""
        entry = self._states.pop(upload_id, None)
        if entry is None or entry[0] != size:
            return None
        return entry[1]

    def keep(self, upload_id: str, size: int, hasher: hashlib._Hash) -> None:
        self._states[upload_id] = (size, hasher)
        while len(self._states) > _MAX_ENTRIES:
            self._states.popitem(last=False)

    def forget(self, upload_id: str) -> None:
        self._states.pop(upload_id, None)


async def hash_stored(storage: StorageDriver, path: str, algorithm: str) -> hashlib._Hash:
    hasher = new_hasher(algorithm)
    async for chunk in await storage.read(path):
        hasher.update(chunk)
    return hasher
