"""The app's Peewee models, read-only, for the data page and /api/data.

localq's promise is that the records behind a job (an `Order` made once with
`get_or_create`, the job and attempt rows, the documents) are plain tables you can
look at. These functions list the tables an app registered (`app.register_models`)
with their row counts, and page through one table's rows, newest first by primary key,
filtered by one column's value. Secret-looking columns are masked (redact.py), long
text is cut, and every name from a request is checked against the model's fields.
"""
import datetime

import peewee

from . import redact
from .listing import BadFilter

PAGE = 50
CELL_CHARS = 300   # long text (a message, a traceback) is cut in listings


def models_by_table(app):
    return {m._meta.table_name: m for m in app.models}


def list_tables(app):
    """Every registered model: its table, fields and row count."""
    return [{'table': table, 'model': model.__name__, 'rows': model.select().count(),
             'columns': [f.name for f in model._meta.sorted_fields]}
            for table, model in sorted(models_by_table(app).items())]


def _model(app, table):
    model = models_by_table(app).get(table)
    if model is None:
        raise BadFilter('no table %r; the app has: %s' % (table, ', '.join(sorted(models_by_table(app)))))
    return model


def _field(model, name):
    field = model._meta.fields.get(name)
    if field is None:
        raise BadFilter('table %s has no column %r; it has: %s' % (
            model._meta.table_name, name, ', '.join(f.name for f in model._meta.sorted_fields)))
    return field


def _typed(field, value):
    """A request's text as the column's type (a 400, not a database error, if it cannot be)."""
    if isinstance(field, peewee.ForeignKeyField):
        field = field.rel_field
    try:
        if isinstance(field, (peewee.IntegerField, peewee.AutoField)):
            return int(value)
        if isinstance(field, peewee.FloatField):
            return float(value)
        if isinstance(field, peewee.BooleanField):
            return {'true': True, '1': True, 'false': False, '0': False}[value.lower()]
    except (ValueError, KeyError):
        raise BadFilter('column %s holds %s values, got %r' % (field.name, type(field).__name__, value))
    return value


def _shown(name, value):
    if redact.looks_secret(name) and value is not None:
        return redact.MASK
    if isinstance(value, (bytes, memoryview)):
        return '<%d bytes>' % len(value)
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, str) and len(value) > CELL_CHARS:
        return value[:CELL_CHARS] + '…'
    return value


def table_rows(app, table, column=None, value=None, before=None, limit=PAGE):
    """One page of a table's rows, newest primary key first: {'table', 'columns', 'rows',
    'next'} where next is the `before` of the following page (None on the last)."""
    model = _model(app, table)
    key = model._meta.primary_key
    if key is None or isinstance(key, peewee.CompositeKey):
        raise BadFilter('table %s has no single primary key to page by' % table)
    query = model.select().order_by(key.desc()).limit(limit + 1)
    if column:
        field = _field(model, column)
        query = query.where(field == _typed(field, value or ''))
    if before is not None:
        query = query.where(key < _typed(key, before))
    names = [f.name for f in model._meta.sorted_fields]
    found = list(query.tuples())
    rows = [{n: _shown(n, v) for n, v in zip(names, row)} for row in found[:limit]]
    last = found[limit - 1] if len(found) > limit else None
    return {'table': table, 'model': model.__name__, 'columns': names, 'rows': rows,
            'key': key.name, 'next': last[names.index(key.name)] if last else None}


def guarded_rows(app, job, limit=10):
    """Rows the job's idempotency key guards, in the columns the app named
    (`app.register_models(Order, idempotency_columns=[Order.order_id])`): [(table, page)]."""
    key = job.get('idempotency_key')
    if not key:
        return []
    found = []
    for field in app.idempotency_columns:
        page = table_rows(app, field.model._meta.table_name, field.name, key, limit=limit)
        if page['rows']:
            found.append(page)
    return found
