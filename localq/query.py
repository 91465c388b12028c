"""Query: the app's SQL gateway (`app.query`), separate from Huey's storage adapter.

Every module that reads or writes the database with fixed SQL (the storage's enqueue and claim,
the lifecycle's transitions, the dashboard's reads, the document index) goes through one
Query: it opens the app's Peewee database on first use, turns '?' placeholders into the
driver's, and on PostgreSQL runs statements that must go together as prepared statements in
one round trip. `storage.JobStorage` keeps to Huey's storage interface and uses this one too.
"""
import re
import threading

from .db import is_sqlite, write_transaction
from .writeturn import turn_for

# Connections a forked worker process inherited (Query.after_fork): never used, never closed.
INHERITED = []


class Query:
    # opener: returns the app's Peewee database, called on first use (whatever that use is:
    # an enqueue, a result read, a worker's claim).
    def __init__(self, opener):
        self.opener = opener
        self._database = None
        self._open_lock = threading.Lock()
        self._local = threading.local()
        self._statement_names = {}   # PostgreSQL: SQL text -> the name it is prepared under

    @property
    def database(self):
        return self._database if self._database is not None else self._open()

    @property
    def opened(self):
        """The database if it is open in this process, else None (no connection is made)."""
        return self._database

    def _open(self):
        with self._open_lock:
            if self._database is None:
                db = self.opener()
                self._is_sqlite = is_sqlite(db)
                self._param = '?' if self._is_sqlite else '%s'
                self._sql = {}
                self._database = db
        return self._database

    @property
    def is_sqlite(self):
        self.database
        return self._is_sqlite

    def sql(self, query, params=()):
        """Run fixed SQL written with '?' placeholders on this thread's connection."""
        db = self.database
        if self._param != '?':
            query = self._placeholders(query)
        return db.execute_sql(query, params)

    def write(self, query, params=(), rows=False):
        """One write statement on its own (no transaction open): on SQLite it waits for its turn
        among localq's writers first (writeturn.py), as a write transaction does, and not in
        SQLite's busy handler. Returns its rowcount, or its RETURNING rows with rows=True (read
        before the turn is given up: the statement holds the lock until it is stepped to its end)."""
        turn = turn_for(self.database) if self.is_sqlite and not self.database.in_transaction() else None
        if turn is None:
            cursor = self.sql(query, params)
            return cursor.fetchall() if rows else cursor.rowcount
        with turn:
            cursor = self.sql(query, params)
            return cursor.fetchall() if rows else cursor.rowcount

    def table_by(self, index):
        """'job' pinned to one of its indexes where the planner would pick a worse one (SQLite)."""
        return 'job INDEXED BY %s' % index if self.is_sqlite else 'job'

    def write_transaction(self):
        return write_transaction(self.database)

    def close(self):
        """Close this thread's connection; True if there was one."""
        if self._database is not None and not self._database.is_closed():
            self._database.close()
            return True
        return False

    def after_fork(self):
        """A forked worker process leaves its parent's connection alone and opens its own. Why:
        Huey forks a replacement process (--max-tasks-per-child, a crash) from a consumer whose
        main thread holds a connection; a child that closed it on exit closed it for the next
        child too ("server closed the connection unexpectedly", its claims failing)."""
        db = self._database
        if db is not None and db._state.conn is not None:
            INHERITED.append(db._state.conn)   # kept, so garbage collection never closes it here
            db._state.reset()
        self._local = threading.local()

    def close_all(self):
        """Close every connection of this process and forget the database; the next use reopens it."""
        with self._open_lock:
            db, self._database = self._database, None
        if db is not None:
            db.close_all()
        return db

    def run_together(self, statements):
        """Run statements as one transaction; returns the last one's first row.

        PostgreSQL: one round trip, and no planning. Statements sent in one query string run
        as one implicit transaction (no BEGIN and COMMIT of their own: a job's outcome and the
        next claim took five round trips, now one), and each is a prepared statement of this
        connection (planning them cost the server as much as running them; see
        bench/bench_pg.py). Never re-sent after a lost connection: had the server run them
        before the connection dropped, a second claim would be a second job."""
        if not self.is_sqlite:
            db = self.database
            prepared = self._prepared_on(db.connection())
            calls, params = [], []
            for query, query_params in statements:
                name = self._statement_names.setdefault(query, 'localq_%d' % len(self._statement_names))
                if name not in prepared:
                    numbered = iter(range(1, query.count('?') + 1))
                    db.execute_once('PREPARE %s AS %s' % (name, re.sub(r'\?', lambda _: '$%d' % next(numbered),
                                                                       query)))
                    prepared.add(name)
                calls.append('EXECUTE %s(%s)' % (name, ', '.join(['%s'] * len(query_params))))
                params.extend(query_params)
            return db.execute_once(';\n'.join(calls), tuple(params)).fetchone()
        with self.write_transaction():
            for query, params in statements[:-1]:
                self.sql(query, params)
            return self.sql(*statements[-1]).fetchone()   # before COMMIT: SQLite steps RETURNING to its end

    def _prepared_on(self, conn):
        """Names of the statements prepared on this connection (a reconnect starts a new set)."""
        known = getattr(self._local, 'prepared', None)
        if known is None or known[0] is not conn:
            known = self._local.prepared = (conn, set())
        return known[1]

    def _placeholders(self, query):
        return self._sql.get(query) or self._sql.setdefault(query, query.replace('?', self._param))
