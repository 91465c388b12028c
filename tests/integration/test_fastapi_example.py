"""The seeds' FastAPI producer (examples/fastapi_app.py) with a real worker process."""
import os
import signal

import pytest
from fastapi.testclient import TestClient

from tests.conftest import TEST_DATABASE_URL, spawn_worker, wait_ready


@pytest.fixture
def example(tmp_path):
    from examples import fastapi_app
    fastapi_app.app.configure(data_dir=str(tmp_path / 'data'), database_url=TEST_DATABASE_URL)
    proc = spawn_worker(fastapi_app.app.config.data_dir, '-n', 'fastapi-worker', app='examples.fastapi_app:app')
    wait_ready(proc)
    with TestClient(fastapi_app.api) as client:
        yield client
    os.killpg(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    proc.stdout.close()
    fastapi_app.app.close()


def test_upload_returns_a_task_id_and_the_status_endpoint_follows_it(example):
    task_id = example.post('/upload', files={'file': ('notes.txt', b'one\ntwo\nthree\n')}).json()['task_id']
    assert example.get('/tasks/%s/result' % task_id).json() == {'result': {'bytes': 14, 'lines': 3}}
    assert example.get('/tasks/' + task_id).json() == {'status': 'SUCCESS', 'progress': {'bytes': 14, 'lines': 3}}
    assert example.get('/tasks/no-such-id').json() == {'status': 'PENDING', 'progress': None}


def test_the_docstrings_order_upload_before_the_worker_starts(tmp_path):
    # The example's docstring: uvicorn first, an upload, then the worker
    from examples import fastapi_app
    fastapi_app.app.configure(data_dir=str(tmp_path / 'data'), database_url=TEST_DATABASE_URL)
    try:
        with TestClient(fastapi_app.api) as client:
            task_id = client.post('/upload', files={'file': ('notes.txt', b'a\nb\n')}).json()['task_id']
            early = client.get('/tasks/%s/result?timeout=0.2' % task_id)
            assert early.status_code == 202 and "No running worker has task 'files.process'" in early.json()['detail']
            proc = spawn_worker(fastapi_app.app.config.data_dir, '-n', 'late-worker', app='examples.fastapi_app:app')
            try:
                wait_ready(proc)
                assert client.get('/tasks/%s/result' % task_id).json() == {'result': {'bytes': 4, 'lines': 2}}
            finally:
                os.killpg(proc.pid, signal.SIGTERM)
                assert proc.wait(timeout=30) == 0
                proc.stdout.close()
    finally:
        fastapi_app.app.close()
