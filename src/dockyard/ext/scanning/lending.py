"""Credentials lent to an external scanner so that it can pull the image it is to scan.

Each scan gets a fresh registry token (ES256, signed like every token Dockyard issues) that
allows `pull` on that one repository and nothing else, expires after the adapter setting's
`pull_token_seconds`, and has the principal kind `service`: no login or token request yields
that kind, and pull policies let it through (a "scanned only" policy must not keep the scanner
from the image it is to scan, see policies/guard.py). The token is never logged.
"""

from __future__ import annotations

from dockyard.auth.principal import Kind
from dockyard.auth.tokens import ResourceAccess, TokenService


class PullCredentials:
    def __init__(self, tokens: TokenService, scanner_name: str, ttl: int) -> None:
        self._tokens = tokens
        self._ttl = ttl
        # A colon keeps the subject apart from every user and robot name.
        self.subject = f"scanner:{scanner_name}"

    async def __call__(self, repository: str) -> str:
        """The `Authorization` header value the scanner pulls `repository` with."""
        access = [ResourceAccess("repository", repository, ("pull",))]
        token, _, _ = await self._tokens.issue(self.subject, Kind.SERVICE.value, access, self._ttl)
        return f"Bearer {token}"
