"""The first start: with no users at all, create `admin`."""

from __future__ import annotations

import logging
import os
import secrets
import sys
from pathlib import Path

from dockyard.auth.passwords import Passwords
from dockyard.meta.auth_records import NewUser
from dockyard.meta.base import MetadataStore

log = logging.getLogger("dockyard.auth")

PASSWORD_FILE = "admin-password"


async def ensure_admin(
    store: MetadataStore, passwords: Passwords, password: str | None, data_dir: Path
) -> bool:
    """Create `admin` if there are no users. Without a configured password a random one is
    printed once and written, readable by the owner only, to <data_dir>/admin-password.
    Returns whether the admin was created here (another replica may have won the race)."""
    async with store.transaction(readonly=True) as tx:
        if await tx.identities.count_users() > 0:
            return False
    generated = password is None
    chosen = password or secrets.token_urlsafe(18)
    password_hash = await passwords.hash(chosen)
    try:
        async with store.transaction() as tx:
            if await tx.identities.count_users() > 0:
                return False
            await tx.identities.add_user(
                NewUser("admin", password_hash=password_hash, is_admin=True)
            )
    except Exception:  # a concurrent replica created it first: the unique name says no
        async with store.transaction(readonly=True) as tx:
            if await tx.identities.user("admin") is not None:
                return False
        raise
    if generated:
        path = _write_password_file(data_dir, chosen)
        # Printed, not logged: the one time a person needs to see it, never in log files.
        print(
            f"Created user 'admin' with password {chosen}\n(also in {path}, readable only by you;"
            " change it and delete the file)",
            file=sys.stderr,
            flush=True,
        )
    else:
        log.info("created user 'admin' with the configured password")
    return True


def _write_password_file(data_dir: Path, password: str) -> Path:
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / PASSWORD_FILE
    # A file (or symlink) already there could be readable by others: replace it, never
    # follow it, and create the new one private from its first byte.
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(password + "\n")
    return path
