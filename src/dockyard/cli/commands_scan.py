"""`dockyard scan`, `dockyard vulns`, `dockyard sbom`: vulnerability scanning through the
management API of a running registry (docs/scanning.md)."""

from __future__ import annotations

import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from dockyard.cli.client import USAGE, Api
from dockyard.cli.commands_registry import repository_path
from dockyard.cli.output import Output, OutputOption, ago, console, emit, note, table
from dockyard.cli.remote import InsecureOption, RegistryOption, connect, fail

SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "NONE", "UNKNOWN")
_STYLES = {"CRITICAL": "bold red", "HIGH": "red", "MEDIUM": "yellow", "LOW": "cyan"}
FINISHED = ("done", "failed")

ImageArg = Annotated[
    str, typer.Argument(help="REPOSITORY:TAG or REPOSITORY@DIGEST", show_default=False)
]


class SbomFormat(StrEnum):
    CYCLONEDX = "cyclonedx"
    SPDX = "spdx"


def split_reference(text: str) -> tuple[str, str]:
    """(repository, tag or digest) from `team/app:1.0`, `team/app@sha256:…` or `team/app`
    (the tag `latest`, as docker reads it)."""
    if "@" in text:
        repository, _, digest = text.partition("@")
        if repository and digest:
            return repository, digest
    else:
        repository, sep, tag = text.rpartition(":")
        if not sep:
            return text, "latest"
        if repository and tag and "/" not in tag:
            return repository, tag
    fail(f"{text!r}: write REPOSITORY:TAG or REPOSITORY@DIGEST, e.g. team/app:1.0", USAGE)


def artifact_path(text: str) -> str:
    repository, reference = split_reference(text)
    return f"{repository_path(repository)}/artifacts/{reference}"


# --- dockyard scan ---------------------------------------------------------------------------


def scan(
    image: ImageArg,
    wait: Annotated[bool, typer.Option("--wait", help="follow the scan until it finishes")] = False,
    timeout: Annotated[
        float, typer.Option(min=1, help="seconds --wait waits at most (exit 1 after)")
    ] = 1800,
    output: OutputOption = Output.TABLE,
    registry: RegistryOption = None,
    insecure: InsecureOption = False,
) -> None:
    """Ask the registry to scan an image (every platform of a multi-platform image)."""
    path = artifact_path(image)
    with connect(registry, insecure) as api:
        requested = api.post(f"{path}/scan")
        digest = requested["digest"]
        if not wait:
            emit(output, requested, lambda d: _queued(image, d))
            return
        result = _follow(api, f"{path.rsplit('/', 1)[0]}/{digest}", timeout, output)
    emit(output, result, lambda d: _render_vulnerabilities(d, None))
    failed = [s for s in _statuses(result) if s["state"] == "failed"]
    if failed:
        fail(f"the scan of {failed[0]['digest']} failed: {failed[0].get('error')}")


def _queued(image: str, data: dict[str, Any]) -> None:
    count = len(data["scans"])
    typer.echo(f"Queued {count} scan{'' if count == 1 else 's'} of {image} ({data['digest']}).")


def _statuses(data: dict[str, Any]) -> list[dict[str, Any]]:
    if data.get("children") is not None:
        return [c["status"] for c in data["children"] if c.get("status")]
    return [data["status"]] if data.get("status") else []


def _follow(api: Api, path: str, timeout: float, output: Output) -> dict[str, Any]:
    """Poll the vulnerabilities endpoint until every scan is done or failed, with a bar of the
    layers read (on stderr, so that stdout stays the result)."""
    deadline = time.monotonic() + timeout
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(
        *columns,
        console=console(stderr=True),
        transient=True,
        disable=output is Output.JSON or not sys.stderr.isatty(),
    ) as bar:
        task = bar.add_task("scanning", total=None)
        while True:
            data: dict[str, Any] = api.get(f"{path}/vulnerabilities")
            statuses = _statuses(data)
            done = sum(s["progress"]["done"] for s in statuses)
            total = sum(s["progress"]["total"] for s in statuses) or None
            states = sorted({s["state"] for s in statuses})
            bar.update(task, completed=done, total=total, description=f"scan: {', '.join(states)}")
            if statuses and all(s["state"] in FINISHED for s in statuses):
                return data
            if time.monotonic() > deadline:
                fail(f"the scan did not finish in {timeout:g} s (state: {', '.join(states)})")
            time.sleep(1.0)


# --- dockyard vulns --------------------------------------------------------------------------


def vulns(
    image: ImageArg,
    severity: Annotated[
        str | None,
        typer.Option(help="only findings at least this severe: CRITICAL, HIGH, MEDIUM, LOW"),
    ] = None,
    output: OutputOption = Output.TABLE,
    registry: RegistryOption = None,
    insecure: InsecureOption = False,
) -> None:
    """An image's vulnerabilities from its last scan."""
    if severity is not None and severity.upper() not in SEVERITIES:
        fail(f"--severity must be one of {', '.join(SEVERITIES)}", USAGE)
    with connect(registry, insecure) as api:
        data = api.get(
            f"{artifact_path(image)}/vulnerabilities",
            {"severity": severity.upper() if severity else None},
        )
    emit(output, data, lambda d: _render_vulnerabilities(d, severity))


def _severity(name: str) -> Text:
    return Text(name, style=_STYLES.get(name, ""))


def _counts(summary: dict[str, Any] | None) -> str:
    if not summary:
        return "-"
    return (
        f"{summary['critical']} critical, {summary['high']} high, {summary['medium']} medium, "
        f"{summary['low']} low, {summary['unknown']} unknown"
    )


def _render_vulnerabilities(data: dict[str, Any], severity: str | None) -> None:
    if data.get("children") is not None:
        rows = (
            [
                c.get("platform") or "-",
                c["digest"][:19],
                (c.get("status") or {}).get("state", "-"),
                _counts(c.get("summary")),
            ]
            for c in data["children"]
        )
        table(["PLATFORM", "DIGEST", "SCAN", "FINDINGS"], rows, "no platform scanned yet")
        return
    status, report = data.get("status"), data.get("report")
    if status and status["state"] != "done":
        note(f"scan {status['state']}" + (f": {status['error']}" if status.get("error") else ""))
    if report is None:
        note("no report yet")
        return
    note(
        f"{data['digest']}: {_counts(report['summary'])} in {report['packages']} packages "
        f"(scanned {ago(report['generated_at'])}, database {report['db_version'][:12]})"
    )
    rows = (
        [
            f["id"],
            _severity(f["severity"]),
            f["package"],
            f["version"],
            ", ".join(f["fixed"]) or "-",
            f["ecosystem"],
        ]
        for f in report["findings"]
    )
    empty = f"no findings{f' at {severity.upper()} or above' if severity else ''}"
    table(["ADVISORY", "SEVERITY", "PACKAGE", "VERSION", "FIXED IN", "ECOSYSTEM"], rows, empty)


# --- dockyard sbom ---------------------------------------------------------------------------


def sbom(
    image: ImageArg,
    format: Annotated[
        SbomFormat, typer.Option("--format", "-f", case_sensitive=False, help="document format")
    ] = SbomFormat.CYCLONEDX,
    out: Annotated[
        Path | None, typer.Option("--output", "-o", help="write to this file (default: stdout)")
    ] = None,
    attach: Annotated[
        bool, typer.Option("--attach", help="store it in the registry as a referrer of the image")
    ] = False,
    registry: RegistryOption = None,
    insecure: InsecureOption = False,
) -> None:
    """An image's SBOM (CycloneDX 1.6 or SPDX 2.3 JSON) from its last scan."""
    path = f"{artifact_path(image)}/sbom"
    params = {"format": format.value}
    with connect(registry, insecure) as api:
        if attach:
            attached = api.post(f"{path}?format={format.value}")
            note(f"Attached {format.value} SBOM {attached['digest']} to {attached['subject']}.")
            return
        data = api.request("GET", path, params=params).content
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        out.write_bytes(data)
        note(f"Wrote {len(data)} bytes to {out}.")
