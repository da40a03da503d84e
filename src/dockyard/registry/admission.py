"""Checks content must pass to enter a repository (blobs) or to leave it (manifest pulls).

The core knows nothing of what the checks are for (project quotas, supply-chain pull policies);
extensions add them when they are wired. A check refuses by raising `RegistryError` (DENIED for
a policy), with a message that says which rule refused and why: clients print it.

- A blob check runs before the blob is placed or linked, so a refused blob leaves nothing behind.
- A pull check runs on a manifest GET, after access control and before the body is sent. HEAD
  is not checked: it carries no content (its answer, the digest, is listed by the tags and the
  management API anyway), clients resolve tags and check for existence with it when they push
  or sign, and a refusal without a body could not tell anyone why. With no pull check
  registered a pull costs nothing more.
"""

from __future__ import annotations

from typing import Protocol

from dockyard.auth.principal import Principal
from dockyard.meta.records import ManifestRecord


class BlobAdmission(Protocol):
    async def admit_blob(self, repository: str, digest: str, size: int) -> None:
        """Raise `RegistryError` to refuse `digest` (of `size` bytes) into `repository`."""


class PullAdmission(Protocol):
    async def admit_pull(
        self, repository: str, manifest: ManifestRecord, puller: Principal | None
    ) -> None:
        """Raise `RegistryError` to refuse serving `manifest` from `repository` to `puller`
        (None: a pull from inside the process, e.g. a replication job)."""


class Admissions:
    def __init__(self) -> None:
        self._checks: list[BlobAdmission] = []
        self._pull_checks: list[PullAdmission] = []

    def add(self, check: BlobAdmission) -> None:
        self._checks.append(check)

    def add_pull(self, check: PullAdmission) -> None:
        self._pull_checks.append(check)

    @property
    def pull_checks(self) -> tuple[PullAdmission, ...]:
        return tuple(self._pull_checks)

    async def admit_blob(self, repository: str, digest: str, size: int) -> None:
        for check in self._checks:
            await check.admit_blob(repository, digest, size)

    async def admit_pull(
        self, repository: str, manifest: ManifestRecord, puller: Principal | None
    ) -> None:
        for check in self._pull_checks:
            await check.admit_pull(repository, manifest, puller)
