"""AsyncResult: Celery's handle on a job, read from the Job row. Reading never deletes."""
import builtins
import json
import time

from . import states
from .current import current_app
from .errors import JobFailed, ResultTimeout, TaskRevoked, WorkerLost

_FIELDS = ('state', 'meta', 'result', 'error_type', 'error_message', 'traceback')


def rebuild_exception(job_id, error_type, message, traceback):
    """The task's exception as an instance of its own class when that is safe, else JobFailed."""
    cls = getattr(builtins, error_type or '', None)
    if isinstance(cls, type) and issubclass(cls, Exception):
        exc = cls(message)
    elif error_type == 'localq.errors.WorkerLost':
        exc = WorkerLost(message)
    else:
        return JobFailed(job_id, error_type, message, traceback)
    exc.traceback = traceback
    return exc


class AsyncResult:
    """A job's state and result, as Celery's AsyncResult; unknown ids are PENDING."""

    def __init__(self, id, app=None):
        if app is None:
            app = current_app()
        self.id = self.task_id = str(id)
        self.app = app

    def __repr__(self):
        return '<AsyncResult %s %s>' % (self.id, self.state)

    def __eq__(self, other):
        return isinstance(other, AsyncResult) and other.id == self.id

    def __hash__(self):
        return hash(self.id)

    def _row(self):
        return self.app.huey.storage.sql(
            'SELECT %s FROM job WHERE id = ?' % ', '.join(_FIELDS), (self.id,)).fetchone()

    def _fetch(self):
        row = self._row()
        return dict(zip(_FIELDS, row)) if row else None

    @property
    def state(self):
        row = self.app.huey.storage.sql('SELECT state FROM job WHERE id = ?', (self.id,)).fetchone()
        return row[0] if row else states.PENDING

    status = state

    @property
    def info(self):
        """Progress meta while running, the return value after SUCCESS, the exception after FAILURE."""
        job = self._fetch()
        if job is None:
            return None
        if job['state'] == states.SUCCESS:
            return json.loads(job['result']) if job['result'] is not None else None
        if job['state'] in (states.FAILURE, states.RETRY, states.REVOKED) and job['error_type']:
            return rebuild_exception(self.id, job['error_type'], job['error_message'], job['traceback'])
        return json.loads(job['meta']) if job['meta'] else None

    result = info

    @property
    def traceback(self):
        job = self._fetch()
        return job['traceback'] if job else None

    def ready(self):
        return self.state in states.TERMINAL

    def successful(self):
        return self.state == states.SUCCESS

    def failed(self):
        return self.state == states.FAILURE

    def get(self, timeout=None, propagate=True, interval=0.005):
        """Wait for the job to finish; return its value or raise its error."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = interval
        while True:
            job = self._fetch()
            if job is not None and job['state'] in states.TERMINAL:
                break
            if deadline is not None and time.monotonic() >= deadline:
                raise ResultTimeout('job %s not ready after %ss (state %s)' % (
                    self.id, timeout, job['state'] if job else states.PENDING))
            time.sleep(delay if deadline is None else max(0.0, min(delay, deadline - time.monotonic())))
            delay = min(delay * 1.5, 0.1)
        if job['state'] == states.SUCCESS:
            return json.loads(job['result']) if job['result'] is not None else None
        if not propagate:
            return self.info
        if job['state'] == states.REVOKED:
            raise TaskRevoked('job %s was revoked%s' % (self.id, ': ' + job['error_message'] if job['error_message'] else ''))
        raise rebuild_exception(self.id, job['error_type'], job['error_message'], job['traceback'])

    def revoke(self, terminate=True):
        """Cancel the job: a waiting job never starts; a running one is stopped."""
        return self.app.revoke(self.id)

    def forget(self):
        """Celery API; a no-op: history is kept until retention prunes it."""
        return None
