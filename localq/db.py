"""The one Peewee database: SQLite by default (WAL, busy timeout), or PostgreSQL by URL.

Peewee opens one connection per thread and closes it only when that thread asks.
`TrackedConnections` makes sure every connection is closed by its owner's end:
a thread that ends without closing (a producer's own thread, say) has its
connection closed at the next connect in the process, and `close_all()` (the
app's close) closes the rest. Without it they wait for the garbage collector:
a ResourceWarning on Python 3.13 and, on PostgreSQL, a server backend held open.
"""
import contextlib
import os
import threading
import time

import peewee
from playhouse.db_url import parse
from playhouse.shortcuts import ReconnectMixin

from .writeturn import turn_for

class LazyDatabaseProxy(peewee.DatabaseProxy):
    """What models bind to at import. Its first use opens the current app's database (`opener`),
    so a process that only imported the app can read rows at once, whatever it does first."""
    __slots__ = ('obj', '_callbacks', '_Model', 'opener')

    def __init__(self):
        super().__init__()
        self.opener = None

    def __getattr__(self, attr):
        if self.obj is None and self.opener is not None:
            self.opener()
        return super().__getattr__(attr)


# Models bind to this proxy at import; init_db() points it at a real database.
database = LazyDatabaseProxy()


class TrackedConnections:
    """Mixin for a Peewee database: remember each open connection and the thread that owns it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._owners = {}                 # id(conn) -> (conn, owning thread, pid)
        self._owners_lock = threading.Lock()

    def _connect(self):
        self.close_orphans()
        conn = super()._connect()
        with self._owners_lock:
            self._owners[id(conn)] = (conn, threading.current_thread(), os.getpid())
        return conn

    def _close(self, conn):
        with self._owners_lock:
            self._owners.pop(id(conn), None)
        super()._close(conn)

    def _take(self, which):
        with self._owners_lock:
            taken = [(key, conn) for key, (conn, thread, pid) in self._owners.items()
                     if pid == os.getpid() and which(thread)]
            for key, _ in taken:
                del self._owners[key]
        return [conn for _, conn in taken]

    def close_orphans(self):
        """Close the connections of threads that have ended; returns how many."""
        orphans = self._take(lambda thread: not thread.is_alive())
        for conn in orphans:
            super()._close(conn)
        return len(orphans)

    def close_all(self):
        """Close every connection this process opened, in any thread (nothing may be using them)."""
        if self.in_transaction():
            raise peewee.OperationalError('close_all() inside a transaction')
        for conn in self._take(lambda thread: True):
            super()._close(conn)
        self._state.reset()

    def execute_once(self, sql, params=()):
        """execute_sql, never re-sent after a lost connection (see PostgresqlDatabase)."""
        return self.execute_sql(sql, params)

    def open_connections(self):
        """How many connections of this process are open (for tests and /healthcheck)."""
        with self._owners_lock:
            return sum(1 for _, _, pid in self._owners.values() if pid == os.getpid())
    # Connections inherited through fork() stay in the table, untouched: closing
    # the parent's SQLite handle in a child is not safe (SQLite's "how to corrupt").


class SqliteDatabase(TrackedConnections, peewee.SqliteDatabase):
    pass


class PostgresqlDatabase(TrackedConnections, ReconnectMixin, peewee.PostgresqlDatabase):
    """PostgreSQL, surviving a server restart or a network blip: a statement outside a transaction
    that meets a dropped connection reconnects and runs once more (playhouse.shortcuts.
    ReconnectMixin). That is safe: the server rolls back a statement its connection lost, and a
    transaction's statements are never retried (its caller sees the error)."""
    reconnect_errors = (
        (peewee.OperationalError, 'server closed the connection'),
        (peewee.OperationalError, 'terminating connection'),
        (peewee.OperationalError, 'connection already closed'),
        (peewee.InterfaceError, 'connection already closed'),
        (peewee.OperationalError, 'ssl connection has been closed'),
    )

    def execute_once(self, sql, params=()):
        """For a statement that must not run twice (a claim): the reconnect happens at the next
        statement instead (is_closed below), and this one's error reaches the caller."""
        return peewee.PostgresqlDatabase.execute_sql(self, sql, params)

    def is_closed(self):
        """Closed, or broken: a connection the driver has seen die (a server restart,
        pg_terminate_backend, a cut network: psycopg2 then sets `closed`) is dropped here, outside a
        transaction, so this thread's next statement opens a new one.

        Why: ReconnectMixin reconnects only a statement it may run twice. A claim (execute_once)
        and every statement of a transaction may not, so their error reaches the caller, and the
        thread's next statement used to meet the same dead connection: worker threads that
        claim nothing but through execute_once retried on it forever, while the heartbeat, on
        ordinary statements, reconnected and kept their jobs' leases alive (issue #22)."""
        if self._state.closed:
            return True
        conn = self._state.conn
        if conn is not None and conn.closed and not self.in_transaction():
            self._drop_broken(conn)
            return True
        return False

    def _drop_broken(self, conn):
        with self._owners_lock:
            self._owners.pop(id(conn), None)
        try:
            conn.close()
        except Exception:
            pass   # already dead: nothing to close
        self._state.reset()

    def _connect(self):
        """A connection that notices a dead server or a cut network within seconds. Without TCP
        keepalives and a user timeout, a statement sent into a cut network waits for the kernel's
        retransmissions (about 15 minutes) while its worker holds its jobs. The URL's own values win."""
        for name, value in self.CONNECTION_DEFAULTS.items():
            self.connect_params.setdefault(name, value)
        return super()._connect()

    CONNECTION_DEFAULTS = {
        'connect_timeout': 5,           # seconds to open a connection
        'keepalives': 1,
        'keepalives_idle': 5,           # an idle connection is probed after 5 s...
        'keepalives_interval': 2,       # ...every 2 s...
        'keepalives_count': 3,          # ...and given up after 3 unanswered probes
        'tcp_user_timeout': 10000,      # ms a sent statement may go unacknowledged (a cut link)
    }


CONNECTION_LOST = ('server closed the connection', 'terminating connection', 'connection already closed',
                   'could not connect', 'connection refused', 'the database system is shutting down',
                   'the database system is starting up', 'ssl connection has been closed', 'connection timed out',
                   'no route to host', 'network is unreachable', 'timeout expired', 'could not receive data',
                   'could not send data', 'connection reset by peer')


def is_connection_error(exc):
    """True for an error that says the database server cannot be reached now (a restart, a blip)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, (peewee.OperationalError, peewee.InterfaceError)) or \
                type(exc).__module__.startswith('psycopg2'):
            text = str(exc).lower()
            if any(fragment in text for fragment in CONNECTION_LOST):
                return True
        exc = exc.__cause__ or exc.__context__
    return False


def is_locked(exc):
    """True for SQLite's "database is locked": another process held the write lock past busy_timeout."""
    return isinstance(exc, peewee.OperationalError) and 'database is locked' in str(exc)


def is_sqlite(db):
    return isinstance(db, peewee.SqliteDatabase)


def write_transaction(db):
    """A transaction that takes the write lock up front on SQLite (BEGIN IMMEDIATE).

    A deferred SQLite transaction that reads and then writes cannot wait for
    the lock: if another connection committed meanwhile it fails at once with
    "database is locked". Taking the lock first makes it wait (busy_timeout), in its turn among
    localq's writers (writeturn.py) rather than in SQLite's busy handler. A transaction nested in
    another needs no turn: the outer one has the lock, or decides when to take it."""
    if not is_sqlite(db):
        return KeepsTheCause(db.atomic())
    return KeepsTheCause(db.atomic('IMMEDIATE'), turn_of=db)


class KeepsTheCause:
    """A Peewee transaction whose failed rollback never hides why it rolled back.

    On a full disk SQLite rolls the transaction back by itself (in the body, or at COMMIT);
    Peewee's ROLLBACK then fails with "cannot rollback - no transaction is active", which
    replaced "database or disk is full" as the error a job ended with (never retried, and the
    cause lost). Here the error that made it roll back goes on instead."""

    def __init__(self, transaction, turn_of=None):
        self.transaction = transaction
        self.turn_of = turn_of   # a SQLite database whose write turn (writeturn.py) this takes
        self.turn = None

    def __enter__(self):
        if self.turn_of is not None and not self.turn_of.in_transaction():
            self.turn = turn_for(self.turn_of)
        if self.turn is None:
            return self.transaction.__enter__()
        self.turn.__enter__()
        try:
            return self.transaction.__enter__()
        except BaseException:
            self.turn, turn = None, self.turn
            turn.__exit__()
            raise

    def __exit__(self, exc_type, exc, tb):
        try:
            return self._end(exc_type, exc, tb)
        finally:
            if self.turn is not None:
                self.turn, turn = None, self.turn
                turn.__exit__()

    def _end(self, exc_type, exc, tb):
        try:
            return self.transaction.__exit__(exc_type, exc, tb)
        except peewee.OperationalError as failed:
            if 'rollback' not in str(failed):
                raise
            if exc is not None:
                return False     # the body's error goes on; the rollback's is noise
            cause = failed.__context__   # the COMMIT's error, during which the rollback was tried
            while cause is not None and 'rollback' in str(cause):
                cause = cause.__context__
            if cause is None:
                raise
            raise cause.with_traceback(cause.__traceback__) from None

    def __call__(self, fn):
        def inner(*args, **kwargs):
            with self:
                return fn(*args, **kwargs)
        return inner


# Bytes written per job. SQLite's WAL takes a whole page for every page a transaction changes:
# a job's row and each index it is in, for its enqueue and again for its claim and outcome. With
# 4 KB pages that was 81 KB of WAL per no-op job, 28 KB with 1 KB pages (bench/bench_bytes.py),
# and 1 KB pages read and write faster here too. Only a new database gets it: an existing file
# keeps the page size it was made with.
PAGE_SIZE = 1024
# Deleting. Debian's SQLite is built with secure_delete on: every page a prune frees (a 20 KB
# result's overflow pages, an emptied leaf) is written over with zeros, through the WAL and again
# at the checkpoint. FAST zeroes deleted content only on the pages that are written anyway: a
# prune of 3,000 jobs from a soak's table wrote 3.3 KB of WAL a job instead of 6.3. A pruned
# job's bytes may then stay in the file's free pages until they are reused, as they do with
# SQLite's upstream default (off) and on most other systems.
SECURE_DELETE = 'FAST'
# Checkpoints. The upkeep (upkeep.py) empties the WAL once it passes WAL_LIMIT: first a PASSIVE
# checkpoint copies its pages into the database beside the writers, then a TRUNCATE one, holding
# the write lock briefly, copies the rest and empties the file. SQLite's own checkpoint after a
# commit is moved past that (2 x WAL_LIMIT): it ran after every commit once the WAL held 1,000
# pages and could not be restarted (a reader in another process), copying the same hot pages
# (counters, the ends of indexes) into the database again and again. It stays as the safety net
# when no worker runs the upkeep. journal_size_limit cuts the file back whenever SQLite starts
# it over by itself.
WAL_LIMIT = 16 * 1024 * 1024


def checkpoint_wal(db, wait, busy_timeout_ms):
    """Empty the WAL (see WAL_LIMIT), on this thread's connection: a PASSIVE checkpoint (no lock
    taken), then TRUNCATE tries for at most `wait` seconds, 1 ms apart, each in the write turn
    (writeturn.py) and with no busy wait: a try that finds a reader on an older snapshot gives up
    at once, so no writer waits behind it longer than one try. (One TRUNCATE with a busy timeout
    held the write lock through the busy handler's 1, 2, 5, 10, 15, 20 ms sleeps: a soak's claims
    and enqueues waited 33 and 53 ms behind it.) Then the connection's busy timeout is
    busy_timeout_ms again. Returns (busy, frames in the WAL, frames checkpointed): busy 1 if
    readers held it back every time."""
    db.execute_sql('PRAGMA wal_checkpoint(PASSIVE)').fetchall()
    turn = turn_for(db) or contextlib.nullcontext()
    give_up = time.monotonic() + wait
    db.execute_sql('PRAGMA busy_timeout = 0')
    try:
        while True:
            with turn:
                result = tuple(db.execute_sql('PRAGMA wal_checkpoint(TRUNCATE)').fetchone())
            if result[0] == 0 or time.monotonic() >= give_up:
                return result
            time.sleep(0.001)
    finally:
        db.execute_sql('PRAGMA busy_timeout = %d' % busy_timeout_ms)


def open_database(config):
    """Create (not connect) the database named by config, with localq's pragmas."""
    url = config.resolved_database_url
    scheme = url.partition(':')[0]
    if scheme == 'sqlite':
        os.makedirs(config.data_dir, exist_ok=True)
        # WAL lets readers (web, dashboard) run beside one writer. NORMAL sync
        # in WAL survives a killed process; FULL also survives a power cut.
        # Connections are per thread (peewee's default), opened on first use;
        # check_same_thread=False lets close_all() close another thread's.
        kwargs = parse(url)
        return SqliteDatabase(kwargs.pop('database'), timeout=config.busy_timeout, check_same_thread=False,
                              pragmas={
                                  'page_size': PAGE_SIZE,
                                  'journal_mode': 'wal',
                                  'synchronous': config.synchronous,
                                  'busy_timeout': int(config.busy_timeout * 1000),
                                  'foreign_keys': 1,
                                  'cache_size': -16000,
                                  'secure_delete': SECURE_DELETE,
                                  'journal_size_limit': WAL_LIMIT,
                                  'wal_autocheckpoint': 2 * WAL_LIMIT // PAGE_SIZE,
                              }, **kwargs)
    if scheme in ('postgres', 'postgresql'):
        kwargs = parse(url, unquote_password=True, unquote_user=True)
        return PostgresqlDatabase(kwargs.pop('database'), **kwargs)
    from .errors import ConfigError
    raise ConfigError('database_url must start with sqlite:// or postgresql://, got %r' % url.split('://')[0])


def init_db(config, models, prepare=None):
    """Open the configured database, bind the proxy to it and create missing tables of `models`
    (then call prepare(db), e.g. for indexes Peewee's Meta cannot express)."""
    db = open_database(config)
    database.initialize(db)
    with db.connection_context():
        db.create_tables(models, safe=True)
        if prepare is not None:
            prepare(db)
    return db
