"""A bounded shutdown (dockyard/jobs/shutdown.py): work that stops when asked ends cleanly, and
work that does not is logged with where it was stuck and left behind, so the process exits."""

from __future__ import annotations

import asyncio
import logging
import signal
import subprocess
import sys
import time

import pytest

from dockyard.jobs.shutdown import bounded, stop_task

pytestmark = pytest.mark.anyio


async def test_a_task_that_stops_when_asked_is_not_cancelled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stopping, ended = asyncio.Event(), []

    async def worker() -> None:
        await stopping.wait()
        await asyncio.sleep(0.05)  # the work at hand, finished after the request to stop
        ended.append("cleanly")

    task = asyncio.create_task(worker())
    await asyncio.sleep(0)
    await stop_task(task, "the worker", stopping.set, grace=2)

    assert ended == ["cleanly"]
    assert not task.cancelled()
    assert "shutdown" not in caplog.text


async def test_a_task_that_ignores_stop_is_cancelled_after_the_grace(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def deaf() -> None:
        await asyncio.sleep(3600)

    task = asyncio.create_task(deaf())
    await asyncio.sleep(0)
    started = time.monotonic()
    await stop_task(task, "the deaf one", lambda: None, grace=0.2)

    assert task.cancelled()
    assert 0.2 <= time.monotonic() - started < 1.5
    assert "did not stop" not in caplog.text


async def test_a_task_that_survives_cancellation_is_logged_with_its_stack_and_left(
    caplog: pytest.LogCaptureFixture,
) -> None:
    release = asyncio.Event()

    async def stuck_in_a_lock() -> None:
        while not release.is_set():
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                continue  # what a broken library does; shutdown must not wait forever

    task = asyncio.create_task(stuck_in_a_lock())
    await asyncio.sleep(0)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, "dockyard.jobs.shutdown"):
        await stop_task(task, "the stuck one", lambda: None, grace=0.2)

    assert time.monotonic() - started < 1.5
    assert "the stuck one did not stop within" in caplog.text
    assert "stuck_in_a_lock" in caplog.text, "the log must say where the task was stuck"
    release.set()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_a_step_that_hangs_is_given_up_and_a_failing_step_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def close_a_dead_connection() -> None:
        await asyncio.sleep(3600)

    async def fail() -> None:
        raise OSError("connection reset")

    started = time.monotonic()
    with caplog.at_level(logging.WARNING, "dockyard.jobs.shutdown"):
        await bounded(close_a_dead_connection(), "closing the store", grace=0.2)
        await bounded(fail(), "closing the storage", grace=0.2)

    assert time.monotonic() - started < 1.5
    assert "closing the store did not finish within" in caplog.text
    assert "close_a_dead_connection" in caplog.text
    assert "closing the storage failed" in caplog.text and "connection reset" in caplog.text


def test_sigusr1_writes_every_thread_stack_and_the_process_goes_on() -> None:
    script = (
        "import time\n"
        "from dockyard.jobs.shutdown import dump_stacks_on_sigusr1\n"
        "dump_stacks_on_sigusr1()\n"
        "print('ready', flush=True)\n"
        "def waiting_here():\n"
        "    time.sleep(2)\n"
        "waiting_here()\n"
        "print('still alive', flush=True)\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    assert process.stdout.readline() == "ready\n"
    time.sleep(0.3)
    process.send_signal(signal.SIGUSR1)
    out, err = process.communicate(timeout=10)

    assert process.returncode == 0
    assert "still alive" in out
    assert "waiting_here" in err and "Current thread" in err
