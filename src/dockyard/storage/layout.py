"""Where content lives in a StorageDriver. The only module that knows these paths.

    blobs/
      sha256/
        ab/
          ab34…ef/data        one file per blob digest, shared by every repository
      sha512/…
    uploads/
      <upload id>/data        bytes of an upload in progress, moved into blobs/ on completion

Repository names never reach a path: which repository may see which blob is metadata.
"""

from __future__ import annotations

import re

from dockyard.oci.digest import Digest
from dockyard.storage.base import InvalidPath

_UPLOAD_ID = re.compile(r"[0-9a-f]{32}")  # fullmatch: `$` allows a trailing newline


def probe_path() -> str:
    """A path nothing is stored at: readiness checks stat it to see the store answer."""
    return "health/probe"


def blob_path(digest: Digest) -> str:
    return f"blobs/{digest.algorithm}/{digest.hex[:2]}/{digest.hex}/data"


def upload_path(upload_id: str) -> str:
    return f"{upload_dir(upload_id)}/data"


def upload_dir(upload_id: str) -> str:
    if not _UPLOAD_ID.fullmatch(upload_id):
        raise InvalidPath(upload_id)
    return f"uploads/{upload_id}"


def is_upload_id(text: str) -> bool:
    return bool(_UPLOAD_ID.fullmatch(text))
