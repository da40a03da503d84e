"""Go binaries: the build information the Go linker embeds (Go 1.18+), found while the binary
streams past, without keeping the binary.

Format (Go's src/debug/buildinfo/buildinfo.go): a 32-byte header aligned to 16 bytes in the
`.go.buildinfo` section — the 14-byte magic `\\xff Go buildinf:`, a pointer-size byte, a flags
byte (bit 0: big-endian, bit 1: strings inline) and padding. With inline strings the header is
followed by two uvarint-length-prefixed strings: the Go version (`go1.21.3`) and the module info,
wrapped in 16 sentinel bytes at each end. The module info is runtime/debug's text form, one
tab-separated line each: `path <main package>`, `mod <path> <version> <sum>`, `dep <path>
<version> <sum>`, `=> <path> <version> <sum>` (replaces the line above) and `build <k>=<v>`.
Binaries from Go < 1.18 store pointers instead of inline strings; those are not read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from packageurl import PackageURL

from dockyard.ext.scanning.inventory.findings import Found, Member
from dockyard.ext.scanning.packages import Ecosystem, Package

MAGIC = b"\xff Go buildinf:"
HEADER_SIZE = 32
_ALIGN = 16
_INLINE = 0x2
_MAX_STRING = 1 << 20  # a modinfo larger than this is not build info
_MAX_CANDIDATE = HEADER_SIZE + 2 * (10 + _MAX_STRING)


class NeedMore(Exception):
    """The candidate is cut off: more bytes of the stream are needed to decide."""


@dataclass(frozen=True, slots=True)
class Module:
    path: str
    version: str


@dataclass(frozen=True, slots=True)
class BuildInfo:
    go_version: str  # as embedded: "go1.21.3"
    path: str = ""  # the main package
    main: Module | None = None
    deps: tuple[Module, ...] = field(default=())


def parse_buildinfo(buf: bytes) -> BuildInfo | None:
    """The build info at the start of `buf` (which starts with MAGIC); None if it is not valid
    build info there (the magic can also occur as plain data); NeedMore if `buf` is too short."""
    if len(buf) < HEADER_SIZE:
        raise NeedMore
    pointer_size, flags = buf[14], buf[15]
    if pointer_size not in (4, 8) or not flags & _INLINE:
        return None
    version, at = _string(buf, HEADER_SIZE)
    modinfo, _ = _string(buf, at)
    if not version.startswith((b"go", b"devel")):
        return None
    # The module info is framed by 16 sentinel bytes at each end (cmd/go/internal/modload).
    framed = len(modinfo) >= 33 and modinfo[-17] == ord("\n")
    modinfo = modinfo[16:-16] if framed else b""
    return parse_modinfo(version.decode("utf-8", "replace"), modinfo.decode("utf-8", "replace"))


def _string(buf: bytes, at: int) -> tuple[bytes, int]:
    length, shift = 0, 0
    while True:
        if at >= len(buf):
            raise NeedMore
        byte = buf[at]
        at += 1
        length |= (byte & 0x7F) << shift
        if byte < 0x80:
            break
        shift += 7
        if shift > 63:
            raise ValueError("uvarint overflows")
    if length > _MAX_STRING:
        raise ValueError("string too long for build info")
    if at + length > len(buf):
        raise NeedMore
    return buf[at : at + length], at + length


def parse_modinfo(go_version: str, text: str) -> BuildInfo:
    path, main = "", None
    deps: list[Module] = []
    for line in text.splitlines():
        kind, _, rest = line.partition("\t")
        fields = rest.split("\t")
        if kind == "path":
            path = rest
        elif kind == "mod":
            main = Module(fields[0], fields[1] if len(fields) > 1 else "")
        elif kind == "dep":
            deps.append(Module(fields[0], fields[1] if len(fields) > 1 else ""))
        elif kind == "=>":
            replacement = Module(fields[0], fields[1] if len(fields) > 1 else "")
            if deps:
                deps[-1] = _replaced(deps[-1], replacement)
            elif main is not None:
                main = _replaced(main, replacement)
    return BuildInfo(go_version=go_version, path=path, main=main, deps=tuple(deps))


def _replaced(original: Module, replacement: Module) -> Module:
    # A replacement by a local directory has no version: the code is the original module's,
    # edited, so keep its path and claim no version.
    if not replacement.version:
        return Module(original.path, "")
    return replacement


class BuildInfoScanner:
    """Fed a binary chunk by chunk; keeps only a small window, plus the candidate build info once
    the magic has been seen at an aligned offset."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._offset = 0  # offset in the binary of self._buf[0]
        self.result: BuildInfo | None = None
        self.done = False

    def feed(self, chunk: bytes) -> None:
        if self.done:
            return
        self._buf += chunk
        while not self.done:
            at = self._aligned_magic()
            if at < 0:
                keep = len(MAGIC) - 1
                self._drop(max(0, len(self._buf) - keep))
                return
            self._drop(at)
            try:
                self.result = parse_buildinfo(bytes(self._buf))
            except NeedMore:
                if len(self._buf) < _MAX_CANDIDATE:
                    return
            except ValueError:
                pass
            if self.result is not None:
                self.done = True
                self._buf = bytearray()
                return
            self._drop(1)  # not build info here: look further

    def _aligned_magic(self) -> int:
        at = self._buf.find(MAGIC)
        while at >= 0 and (self._offset + at) % _ALIGN:
            at = self._buf.find(MAGIC, at + 1)
        return at

    def _drop(self, count: int) -> None:
        del self._buf[:count]
        self._offset += count


def packages(info: BuildInfo, member: Member) -> Found:
    found = [_package("stdlib", _go_version(info.go_version), member)]
    if info.main is not None:
        found.append(_package(info.main.path, info.main.version, member))
    found.extend(_package(dep.path, dep.version, member) for dep in info.deps)
    return Found(tuple(found))


def _go_version(embedded: str) -> str:
    """ "go1.21.3" → "1.21.3" (OSV's versions of the Go package "stdlib"); "go1.22.0 X:boring"
    → "1.22.0"; a development toolchain ("devel go1.23-abc") has no release version."""
    first = embedded.split()[0] if embedded.split() else ""
    return first.removeprefix("go") if first.startswith("go") else ""


def _package(module: str, version: str, member: Member) -> Package:
    # "(devel)" is what the main module of a `go build` from a checkout reports: no version.
    version = "" if version == "(devel)" else version
    namespace, _, name = module.rpartition("/")
    purl = PackageURL(
        type="golang", namespace=namespace or None, name=name, version=version or None
    )
    return Package(
        name=module,
        # OSV's Go ecosystem spells versions without the "v" ("1.2.3"); the purl keeps the
        # module version as Go writes it ("v1.2.3").
        version=version.removeprefix("v"),
        ecosystem=Ecosystem.GO,
        purl=purl.to_string(),
        path=member.path,
        layer=member.layer,
    )
