"""The RPM header blob, as rpm stores one per installed package in its database.

Reference: the RPM header format, https://rpm-software-management.github.io/rpm/manual/format_header.html
(and rpm's lib/header.c `headerImport`). In a package file a header starts with an 8-byte intro
(magic `8e ad e8 01` and 4 reserved bytes); the database stores the blob *without* that intro:

    il  : uint32 BE        number of index entries
    dl  : uint32 BE        size of the data store
    il * 16-byte entries   tag int32, type uint32, offset int32 (into the data store), count uint32
    dl bytes               the data store

All integers are big-endian. Strings are NUL-terminated at their offset; STRING_ARRAY and
I18NSTRING hold `count` consecutive strings (we keep the first).
"""

from __future__ import annotations

import struct

from dockyard.ext.scanning.inventory.findings import DetectorError

NAME = 1000
VERSION = 1001
RELEASE = 1002
EPOCH = 1003
LICENSE = 1014
ARCH = 1022
SOURCERPM = 1044

INT32 = 4
STRING = 6
STRING_ARRAY = 8
I18NSTRING = 9
_STRINGS = frozenset({STRING, STRING_ARRAY, I18NSTRING})

WANTED = frozenset({NAME, VERSION, RELEASE, EPOCH, LICENSE, ARCH, SOURCERPM})
_MAX_ENTRIES = 1 << 16  # rpm's own limit on index entries (lib/header.c, hdrchkTags)
_ENTRY = struct.Struct(">iIiI")


def parse_header(blob: bytes, wanted: frozenset[int] = WANTED) -> dict[int, str | int]:
    """The wanted tags of one header blob: strings as str, INT32 as int (first element)."""
    if len(blob) < 8:
        raise DetectorError("rpm header shorter than its 8-byte preamble")
    il, dl = struct.unpack_from(">II", blob, 0)
    store = 8 + il * _ENTRY.size
    if il > _MAX_ENTRIES or store + dl > len(blob):
        raise DetectorError(f"rpm header claims {il} entries and {dl} data bytes")
    tags: dict[int, str | int] = {}
    for index in range(il):
        tag, kind, offset, count = _ENTRY.unpack_from(blob, 8 + index * _ENTRY.size)
        if tag not in wanted or count == 0:
            continue
        if not 0 <= offset < dl:
            raise DetectorError(f"rpm header tag {tag} points outside the data store")
        start = store + offset
        if kind in _STRINGS:
            end = blob.find(b"\0", start, store + dl)
            if end < 0:
                raise DetectorError(f"rpm header string for tag {tag} is not terminated")
            tags[tag] = blob[start:end].decode("utf-8", "replace")
        elif kind == INT32 and offset + 4 <= dl:
            tags[tag] = struct.unpack_from(">i", blob, start)[0]
    return tags
