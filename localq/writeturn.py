"""Taking turns at SQLite's write lock: localq's writers queue here, not in SQLite's busy handler.

Why this exists: a connection that finds SQLite's write lock taken sleeps in SQLite's busy
handler on a fixed schedule (1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100 ms) and is not woken
when the lock frees. In a soak at 250 jobs/s the slowest pickups of no-op jobs sat on the sums of
that schedule (8, 18, 33, 53, 78, 103, 128, 178 ms) while most worker threads were idle: a write
that met the lock seven times in a row had slept 78 ms, whatever the lock's holder took.

So every write transaction (db.write_transaction, Query.write) first takes its turn here: a
lock among the threads of its process, then an flock on a file beside the database
(`<db>-writers`) among processes. Both are tried at once, then every 0.1 ms, the spacing growing
to at most 1 ms. SQLite's own lock is then nearly always free when BEGIN IMMEDIATE asks for it.
Its busy handler stays for the writers that take no turn (the sqlite3 shell, another program).

Why tries 0.1-1 ms apart among threads too, rather than a lock that hands itself to the next
waiting thread: a thread woken at every commit (and the GIL moving with it) made 4 worker threads
draining a backlog of no-op jobs 30-45% slower (bench/bench_core.py, four ways of waking tried),
where tries leave one thread doing most of the work while the others sleep, and run 1.05x as
fast as without turns. Waking at once does win in a mixed soak (pickup p50 0.45 against 0.8 ms);
the drain decided.

Why not a blocking flock: it cannot time out. A localq process stopped inside a transaction (a
debugger, SIGSTOP) would hang every writer, where SQLite's lock says "database is locked" after
busy_timeout. Here a writer that waits busy_timeout for its turn gets that same error.
"""
import os
import threading
import time

import peewee

try:
    import fcntl
except ImportError:   # Windows: no flock; writers wait in SQLite's busy handler there, as before
    fcntl = None

FIRST_TRY_AGAIN = 0.0001   # seconds before the second try at another process's flock
TRY_AGAIN_AT_MOST = 0.001  # the tries' spacing grows to this, and stays
NO_FILE = -1               # the lock file cannot be opened: the threads' lock only


class WriteTurn:
    """The turn at writing one SQLite file, for this process's threads and its other processes."""

    def __init__(self, path, timeout):
        self.path = path + '-writers'
        self.timeout = timeout
        self._after_fork()

    def _after_fork(self):
        """A new process (or a forked child) starts with no turn: its parent's thread may have held
        the lock at the fork, and the parent's open file is not the child's to lock."""
        if getattr(self, '_fd', None) not in (None, NO_FILE):
            os.close(self._fd)   # the parent's open file: its lock stays the parent's
        self._threads = threading.RLock()
        self._fd = None
        self._depth = 0   # changed only by the thread that holds self._threads

    def __enter__(self):
        deadline = time.monotonic() + self.timeout
        self._take_threads(deadline)
        if self._depth == 0:
            try:
                self._take_file(deadline)
            except BaseException:
                self._threads.release()
                raise
        self._depth += 1
        return self

    def __exit__(self, *exc):
        self._depth -= 1
        if self._depth == 0 and self._fd != NO_FILE:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._threads.release()
        return False

    def _take_threads(self, deadline):
        pause = FIRST_TRY_AGAIN
        while not self._threads.acquire(blocking=False):
            if time.monotonic() >= deadline:
                raise self._locked()
            time.sleep(pause)
            pause = min(pause * 2, TRY_AGAIN_AT_MOST)

    def _take_file(self, deadline):
        if self._fd is None:
            try:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError:   # a read-only folder: writes fail there anyway, with SQLite's own error
                self._fd = NO_FILE
        if self._fd == NO_FILE:
            return
        pause = FIRST_TRY_AGAIN
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise self._locked() from None
            time.sleep(pause)
            pause = min(pause * 2, TRY_AGAIN_AT_MOST)

    def _locked(self):
        # The words of SQLite's own error, so that callers (db.is_locked) treat both alike.
        return peewee.OperationalError('database is locked: another localq writer held its turn for %.0f s'
                                       % self.timeout)


_turns = {}          # the database's name as given -> its WriteTurn (one per file and process)
_turns_lock = threading.Lock()


def turn_for(db):
    """The WriteTurn of a Peewee SqliteDatabase's file (None for an in-memory database, or where
    there is no flock)."""
    name = db.database
    if fcntl is None or not name or name == ':memory:' or name.startswith('file:'):
        return None
    turn = _turns.get(name)
    if turn is None:
        with _turns_lock:
            path = os.path.realpath(name)
            turn = next((t for t in _turns.values() if t.path == path + '-writers'), None) or \
                WriteTurn(path, 5.0)
            _turns[name] = turn
    turn.timeout = float(db._timeout or 5.0)   # busy_timeout, as the app is configured now
    return turn


def _in_forked_child():
    """Huey's process workers fork: the child starts with no turn of its parent's (see _after_fork)."""
    global _turns_lock
    _turns_lock = threading.Lock()
    for turn in set(_turns.values()):
        turn._after_fork()


if hasattr(os, 'register_at_fork'):
    os.register_at_fork(after_in_child=_in_forked_child)
