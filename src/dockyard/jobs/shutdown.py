"""A bounded shutdown: every step gets a grace period, and a step that overruns it is logged
(with where it was stuck) and left behind instead of keeping the process alive.

The server's own kill timeout would end a stuck worker anyway, but silently and without saying
why; and work a stopping process leaves unfinished is safe to abandon, because every
background job holds a lease that another process takes over once it expires.
"""

from __future__ import annotations

import asyncio
import faulthandler
import io
import logging
import signal
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

STEP_GRACE_SECONDS = 2.0  # each step takes milliseconds when nothing is wrong


def dump_stacks_on_sigusr1() -> None:
    """`kill -USR1 <pid>` writes every thread's Python stack to stderr: how to see where a
    process that does not stop is stuck, without stopping it."""
    faulthandler.register(signal.SIGUSR1, all_threads=True)


def _where(task: asyncio.Task[object]) -> str:
    out = io.StringIO()
    task.print_stack(file=out)
    return out.getvalue()


async def stop_task(
    task: asyncio.Task[object],
    name: str,
    stop: Callable[[], None],
    grace: float = STEP_GRACE_SECONDS,
) -> None:
    """Ask `task` to end (`stop`) and give it `grace` seconds to finish the work at hand; then
    cancel it and give it `grace` more. Log how it ended."""
    stop()
    done, _ = await asyncio.wait({task}, timeout=grace)
    if not done:
        task.cancel()
    await _settle(task, f"{name} did not stop within {grace:.0f} s of cancellation", name, grace)


async def bounded(step: Awaitable[object], name: str, grace: float = STEP_GRACE_SECONDS) -> None:
    """Await one shutdown step for at most `grace` seconds; a failure or overrun is logged and
    the shutdown goes on, so the store and storage still get closed."""
    task = asyncio.ensure_future(step)
    await _settle(task, f"{name} did not finish within {grace:.0f} s", name, grace)
    task.cancel()  # a no-op when it finished


async def _settle(task: asyncio.Future[object], overrun: str, name: str, grace: float) -> None:
    """Wait up to `grace` for `task`; log an overrun (with where it was) or its failure."""
    done, _ = await asyncio.wait({task}, timeout=grace)
    if not done:
        where = _where(task) if isinstance(task, asyncio.Task) else "(not a task)"
        log.warning("shutdown: %s; going on without it. It was at:\n%s", overrun, where)
    elif not task.cancelled() and task.exception() is not None:
        log.error("shutdown: %s failed", name, exc_info=task.exception())
