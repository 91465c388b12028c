"""Watchdog: time limits and revocation for tasks running in worker threads.

Why this exists: Huey enforces a task timeout only in process and greenlet
workers (SIGALRM, gevent.Timeout); its default thread workers have none. The
watchdog raises an exception inside the worker thread when a deadline
passes (PyThreadState_SetAsyncExc). Python delivers it at the thread's next
bytecode, so a runaway loop stops at once; a thread blocked in one long C
call (a socket read without timeout) is stopped when that call returns.
"""
import contextlib
import ctypes
import heapq
import itertools
import os
import threading
import time

from huey.exceptions import TaskTimeout


class SoftTimeLimitExceeded(Exception):
    """Raised inside a task when its soft_time_limit passes: time to clean up."""


class TimeLimitExceeded(TaskTimeout):
    """Raised inside a task when its time_limit passes: the attempt fails."""


def raise_in_thread(thread_id, exc_class):
    """Ask Python to raise exc_class in another thread; True if the thread exists."""
    return ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exc_class)) == 1


# thread id -> how to stop what that thread runs, when it is not plain Python code
# (an async task's coroutine: aio.py cancels it on its event loop).
interrupters = {}


def interrupt(thread_id, exc_class):
    """Stop what a worker thread runs with exc_class (a time limit, a revoke, a shutdown)."""
    stop = interrupters.get(thread_id)
    return stop(exc_class) if stop is not None else raise_in_thread(thread_id, exc_class)


class Watchdog:
    def __init__(self):
        self._cond = threading.Condition()
        self._heap = []
        self._live = {}               # handle -> (thread id, exc class)
        self._counter = itertools.count()
        self._pid = None
        self.running = {}             # job id -> thread id, for revoking a running job

    def _ensure_thread(self):
        # A forked worker process inherits no threads: start one per process.
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._heap, self._live, self.running = [], {}, {}  # the parent's threads are not here
            threading.Thread(target=self._run, name='localq-watchdog', daemon=True).start()

    @contextlib.contextmanager
    def limit(self, seconds, exc_class=SoftTimeLimitExceeded):
        """Raise exc_class in this thread if the block is still running after `seconds`."""
        if not seconds:
            yield
            return
        handle = next(self._counter)
        with self._cond:
            self._ensure_thread()
            self._live[handle] = (threading.get_ident(), exc_class)
            heapq.heappush(self._heap, (time.monotonic() + seconds, handle))
            self._cond.notify()
        try:
            yield
        finally:
            with self._cond:
                self._live.pop(handle, None)

    def hard_limit(self, seconds):
        """Huey's timeout handler signature, for TimeLimitExceeded."""
        return self.limit(seconds, TimeLimitExceeded)

    def _run(self):
        with self._cond:
            while True:
                while self._heap and self._heap[0][1] not in self._live:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                deadline, handle = self._heap[0]
                now = time.monotonic()
                if deadline > now:
                    self._cond.wait(deadline - now)
                    continue
                heapq.heappop(self._heap)
                thread_id, exc_class = self._live.pop(handle)
                interrupt(thread_id, exc_class)
