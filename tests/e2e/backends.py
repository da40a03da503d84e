"""Where a `dockyard serve` under test keeps its data, and how a test looks at it directly.

Two deployment shapes (DESIGN.md §2): `Embedded` (filesystem blobs + SQLite under the data
directory) and `ScaleOut` (blobs in the session's SeaweedFS under a key prefix of their own,
metadata in a PostgreSQL schema of their own). Each answers the same questions, so a test asks
them without knowing the shape: which blob copies are stored, what uploads left behind, whether
the metadata is consistent, what the metadata makes visible.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import sqlite3
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import botocore.config
import botocore.session
import yaml

from dockyard.testing.seaweedfs import S3Server

Rows = list[tuple[Any, ...]]

# Rows no consistent database may hold: the foreign keys spelled out as queries (the same
# relations SQLite's `PRAGMA foreign_key_check` checks), plus what the schema cannot express.
CONSISTENCY_QUERIES = {
    "blob link to an unknown blob": (
        "SELECT l.repository, l.digest FROM blob_links l "
        "LEFT JOIN blobs b ON b.digest = l.digest WHERE b.digest IS NULL"
    ),
    "blob link in an unknown repository": (
        "SELECT l.repository, l.digest FROM blob_links l "
        "LEFT JOIN repositories r ON r.name = l.repository WHERE r.name IS NULL"
    ),
    "manifest in an unknown repository": (
        "SELECT m.repository, m.digest FROM manifests m "
        "LEFT JOIN repositories r ON r.name = m.repository WHERE r.name IS NULL"
    ),
    "reference of an unknown manifest": (
        "SELECT x.repository, x.manifest FROM manifest_references x LEFT JOIN manifests m "
        "ON m.repository = x.repository AND m.digest = x.manifest WHERE m.digest IS NULL"
    ),
    "tag of an unknown manifest": (
        "SELECT t.repository, t.name FROM tags t LEFT JOIN manifests m "
        "ON m.repository = t.repository AND m.digest = t.digest WHERE m.digest IS NULL"
    ),
    # Holds while nobody DELETEs blobs (a push never leaves it otherwise).
    "manifest whose blob is not linked in its repository": (
        "SELECT x.repository, x.manifest, x.digest FROM manifest_references x "
        "JOIN manifests m ON m.repository = x.repository AND m.digest = x.manifest "
        "LEFT JOIN blob_links l ON l.repository = x.repository AND l.digest = x.digest "
        "WHERE x.kind = 'blob' AND l.digest IS NULL"
    ),
}


@dataclass(frozen=True, order=True)
class StoredBlob:
    """One stored copy of a blob: the digest of its bytes and where it lies."""

    digest: str
    location: str


class Backend(Protocol):
    name: str

    def env(self) -> dict[str, str]: ...

    def assert_serves(self, data_dir: Path) -> None: ...

    def stored_blobs(self) -> list[StoredBlob]: ...

    def upload_leftovers(self) -> list[str]: ...

    def check_integrity(self) -> None: ...

    def visible(self) -> tuple[Rows, Rows]: ...

    def cleanup(self) -> None: ...


class Embedded:
    """Filesystem blobs and SQLite metadata under the server's data directory."""

    name = "embedded"

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.storage = data_dir / "storage"

    def env(self) -> dict[str, str]:
        return {}

    def assert_serves(self, data_dir: Path) -> None:
        assert (data_dir / "dockyard.db").exists()

    def stored_blobs(self) -> list[StoredBlob]:
        """One entry per file under blobs/ (layout: blobs/<alg>/<xx>/<hex>/data)."""
        root = self.storage / "blobs"
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []
        return sorted(
            StoredBlob(f"{p.parent.parent.parent.name}:{p.parent.name}", str(p)) for p in files
        )

    def upload_leftovers(self) -> list[str]:
        uploads = self.storage / "uploads"
        return sorted(str(p) for p in uploads.rglob("*") if p.is_file()) if uploads.exists() else []

    def _query(self, sql: str) -> Rows:
        db = sqlite3.connect(self.data_dir / "dockyard.db", timeout=30)
        try:
            return db.execute(sql).fetchall()
        finally:
            db.close()

    def check_integrity(self) -> None:
        assert self._query("PRAGMA integrity_check") == [("ok",)]
        assert self._query("PRAGMA foreign_key_check") == []
        for problem, sql in CONSISTENCY_QUERIES.items():
            assert self._query(sql) == [], problem

    def visible(self) -> tuple[Rows, Rows]:
        """(repository, digest) of every linked blob and every manifest the metadata holds."""
        return (
            self._query("SELECT repository, digest FROM blob_links"),
            self._query("SELECT repository, digest FROM manifests"),
        )

    def cleanup(self) -> None:
        pass  # the data directory lies under the test's tmp_path


def _run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine from sync test code (in a thread: safe even under a running loop)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result(timeout=60)


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


class ScaleOut:
    """Blobs in SeaweedFS under a key prefix, metadata in a PostgreSQL schema; both private to
    this backend and removed by `cleanup`. Any number of servers may share one."""

    name = "scale-out"

    def __init__(self, s3: S3Server, pg_url: str, label: str = "", part_size_mib: int = 16) -> None:
        tag = uuid.uuid4().hex[:10]
        self.s3 = s3
        self.pg_url = pg_url
        self.part_size_mib = part_size_mib
        self.prefix = f"e2e-{label}-{tag}" if label else f"e2e-{tag}"
        self.schema = f"e2e_{tag}"
        self._execute(f'CREATE SCHEMA "{self.schema}"')  # first: it fails without PostgreSQL
        self.client = botocore.session.get_session().create_client(
            "s3",
            endpoint_url=s3.endpoint,
            region_name="us-east-1",
            aws_access_key_id=s3.access_key,
            aws_secret_access_key=s3.secret_key,
            config=botocore.config.Config(
                connect_timeout=5, read_timeout=120, retries={"max_attempts": 3}
            ),
        )

    # -- settings ----------------------------------------------------------------------------

    def settings(self) -> dict[str, Any]:
        return {
            "storage": {
                "driver": "s3",
                "s3": {
                    "bucket": self.s3.bucket,
                    "endpoint_url": self.s3.endpoint,
                    "access_key": self.s3.access_key,
                    "secret_key": self.s3.secret_key,
                    "prefix": self.prefix,
                    "part_size_mib": self.part_size_mib,
                },
            },
            "database": {"url": self.pg_url, "schema_name": self.schema},
        }

    def env(self) -> dict[str, str]:
        """The settings as `DOCKYARD_*` variables; the server migrates the schema itself."""
        flat: dict[str, str] = {"DOCKYARD_DATABASE__AUTO_UPGRADE": "true"}

        def walk(prefix: str, section: dict[str, Any]) -> None:
            for key, value in section.items():
                name = f"{prefix}__{key.upper()}"
                if isinstance(value, dict):
                    walk(name, value)
                else:
                    flat[name] = str(value)

        for section, values in self.settings().items():
            walk(f"DOCKYARD_{section.upper()}", values)
        return flat

    def assert_serves(self, data_dir: Path) -> None:
        """The server really runs on S3 + PostgreSQL: a misspelt variable would leave it on
        the embedded defaults without a word."""
        leftovers = [p.name for p in data_dir.iterdir()] if data_dir.exists() else []
        assert leftovers == [], f"the server wrote {leftovers} to {data_dir}"
        assert self._query("SELECT to_regclass('blobs')") != [(None,)], "no schema in PostgreSQL"

    def write_config(self, path: Path) -> Path:
        """The settings as the YAML file a deployer hands every replica (no auto-upgrade)."""
        path.write_text(yaml.safe_dump(self.settings(), sort_keys=False))
        return path

    # -- PostgreSQL --------------------------------------------------------------------------

    def _execute(self, sql: str) -> None:
        _run(self._pg(lambda conn: conn.execute(sql)))

    def _query(self, sql: str) -> Rows:
        rows = _run(self._pg(lambda conn: conn.fetch(sql)))
        return [tuple(row) for row in rows]

    async def _pg(self, work: Any) -> Any:
        import asyncpg

        conn = await asyncpg.connect(
            _dsn(self.pg_url), timeout=10, server_settings={"search_path": self.schema}
        )
        try:
            return await work(conn)
        finally:
            await conn.close()

    # -- S3 ----------------------------------------------------------------------------------

    def keys(self, under: str = "") -> list[tuple[str, int]]:
        """(key relative to the prefix, size) of every object under the prefix."""
        found: list[tuple[str, int]] = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.s3.bucket, Prefix=f"{self.prefix}/{under}"):
            for item in page.get("Contents", []):
                found.append((item["Key"][len(self.prefix) + 1 :], int(item["Size"])))
        return sorted(found)

    def multipart_uploads(self) -> list[str]:
        """Keys (relative to the prefix) with a multipart upload still open."""
        found: list[str] = []
        kwargs: dict[str, Any] = {"Bucket": self.s3.bucket, "Prefix": f"{self.prefix}/"}
        while True:
            page = self.client.list_multipart_uploads(**kwargs)
            found += [u["Key"][len(self.prefix) + 1 :] for u in page.get("Uploads", [])]
            if not page.get("IsTruncated"):
                return sorted(found)
            kwargs["KeyMarker"] = page["NextKeyMarker"]
            kwargs["UploadIdMarker"] = page["NextUploadIdMarker"]

    def object_digest(self, key: str) -> str:
        body = self.client.get_object(Bucket=self.s3.bucket, Key=f"{self.prefix}/{key}")["Body"]
        hasher = hashlib.sha256()
        with body:
            for chunk in body.iter_chunks(1 << 20):
                hasher.update(chunk)
        return "sha256:" + hasher.hexdigest()

    # -- the questions -----------------------------------------------------------------------

    def stored_blobs(self) -> list[StoredBlob]:
        """One entry per finished object (spools are not content), named by the sha256 of its
        bytes: a duplicate copy shows up twice, whatever the metadata thinks."""
        return sorted(
            StoredBlob(self.object_digest(key), key)
            for key, _size in self.keys()
            if not key.endswith("~spool")
        )

    def upload_leftovers(self) -> list[str]:
        """What uploads left in the bucket: spools, open multipart uploads, and finished upload
        objects no blob is recorded at (finished S3 blobs stay at uploads/<id>/data)."""
        recorded = {row[0] for row in self._query("SELECT path FROM blobs")}
        objects = [k for k, _ in self.keys("uploads/") if k not in recorded]
        return sorted(objects + [f"multipart:{k}" for k in self.multipart_uploads()])

    def check_integrity(self) -> None:
        for problem, sql in CONSISTENCY_QUERIES.items():
            assert self._query(sql) == [], problem
        # Every blob on record is in the bucket with the recorded size.
        sizes = dict(self.keys())
        for digest, size, path in self._query("SELECT digest, size, path FROM blobs"):
            assert sizes.get(path) == size, f"{digest} is recorded at {path} ({size} bytes)"

    def visible(self) -> tuple[Rows, Rows]:
        return (
            self._query("SELECT repository, digest FROM blob_links"),
            self._query("SELECT repository, digest FROM manifests"),
        )

    def recorded_blobs(self) -> list[StoredBlob]:
        """The blobs metadata knows, with the object each one is recorded at."""
        return sorted(StoredBlob(d, p) for d, p in self._query("SELECT digest, path FROM blobs"))

    def cleanup(self) -> None:
        """Remove everything under the prefix, drop the schema."""
        self.remove_objects()
        self._execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
        self.client.close()

    def remove_objects(self) -> None:
        """Remove every object and open multipart upload under the prefix."""
        for key in self.multipart_uploads():
            kwargs = {"Bucket": self.s3.bucket, "Prefix": f"{self.prefix}/{key}"}
            for upload in self.client.list_multipart_uploads(**kwargs).get("Uploads", []):
                self.client.abort_multipart_upload(
                    Bucket=self.s3.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                )
        keys = [k for k, _ in self.keys()]
        for start in range(0, len(keys), 1000):
            batch = [{"Key": f"{self.prefix}/{k}"} for k in keys[start : start + 1000]]
            self.client.delete_objects(
                Bucket=self.s3.bucket, Delete={"Objects": batch, "Quiet": True}
            )
