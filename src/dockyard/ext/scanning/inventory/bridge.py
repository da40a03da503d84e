"""An async byte stream read as a blocking file object by a worker thread.

`tarfile`, `gzip` and `zstandard` are blocking readers, and a layer can be gigabytes: the layer's
async iterator is pumped into a bounded in-memory channel on the event loop, and the worker
thread pulls from it. At most `buffered` chunks wait in between, so a slow reader holds the
download back instead of buffering the layer.
"""

from __future__ import annotations

import inspect
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import anyio
import anyio.from_thread
import anyio.to_thread
from anyio.streams.memory import MemoryObjectReceiveStream

T = TypeVar("T")
_BATCH = 1024 * 1024  # bytes taken per hop back to the event loop, when that many are waiting


class SourceFailed(Exception):
    """Reading the layer's bytes failed (storage, network): not a property of the layer, so it
    is raised to the caller instead of becoming a `LayerProblem`."""


class ChunkReader:
    """A read-only, non-seekable binary file over chunks pulled by `pull` (None at the end)."""

    def __init__(self, pull: Callable[[], list[bytes] | None]) -> None:
        self._pull = pull
        self._chunks: deque[memoryview] = deque()
        self._eof = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            return b"".join(iter(lambda: self.read(_BATCH), b""))
        if not self._fill():
            return b""
        head = self._chunks[0]
        taken, rest = head[:size], head[size:]
        if rest:
            self._chunks[0] = rest
        else:
            self._chunks.popleft()
        return taken.tobytes()

    def peek(self, size: int) -> bytes:
        """Up to `size` bytes from the front without consuming them (fewer only at the end)."""
        while sum(map(len, self._chunks)) < size and self._more():
            pass
        return b"".join(bytes(chunk) for chunk in self._chunks)[:size]

    def _fill(self) -> bool:
        while not self._chunks:
            if not self._more():
                return False
        return True

    def _more(self) -> bool:
        if self._eof:
            return False
        chunks = self._pull()
        if chunks is None:
            self._eof = True
            return False
        self._chunks.extend(memoryview(chunk) for chunk in chunks if chunk)
        return True


ByteStream = AsyncIterator[bytes]
OpenStream = Callable[[], ByteStream | Awaitable[ByteStream]]


async def run_on_stream(
    open_stream: OpenStream,
    work: Callable[[ChunkReader], T],
    buffered: int = 8,
) -> T:
    """Run `work(reader)` in a worker thread while the stream is pumped into `reader`."""
    send, receive = anyio.create_memory_object_stream[bytes](buffered)
    failures: list[Exception] = []

    async def pump() -> None:
        async with send:
            try:
                opened = open_stream()
                # A storage driver's `read` is a coroutine that returns the iterator, so that
                # a missing blob fails before iteration: accept both shapes.
                stream = await opened if inspect.isawaitable(opened) else opened
            except Exception as exc:
                failures.append(exc)
                return
            try:
                async for chunk in stream:
                    await send.send(chunk)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                pass  # the worker stopped reading (end of the tar, or a broken layer)
            except Exception as exc:
                failures.append(exc)
            finally:
                aclose = getattr(stream, "aclose", None)
                if aclose is not None:
                    with anyio.CancelScope(shield=True):  # release the storage's file/connection
                        await aclose()

    def pull() -> list[bytes] | None:
        chunks = anyio.from_thread.run(_take, receive)
        if chunks is None and failures:
            raise SourceFailed(str(failures[0])) from failures[0]
        return chunks

    outcome: list[T] = []
    errors: list[Exception] = []
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(pump)
        try:
            outcome.append(await anyio.to_thread.run_sync(work, ChunkReader(pull)))
        except Exception as exc:
            errors.append(exc)  # raised below: the task group would wrap it in a group
        finally:
            receive.close()  # unblocks the pump if the worker stopped before the end
            tasks.cancel_scope.cancel()
    if errors:
        raise failures[0] if isinstance(errors[0], SourceFailed) else errors[0]
    return outcome[0]


async def _take(receive: MemoryObjectReceiveStream[bytes]) -> list[bytes] | None:
    """One chunk (waiting for it), plus whatever else is already buffered, up to _BATCH bytes:
    fewer hops between the worker thread and the event loop when the source is ahead."""
    try:
        chunks = [await receive.receive()]
    except anyio.EndOfStream:
        return None
    size = len(chunks[0])
    while size < _BATCH:
        try:
            chunks.append(receive.receive_nowait())
        except (anyio.WouldBlock, anyio.EndOfStream):
            break
        size += len(chunks[-1])
    return chunks
