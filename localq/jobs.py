"""Reading and changing jobs as plain dicts: what the web pages, the API and the CLI share."""
import json
import time

from . import states
from .errors import JobNotFound
from .models import Attempt, Job


def _loads(text):
    return json.loads(text) if text else None


def job_to_dict(job):
    meta = _loads(job.meta)
    progress = meta.get('progress') if isinstance(meta, dict) else None
    if job.state == states.SUCCESS:
        progress = 100
    return {
        'id': job.id, 'task': job.task, 'queue': job.queue, 'priority': job.priority,
        'state': job.state, 'args': _loads(job.args), 'kwargs': _loads(job.kwargs),
        'meta': meta, 'progress': progress, 'result': _loads(job.result),
        'error_type': job.error_type, 'error_message': job.error_message, 'traceback': job.traceback,
        'attempts': job.attempts, 'max_retries': job.max_retries, 'acks_late': job.acks_late,
        'queued_at': job.queued_at, 'eta': job.eta, 'started_at': job.started_at,
        'finished_at': job.finished_at, 'worker': job.worker, 'wait_reason': job.wait_reason,
    }


def get_job(job_id, with_attempts=False):
    """The job as a dict (with its attempts if asked); raises JobNotFound."""
    job = Job.get_or_none(Job.id == job_id)
    if job is None:
        raise JobNotFound(job_id)
    d = job_to_dict(job)
    if with_attempts:
        d['attempt_rows'] = [{
            'number': a.number, 'worker': a.worker, 'started_at': a.started_at,
            'finished_at': a.finished_at, 'outcome': a.outcome, 'error_type': a.error_type,
            'error_message': a.error_message, 'traceback': a.traceback,
        } for a in Attempt.select().where(Attempt.job == job_id).order_by(Attempt.number, Attempt.id)]
    return d


def list_jobs(state=None, task=None, queue=None, limit=50):
    """Newest jobs first, filtered."""
    query = Job.select().order_by(Job.queued_at.desc()).limit(limit)
    if state:
        query = query.where(Job.state == state)
    if task:
        query = query.where(Job.task == task)
    if queue:
        query = query.where(Job.queue == queue)
    return [job_to_dict(j) for j in query]


def count_by_state():
    from peewee import fn
    return {s: n for s, n in Job.select(Job.state, fn.COUNT(Job.id)).group_by(Job.state).tuples()}


def requeue(app, job_ids):
    """Run finished (failed, revoked) jobs again from scratch; returns the ids re-queued."""
    now = time.time()
    done = []
    with app.write_transaction():
        for job in Job.select().where(Job.id.in_(list(job_ids)) &
                                      Job.state.in_([states.FAILURE, states.REVOKED])):
            # The message still carries the retries left when it failed: give
            # them back in the same statement that makes the job claimable.
            message = json.loads(job.message)
            message['m'].update(retries=job.max_retries, eta=None)
            (Job.update(state=states.PENDING, eta=now, finished_at=None, wait_reason='re-queued by a user',
                        revoke_requested=False, error_type=None, error_message=None, traceback=None,
                        message=json.dumps(message))
             .where(Job.id == job.id).execute())
            done.append(job.id)
    app.wake_workers()
    return done


def queue_lengths():
    """Jobs waiting per queue (ready now or scheduled), as Flower's /api/queues/length counts them."""
    from peewee import fn
    query = (Job.select(Job.queue, fn.COUNT(Job.id)).where(Job.state.in_(list(states.READY_TO_CLAIM)))
             .group_by(Job.queue).tuples())
    return dict(query)


def count_by_state_and_queue():
    from peewee import fn
    return list(Job.select(Job.state, Job.queue, fn.COUNT(Job.id)).group_by(Job.state, Job.queue).tuples())


def list_workers(lease_timeout, now=None):
    """Workers seen recently, with whether their heartbeat is current and what they run."""
    from .models import WorkerRecord
    now = time.time() if now is None else now
    running = {}
    for job_id, task, worker in (Job.select(Job.id, Job.task, Job.worker)
                                 .where(Job.state.not_in(list(states.TERMINAL) + list(states.READY_TO_CLAIM)))
                                 .tuples()):
        running.setdefault(worker, []).append({'id': job_id, 'task': task})
    workers = []
    for w in WorkerRecord.select().order_by(WorkerRecord.host, WorkerRecord.id):
        workers.append({'id': w.id, 'host': w.host, 'pid': w.pid, 'queues': w.queues.split(','),
                        'concurrency': w.concurrency, 'type': w.worker_type, 'last_seen': w.last_seen,
                        'online': w.stopped_at is None and now - w.last_seen < lease_timeout,
                        'running': running.get(w.id, [])})
    return workers
