"""A full disk is a named, temporary condition: 507s that say so, jobs retried, nothing lost."""
import os
import subprocess

import pytest

import localq.outcome
from localq import documents
from localq.models import Attempt, Job
from localq.web import create_app
from localq.worker import LocalqConsumer
from tests.conftest import sqlite_only
from tests.sample_tasks import APP_MODELS, Effect, fill_disk, fill_then_write, full_disk_writes_failed

pytestmark = sqlite_only   # the data folder's own disk (PostgreSQL's is the server's)


@pytest.fixture
def small_disk(tmp_path):
    """A 3 MiB tmpfs (mounting needs root: CI runs as root)."""
    mount = tmp_path / 'small'
    mount.mkdir()
    done = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', str(mount)], capture_output=True)
    if done.returncode != 0:
        if os.environ.get('CI'):
            pytest.fail('cannot mount a small tmpfs: %s' % done.stderr.decode())
        pytest.skip('mounting a small tmpfs needs root')
    yield mount
    subprocess.run(['umount', '-l', str(mount)], check=False)


def post_file(client, name, data):
    body = (b'--B\r\nContent-Disposition: form-data; name="file"; filename="' + name.encode() + b'"\r\n\r\n'
            + data + b'\r\n--B--\r\n')
    return client.post('/upload', data=body, content_type='multipart/form-data; boundary=B')


def test_a_full_disk_answers_507_and_nothing_saved_is_lost(app, small_disk):
    app.configure(data_dir=str(small_disk / 'data'))
    app.create_tables(APP_MODELS)
    documents.init_app(app)
    client = create_app(app).test_client()
    consumer = LocalqConsumer(app, workers=1, name='disk-worker')
    consumer.start_in_thread()
    try:
        # Given a document stored while there was room
        kept = post_file(client, 'kept.txt', b'Refunds are paid within fourteen days. ' * 40).get_json()['task_id']
        assert app.AsyncResult(kept).get(timeout=30)['chunks'] >= 1
        # When the disk fills up
        fill_disk(small_disk)
        # Then uploads, the API and the health check say the disk is full (507), not 500
        refused = post_file(client, 'later.txt', b'More text. ' * 2000)
        assert refused.status_code == 507 and "disk is full" in refused.get_json()['error']
        queued = client.post('/api/task/async-apply/tests.echo', json={'kwargs': {'x': 'y' * 300000}})
        assert queued.status_code == 507 and "disk is full" in queued.get_json()['error']
        health = client.get('/healthcheck')
        assert health.status_code == 507 and health.get_json()['disk_free_bytes'] < 1024 * 1024
        # And once space is freed, everything works again and nothing saved before was lost
        os.unlink(small_disk / 'filler')
        assert client.get('/healthcheck').get_json()['ok'] is True
        assert 'localq_data_disk_free_bytes' in client.get('/metrics').get_data(as_text=True)
        assert post_file(client, 'later.txt', b'More text here. ' * 200).status_code == 202
        assert app.query.sql('PRAGMA integrity_check').fetchone()[0] == 'ok'
        assert Job.get_by_id(kept).state == 'SUCCESS' and documents.Document.select().count() >= 1
    finally:
        consumer.shutdown()


def test_a_job_that_meets_a_full_disk_is_retried_and_says_why(app, small_disk, monkeypatch):
    monkeypatch.setattr(localq.outcome, 'TRANSIENT_RETRY', 0.5)   # instead of 10 s
    app.configure(data_dir=str(small_disk / 'data'))
    app.create_tables(APP_MODELS)
    full_disk_writes_failed.clear()
    consumer = LocalqConsumer(app, workers=1, name='disk-worker')
    consumer.start_in_thread()
    try:
        # Given a job that fills the disk, then tries to store a large row
        result = fill_then_write.delay(str(small_disk))
        # When its write has failed, and then space is freed (while the worker waits to record why)
        assert full_disk_writes_failed.wait(30)
        os.unlink(small_disk / 'filler')
        # Then it was retried and succeeded; its failed attempt says "disk full", not a rollback error
        assert result.get(timeout=60) == 'stored'
        attempts = list(Attempt.select().where(Attempt.job == result.id).order_by(Attempt.number))
        assert [a.outcome for a in attempts] == ['RETRY', 'SUCCESS']
        assert attempts[0].error_type == 'localq.errors.DiskFull' and 'disk is full' in attempts[0].error_message
        assert 'rollback' not in (attempts[0].traceback or '')
        assert Effect.select().where(Effect.key.startswith('big:')).count() == 1
    finally:
        consumer.shutdown()
