"""Builds RPM header blobs and an `rpmdb.sqlite` the way rpm ≥ 4.16 writes them.

Header blob layout (https://rpm-software-management.github.io/rpm/manual/format_header.html,
rpm's lib/header.c `headerExport`), all integers big-endian:

    il, dl                      uint32 each: index entry count, data store size
    il entries of 16 bytes      tag int32, type uint32, offset int32, count uint32
    data store                  dl bytes; strings NUL-terminated, INT32 aligned to 4

rpm starts each header with a region tag (HEADER_IMMUTABLE, 63, type BIN) whose data is a
trailer entry; it is included here so the parser meets the same first entry as in a real db.
The database: `CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT
NULL)` (rpm's lib/backend/sqlite.c), one row per installed package.
"""

from __future__ import annotations

import sqlite3
import struct
from contextlib import closing
from pathlib import Path

HEADER_IMMUTABLE = 63
BIN = 7
INT32 = 4
STRING = 6
I18NSTRING = 9

NAME, VERSION, RELEASE, EPOCH, SUMMARY, LICENSE, ARCH, SOURCERPM = (
    1000, 1001, 1002, 1003, 1004, 1014, 1022, 1044,
)  # fmt: skip


def header_blob(tags: dict[int, str | int]) -> bytes:
    entries: list[tuple[int, int, int, int]] = []
    store = bytearray()
    for tag, value in sorted(tags.items()):
        if isinstance(value, int):
            store += b"\0" * (-len(store) % 4)
            entries.append((tag, INT32, len(store), 1))
            store += struct.pack(">i", value)
        else:
            kind = I18NSTRING if tag == SUMMARY else STRING
            entries.append((tag, kind, len(store), 1))
            store += value.encode() + b"\0"
    # The region trailer: an entry pointing back over the whole index (negative offset).
    trailer_offset = len(store)
    il = len(entries) + 1
    store += struct.pack(">iIiI", HEADER_IMMUTABLE, BIN, -(il * 16), 16)
    entries.insert(0, (HEADER_IMMUTABLE, BIN, trailer_offset, 16))
    index = b"".join(struct.pack(">iIiI", *entry) for entry in entries)
    return struct.pack(">II", il, len(store)) + index + bytes(store)


def package(name: str, version: str, release: str, **extra: str | int) -> dict[int, str | int]:
    tags: dict[int, str | int] = {NAME: name, VERSION: version, RELEASE: release}
    tags[SUMMARY] = f"{name} summary"
    names = {"epoch": EPOCH, "arch": ARCH, "sourcerpm": SOURCERPM, "license": LICENSE}
    for key, value in extra.items():
        tags[names[key]] = value
    return tags


def rpmdb(path: Path, packages: list[dict[int, str | int]]) -> bytes:
    with closing(sqlite3.connect(path)) as db:
        db.execute(
            "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)"
        )
        db.executemany(
            "INSERT INTO Packages (blob) VALUES (?)", [(header_blob(p),) for p in packages]
        )
        db.commit()
    return path.read_bytes()
