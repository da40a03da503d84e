"""Checks a blob must pass before it becomes part of a repository.

The core knows nothing of what the checks are for (project quotas today); extensions add
them when they are wired. A check refuses by raising `RegistryError` (DENIED for a policy), and
it runs before the blob is placed or linked, so a refused blob leaves nothing behind.
"""

from __future__ import annotations

from typing import Protocol


class BlobAdmission(Protocol):
    async def admit_blob(self, repository: str, digest: str, size: int) -> None:
        """Raise `RegistryError` to refuse `digest` (of `size` bytes) into `repository`."""


class Admissions:
    def __init__(self) -> None:
        self._checks: list[BlobAdmission] = []

    def add(self, check: BlobAdmission) -> None:
        self._checks.append(check)

    async def admit_blob(self, repository: str, digest: str, size: int) -> None:
        for check in self._checks:
            await check.admit_blob(repository, digest, size)
