"""The fault matrix's task, on the suite's sample app (one app per process: the models share one
database proxy). Workers load it with -A tests.faults.tasks:app.

Each run appends a line to effects.log in the data folder when it starts and when it ends: the
side effects a test counts, whatever the job rows say. It works in steps of a fixed length rather
than to a deadline, so a run frozen (SIGSTOP) and thawed still has its remaining steps to do: a
worker that stops runs it no longer owns can do so before the run's "done" line."""
import os
import time

from tests.sample_tasks import app

EFFECTS = 'effects.log'


def record(what, job_key):
    os.makedirs(app.config.data_dir, exist_ok=True)   # on PostgreSQL nothing else creates it
    with open(os.path.join(app.config.data_dir, EFFECTS), 'a') as fh:
        fh.write('%s %s %d %.6f\n' % (what, job_key, os.getpid(), time.time()))


@app.task(name='faults.effect', acks_late=True, max_retries=3)
def effect(job_key, steps=1, step_seconds=0.05):
    record('start', job_key)
    for _ in range(steps):
        time.sleep(step_seconds)
    record('done', job_key)
    return job_key
