"""The one Peewee database: SQLite by default (WAL, busy timeout), any URL peewee knows."""
import os

import peewee
from playhouse.db_url import connect

# Models bind to this proxy at import; init_db() points it at a real database.
database = peewee.DatabaseProxy()


def is_sqlite(db):
    return isinstance(db, peewee.SqliteDatabase)


def write_transaction(db):
    """A transaction that takes the write lock up front on SQLite (BEGIN IMMEDIATE).

    A deferred SQLite transaction that reads and then writes cannot wait for
    the lock: if another connection committed meanwhile it fails at once with
    "database is locked". Taking the lock first makes it wait (busy_timeout)."""
    return db.atomic('IMMEDIATE') if is_sqlite(db) else db.atomic()


def open_database(config):
    """Create (not connect) the database named by config, with localq's pragmas."""
    url = config.resolved_database_url
    if url.startswith('sqlite'):
        os.makedirs(config.data_dir, exist_ok=True)
        # WAL lets readers (web, dashboard) run beside one writer. NORMAL sync
        # in WAL survives a killed process; FULL also survives a power cut.
        # Connections are per thread (peewee's default), opened on first use.
        return connect(url, timeout=config.busy_timeout, pragmas={
            'journal_mode': 'wal',
            'synchronous': config.synchronous,
            'busy_timeout': int(config.busy_timeout * 1000),
            'foreign_keys': 1,
            'cache_size': -16000,
        })
    return connect(url)


def init_db(config):
    """Bind the proxy to the configured database and create missing tables."""
    from . import models  # models import this module; avoid the cycle at import
    db = open_database(config)
    database.initialize(db)
    with db.connection_context():
        db.create_tables(models.ALL_MODELS, safe=True)
        models.create_extra_indexes(db)
    return db
