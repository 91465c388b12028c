"""query.py: the app's SQL gateway, on a real SQLite file (the PostgreSQL pass runs it there too)."""
import threading

import pytest

from localq.query import Query
from tests.sample_tasks import add


def test_the_database_opens_on_first_use_only(app):
    opened = []
    q = Query(lambda: opened.append(1) or app.database)
    assert q.opened is None and opened == []
    assert q.sql('SELECT 1').fetchone()[0] == 1
    assert q.sql('SELECT 2').fetchone()[0] == 2 and opened == [1]


def test_placeholders_are_written_once_for_either_driver(app):
    job = add.delay(2, 3)
    row = app.query.sql('SELECT task, args FROM job WHERE id = ? AND queue = ?', (job.id, 'default')).fetchone()
    assert row == ('tests.add', '[2, 3]')


def test_statements_run_together_commit_together_and_return_the_last_ones_row(app):
    a, b = add.delay(1, 1), add.delay(2, 2)
    row = app.query.run_together([
        ("UPDATE job SET wait_reason = 'first' WHERE id = ?", (a.id,)),
        ("UPDATE job SET wait_reason = 'second' WHERE id = ? RETURNING id, wait_reason", (b.id,))])
    assert row == (b.id, 'second')
    assert app.query.sql('SELECT wait_reason FROM job WHERE id = ?', (a.id,)).fetchone()[0] == 'first'


def test_statements_run_together_roll_back_together(app):
    a = add.delay(1, 1)
    with pytest.raises(Exception):
        app.query.run_together([("UPDATE job SET wait_reason = 'half' WHERE id = ?", (a.id,)),
                                ('UPDATE no_such_table SET x = 1', ())])
    assert app.query.sql('SELECT wait_reason FROM job WHERE id = ?', (a.id,)).fetchone()[0] is None


def test_a_write_transaction_keeps_the_callers_rows_or_none(app):
    with pytest.raises(RuntimeError):
        with app.query.write_transaction():
            add.delay(1, 1)
            raise RuntimeError('the caller changed its mind')
    assert app.query.sql('SELECT COUNT(*) FROM job').fetchone()[0] == 0
    with app.query.write_transaction():
        add.delay(1, 1)
    assert app.query.sql('SELECT COUNT(*) FROM job').fetchone()[0] == 1


def test_each_thread_has_its_own_connection_and_closes_it(app):
    seen = []

    def work():
        app.query.sql('SELECT 1')
        seen.append(app.query.database.connection())
        seen.append(app.query.close())

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    app.query.sql('SELECT 1')
    assert seen[0] is not app.query.database.connection() and seen[1] is True


def test_table_by_pins_an_index_on_sqlite_only(app):
    pinned = app.query.table_by('job_claim')
    assert pinned == ('job INDEXED BY job_claim' if app.query.is_sqlite else 'job')
    assert app.query.sql('SELECT COUNT(*) FROM %s WHERE state IN (\'PENDING\', \'RETRY\')' % pinned).fetchone()[0] == 0
