"""The course's FastAPI producer on localq: upload -> task_id -> status (Lesson 13.11, "FastAPI Integration").

The endpoints are the lesson's, with `from celery...` changed to `from localq...`:

    pip install -e . fastapi uvicorn python-multipart
    uvicorn examples.fastapi_app:api                 # the web process (the producer)
    localq -A examples.fastapi_app:app worker         # a worker, on the same data folder

    curl -F file=@notes.txt http://127.0.0.1:8000/upload     -> {"task_id": "..."}
    curl http://127.0.0.1:8000/tasks/<task_id>               -> {"status": "PROCESSING", "progress": {...}}
"""
import os
import uuid

from fastapi import FastAPI, HTTPException, UploadFile

from localq import AsyncResult, LocalQ   # was: from celery import Celery; from celery.result import AsyncResult

app = LocalQ('fastapi-example')           # was: Celery('...', broker='redis://...')
api = FastAPI()


@app.task(name='files.process', bind=True, max_retries=3, autoretry_for=(ConnectionError,), retry_backoff=True,
          time_limit=300, acks_late=True)
def process_file(self, file_path: str) -> dict:
    self.update_state(state='PROCESSING', meta={'step': 'reading', 'progress': 50})
    with open(file_path, 'rb') as fh:
        data = fh.read()
    return {'bytes': len(data), 'lines': data.count(b'\n')}


def save_file(file: UploadFile) -> str:
    """Save an upload under a generated name in the data folder (never a name the client chose)."""
    folder = os.path.abspath(os.path.join(app.config.data_dir, 'fastapi-uploads'))
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, uuid.uuid4().hex + os.path.splitext(file.filename or '')[1][:10])
    with open(path, 'wb') as out:
        for block in iter(lambda: file.file.read(1 << 16), b''):
            out.write(block)
    return path


@api.post('/upload')
async def upload(file: UploadFile):
    file_path = save_file(file)
    task = process_file.delay(file_path)
    return {'task_id': task.id}


@api.get('/tasks/{task_id}')
async def get_status(task_id: str):
    result = AsyncResult(task_id)
    info = result.info
    # (The lesson returns result.info as it is; a failed task's info is its exception, which
    # JSON cannot carry, so it is sent as text.)
    return {'status': result.status, 'progress': str(info) if isinstance(info, Exception) else info}


@api.get('/tasks/{task_id}/result')
async def wait_for_result(task_id: str, timeout: float = 10.0):
    """Wait for the result without blocking the event loop (other requests go on meanwhile)."""
    result = AsyncResult(task_id)
    try:
        return {'result': await result.aget(timeout=min(timeout, 60.0))}
    except TimeoutError as exc:
        # Not finished yet; the message says why if no running worker has the task.
        raise HTTPException(status_code=202, detail=str(exc))
    except Exception as exc:
        # The task failed: its error, as data (not a 500 of this web process).
        raise HTTPException(status_code=409, detail='%s: %s' % (type(exc).__name__, exc))
