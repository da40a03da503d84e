"""The scale-out stack for `scale_out.py`: SeaweedFS, a PostgreSQL schema, and both registries
configured on them (Dockyard on S3 + PostgreSQL, docker-registry on its S3 driver).

Everything binds 127.0.0.1. SeaweedFS comes from `dockyard.testing.seaweedfs` (free ports, a
temporary directory, telemetry off); the PostgreSQL schema is created fresh in database `test` and
dropped at the end; servers are `servers.Server`s, so they start and stop like the other bench's.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import botocore.config
import botocore.session
import yaml
from servers import ADMIN, HOST, Server, ServerFailed, admin_password, dockyard_binary, free_port

from dockyard.testing.seaweedfs import S3Server

PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
PEER_BUCKET = "peer"

PEER_CONFIG = """\
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  cache:
    blobdescriptor: inmemory
  s3:
    regionendpoint: {endpoint}
    bucket: {bucket}
    region: us-east-1
    accesskey: {access_key}
    secretkey: {secret_key}
    secure: false
    v4auth: true
    # Not a 2.8 parameter (3.0 added it): 2.8 turns path style on whenever regionendpoint is
    # set. Kept so the config means the same on a newer peer.
    forcepathstyle: true
  delete:
    enabled: true
  redirect:
    disable: {no_redirect}
http:
  addr: {host}:{port}
"""


def s3_client(s3: S3Server) -> object:
    return botocore.session.get_session().create_client(
        "s3",
        endpoint_url=s3.endpoint,
        region_name="us-east-1",
        aws_access_key_id=s3.access_key,
        aws_secret_access_key=s3.secret_key,
        config=botocore.config.Config(
            connect_timeout=5, read_timeout=60, retries={"max_attempts": 3}
        ),
    )


def create_bucket(s3: S3Server, bucket: str) -> None:
    client = s3_client(s3)
    client.create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
    client.head_bucket(Bucket=bucket)  # type: ignore[attr-defined]


def presigned_get(s3: S3Server, bucket: str, key: str) -> str:
    client = s3_client(s3)
    return str(
        client.generate_presigned_url(  # type: ignore[attr-defined]
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=600
        )
    )


# -- PostgreSQL ------------------------------------------------------------------------------


def _pg(sql: str, *params: object, schema: str | None = None) -> object:
    """Run one statement on database `test`; the first column of its first row, if any."""
    import asyncpg

    async def run() -> object:
        dsn = PG_URL.replace("postgresql+asyncpg://", "postgresql://", 1)
        settings = {"search_path": schema} if schema else None
        conn = await asyncpg.connect(dsn, timeout=10, server_settings=settings)
        try:
            return await conn.fetchval(sql, *params, timeout=60)
        finally:
            await conn.close()

    return asyncio.run(run())


def recorded_path(schema: str, digest: str) -> str:
    """The object key Dockyard recorded for a blob (S3 blobs stay where their upload ended)."""
    return str(_pg("SELECT path FROM blobs WHERE digest = $1", digest, schema=schema))


@contextlib.contextmanager
def pg_schema() -> Iterator[str]:
    """A fresh schema in database `test`, dropped (with everything in it) at the end."""
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    _pg(f'CREATE SCHEMA "{schema}"')
    try:
        yield schema
    finally:
        _pg(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


# -- servers ---------------------------------------------------------------------------------


@dataclass
class DockyardStack:
    """What every Dockyard replica shares: the bucket, the PostgreSQL schema, and the `admin`
    the first replica bootstraps there (DOCKYARD_ADMIN_PASSWORD; the bench talks to it as
    admin: Dockyard checks credentials on every request, docker-registry runs without auth)."""

    s3: S3Server
    schema: str
    root: Path
    password: str = field(default_factory=admin_password, repr=False)

    def config(self, name: str, redirect: bool) -> Path:
        settings = {
            "data_dir": str(self.root / name / "data"),  # stays empty on this stack
            "server": {"host": HOST, "access_log": False},
            "storage": {
                "driver": "s3",
                "redirect": redirect,
                "s3": {
                    "bucket": self.s3.bucket,
                    "endpoint_url": self.s3.endpoint,
                    "access_key": self.s3.access_key,
                    "secret_key": self.s3.secret_key,
                    "path_style": True,
                },
            },
            "database": {"url": PG_URL, "schema_name": self.schema, "auto_upgrade": False},
        }
        path = self.root / name / "config.yml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(settings, sort_keys=False))
        return path

    def upgrade(self) -> str:
        """`dockyard db upgrade --config …`, once, as a deployer would before starting replicas."""
        argv = [
            _python(),
            "-m",
            "dockyard",
            "db",
            "upgrade",
            "--config",
            str(self.config("db", False)),
        ]
        done = subprocess.run(argv, env=_env(), capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise ServerFailed(f"dockyard db upgrade failed:\n{done.stdout}{done.stderr}")
        return done.stdout.strip()

    def replica(self, name: str, redirect: bool = False) -> Server:
        config = self.config(name, redirect)
        port = free_port()
        argv = [_python(), "-m", "dockyard", "serve", "--config", str(config)]
        argv += ["--host", HOST, "--port", str(port)]
        env = {**_env(), "DOCKYARD_ADMIN_PASSWORD": self.password}
        log = config.parent / "server.log"
        return Server(name, port, config.parent, argv, env, log, (ADMIN, self.password))


def peer(s3: S3Server, root: Path, name: str, redirect: bool = False) -> Server:
    """docker-registry on its S3 driver, in the peer bucket; cleared of REGISTRY_* (read as
    configuration) and AWS_CA_BUNDLE (its S3 driver panics on it), DESIGN.md §6."""
    workdir = root / name
    workdir.mkdir(parents=True)
    port = free_port()
    config = workdir / "config.yml"
    config.write_text(
        PEER_CONFIG.format(
            endpoint=s3.endpoint,
            bucket=PEER_BUCKET,
            access_key=s3.access_key,
            secret_key=s3.secret_key,
            no_redirect="false" if redirect else "true",
            host=HOST,
            port=port,
        )
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("REGISTRY_") and k != "AWS_CA_BUNDLE"
    }
    argv = ["env", "-u", "AWS_CA_BUNDLE", "docker-registry", "serve", str(config)]
    return Server(name, port, workdir, argv, env, workdir / "server.log")


def _python() -> str:
    """Dockyard's own interpreter (the one beside the `dockyard` script)."""
    return str(Path(dockyard_binary()).parent / "python")


def _env() -> dict[str, str]:
    """No inherited DOCKYARD_* variable may change what the YAML file says."""
    return {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
