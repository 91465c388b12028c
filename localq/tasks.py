"""localq's own app, the composition module: the demo tasks and the plug-ins (documents, lab)
that `python run.py` and `localq` serve when no -A app is given.

The one module of the core that imports plug-ins: each is added by its init_app(app).
"""
import time

from . import documents, lab
from .app import LocalQ

app = LocalQ('localq')


@app.task(name='localq.add')
def add(x, y):
    """Add two numbers (the smallest useful job)."""
    return x + y


@app.task(name='localq.sleep', bind=True, time_limit=3600)
def sleep(self, seconds=1.0, steps=10):
    """Sleep in steps, reporting progress: a stand-in for slow work."""
    for i in range(steps):
        self.update_state(state='PROCESSING', meta={'step': i + 1, 'steps': steps, 'progress': int(100 * i / steps)})
        time.sleep(seconds / steps)
    return {'slept': seconds}


# The document pipeline: its tables, the documents.process task, the upload and document pages.
documents.init_app(app)
# The classroom lab: its tables, pages, `localq lab`, and lab.* queues hidden from the overview.
# Its scenarios declare their tasks on this app when localq.lab.scenarios is imported (the lab's
# first use, or its workers' -A localq.lab.scenarios:app).
lab.init_app(app)
