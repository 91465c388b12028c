"""Waking idle workers when a job may be ready: one waiter per process, not a poll per thread.

Why this exists: Huey's consumer polls an empty queue with a growing delay (up to 10 s), and
polling `PRAGMA data_version` every few milliseconds in every worker thread cost an idle worker
6% of a core. Here each process has one `Wakeup`. Idle worker threads sleep on it until
  - this process queued or released a job (`notify()`, called by `LocalQ.wake_workers`), or
  - another process committed to the database:
      SQLite on Linux: the kernel reports a write to the `-wal` file (inotify); the waiter then
        checks `PRAGMA data_version`, which changes once the commit is visible;
      SQLite on macOS and Windows (or `wakeup=watch`): the same, through watchfiles;
      `wakeup=poll` (or no watcher at all): the waiter reads `PRAGMA data_version` every
        `poll_interval`;
      PostgreSQL: a `NOTIFY localq_jobs` arrives on the waiter's LISTEN connection (sent by a
        trigger on the job table whenever a row becomes PENDING or RETRY, see db.py), or
  - the earliest eta of a waiting job comes, or a safety interval passes (worker.py).

The waiter thread starts with the first idle wait in a process (so after a fork, a process
worker starts its own) and stops with the consumer.
"""
import ctypes
import ctypes.util
import logging
import os
import select
import struct
import threading
import time

from .db import is_sqlite
from .outage import Outage

logger = logging.getLogger(__name__)

# inotify(7): the events of a directory watch that mean "a file in it was written or appeared".
IN_MODIFY, IN_MOVED_TO, IN_CREATE = 0x2, 0x80, 0x100
EVENT_HEADER = struct.Struct('iIII')   # wd, mask, cookie, len; then len bytes of name
# After a write to the WAL, how long the commit may take to become visible (data_version).
VISIBLE_WITHIN = 0.1
WATCH_STEP_MS = 5   # watchfiles (where inotify is missing): how often its watcher hands changes over


class Inotify:
    """A directory watch through libc's inotify (Linux), read with select()."""

    def __init__(self, folder):
        libc = ctypes.CDLL(ctypes.util.find_library('c') or None, use_errno=True)
        self.fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), 'inotify_init1 failed')
        if libc.inotify_add_watch(self.fd, os.fsencode(folder), IN_MODIFY | IN_CREATE | IN_MOVED_TO) < 0:
            errno = ctypes.get_errno()
            os.close(self.fd)
            raise OSError(errno, 'inotify_add_watch failed on %s' % folder)

    def names(self):
        """Names of the files the pending events are about (empty when none is pending)."""
        names = set()
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return names
            offset = 0
            while offset < len(data):
                _, _, _, length = EVENT_HEADER.unpack_from(data, offset)
                start = offset + EVENT_HEADER.size
                names.add(data[start:start + length].rstrip(b'\0').decode(errors='replace'))
                offset = start + length

    def close(self):
        os.close(self.fd)


class Wakeup:
    """What a process's idle worker threads wait on; see the module docstring."""

    def __init__(self, app):
        self.app = app
        self.method = None        # 'inotify', 'poll' or 'listen', once a waiter runs
        self._pid = None
        self._own_process()

    def _own_process(self):
        """State of this process: a forked process worker starts afresh (its parent's lock may
        have been held at the fork, and its parent's waiter thread does not run here)."""
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._cond = threading.Condition()
            self._generation = 0
            self._thread = self._thread_stop = None

    # -- the worker threads' side --------------------------------------------
    @property
    def generation(self):
        """Take this before reading the queue, then wait(seen=...) with it: a change in between
        is not missed."""
        self._own_process()
        return self._generation

    def notify(self):
        self._own_process()
        with self._cond:
            self._generation += 1
            self._cond.notify_all()

    def wait(self, seen, timeout):
        """Sleep until something may have changed since generation `seen`, or timeout seconds."""
        self._own_process()
        with self._cond:
            if self._thread is None:
                self._thread_stop = threading.Event()
                self._thread = threading.Thread(target=self._run, args=(self._thread_stop,),
                                                name='localq-wakeup', daemon=True)
                self._thread.start()
            return self._cond.wait_for(lambda: self._generation != seen, max(0.0, timeout))

    def stop(self, timeout=5.0):
        """Stop this process's waiter (the consumer stopping) and wake everyone who waits; the
        next idle wait starts a new one."""
        self._own_process()
        with self._cond:
            thread, stop, self._thread = self._thread, self._thread_stop, None
        if thread is not None:
            stop.set()
            if thread is not threading.current_thread():
                thread.join(timeout)
                if thread.is_alive():
                    logger.warning('the wake-up thread did not stop within %.0f s', timeout)
        self.notify()

    # -- the waiter thread -----------------------------------------------------
    def _run(self, stop):
        storage = self.app.query
        outage = Outage('wake-up thread of worker', self.app.config.data_dir)
        try:
            while not stop.is_set():
                try:
                    if not is_sqlite(storage.database):
                        self.method = 'listen'
                        self._listen(storage, outage, stop)
                    elif self.app.config.wakeup == 'auto' and self._watch_wal(storage, outage, stop):
                        pass   # returns False where inotify is not available
                    elif self.app.config.wakeup != 'poll' and self._watch_files(storage, outage, stop):
                        pass   # macOS, Windows (or wakeup=watch): watchfiles
                    else:
                        self.method = 'poll'
                        self._poll(storage, outage, stop)
                except Exception as exc:
                    outage.failed(exc)
                    try:
                        storage.close()
                    except Exception:
                        storage.database._state.reset()   # the connection is gone; forget it
                    self.notify()   # workers check for themselves meanwhile (their safety interval)
                    stop.wait(outage.pause())
        finally:
            storage.close()   # this thread's connection

    def _data_version(self, storage):
        return storage.sql('PRAGMA data_version').fetchone()[0]

    def _poll(self, storage, outage, stop):
        version = self._data_version(storage)
        outage.over()
        self.notify()   # anything committed before the first read
        while not stop.wait(self.app.config.poll_interval):
            now = self._data_version(storage)
            if now != version:
                version = now
                self.notify()

    def _watch_wal(self, storage, outage, stop):
        path = os.path.abspath(storage.database.database)
        folder, wal = os.path.dirname(path), os.path.basename(path) + '-wal'
        try:
            watch = Inotify(folder)
        except (OSError, AttributeError) as exc:   # not Linux, or out of watches
            logger.info('no inotify on %s (%s); trying watchfiles', folder, exc)
            return False
        self.method = 'inotify'
        try:
            version = self._data_version(storage)
            outage.over()
            self.notify()   # anything committed before the watch began
            while not stop.is_set():
                if select.select([watch.fd], [], [], 1.0)[0] and wal in watch.names():
                    version = self._after_wal_write(storage, version)
            return True
        finally:
            watch.close()

    def _after_wal_write(self, storage, version):
        """The write to the WAL comes just before the commit is visible: wait (briefly, with short
        pauses) for data_version to move, then wake the workers. A write that was no commit (a
        large transaction spilling) moves nothing, and wakes no one. Returns the version seen."""
        give_up = time.monotonic() + VISIBLE_WITHIN
        while self._data_version(storage) == version and time.monotonic() < give_up:
            time.sleep(0.001)
        now = self._data_version(storage)
        if now != version:
            self.notify()
        return now

    def _watch_files(self, storage, outage, stop):
        """The WAL watched through watchfiles (FSEvents on macOS, ReadDirectoryChangesW on Windows,
        inotify on Linux), where the libc inotify above is missing. Its watcher hands changes over
        every WATCH_STEP_MS at best, so a wake-up comes 5-10 ms after a commit instead of ~1 ms with
        inotify direct (bench/bench_idle.py, wakeup=watch beside auto): on Linux inotify stays."""
        try:
            import watchfiles
        except ImportError:
            return False
        path = os.path.realpath(storage.database.database)
        wal = path + '-wal'
        self.method = 'watch'
        version = self._data_version(storage)
        outage.over()
        self.notify()
        for changes in watchfiles.watch(os.path.dirname(path), watch_filter=lambda change, name: name == wal,
                                        stop_event=stop, debounce=WATCH_STEP_MS, step=WATCH_STEP_MS,
                                        rust_timeout=1000, yield_on_timeout=True, raise_interrupt=False,
                                        recursive=False):
            if changes:
                version = self._after_wal_write(storage, version)
        return True

    def _listen(self, storage, outage, stop):
        conn = storage.database.connection()
        conn.cursor().execute('LISTEN %s' % NOTIFY_CHANNEL)
        outage.over()
        self.notify()   # anything queued while we were not listening
        while not stop.is_set():
            if select.select([conn], [], [], 1.0)[0]:
                conn.poll()
                if conn.notifies:
                    conn.notifies.clear()
                    self.notify()


# PostgreSQL: every path that makes a job ready (an enqueue, a retry's new eta, a release by a
# stopping worker or a rescue, a re-queue, run-now, a workflow member released, a paused queue
# resumed) wakes the LISTENing workers, whoever wrote it: the database sends the NOTIFY.
# pg_notify folds the identical notifications of one transaction into one, sent at commit.
NOTIFY_CHANNEL = 'localq_jobs'
READY_TRIGGERS = (
    ('job_wakes_workers', "AFTER INSERT OR UPDATE OF state, eta ON job FOR EACH ROW "
                          "WHEN (NEW.state IN ('PENDING', 'RETRY'))"),
    ('queue_resume_wakes_workers', 'AFTER DELETE ON queue_pause FOR EACH STATEMENT'),
)
SETUP_LOCK = 0x6c6f6371   # an advisory lock: processes starting together install the triggers once


def create_ready_triggers(db):
    """Install the NOTIFY triggers on a PostgreSQL database, once (a no-op on SQLite)."""
    if is_sqlite(db):
        return
    names = tuple(name for name, _ in READY_TRIGGERS)

    def installed():
        return {n for n, in db.execute_sql('SELECT tgname FROM pg_trigger WHERE tgname IN %s', (names,))}

    if installed() == set(names):
        return
    with db.atomic():
        db.execute_sql('SELECT pg_advisory_xact_lock(%s)', (SETUP_LOCK,))
        db.execute_sql("CREATE OR REPLACE FUNCTION localq_wake_workers() RETURNS trigger AS $$ "
                       "BEGIN PERFORM pg_notify('%s', ''); RETURN NULL; END $$ LANGUAGE plpgsql" % NOTIFY_CHANNEL)
        have = installed()
        for name, when in READY_TRIGGERS:
            if name not in have:
                db.execute_sql('CREATE TRIGGER %s %s EXECUTE PROCEDURE localq_wake_workers()' % (name, when))
