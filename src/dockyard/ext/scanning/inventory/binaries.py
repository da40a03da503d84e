"""Executable ELF files: Go build info (read in flight) and Rust's `cargo auditable` section
(from a temporary copy, since ELF section headers come last).

A Go binary announces itself early: the Go linker puts its build-ID note (owner "Go") in the
first page. Such a binary is never copied; every other executable is copied while it streams,
up to `rust.MAX_SIZE`, because nothing in its first bytes says whether `.dep-v0` is there.
Shared libraries are not copied: `cargo auditable` marks executables.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import IO

from dockyard.ext.scanning.inventory import golang, rust
from dockyard.ext.scanning.inventory.findings import Finding, Member, Readable

ELF_MAGIC = b"\x7fELF"
_HEAD = 4096
_CHUNK = 1024 * 1024
_EXECUTABLE_TYPES = (2, 3)  # ET_EXEC, ET_DYN (position-independent executables)
# An ELF note: namesz 4, descsz, type 4 (NT_GO_BUILDID), name "Go\0\0" (either byte order).
_GO_NOTE = re.compile(
    rb"\x04\x00\x00\x00.{4}\x04\x00\x00\x00Go\x00\x00|\x00\x00\x00\x04.{4}\x00\x00\x00\x04Go\x00\x00",
    re.DOTALL,
)
# The section's name, as .shstrtab spells it: a cheap test before pyelftools reads the headers.
_SECTION_NAME = rust.SECTION.encode() + b"\0"
_SHARED_LIBRARY = re.compile(r"\.so(?:\.[\w.]*)?$")


def wanted(member: Member) -> bool:
    return bool(member.mode & 0o111) and member.size > 64


def scan(stream: Readable, member: Member) -> Finding | None:
    head = stream.read(_HEAD)
    if not head.startswith(ELF_MAGIC) or _elf_type(head) not in _EXECUTABLE_TYPES:
        return None
    go = golang.BuildInfoScanner()
    if not _maybe_rust(member, head):
        _feed(head, stream, go, None)
        return None if go.result is None else golang.packages(go.result, member)
    with tempfile.NamedTemporaryFile(prefix="elf-") as spool:
        named = _Seen(_SECTION_NAME)
        _feed(head, stream, go, (spool, named))
        if go.result is not None:
            return golang.packages(go.result, member)
        if not named.found:
            return None  # parsing every executable's section headers would cost more than this
        spool.flush()
        return rust.parse(member, Path(spool.name))


def _feed(
    head: bytes,
    stream: Readable,
    go: golang.BuildInfoScanner,
    rust_candidate: tuple[IO[bytes], _Seen] | None,
) -> None:
    """Stream the binary past the Go scanner (and into the spool), until the end or until the
    Go build info is found: then the rest holds nothing more for us."""
    chunk = head
    while chunk and not go.done:
        go.feed(chunk)
        if rust_candidate is not None and not go.done:
            spool, named = rust_candidate
            spool.write(chunk)
            named.feed(chunk)
        chunk = stream.read(_CHUNK)


class _Seen:
    """Whether `needle` occurs in a stream fed chunk by chunk (across chunk boundaries too)."""

    def __init__(self, needle: bytes) -> None:
        self._needle = needle
        self._tail = b""
        self.found = False

    def feed(self, chunk: bytes) -> None:
        if self.found:
            return
        reach = len(self._needle) - 1
        self.found = self._needle in self._tail + chunk[:reach] or self._needle in chunk
        self._tail = chunk[-reach:]


def _elf_type(head: bytes) -> int:
    if len(head) < 18:
        return 0
    order = "little" if head[5] == 1 else "big"  # EI_DATA
    return int.from_bytes(head[16:18], order)


def _maybe_rust(member: Member, head: bytes) -> bool:
    return (
        member.size <= rust.MAX_SIZE
        and _GO_NOTE.search(head) is None
        and _SHARED_LIBRARY.search(member.path) is None
    )
