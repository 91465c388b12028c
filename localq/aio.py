"""`async def` tasks: each worker thread runs its coroutines on an event loop of its own.

The loop lives as long as its thread, so loop-bound clients (an aiohttp session, a
connection pool) can be reused by the thread's next jobs. A running coroutine is stopped
(time limit, revoke, a worker's shutdown) by asyncio's cancellation: it sees
CancelledError at its next await, its finally blocks run, and the job ends with the
stopping reason (TimeLimitExceeded, Revoked, ...). Raising into the thread instead, as
for plain tasks (watchdog.py), would wait for the thread's select() to return, which for
a coroutine awaiting I/O can be never. A soft_time_limit cannot be delivered this way
(the coroutine would see CancelledError, not SoftTimeLimitExceeded), so async tasks
refuse it when declared.
"""
import asyncio
import threading

from . import watchdog

_local = threading.local()


def thread_loop():
    """This thread's event loop, made on first use."""
    loop = getattr(_local, 'loop', None)
    if loop is None or loop.is_closed():
        loop = _local.loop = asyncio.new_event_loop()
    return loop


def close_thread_loop():
    """Close this thread's loop (a Huey shutdown hook: the worker thread is ending)."""
    loop = getattr(_local, 'loop', None)
    if loop is not None and not loop.is_closed():
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
    _local.loop = None


def run_once(coro):
    """Run a coroutine on a loop of its own, closed after (task.apply(): a call, not a worker)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    coro.close()
    raise RuntimeError('an async task was applied inside a running event loop: await its function, '
                       'or queue it with delay()')


class _Running:
    """The coroutine a thread runs now, and why it was stopped (if it was)."""

    def __init__(self, loop, task):
        self.loop, self.task, self.reason = loop, task, None

    def interrupt(self, exc_class):
        def cancel():
            if self.reason is None:
                self.reason = exc_class
            self.task.cancel()
        self.loop.call_soon_threadsafe(cancel)
        return True


def run_coroutine(coro):
    """Run a task's coroutine to its end on this thread's loop; return its value or raise its error."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        coro.close()
        raise RuntimeError('an async task was called inside a running event loop: await its function, '
                           'or queue it with delay()')
    loop = thread_loop()
    task = loop.create_task(coro)
    running = _Running(loop, task)
    thread_id = threading.get_ident()
    watchdog.interrupters[thread_id] = running.interrupt
    try:
        value = loop.run_until_complete(task)
    except asyncio.CancelledError:
        if running.reason is not None:
            raise running.reason('stopped at an await (%s)' % running.reason.__name__) from None
        raise
    except BaseException:
        # A signal (a process worker's SIGALRM) stopped the loop itself: cancel the
        # coroutine and give it a moment to clean up, else leave the loop behind.
        if not task.done():
            task.cancel()
            try:
                loop.run_until_complete(asyncio.wait({task}, timeout=1.0))
            except BaseException:
                pass
            if not task.done():
                _local.loop = None
        raise
    finally:
        watchdog.interrupters.pop(thread_id, None)
    if running.reason is not None:   # the coroutine swallowed its cancellation
        raise running.reason('stopped at an await (%s)' % running.reason.__name__)
    return value
