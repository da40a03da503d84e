"""Where `dockyard login` keeps what it needs to talk to registries later.

One JSON file, readable by its owner only (0600 from the moment it exists), at
`$DOCKYARD_CONFIG`, else `$XDG_CONFIG_HOME/dockyard/credentials.json`, else
`~/.config/dockyard/credentials.json`:

    {"version": 1,
     "current": "https://registry.example.com",
     "registries": {"https://registry.example.com": {"username": "alice", "kind": "token",
                    "secret": "dyp_…", "token_id": "…", "revoke_on_logout": true, …}}}

`kind` says what `secret` is: a personal access token the CLI created at login (the usual case:
the password itself is never stored), one the user gave as their password, a robot's secret, or
(only when the registry refused to create a token) the password.

The file is never read or written through a symbolic link, and it is replaced atomically: a new
file is created next to it with O_CREAT|O_EXCL and mode 0600, written, synced and renamed over
the old one, so a crash leaves either the old or the new file, never half of one.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

FILE_MODE = 0o600
DIR_MODE = 0o700
VERSION = 1
KINDS = ("token", "robot", "password")


class CredentialsError(Exception):
    """The credentials file cannot be used; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class Login:
    url: str
    username: str
    kind: str  # one of KINDS
    secret: str = field(repr=False)
    token_id: str | None = None  # the personal access token's id, when kind is "token"
    revoke_on_logout: bool = False  # the CLI created the token, so logout revokes it
    insecure: bool = False  # TLS certificates are not verified for this registry
    logged_in_at: float = 0.0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        del data["url"]
        return data

    @classmethod
    def from_json(cls, url: str, data: dict[str, Any]) -> Login:
        try:
            login = cls(url=url, **data)
        except TypeError as exc:
            raise CredentialsError(f"the entry for {url} is not one this dockyard wrote") from exc
        if login.kind not in KINDS or not isinstance(login.secret, str):
            raise CredentialsError(f"the entry for {url} is not one this dockyard wrote")
        return login


def default_path(environ: dict[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    if env.get("DOCKYARD_CONFIG"):
        return Path(env["DOCKYARD_CONFIG"])
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "dockyard" / "credentials.json"


def normalize_url(url: str) -> str:
    """`registry.example.com/` → `https://registry.example.com`: the key of a stored login."""
    url = url.strip().rstrip("/")
    if "://" not in url:
        url = f"https://{url}"
    scheme = url.split("://", 1)[0].lower()
    if scheme not in ("http", "https"):
        raise CredentialsError(f"{url}: only http:// and https:// registries are supported")
    return url


class CredentialStore:
    """The stored logins, keyed by registry URL; `current` is the last one logged in to."""

    def __init__(self, path: Path) -> None:
        self.path = path

    # --- reading ---------------------------------------------------------------------------

    def _read(self) -> dict[str, Any]:
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return {"version": VERSION, "current": None, "registries": {}}
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise CredentialsError(
                    f"{self.path} is a symbolic link; dockyard keeps credentials only in a "
                    "regular file (remove the link, or point DOCKYARD_CONFIG elsewhere)"
                ) from None
            raise CredentialsError(f"cannot read {self.path}: {exc.strerror}") from None
        with os.fdopen(fd, encoding="utf-8") as file:
            if stat.S_IMODE(os.fstat(file.fileno()).st_mode) & 0o077:
                raise CredentialsError(
                    f"{self.path} is readable by other users; run `chmod 600 {self.path}` "
                    "(and consider `dockyard logout` + `dockyard login` for new credentials)"
                )
            try:
                data = json.load(file)
            except ValueError:
                raise CredentialsError(f"{self.path} is not valid JSON") from None
        if not isinstance(data, dict) or not isinstance(data.get("registries"), dict):
            raise CredentialsError(f"{self.path} is not a dockyard credentials file")
        return data

    def logins(self) -> list[Login]:
        data = self._read()
        return [Login.from_json(url, entry) for url, entry in data["registries"].items()]

    def current(self) -> str | None:
        current = self._read().get("current")
        return current if isinstance(current, str) else None

    def get(self, url: str | None = None) -> Login | None:
        """The login for `url`, or for the current registry when `url` is None. A URL given
        without a scheme matches a stored https:// or http:// one."""
        data = self._read()
        registries = data["registries"]
        keys = [data.get("current")]
        if url:
            keys = [normalize_url(url)]
            if "://" not in url:
                keys.append(f"http://{url.strip().rstrip('/')}")
        for key in keys:
            if isinstance(key, str) and key in registries:
                return Login.from_json(key, registries[key])
        return None

    # --- writing ---------------------------------------------------------------------------

    def put(self, login: Login) -> None:
        """Store `login` (replacing one for the same URL) and make it the current registry."""
        data = self._read()
        data["registries"][login.url] = login.to_json()
        data["current"] = login.url
        self._write(data)

    def remove(self, url: str) -> bool:
        """Forget `url`; the current registry becomes the most recent remaining one."""
        data = self._read()
        if data["registries"].pop(url, None) is None:
            return False
        if data.get("current") == url:
            remaining = sorted(
                data["registries"].items(), key=lambda item: item[1].get("logged_in_at", 0)
            )
            data["current"] = remaining[-1][0] if remaining else None
        self._write(data)
        return True

    def _write(self, data: dict[str, Any]) -> None:
        try:
            self._replace(data)
        except OSError as exc:
            raise CredentialsError(f"cannot write {self.path}: {exc.strerror or exc}") from None

    def _replace(self, data: dict[str, Any]) -> None:
        data["version"] = VERSION
        directory = self.path.parent
        directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        if self.path.is_symlink():
            raise CredentialsError(
                f"{self.path} is a symbolic link; dockyard keeps credentials only in a regular file"
            )
        temporary = directory / f".{self.path.name}.{secrets.token_hex(6)}.tmp"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(temporary, flags, FILE_MODE)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                os.fchmod(file.fileno(), FILE_MODE)  # whatever the umask: exactly 0600
                json.dump(data, file, indent=2)
                file.write("\n")
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
            raise
