"""`localq migrate`: a SQLite data folder's history and pending jobs, moved into PostgreSQL."""
import os
import subprocess
import sys


from tests.conftest import ROOT, TEST_DATABASE_URL, on_postgres, wait_for
from tests.sample_tasks import Order, add, bad_input, create_order, echo


@on_postgres
def test_history_pending_jobs_and_app_rows_move_and_run_on_postgresql(tmp_path):
    from localq.models import Attempt, Job
    from localq.worker import LocalqConsumer
    from tests.sample_tasks import APP_MODELS, app
    folder = tmp_path / 'data'
    # Given a SQLite folder with finished, failed, pending and scheduled jobs and app rows
    app.configure(data_dir=str(folder), database_url='sqlite:///%s/localq.db' % folder)
    app.setup()
    app.create_tables(APP_MODELS)
    consumer = LocalqConsumer(app, workers=2, name='old-worker')
    consumer.start_in_thread()
    done = add.delay(2, 3)
    assert done.get(timeout=10) == 5
    create_order.delay('o-1', 'u1', 'p1').get(timeout=10)
    failed = bad_input.delay('x')
    wait_for(lambda: failed.state == 'FAILURE', what='FAILURE')
    consumer.shutdown()
    pending = echo.delay(secret='s', n=1)
    later = add.apply_async((4, 4), countdown=3600)
    before = {j.id: (j.state, j.attempts, j.eta, j.queued_at) for j in Job.select()}
    attempts = Attempt.select().count()
    app.close()

    # When it is migrated
    out = subprocess.run([sys.executable, '-m', 'localq.cli', '-A', 'tests.sample_tasks:app', '--data-dir', str(folder),
                          '--database-url', 'sqlite:///%s/localq.db' % folder, 'migrate', TEST_DATABASE_URL],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert 'done:' in out.stdout

    # Then PostgreSQL holds the same jobs (times to the microsecond), attempts and app rows
    app.configure(database_url=TEST_DATABASE_URL)
    app.setup()
    after = {j.id: (j.state, j.attempts, j.eta, j.queued_at) for j in Job.select()}
    assert after == before and Attempt.select().count() == attempts
    assert [o.order_id for o in Order.select()] == ['o-1']
    # and a worker there runs the pending job, not the scheduled one
    consumer = LocalqConsumer(app, workers=1, name='pg-worker')
    consumer.start_in_thread()
    try:
        assert pending.get(timeout=10) == {'secret': 's', 'n': 1}
        assert later.state == 'PENDING'
        # a new attempt row gets a fresh id (the sequence moved past the copied ones)
        assert add.delay(1, 1).get(timeout=10) == 2
    finally:
        consumer.shutdown()

    # And migrating again into the same database is refused
    again = subprocess.run([sys.executable, '-m', 'localq.cli', '--data-dir', str(folder), '--database-url',
                            'sqlite:///%s/localq.db' % folder, 'migrate', TEST_DATABASE_URL],
                           cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert again.returncode == 2 and 'empty database' in again.stderr


def test_migrate_refuses_a_source_that_is_not_sqlite():
    out = subprocess.run([sys.executable, '-m', 'localq.cli', '--database-url', 'postgresql://nowhere/x', 'migrate',
                          'postgresql://elsewhere/y'], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and 'copies a SQLite data folder' in out.stderr


@on_postgres
def test_documents_move_without_sqlites_id_bookkeeping_and_keep_new_ids_fresh(tmp_path):
    import uuid

    from localq import documents
    from localq.documents import Document
    from tests.sample_tasks import app
    folder = tmp_path / 'data'
    app.configure(data_dir=str(folder), database_url='sqlite:///%s/localq.db' % folder)
    app.huey.immediate = True
    documents.init_app(app)
    os.makedirs(app.config.upload_dir, exist_ok=True)
    names = []
    for text in ('Refunds are paid within fourteen days.', 'Pass --frobnicate to turn it on.'):
        stored = uuid.uuid4().hex + '.txt'
        with open(os.path.join(app.config.upload_dir, stored), 'w') as fh:
            fh.write(text)
        names.append(app.tasks[documents.TASK].delay(stored, stored)
                     .get(timeout=30)['document_id'])
    documents.delete_document(app, names[-1])   # the newest id, which SQLite alone would hand out again
    app.huey.immediate = False
    app.close()

    out = subprocess.run([sys.executable, '-m', 'localq.cli', '-A', 'tests.sample_tasks:app', '--data-dir', str(folder),
                          '--database-url', 'sqlite:///%s/localq.db' % folder, 'migrate', TEST_DATABASE_URL],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    app.configure(database_url=TEST_DATABASE_URL)
    app.setup()
    documents.init_app(app)
    try:
        assert 'sqlite_sequence' not in app.database.get_tables()
        assert [d.id for d in Document.select()] == names[:1]
        with app.write_transaction():
            fresh = Document.create(content_hash='h', filename='n.txt', kind='text', characters=1, created_at=0.0)
        assert fresh.id > names[0]
    finally:
        app.close()
