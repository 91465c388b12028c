"""LocalHuey: Huey with the Job table as its storage (storage.py) and JSON messages.

Huey's Huey class is kept as it is except where localq's guarantees need otherwise:
messages carry a workflow marker, a claimed job whose task this process does not have
fails at once (a claim takes only the worker's own tasks, so only if they disagree), and
revocation lives in the Job row.
"""
import uuid

from huey import Huey
from huey.exceptions import HueyException
from huey.registry import Message
from huey.utils import normalize_expire_time, normalize_time

from .storage import HUEY_PREFIX, JobStorage


def message_by_name(name, args, kwargs, task_id=None, countdown=None, eta=None, expires=None, priority=None):
    """A Huey message for a task this process has not declared (send_task): the worker that
    has it fills in the task's own retries and time limit (None here means "the task's")."""
    return Message(str(task_id or uuid.uuid4()), HUEY_PREFIX + name,
                   normalize_time(eta, countdown, True) if countdown is not None or eta is not None else None,
                   None, None, priority, tuple(args), dict(kwargs), None, None, expires,
                   normalize_expire_time(expires, True) if expires else None, None, None, None)


class LocalHuey(Huey):
    """Huey with the Job table as storage and JSON messages.

    Revocation lives in the Job row (a revoked job is never claimed; a
    running one is stopped by its worker's watchdog), so Huey's per-task
    revoke keys ("r:<id>") are never written, read or deleted: that saves
    two key/value reads on every execution.
    """
    storage_class = JobStorage
    not_registered = None   # the app's handler of a claimed job whose task this process lacks

    # A workflow member's message carries its links beside Huey's fields (serializer.py).
    def serialize_task(self, task):
        return self.serializer.dump_message(self._registry.create_message(task), getattr(task, 'workflow', None))

    def deserialize_task(self, data):
        message, workflow = self.serializer.load_message(data)
        task = self._registry.create_task(message)
        task.workflow = workflow
        return task

    def dequeue(self):
        data = self.storage.dequeue()
        if data is None:
            return None
        try:
            task = self.deserialize_task(data)
        except HueyException:
            # A task this worker does not have (a typo in send_task, a module the worker
            # did not import): fail the job now, saying which tasks this worker has, rather
            # than leave it STARTED until its lease runs out as "worker lost".
            self.not_registered(data)
            return None
        task.attempt = self.storage.claimed_attempt(task.id)   # the fence of this run's writes (tracking.py)
        return task

    def is_revoked(self, task, timestamp=None, peek=True):
        return False

    def delete(self, key):
        if key.startswith('r:'):  # Huey clears the revoke key after each run
            return False
        return super().delete(key)
