"""JSON API: the seeds' /tasks/<id>, Flower-like /api/..., and /healthcheck."""
from flask import Blueprint, abort, current_app, jsonify, request

from .. import jobs, states
from ..errors import JobNotFound

bp = Blueprint('api', __name__)


@bp.get('/tasks/<task_id>')
def task_status(task_id):
    """The course's status endpoint.

    GET /tasks/3f2c... -> {"task_id": "3f2c...", "status": "PROCESSING", "progress": {...}, "result": null}
    Unknown ids are PENDING, as in Celery.
    """
    try:
        job = jobs.get_job(task_id)
    except JobNotFound:
        return jsonify(task_id=task_id, status=states.PENDING, progress=None, result=None)
    return jsonify(task_id=task_id, status=job['state'], progress=job['meta'],
                   result=job['result'] if job['state'] == 'SUCCESS' else None,
                   error=job['error_message'] if job['state'] == 'FAILURE' else None)


@bp.get('/api/task/info/<task_id>')
def task_info(task_id):
    """Everything about one job, with attempts. 404 with the JSON error shape if unknown."""
    return jsonify(jobs.get_job(task_id, with_attempts=True))


@bp.get('/api/tasks')
def task_list():
    """Newest jobs: GET /api/tasks?state=FAILURE&limit=20."""
    limit = min(int(request.args.get('limit', 50)), 1000)
    return jsonify(jobs.list_jobs(state=request.args.get('state'), task=request.args.get('taskname'),
                                  queue=request.args.get('queue'), limit=limit))


@bp.get('/healthcheck')
def healthcheck():
    """OK when the database answers."""
    jobs.count_by_state()
    return jsonify(ok=True, status=200)


@bp.post('/upload')
def upload():
    """Save each uploaded file and queue a document job for it.

    curl -F file=@report.pdf http://127.0.0.1:8000/upload
    -> 202 {"task_id": "...", "jobs": [{"task_id": "...", "filename": "report.pdf"}]}
    Bad files -> 400 {"ok": false, "error": "...", "status": 400}; nothing is stored or queued.
    """
    from ..uploads import UploadRejected, save_upload
    app = current_app.extensions['localq']
    task = app.tasks.get('documents.process')
    if task is None:
        abort(404, description='this app has no documents.process task to run uploads')
    files = request.files.getlist('file')
    if not files:
        abort(400, description='no file in the request (send it as form field "file")')
    stored = []
    try:
        for f in files:
            name, size = save_upload(f.stream, f.filename, app.config.upload_dir,
                                     app.config.max_upload_mb * 1024 * 1024)
            stored.append((name, f.filename, size))
    except UploadRejected as exc:
        _remove([name for name, _, _ in stored], app.config.upload_dir)
        abort(400, description=str(exc))
    finally:
        for f in files:
            f.close()  # werkzeug's spooled temp files, at once rather than at GC
    queued = []
    for name, filename, size in stored:
        result = task.delay(name, filename, request.form.get('user_id', ''))
        queued.append({'task_id': result.id, 'filename': filename, 'bytes': size})
    return jsonify(task_id=queued[0]['task_id'], jobs=queued), 202


def _remove(names, folder):
    import os
    for name in names:
        os.unlink(os.path.join(folder, name))


@bp.get('/api/documents/search')
def search_documents():
    """Best-matching stored chunks: GET /api/documents/search?q=refund+policy."""
    from .. import documents
    query = request.args.get('q', '').strip()
    if not query:
        abort(400, description='give a query: ?q=words')
    return jsonify(query=query, matches=documents.search(query))


@bp.get('/api/queues/length')
def queue_length():
    """Flower's shape: {"active_queues": [{"name": "default", "messages": 3}]}."""
    return jsonify(active_queues=[{'name': q, 'messages': n} for q, n in sorted(jobs.queue_lengths().items())])


@bp.get('/api/workers')
def workers():
    """Workers with heartbeat, queues and running jobs: {"workers": [...]}."""
    app = current_app.extensions['localq']
    return jsonify(workers=jobs.list_workers(app.config.lease_timeout))


@bp.post('/api/task/revoke/<task_id>')
def revoke(task_id):
    """Revoke a job: POST /api/task/revoke/<id> -> {"ok": true, "state": "REVOKED"}."""
    state = current_app.extensions['localq'].revoke(task_id)
    return jsonify(ok=True, task_id=task_id, state=state)


@bp.post('/api/task/retry/<task_id>')
def retry(task_id):
    """Re-queue a failed or revoked job: -> {"ok": true, "requeued": true}."""
    jobs.get_job(task_id)  # 404 if unknown
    done = jobs.requeue(current_app.extensions['localq'], [task_id])
    return jsonify(ok=True, task_id=task_id, requeued=bool(done))


@bp.post('/api/queues/<name>/<action>')
def queue_action(name, action):
    """Pause or resume a queue: POST /api/queues/default/pause."""
    app = current_app.extensions['localq']
    if action not in ('pause', 'resume'):
        abort(404, description='unknown queue action %r; use pause or resume' % action)
    (app.pause_queue if action == 'pause' else app.resume_queue)(name)
    return jsonify(ok=True, queue=name, paused=name in app.paused_queues())
