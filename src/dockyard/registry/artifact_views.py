"""Artifacts as people look at them: summaries for lists, and one artifact in full (its layers
and who shares them, its image config, its referrers, and how to pull it)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal

from dockyard.meta.base import Transaction
from dockyard.meta.records import ManifestRecord
from dockyard.oci import mediatypes as mt
from dockyard.registry.inventory_models import (
    TAGS_SHOWN,
    ArtifactSummary,
    ChildArtifact,
    HistoryEntry,
    ImageConfig,
    Platform,
    PullCommand,
    Referrer,
    ReferrerKind,
)

IMAGE_CONFIGS = frozenset(
    {"application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json"}
)
CONFIG_MAX_BYTES = 4 * 1024 * 1024  # a config this large is not for people to read


def document(record: ManifestRecord) -> dict[str, Any]:
    try:
        doc = json.loads(record.payload)
    except ValueError:  # stored manifests were checked on push; be safe anyway
        return {}
    return doc if isinstance(doc, dict) else {}


def kind_of(record: ManifestRecord) -> Literal["image", "index", "artifact"]:
    if record.media_type in mt.INDEXES:
        return "index"
    if record.artifact_type is None or record.artifact_type in IMAGE_CONFIGS:
        return "image"
    return "artifact"


def platform(value: Any) -> Platform | None:
    if not isinstance(value, dict):
        return None
    os_, arch = value.get("os"), value.get("architecture")
    if not isinstance(os_, str) or not isinstance(arch, str):
        return None
    variant, version = value.get("variant"), value.get("os.version")
    return Platform(
        os_,
        arch,
        variant if isinstance(variant, str) else None,
        version if isinstance(version, str) else None,
    )


def descriptors(doc: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = doc.get(key)
    return [d for d in value if isinstance(d, dict)] if isinstance(value, list) else []


async def summaries(
    tx: Transaction, repository: str, records: Sequence[ManifestRecord]
) -> list[ArtifactSummary]:
    """Summaries of one page of a repository's manifests, in a handful of grouped queries."""
    digests = [r.digest for r in records]
    children = {r.digest: descriptors(document(r), "manifests") for r in records}
    child_digests = [str(d.get("digest")) for ds in children.values() for d in ds]
    stored_children = await tx.inventory.manifests_by_digest(repository, child_digests)
    blob_bytes = await tx.inventory.blob_bytes(repository, digests + child_digests)
    tags = await tx.inventory.tags_of(repository, digests, TAGS_SHOWN)
    referrers = await tx.inventory.referrer_counts(repository, digests)
    pulls = await tx.inventory.pulls(repository, digests)
    child_size = {c.digest: c.size + blob_bytes.get(c.digest, 0) for c in stored_children}
    found = []
    for record in records:
        kind = kind_of(record)
        size = record.size + blob_bytes.get(record.digest, 0)
        platforms = []
        for child in children[record.digest] if kind == "index" else []:
            size += child_size.get(str(child.get("digest")), int_or_zero(child.get("size")))
            if (found_platform := platform(child.get("platform"))) is not None:
                platforms.append(found_platform)
        names, tag_count = tags.get(record.digest, ([], 0))
        pull_count, last_pulled = pulls.get(record.digest, (0, None))
        found.append(
            ArtifactSummary(
                repository=repository,
                digest=record.digest,
                media_type=record.media_type,
                artifact_type=None if kind == "image" else record.artifact_type,
                kind=kind,
                size=size,
                tags=names,
                tag_count=tag_count,
                platforms=platforms,
                pushed_at=record.created_at,
                pulls=pull_count,
                last_pulled_at=last_pulled,
                referrer_count=referrers.get(record.digest, 0),
                subject=record.subject,
            )
        )
    return found


def int_or_zero(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


async def children_of(tx: Transaction, repository: str, doc: dict[str, Any]) -> list[ChildArtifact]:
    listed = descriptors(doc, "manifests")
    digests = [str(d.get("digest")) for d in listed]
    stored = {r.digest: r for r in await tx.inventory.manifests_by_digest(repository, digests)}
    blob_bytes = await tx.inventory.blob_bytes(repository, list(stored))
    found = []
    for descriptor, digest in zip(listed, digests, strict=True):
        record = stored.get(digest)
        size = int_or_zero(descriptor.get("size"))
        if record is not None:
            size = record.size + blob_bytes.get(digest, 0)
        artifact_type = descriptor.get("artifactType")
        found.append(
            ChildArtifact(
                digest=digest,
                media_type=str(descriptor.get("mediaType") or (record and record.media_type)),
                size=size,
                platform=platform(descriptor.get("platform")),
                present=record is not None,
                artifact_type=artifact_type if isinstance(artifact_type, str) else None,
            )
        )
    return found


def referrer_kind(artifact_type: str | None) -> ReferrerKind:
    text = (artifact_type or "").lower()
    if any(s in text for s in ("signature", ".sig.", "notary", "sigstore.bundle")):
        return "signature"
    if any(s in text for s in ("sbom", "spdx", "cyclonedx", "syft")):
        return "sbom"
    if any(s in text for s in ("in-toto", "intoto", "attestation", "provenance", "slsa", "vex")):
        return "attestation"
    return "other"


def referrer(record: ManifestRecord) -> Referrer:
    return Referrer(
        digest=record.digest,
        media_type=record.media_type,
        artifact_type=record.artifact_type,
        kind=referrer_kind(record.artifact_type),
        size=record.size,
        created_at=record.created_at,
        annotations=record.annotations,
    )


def parse_config(data: bytes) -> ImageConfig | None:
    """The human-relevant parts of an image config blob; None when it is not one."""
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        return None
    if not isinstance(doc, dict):
        return None
    inner = _dict(doc.get("config"))
    return ImageConfig(
        created=_str(doc.get("created")),
        author=_str(doc.get("author")),
        os=_str(doc.get("os")),
        architecture=_str(doc.get("architecture")),
        variant=_str(doc.get("variant")),
        entrypoint=_strings(inner.get("Entrypoint")),
        cmd=_strings(inner.get("Cmd")),
        env=_strings(inner.get("Env")) or [],
        labels={str(k): str(v) for k, v in _dict(inner.get("Labels")).items()},
        working_dir=_str(inner.get("WorkingDir")) or None,
        user=_str(inner.get("User")) or None,
        exposed_ports=sorted(str(p) for p in _dict(inner.get("ExposedPorts"))),
        history=[_history(h) for h in _list(doc.get("history")) if isinstance(h, dict)],
    )


def _dict(value: Any) -> dict[Any, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _history(entry: dict[str, Any]) -> HistoryEntry:
    return HistoryEntry(
        created=_str(entry.get("created")),
        created_by=_str(entry.get("created_by")),
        comment=_str(entry.get("comment")),
        empty_layer=entry.get("empty_layer") is True,
    )


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _strings(value: Any) -> list[str] | None:
    if not isinstance(value, list):
        return None
    return [v for v in value if isinstance(v, str)]


def pull_commands(
    host: str, repository: str, digest: str, tags: Sequence[str], kind: str
) -> list[PullCommand]:
    """Copy-ready commands: by digest (immutable) first, then by the first tag."""
    ref = f"{host}/{repository}"
    commands: list[PullCommand] = []
    if kind == "artifact":
        commands.append(PullCommand("oras", "by digest", f"oras pull {ref}@{digest}"))
        if tags:
            commands.append(
                PullCommand("oras", f"by tag {tags[0]!r}", f"oras pull {ref}:{tags[0]}")
            )
        return commands
    commands.append(PullCommand("docker", "by digest", f"docker pull {ref}@{digest}"))
    if tags:
        commands.append(
            PullCommand("docker", f"by tag {tags[0]!r}", f"docker pull {ref}:{tags[0]}")
        )
    commands.append(PullCommand("podman", "by digest", f"podman pull {ref}@{digest}"))
    name = repository.rsplit("/", 1)[-1]
    commands.append(
        PullCommand(
            "skopeo",
            "copy to an OCI layout",
            f"skopeo copy --all docker://{ref}@{digest} oci:{name}:{tags[0] if tags else 'latest'}",
        )
    )
    return commands
