"""JSON API: the seeds' /tasks/<id>, Flower-like /api/... (its actions are in actions.py), and /healthcheck."""
import json

from flask import Blueprint, abort, current_app, jsonify, request

from .. import states
from ..monitor import data, errors, jobs, stats
from ..errors import JobNotFound, LocalqError
from ..monitor.listing import JobFilter, page_jobs

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
    app = current_app.extensions['localq']
    job = jobs.get_job(task_id, with_attempts=True, app=app)
    why = jobs.explain_wait(app, job)   # the job page's sentence; a finished job keeps its note
    return jsonify(flower_fields(dict(job, wait_reason=why or job['wait_reason'])))


def flower_fields(job):
    """Our job dict plus the names Flower's API uses for the same facts."""
    return dict(job, uuid=job['id'], name=job['task'], routing_key=job['queue'], retries=max(0, job['attempts'] - 1),
                exception=('%s: %s' % (job['error_type'], job['error_message'])) if job['error_type'] else None,
                received=job['queued_at'], started=job['started_at'],
                succeeded=job['finished_at'] if job['state'] == states.SUCCESS else None,
                failed=job['finished_at'] if job['state'] == states.FAILURE else None)


@bp.get('/api/task/export/<task_id>')
def job_export(task_id):
    """The job as one JSON file to keep or share (monitor.jobs.export_job), downloaded."""
    document = jobs.export_job(current_app.extensions['localq'], task_id)
    response = current_app.response_class(json.dumps(document, indent=2, default=str), mimetype='application/json')
    response.headers['Content-Disposition'] = 'attachment; filename="job-%s.json"' % task_id
    return response


@bp.get('/api/errors')
def error_groups():
    """The error groups as JSON (?group=KEY for one; ?limit=N, at most 500)."""
    try:
        limit = min(500, max(1, int(request.args.get('limit', 50))))
    except ValueError:
        abort(400, description='limit must be a whole number')
    return jsonify(errors.error_groups(current_app.extensions['localq'], limit=limit,
                                       group=request.args.get('group') or None))


@bp.get('/api/tasks')
def task_list():
    """Jobs matching a filter, in the jobs list's order, as Flower answers: {task_id: {...}}.

    GET /api/tasks?state=FAILURE&task=documents.process&queue=default&q=text&limit=20
    The next page's cursor is in the X-Next-Cursor header: pass it back as ?cursor=.
    """
    app = current_app.extensions['localq']
    try:
        limit = min(max(int(request.args.get('limit', 50)), 1), 1000)
    except ValueError:
        abort(400, description='limit must be a whole number')
    page = page_jobs(JobFilter.from_args(request.args, jobs.running_states(app)), cursor=request.args.get('cursor'),
                     limit=limit)
    body = {row.id: flower_fields(jobs.job_to_dict(row, app)) for row in page.rows}
    # Not jsonify: it sorts keys, and the order here is the page's order.
    response = current_app.response_class(json.dumps(body), mimetype='application/json')
    if page.next_cursor:
        response.headers['X-Next-Cursor'] = page.next_cursor
    return response


@bp.get('/api/overview')
def overview():
    """The overview page's numbers: counts, queues, per-minute throughput, workers (?lab=1: with
    the classroom lab's queues and workers)."""
    shown = [k for k, v in request.args.items() if v == '1']   # a plug-in's hidden queues: ?lab=1
    return jsonify(stats.overview(current_app.extensions['localq'], show=shown))


APPLY_FIELDS = ('args', 'kwargs', 'countdown', 'expires', 'queue', 'priority', 'task_id', 'idempotency_key')


def json_body(limit):
    """The request body as a JSON object, whatever its Content-Type (curl -d sends a form type),
    refused with a reason if it is not one: too large, not JSON, nested too deep."""
    if request.content_length is not None and request.content_length > limit:
        abort(413, description='the body is over %d bytes' % limit)
    data = request.get_data(cache=False)
    if len(data) > limit:
        abort(413, description='the body is over %d bytes' % limit)
    if not data.strip():
        return {}
    try:
        body = json.loads(data)
    except RecursionError:
        abort(400, description='the JSON body nests too deep')
    except ValueError as exc:
        abort(400, description='the body is not JSON (%s); send {"args": [...], "kwargs": {...}}' % exc)
    if not isinstance(body, dict):
        abort(400, description='send a JSON object: {"args": [...], "kwargs": {...}}')
    return body


def _apply(taskname):
    app = current_app.extensions['localq']
    task = app.tasks.get(taskname)
    if task is None:
        abort(404, description='no task named %r' % taskname)
    body = json_body(app.config.max_message_mb * 1024 * 1024)
    unknown = sorted(set(body) - set(APPLY_FIELDS))
    if unknown:
        abort(400, description='unknown field(s) %s; allowed: %s' % (', '.join(map(repr, unknown)),
                                                                      ', '.join(APPLY_FIELDS)))
    args, kwargs = body.get('args', []), body.get('kwargs', {})
    if not isinstance(args, list):
        abort(400, description='"args" must be a JSON list, got %s' % type(args).__name__)
    if not isinstance(kwargs, dict):
        abort(400, description='"kwargs" must be a JSON object, got %s' % type(kwargs).__name__)
    options = {k: body[k] for k in APPLY_FIELDS[2:] if k in body}
    try:
        return task.apply_async(args, kwargs, **options)
    except LocalqError as exc:   # the core's checks (arguments, options) say what was wrong
        abort(400, description=str(exc))


@bp.post('/api/task/async-apply/<taskname>')
def async_apply(taskname):
    """Queue a task (Flower's async-apply): POST {"args": [2, 3]} -> {"task-id": ..., "state": "PENDING"}."""
    result = _apply(taskname)
    return jsonify({'task-id': result.id, 'state': result.state}), 202


@bp.post('/api/task/apply/<taskname>')
def apply(taskname):
    """Queue a task and wait for it (Flower's apply), at most ?timeout= seconds (default 10, max 60).

    -> 200 {"task-id", "state": "SUCCESS", "result"}; 202 with the state if it has not finished."""
    try:
        timeout = min(float(request.args.get('timeout', 10)), 60.0)
    except ValueError:
        abort(400, description='timeout must be a number of seconds')
    result = _apply(taskname)
    try:
        value = result.get(timeout=timeout, propagate=False)
    except TimeoutError:
        return jsonify({'task-id': result.id, 'state': result.state}), 202
    state = result.state
    body = {'task-id': result.id, 'state': state, 'result': value if state == states.SUCCESS else None}
    if state == states.FAILURE:
        body['error'] = str(value)
    return jsonify(body)


@bp.get('/healthcheck')
def healthcheck():
    """OK when the database answers and the data folder's disk has room.

    -> {"ok": true, "status": 200, "disk_free_bytes": N}, with "warning" under 100 MiB free;
    507 {"ok": false, "error": "the data folder's disk is full ..."} under 1 MiB."""
    from .. import disk
    app = current_app.extensions['localq']
    app.query.sql('SELECT 1 FROM job LIMIT 1').fetchall()
    free = disk.free_bytes(app.config.data_dir)
    if free is not None and free < disk.FULL_BYTES:
        return jsonify(ok=False, error=disk.describe(app.config.data_dir), status=507, disk_free_bytes=free), 507
    body = dict(ok=True, status=200, disk_free_bytes=free)
    if free is not None and free < disk.LOW_BYTES:
        body['warning'] = 'low disk space in the data folder: %.1f MiB free' % (free / 1048576.0)
    return jsonify(body)


@bp.get('/api/task-stats')
def task_stats():
    """Per task over ?window=5m|1h|24h: {"window": "1h", "tasks": [{"task", "finished", "succeeded",
    "failed", "success_rate", "runtime_p50", "runtime_p95", "runtime_max"}, ...]}."""
    window = request.args.get('window', '1h')
    return jsonify(window=window, tasks=stats.task_stats(current_app.extensions['localq'], window))


@bp.get('/api/data')
def data_tables():
    """The app's registered Peewee models: {"tables": [{"table", "model", "rows", "columns"}]}."""
    return jsonify(tables=data.list_tables(current_app.extensions['localq']))


@bp.get('/api/data/<table>')
def data_rows(table):
    """GET /api/data/order?column=user_id&value=u1&before=<key> -> {"rows": [...], "next": key or null}."""
    args = request.args
    return jsonify(data.table_rows(current_app.extensions['localq'], table, args.get('column'), args.get('value'),
                                   args.get('before')))


@bp.get('/api/queues/length')
def queue_length():
    """Flower's shape: {"active_queues": [{"name": "default", "messages": 3}]}, every queue a
    worker serves or that has jobs, an empty one with 0."""
    queues = stats.queue_table(current_app.extensions['localq'])
    return jsonify(active_queues=[{'name': q['name'], 'messages': q['ready'] + q['scheduled']} for q in queues])


@bp.get('/api/workers')
def workers():
    """Workers with heartbeat, queues and running jobs: {"workers": [...]}."""
    app = current_app.extensions['localq']
    return jsonify(workers=jobs.list_workers(app))
