"""localq's own app and tasks: what `python run.py` serves when no -A app is given."""
import time

from . import documents
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


# The document pipeline: its tables and the documents.process task (upload page, /upload).
documents.init_app(app)
