"""Every web action that changes something, written once for both of its callers.

Each action has a form URL (the pages' buttons) and a JSON URL (Flower's, for scripts), routed
to one function that checks its input, calls the core once and says what it did (`Done`).
`answer()` then replies as the caller asked:

    POST /jobs/<id>/retry               -> 302 to the job page, flashing "Re-queued."
    POST /api/task/retry/<id>           -> {"ok": true, "task_id": "<id>", "requeued": true}
    POST /jobs/<id>/retry, Accept: application/json  -> the same JSON

The form's rule is each view's nearer decorator: added first, it is the URL that url_for builds
(and the templates' forms post to). CSRF is checked before any of them (security.check_csrf), as for every POST.
"""
from dataclasses import dataclass, field

from flask import Blueprint, abort, flash, jsonify, redirect, request, url_for

from .. import actions as job_writes   # the core's actions: re-queue, run now, delete, bulk, stop
from .. import states
from ..monitor import jobs
from ..monitor.listing import JobFilter
from .current import local_path, localq_app

bp = Blueprint('actions', __name__)


@dataclass
class Done:
    """What an action did, for both callers: `message` for a person (flashed on the page the form
    goes `back_to`), `fields` for a script (its JSON answer, after "ok": true). A `refused` action
    (a status code) changed nothing: a script gets that status and the message as an error; a
    person gets the message on the page, as for any other outcome."""
    message: str
    fields: dict
    back_to: str
    back_args: dict = field(default_factory=dict)
    refused: int = 0


def is_api_call():
    """A request under /api/ (below the dashboard's prefix), or one that asks for JSON first.

    A form post asks for nothing in particular (or text/html): it gets a redirect, as it always has."""
    return local_path().startswith('/api/') or request.accept_mimetypes.best == 'application/json'


def answer(done):
    """The one responder: JSON for a script, a flash message and a redirect for a form."""
    if is_api_call():
        if done.refused:
            abort(done.refused, description=done.message)
        return jsonify(ok=True, **done.fields)
    flash(done.message)
    return redirect(url_for(done.back_to, **done.back_args))


# -- one job: the job page's buttons and Flower's /api/task/<action>/<id> ------------------------

def job_page(job_id):
    return 'localq.pages.job_detail', {'job_id': job_id}


def retry(app, job_id):
    requeued = bool(job_writes.requeue(app, [job_id]))
    return Done('Re-queued.' if requeued else 'Only a failed or revoked job can be retried.',
                {'task_id': job_id, 'requeued': requeued}, *job_page(job_id))


def revoke(app, job_id):
    state = app.revoke(job_id)
    return Done('Revoked.' if state == states.REVOKED else 'Asked the worker to stop it (%s).' % state,
                {'task_id': job_id, 'state': state}, *job_page(job_id))


def run_now(app, job_id):
    moved = job_writes.run_now(app, job_id)
    return Done('It runs as soon as a worker is free.' if moved else 'Only a waiting job can be run now.',
                {'task_id': job_id, 'moved': moved}, *job_page(job_id))


def delete(app, job_id):
    if job_writes.delete_job(app, job_id):
        return Done('Deleted job %s.' % job_id, {'task_id': job_id, 'deleted': True}, 'localq.pages.job_list')
    return Done('Job %s is running: revoke it first.' % job_id, {}, *job_page(job_id), refused=409)


JOB_ACTIONS = {'retry': retry, 'revoke': revoke, 'run-now': run_now, 'delete': delete}


@bp.post('/api/task/<any(retry, revoke, "run-now", delete):action>/<job_id>')
@bp.post('/jobs/<job_id>/<action>')
def job_action(job_id, action):
    """Retry (re-queue a failed or revoked job), revoke, run now (a scheduled or retry-waiting
    one), or delete (one that is not running; a running one is refused with 409).

    POST /api/task/revoke/<id> -> {"ok": true, "task_id": "<id>", "state": "REVOKED"}"""
    jobs.get_job(job_id)   # 404 for an unknown id, whatever the action
    if action not in JOB_ACTIONS:
        abort(404, description='unknown action %r; use retry, revoke, run-now or delete' % action)
    return answer(JOB_ACTIONS[action](localq_app(), job_id))


# -- every job matching a filter: the job list's bulk buttons and /api/tasks/<action> ---------------

@bp.post('/api/tasks/<action>')
@bp.post('/jobs/bulk')
def bulk_action(action=None):
    """Retry or discard every job matching a filter: the form's fields, or the API's query string.

    POST /api/tasks/retry?state=FAILURE&task=documents.process -> {"ok": true, "count": 12}"""
    app = localq_app()
    if action is None:   # the form: its action and filter are fields beside the CSRF token
        action = request.form.get('action')
        given = {k: v for k, v in request.form.items() if k not in ('csrf_token', 'action')}
        unknown_status = 400   # a bad field in a body; on the API a bad URL is not found
    else:
        given, unknown_status = request.args, 404
    job_filter = JobFilter.from_args(given, jobs.running_states(app))
    back = job_filter.as_args()
    if action == 'retry':
        count = job_writes.bulk_retry(app, job_filter)
        return answer(Done('Re-queued %d failed or revoked job(s).' % count, {'count': count},
                           'localq.pages.job_list', back))
    if action == 'discard':
        if job_filter.is_empty():
            abort(400, description='give a filter (state, task, queue or q) before discarding: '
                                   'this would delete every job')
        count = job_writes.bulk_discard(app, job_filter)
        return answer(Done('Discarded %d job(s); running ones were left alone.' % count, {'count': count},
                           'localq.pages.job_list', back))
    abort(unknown_status, description='unknown bulk action %r; use retry or discard' % action)


# -- queues and workers: the overview's buttons and /api/queues, /api/workers ------------------------

@bp.post('/api/queues/<name>/<action>')
@bp.post('/queues/<name>/<action>')
def queue_action(name, action):
    """Pause, resume or empty a queue (empty: delete its waiting jobs; running ones finish).

    POST /api/queues/default/pause -> {"ok": true, "queue": "default", "paused": true};
    .../empty -> {"ok": true, "queue": "default", "deleted": 3}"""
    app = localq_app()
    if action == 'empty':
        deleted = job_writes.empty_queue(app, name)
        return answer(Done("Deleted %d waiting job(s) from queue '%s'; running ones finish." % (deleted, name),
                           {'queue': name, 'deleted': deleted}, 'localq.pages.job_list', {'queue': name}))
    if action == 'pause':
        app.pause_queue(name)
        message = "Queue '%s' paused: running jobs finish, no new ones start." % name
    elif action == 'resume':
        app.resume_queue(name)
        message = "Queue '%s' resumed." % name
    else:
        abort(404, description='unknown queue action %r; use pause, resume or empty' % action)
    return answer(Done(message, {'queue': name, 'paused': name in app.paused_queues()}, 'localq.pages.overview'))


@bp.post('/api/workers/<path:worker_id>/stop')
@bp.post('/workers/<path:worker_id>/stop')
def stop_worker(worker_id):
    """Stop a worker gracefully (as Ctrl-C would) at its next heartbeat; 404 unless it is running.

    POST /api/workers/<id>/stop -> {"ok": true, "worker": "<id>", "stop_requested": true}"""
    job_writes.request_worker_stop(localq_app(), worker_id)
    return answer(Done("Worker '%s' stops at its next heartbeat: it claims nothing more, and its running jobs "
                       "finish first (a worker with shutdown_timeout set interrupts them after that long)." % worker_id,
                       {'worker': worker_id, 'stop_requested': True}, 'localq.pages.overview'))
