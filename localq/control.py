"""app.control: Celery's remote control, answered from the database instead of a broadcast.

Celery asks the workers over the broker and waits for their replies; here every worker
already writes what it is (worker, worker_task) and what it runs (job rows), so `inspect()`
reads those rows and answers at once, in Celery's reply shape {worker name: reply}, None when
no worker is online (as Celery's is when none replies). Scripts written against `celery
inspect` or Flower's read side run unchanged.
"""
import json
import time

from .states import SQL_CLAIMABLE, SQL_RUNNING


class Control:
    """Celery's app.control: revoke, inspect, ping, shutdown."""

    def __init__(self, app):
        self.app = app

    def revoke(self, task_id, destination=None, terminate=False, signal=None, **_kwargs):
        """Revoke one job or a list of them. A running one is stopped whether or not terminate=True
        (localq delivers a revoke into the running task; there is no signal to choose)."""
        ids = [task_id] if isinstance(task_id, str) else list(task_id)
        return [self.app.revoke(job_id) for job_id in ids]

    def inspect(self, destination=None, timeout=1.0, **_kwargs):
        return Inspect(self.app, destination)

    def ping(self, destination=None, timeout=1.0, **_kwargs):
        """[{worker: {'ok': 'pong'}}] for each online worker, as Celery's control.ping()."""
        return [{name: reply} for name, reply in (self.inspect(destination).ping() or {}).items()]

    def shutdown(self, destination=None, **_kwargs):
        """Ask online workers (all, or those named) to stop gracefully, as the dashboard's Stop does."""
        from .actions import request_worker_stop
        for worker in Inspect(self.app, destination).online():
            request_worker_stop(self.app, worker['id'])

    def purge(self):
        """Discard every job waiting in any queue (Celery's purge); returns how many."""
        storage = self.app.huey.storage
        queues, storage.queues = storage.queues, None
        try:
            before = storage.queue_size() + storage.schedule_size()
            storage.flush_queue()
            storage.flush_schedule()
        finally:
            storage.queues = queues
        return before


class Inspect:
    """Celery's app.control.inspect(): each method answers {worker name: reply}, or None if no
    (named) worker is online."""

    def __init__(self, app, destination=None):
        self.app = app
        self.destination = [destination] if isinstance(destination, str) else destination

    def online(self):
        now = time.time()
        rows = self.app.query.sql(
            'SELECT id, pid, queues, concurrency, worker_type, started_at, processed FROM worker '
            'WHERE stopped_at IS NULL AND last_seen > ? ORDER BY id', (now - self.app.config.lease_timeout,))
        workers = [dict(zip(('id', 'pid', 'queues', 'concurrency', 'worker_type', 'started_at', 'processed'), r))
                   for r in rows]
        return [w for w in workers if not self.destination or w['id'] in self.destination]

    def _each(self, reply):
        workers = self.online()
        return {w['id']: reply(w) for w in workers} or None

    def _jobs(self, where, params=()):
        by_worker = {}
        for row in self.app.query.sql(
                'SELECT id, task, args, kwargs, worker, worker_pid, started_at, queue, eta, priority, acks_late '
                'FROM job WHERE %s' % where, params):
            job_id, task, args, kwargs, worker, pid, started, queue, eta, priority, acks_late = row
            by_worker.setdefault(worker, []).append({
                'id': job_id, 'name': task, 'type': task, 'args': json.loads(args), 'kwargs': json.loads(kwargs),
                'hostname': worker, 'worker_pid': pid, 'time_start': started, 'acknowledged': not acks_late,
                'delivery_info': {'routing_key': queue, 'priority': priority}, 'eta': eta})
        return by_worker

    def ping(self):
        return self._each(lambda w: {'ok': 'pong'})

    def active(self):
        """The jobs each worker runs now."""
        running = self._jobs(SQL_RUNNING)
        return self._each(lambda w: running.get(w['id'], []))

    def reserved(self):
        """Always empty lists: a worker claims one job at a time, prefetching none."""
        return self._each(lambda w: [])

    def scheduled(self):
        """Empty lists: a job with an eta is held by no worker; it waits in the job table
        (the dashboard's scheduled jobs), and whichever worker is free at its eta takes it."""
        return self._each(lambda w: [])

    def revoked(self):
        """The ids of jobs asked to stop that are still running, under each worker running them."""
        asked = self._jobs('%s AND revoke_requested = ?' % SQL_RUNNING, (True,))
        return self._each(lambda w: [j['id'] for j in asked.get(w['id'], [])])

    def registered(self):
        """The task names each worker has."""
        tasks = {}
        for worker, task in self.app.query.sql('SELECT worker, task FROM worker_task ORDER BY task'):
            tasks.setdefault(worker, []).append(task)
        return self._each(lambda w: tasks.get(w['id'], []))

    registered_tasks = registered

    def active_queues(self):
        return self._each(lambda w: [{'name': q} for q in w['queues'].split(',') if q])

    def stats(self):
        """Pool, uptime and jobs run per task, for each worker."""
        totals = {}
        for worker, task, n in self.app.query.sql(
                'SELECT worker, task, COUNT(*) FROM job WHERE worker IS NOT NULL AND NOT (%s) GROUP BY worker, task'
                % SQL_CLAIMABLE):
            totals.setdefault(worker, {})[task] = n
        now = time.time()
        return self._each(lambda w: {
            'pid': w['pid'], 'uptime': int(now - w['started_at']), 'total': totals.get(w['id'], {}),
            'pool': {'max-concurrency': w['concurrency'], 'implementation': w['worker_type']},
            'broker': {'transport': 'database', 'hostname': self.app.config.resolved_database_url.split('@')[-1]}})
