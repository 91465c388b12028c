"""JSON API: the seeds' /tasks/<id>, Flower-like /api/..., and /healthcheck."""
from flask import Blueprint, current_app, jsonify, request

from .. import jobs

bp = Blueprint('api', __name__)


@bp.get('/tasks/<task_id>')
def task_status(task_id):
    """The course's status endpoint.

    GET /tasks/3f2c... -> {"task_id": "3f2c...", "status": "PROCESSING", "progress": {...}, "result": null}
    Unknown ids are PENDING, as in Celery.
    """
    result = current_app.extensions['localq'].AsyncResult(task_id)
    try:
        job = jobs.get_job(task_id)
    except Exception:
        return jsonify(task_id=task_id, status=result.state, progress=None, result=None)
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
