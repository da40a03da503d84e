"""One layer, read front to back as a tar stream in a worker thread.

`tarfile` runs in stream mode (`r|`): no seeking, each member read (or skipped) as it passes.
A layer that breaks off — a corrupt block, or a tar that ends early, as umoci 0.4.7 can write —
ends the walk with a `LayerProblem`; what was found before the break still counts.

Python's tarfile treats a header it cannot read after the first one as the end of the archive,
silently; the tar info class below remembers why the archive ended, so that a tar missing its
end-of-archive blocks is reported rather than passed as whole.
"""

from __future__ import annotations

import posixpath
import tarfile
from typing import Any

from dockyard.ext.scanning.inventory.decompress import FORMAT_ERRORS, Source, decompressed
from dockyard.ext.scanning.inventory.detect import detect, wanted
from dockyard.ext.scanning.inventory.findings import DetectorError, Member
from dockyard.ext.scanning.inventory.overlay import Overlay
from dockyard.ext.scanning.packages import LayerProblem

_BUFSIZE = 64 * 1024  # what a break in the stream can cost: the undelivered rest of one read
_WHITEOUT = ".wh."
_OPAQUE = ".wh..wh..opq"


def walk_layer(source: Source, layer: str, overlay: Overlay) -> list[LayerProblem]:
    """Apply one layer to `overlay`; the problems met on the way."""
    problems: list[LayerProblem] = []
    ends: list[tarfile.HeaderError] = []
    overlay.begin_layer()
    try:
        stream: Any = decompressed(source)  # tarfile's stubs want IO[bytes]; it only reads
        with tarfile.open(
            fileobj=stream, mode="r|", bufsize=_BUFSIZE, tarinfo=_recording(ends)
        ) as tar:
            while (info := tar.next()) is not None:
                tar.members.clear()  # stream mode would otherwise keep every header of the layer
                problem = _member(tar, info, layer, overlay)
                if problem is not None:
                    problems.append(problem)
        if ends and not isinstance(ends[-1], tarfile.EOFHeaderError):
            problems.append(LayerProblem(layer, f"tar archive ends early: {_why(ends[-1])}"))
    except FORMAT_ERRORS as exc:
        problems.append(LayerProblem(layer, f"layer archive unreadable: {_why(exc)}"))
    finally:
        overlay.end_layer()
    return problems


def _member(
    tar: tarfile.TarFile, info: tarfile.TarInfo, layer: str, overlay: Overlay
) -> LayerProblem | None:
    path = normalise(info.name)
    if not path:
        return None  # the root directory itself
    parent, name = posixpath.split(path)
    if name == _OPAQUE:
        overlay.opaque(parent)
    elif name.startswith(_WHITEOUT):
        # `.wh..wh.*` other than the opaque marker are aufs bookkeeping, not deletions.
        if not name.startswith(_WHITEOUT * 2):
            overlay.whiteout(posixpath.join(parent, name[len(_WHITEOUT) :]))
    elif info.isdir():
        overlay.replace_with_directory(path)
    else:
        overlay.replace(path)
        member = Member(path=path, layer=layer, size=info.size, mode=info.mode)
        if info.isreg() and wanted(member):
            try:
                finding = detect(lambda: _open(tar, info), member)
            except DetectorError as exc:
                return LayerProblem(layer, f"{path}: {exc}")
            if finding is not None:
                overlay.add(path, finding)
    return None


def normalise(name: str) -> str:
    """`./usr//bin/` → `usr/bin`; `..` cannot climb above the root."""
    return posixpath.normpath("/" + name).lstrip("/")


def _open(tar: tarfile.TarFile, info: tarfile.TarInfo) -> Any:
    stream = tar.extractfile(info)
    if stream is None:  # only for non-regular members, which are never opened
        raise DetectorError("not a regular file")
    return stream


def _recording(ends: list[tarfile.HeaderError]) -> type[tarfile.TarInfo]:
    class Recording(tarfile.TarInfo):
        @classmethod
        def fromtarfile(cls, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
            try:
                return super().fromtarfile(tarfile_)
            except tarfile.HeaderError as exc:
                ends.append(exc)
                raise

    return Recording


def _why(exc: BaseException) -> str:
    if isinstance(exc, tarfile.EmptyHeaderError):
        return "no end-of-archive marker"
    return str(exc) or type(exc).__name__
