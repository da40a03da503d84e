"""Generated secrets: robot account secrets and personal access tokens.

They carry 256 random bits, so unlike passwords they cannot be guessed and a slow hash buys
nothing: they are stored as SHA-256 and compared in constant time, which keeps every registry
request that presents one as cheap as a dictionary lookup.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

PAT_PREFIX = "dyp_"


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def matches(secret: str, stored_digest: str) -> bool:
    return hmac.compare_digest(digest(secret), stored_digest)


def new_access_token() -> tuple[str, str, str]:
    """(token id, secret, the whole token as the user types it)."""
    token_id = secrets.token_hex(8)
    secret = new_secret()
    return token_id, secret, f"{PAT_PREFIX}{token_id}_{secret}"


def split_access_token(value: str) -> tuple[str, str] | None:
    """(token id, secret) when `value` looks like a personal access token."""
    if not value.startswith(PAT_PREFIX):
        return None
    token_id, sep, secret = value[len(PAT_PREFIX) :].partition("_")
    if not sep or len(token_id) != 16 or not secret:
        return None
    return token_id, secret
