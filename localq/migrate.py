"""Move a SQLite data folder to PostgreSQL: every table, every row, ids kept.

    localq --data-dir data migrate postgresql://user@db-host/localq

localq's own tables (jobs, attempts, workers, documents, ...) are created on
the destination from their models, so they get its proper types. Any other
table in the file (the app's own models) is read with Peewee's reflection
(playhouse.reflection) and created alike. Rows are copied in batches, parents
before children, and PostgreSQL's id sequences are moved past the copied ids.
Pending and scheduled jobs stay pending; a job that was running when the
workers stopped is rescued by the first worker's recovery sweep (its lease
has passed), as it would be on SQLite.
"""
import peewee
from playhouse.reflection import Introspector

from . import models
from .errors import LocalqError

BATCH = 1000


class MigrationError(LocalqError):
    """The destination is not empty, or the source is not a localq database."""


def _reflect(db):
    """{table name: model} for every table of db, with REAL read as 8-byte doubles."""
    reflected = Introspector.from_database(db).generate_models(literal_column_names=True)
    for model in reflected.values():
        for field in list(model._meta.sorted_fields):
            if type(field) is peewee.FloatField:
                double = peewee.DoubleField(null=field.null, column_name=field.column_name)
                model._meta.add_field(field.name, double)
    return reflected


def _indexes_not_data(db):
    """SQLite tables that are indexes, rebuilt on the destination rather than copied: full-text
    (FTS5) tables with their shadow tables, and the job text index's mark (textindex.py)."""
    virtual = [n for n, in db.execute_sql("SELECT name FROM sqlite_master WHERE type = 'table' "
                                          "AND sql LIKE 'CREATE VIRTUAL TABLE%'")]
    tables = [n for n, in db.execute_sql("SELECT name FROM sqlite_master WHERE type = 'table'")]
    # sqlite_sequence: SQLite's record of AUTOINCREMENT ids (documents); PostgreSQL's serials take over.
    return {n for n in tables if n in virtual or any(n.startswith(v + '_') for v in virtual)} | {
        'job_text_mark', 'sqlite_sequence'}


def migrate(source, dest, own_models, log=print):
    """Copy every table of the SQLite database `source` into the empty database `dest`.

    own_models: the app's registered models (created with their own types); other tables are
    reflected. Returns {table: rows copied}."""
    skip = _indexes_not_data(source)
    src_models = {name: m for name, m in _reflect(source).items() if name not in skip}
    if 'job' not in src_models:
        raise MigrationError('the source has no job table: is it a localq data folder?')
    own = list(own_models)
    with dest.bind_ctx(own):
        dest.create_tables(own, safe=True)
        models.create_extra_indexes(dest)
        if models.Job.select().exists():
            raise MigrationError('the destination already has jobs; migrate into an empty database')
    others = [m for name, m in src_models.items() if name not in {o._meta.table_name for o in own}]
    with dest.bind_ctx(others):
        dest.create_tables(others, safe=True)

    own_by_table = {o._meta.table_name: o for o in own}
    copied = {}
    for src_model in peewee.sort_models(list(src_models.values())):
        table = src_model._meta.table_name
        columns = [f.column_name for f in src_model._meta.sorted_fields]
        dest_table = peewee.Table(table, columns).bind(dest)
        # SQLite keeps booleans as 0/1 and times as REAL: convert through
        # localq's own field types (PostgreSQL will not take 1 for true).
        own_fields = own_by_table[table]._meta.columns if table in own_by_table else {}
        convert = [own_fields.get(c) for c in columns]
        n = 0
        with source.bind_ctx([src_model]):
            query = src_model.select().tuples().iterator()
            batch = []
            for row in query:
                batch.append(tuple(v if f is None or v is None else f.db_value(f.python_value(v))
                                   for f, v in zip(convert, row)))
                if len(batch) == BATCH:
                    n += _insert(dest, dest_table, columns, batch)
            n += _insert(dest, dest_table, columns, batch)
        copied[table] = n
        pk = src_model._meta.primary_key
        if isinstance(pk, peewee.AutoField) and not isinstance(dest, peewee.SqliteDatabase):
            quoted_table, quoted_pk = '"%s"' % table, '"%s"' % pk.column_name
            dest.execute_sql("SELECT setval(pg_get_serial_sequence(%%s, %%s), "
                             "COALESCE((SELECT MAX(%s) FROM %s), 0) + 1, false)" % (quoted_pk, quoted_table),
                             (quoted_table, pk.column_name))
        log('%-20s %9d rows' % (table, n))
    return copied


def _insert(dest, table, columns, batch):
    if not batch:
        return 0
    with dest.atomic():
        table.insert(batch, columns=[peewee.Column(table, c) for c in columns]).execute()
    n = len(batch)
    batch.clear()
    return n
